package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrPrivateTarget reports a webhook URL, or an address it resolves to,
// that is loopback, private, link-local or otherwise not on the public
// internet, while private targets are not allowed.
var ErrPrivateTarget = errors.New("webhook target is a loopback, private or link-local address")

// ErrInvalidURL reports a webhook URL that is not an absolute http(s) URL.
var ErrInvalidURL = errors.New("webhook URL must be an absolute http:// or https:// URL")

// nonPublic are ranges that netip's predicates do not cover but that are
// never a legitimate public webhook receiver.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
	netip.MustParsePrefix("::ffff:0:0/96"),  // IPv4-mapped, checked unmapped
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64 can reach private IPv4
	netip.MustParsePrefix("2002::/16"),      // 6to4 can embed private IPv4
	netip.MustParsePrefix("2001::/32"),      // Teredo
	netip.MustParsePrefix("100::/64"),       // discard
	netip.MustParsePrefix("::/128"),         // unspecified
	netip.MustParsePrefix("::1/128"),        // loopback
	netip.MustParsePrefix("169.254.0.0/16"), // link-local (cloud metadata)
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("fc00::/7"),       // unique local
	netip.MustParsePrefix("127.0.0.0/8"),    // loopback
	netip.MustParsePrefix("10.0.0.0/8"),     // private
	netip.MustParsePrefix("172.16.0.0/12"),  // private
	netip.MustParsePrefix("192.168.0.0/16"), // private
	netip.MustParsePrefix("255.255.255.255/32"),
}

// IsPublicAddr reports whether ip may receive webhooks when private targets
// are refused: not loopback, private, link-local, unspecified, multicast or
// another special-purpose range.
func IsPublicAddr(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap().WithZone("")
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// URLPolicy decides which webhook URLs are acceptable.
type URLPolicy struct {
	// AllowPrivate permits loopback, private and link-local targets, for
	// self-hosted setups whose receivers live on the LAN (and for tests).
	AllowPrivate bool
	// Resolver looks host names up when a URL is validated; nil uses
	// net.DefaultResolver. Resolution failures do not refuse a URL (the
	// receiver may not exist yet); the dial-time check still applies.
	Resolver *net.Resolver
}

// Validate checks raw as a webhook URL: absolute http(s), a host, and,
// unless AllowPrivate, no host that names or resolves to a non-public
// address. It returns the parsed URL.
func (p URLPolicy) Validate(ctx context.Context, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, ErrInvalidURL
	}
	host := u.Hostname()
	if host == "" {
		return nil, ErrInvalidURL
	}
	if p.AllowPrivate {
		return u, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !IsPublicAddr(ip) {
			return nil, fmt.Errorf("%w: %s", ErrPrivateTarget, host)
		}
		return u, nil
	}
	lh := strings.ToLower(strings.TrimSuffix(host, "."))
	if lh == "localhost" || strings.HasSuffix(lh, ".localhost") || !strings.Contains(lh, ".") {
		// Single-label names resolve through search domains to the LAN.
		return nil, fmt.Errorf("%w: %s", ErrPrivateTarget, host)
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(rctx, "ip", host)
	if err != nil {
		return u, nil
	}
	for _, a := range addrs {
		if !IsPublicAddr(a) {
			return nil, fmt.Errorf("%w: %s resolves to %s", ErrPrivateTarget, host, a)
		}
	}
	return u, nil
}

// dialControl refuses connections to non-public addresses. It runs after
// name resolution, on the address actually dialled, so a name that
// resolved to a public address when the URL was checked and to a private
// one now (DNS rebinding) is still refused.
func dialControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable dial address %q", ErrPrivateTarget, address)
	}
	if !IsPublicAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrPrivateTarget, ap.Addr())
	}
	return nil
}

// ClientOptions configure NewClient.
type ClientOptions struct {
	// AllowPrivate permits non-public targets.
	AllowPrivate bool
	// Timeout bounds a whole attempt (connect, send, response); default 15s.
	Timeout time.Duration
	// UserAgent is sent with every request; default "haul-webhooks".
	UserAgent string
}

// NewClient returns the HTTP client webhooks are sent with: no proxy (a
// proxy would bypass the address check), no redirects followed, timeouts
// on every phase, and, unless AllowPrivate, a dialer that refuses
// non-public addresses after resolution.
func NewClient(o ClientOptions) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !o.AllowPrivate {
		d.Control = dialControl
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  o.Timeout,
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        60 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	ua := o.UserAgent
	if ua == "" {
		ua = "haul-webhooks"
	}
	return &http.Client{
		Transport: userAgentTransport{ua: ua, rt: tr},
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

type userAgentTransport struct {
	ua string
	rt http.RoundTripper
}

func (t userAgentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("User-Agent") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("User-Agent", t.ua)
	}
	return t.rt.RoundTrip(r)
}

// CloseIdleConnections releases idle connections of the client's transport.
func (t userAgentTransport) CloseIdleConnections() {
	if c, ok := t.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
