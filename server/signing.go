package server

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Signed delivery URLs look like
//
//	/dl/{tenant_id}/{asset_id}/{format}/{filename}?exp=UNIX&disp=attachment[&g=GRANT]&sig=B64URL
//
// sig is HMAC-SHA256 over "GET\n{escaped path}\n{exp}\n{disp}\n{grant}" with
// the server's URL-signing secret. HEAD is verified as GET so that one URL
// serves both. Binding the asset, the format (rendition) and the grant into
// the path and the MAC means a URL can neither be pointed at another file
// nor detached from the grant it was issued through.

// ErrURLExpired is returned by Verify for an authentic URL past its expiry.
var ErrURLExpired = errors.New("signed URL expired")

// ErrBadSignature is returned by Verify for a URL that was not produced by
// this server's secret (tampered, truncated or forged).
var ErrBadSignature = errors.New("signed URL signature invalid")

// Disposition values for signed URLs.
const (
	DispositionAttachment = "attachment"
	DispositionInline     = "inline"
)

// DeliveryTarget is what a signed URL grants access to.
type DeliveryTarget struct {
	// TenantID owns the asset.
	TenantID string
	// AssetID is the asset whose bytes are served.
	AssetID string
	// Format is the rendition ("original" for the uploaded bytes).
	Format string
	// Filename is the name offered in Content-Disposition.
	Filename string
	// Disposition is "attachment" or "inline".
	Disposition string
	// GrantID, when set, is the grant the URL was issued through; delivery
	// checks the grant is still valid.
	GrantID string
	// Expires is when the URL stops working.
	Expires time.Time
}

// Signer makes and checks signed delivery URLs. The current secret signs;
// retired secrets stay accepted until the end of their grace period, so
// URLs handed out just before a rotation keep working.
type Signer struct {
	now func() time.Time

	mu      sync.RWMutex
	current []byte
	retired []retiredSecret

	// macs keeps keyed HMAC states for reuse (a keyed HMAC-SHA256 costs
	// several allocations to set up); each remembers its secret.
	macs sync.Pool
}

// keyedMAC is a reusable HMAC-SHA256 state for one secret, with room to
// assemble the signed string without allocating.
type keyedMAC struct {
	secret []byte
	h      hash.Hash
	buf    []byte
	sum    [sha256.Size]byte
}

type retiredSecret struct {
	secret []byte
	until  time.Time
}

// NewSigner returns a Signer using secret. now may be nil (time.Now).
func NewSigner(secret []byte, now func() time.Time) *Signer {
	if now == nil {
		now = time.Now
	}
	return &Signer{now: now, current: append([]byte(nil), secret...)}
}

// Rotate makes next the signing secret; the old one is still accepted for
// grace, so outstanding URLs stay valid until they expire.
func (s *Signer) Rotate(next []byte, grace time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired = append(s.retired, retiredSecret{secret: s.current, until: s.now().Add(grace)})
	s.current = append([]byte(nil), next...)
}

// AddRetired installs an older secret accepted until until; used at start
// for keys the store still holds inside their grace period.
func (s *Signer) AddRetired(secret []byte, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired = append(s.retired, retiredSecret{secret: append([]byte(nil), secret...), until: until})
}

// Replace installs a new current secret and retired set at once (a reload
// from the store, after another process rotated).
func (s *Signer) Replace(current []byte, retired map[string]time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current = append([]byte(nil), current...)
	s.retired = s.retired[:0]
	for secret, until := range retired {
		s.retired = append(s.retired, retiredSecret{secret: []byte(secret), until: until})
	}
}

// DeliveryPath returns the unsigned path of a target.
func DeliveryPath(t DeliveryTarget) string {
	name := path.Base(strings.ReplaceAll(t.Filename, "\\", "/"))
	if name == "." || name == "/" || name == "" {
		name = "download"
	}
	return "/dl/" + url.PathEscape(t.TenantID) + "/" + url.PathEscape(t.AssetID) + "/" + url.PathEscape(t.Format) + "/" + url.PathEscape(name)
}

// Sign returns the signed path and query ("/dl/…?exp=…&sig=…") for t.
func (s *Signer) Sign(t DeliveryTarget) string {
	disp := t.Disposition
	if disp == "" {
		disp = DispositionAttachment
	}
	p := DeliveryPath(t)
	exp := strconv.FormatInt(t.Expires.Unix(), 10)
	var raw [sha256.Size]byte
	s.mu.RLock()
	s.mac(s.current, p, exp, disp, t.GrantID, &raw)
	s.mu.RUnlock()
	sig := base64.RawURLEncoding.EncodeToString(raw[:])
	q := "exp=" + exp + "&disp=" + disp
	if t.GrantID != "" {
		q += "&g=" + url.QueryEscape(t.GrantID)
	}
	return p + "?" + q + "&sig=" + sig
}

// mac computes HMAC-SHA256 with secret over
// "GET\n{escapedPath}\n{exp}\n{disp}\n{grant}" into out. escapedPath may
// be given as its decoded segments (segs), escaped here, instead.
func (s *Signer) mac(secret []byte, escapedPath, exp, disp, grant string, out *[sha256.Size]byte) {
	s.macSegs(secret, escapedPath, nil, exp, disp, grant, out)
}

func (s *Signer) macSegs(secret []byte, escapedPath string, segs []string, exp, disp, grant string, out *[sha256.Size]byte) {
	m, _ := s.macs.Get().(*keyedMAC)
	if m == nil || !bytes.Equal(m.secret, secret) {
		m = &keyedMAC{secret: append([]byte(nil), secret...), h: hmac.New(sha256.New, secret), buf: make([]byte, 0, 256)}
	} else {
		m.h.Reset()
	}
	b := append(m.buf[:0], "GET\n"...)
	if segs == nil {
		b = append(b, escapedPath...)
	} else {
		b = append(b, "/dl"...)
		for _, seg := range segs {
			b = append(b, '/')
			b = append(b, url.PathEscape(seg)...)
		}
	}
	b = append(b, '\n')
	b = append(b, exp...)
	b = append(b, '\n')
	b = append(b, disp...)
	b = append(b, '\n')
	b = append(b, grant...)
	m.h.Write(b)
	m.h.Sum(m.sum[:0])
	*out = m.sum
	if cap(b) <= 4096 {
		m.buf = b[:0]
	}
	s.macs.Put(m)
}

// Verify checks a delivery request. escapedPath is the request's escaped
// path (r.URL.EscapedPath()), rawQuery its raw query. Only GET and HEAD are
// deliverable. It returns ErrBadSignature for anything not signed by a
// current or in-grace secret, and ErrURLExpired for an authentic URL past
// its expiry; the signature is checked first so a forged expiry is 403.
func (s *Signer) Verify(method, escapedPath, rawQuery string) (DeliveryTarget, error) {
	var t DeliveryTarget
	if method != "GET" && method != "HEAD" {
		return t, ErrBadSignature
	}
	q, ok := parseSignedQuery(rawQuery)
	if !ok {
		return t, ErrBadSignature
	}
	exp, disp, grant, sig := q.vals[qExp], q.vals[qDisp], q.vals[qGrant], q.vals[qSig]
	if exp == "" || sig == "" || q.n[qExp] != 1 || q.n[qSig] != 1 || q.n[qDisp] > 1 || q.n[qGrant] > 1 {
		return t, ErrBadSignature
	}
	if disp != DispositionAttachment && disp != DispositionInline {
		return t, ErrBadSignature
	}
	given, ok := decodeSig(sig)
	if !ok {
		return t, ErrBadSignature
	}
	// The MAC covers the canonical path rebuilt from the decoded segments,
	// so clients and proxies that re-encode the path differently (%7E vs ~,
	// lower-case hex) still verify.
	rest, found := strings.CutPrefix(escapedPath, "/dl/")
	if !found {
		return t, ErrBadSignature
	}
	var dec [4]string
	for i := range dec {
		p := rest
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			if i == len(dec)-1 {
				return t, ErrBadSignature // more than four segments
			}
			p, rest = rest[:j], rest[j+1:]
		} else if i < len(dec)-1 {
			return t, ErrBadSignature // fewer than four segments
		} else {
			rest = ""
		}
		v, err := url.PathUnescape(p)
		if err != nil || v == "" {
			return t, ErrBadSignature
		}
		dec[i] = v
	}
	if strings.ContainsAny(dec[3], "/\\") || dec[3] == "." || dec[3] == ".." {
		return t, ErrBadSignature
	}
	t = DeliveryTarget{TenantID: dec[0], AssetID: dec[1], Format: dec[2], Filename: dec[3], Disposition: disp, GrantID: grant}
	// dec[3] has no separator and is not "." or "..", so DeliveryPath(t)
	// is "/dl/" and the four escaped segments.
	var want [sha256.Size]byte
	s.mu.RLock()
	s.macSegs(s.current, "", dec[:], exp, disp, grant, &want)
	ok = hmac.Equal(want[:], given[:])
	var now time.Time
	for _, r := range s.retired {
		if ok {
			break
		}
		if now.IsZero() {
			now = s.now()
		}
		if now.Before(r.until) {
			s.macSegs(r.secret, "", dec[:], exp, disp, grant, &want)
			ok = hmac.Equal(want[:], given[:])
		}
	}
	s.mu.RUnlock()
	if !ok {
		return DeliveryTarget{}, ErrBadSignature
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return DeliveryTarget{}, ErrBadSignature
	}
	t.Expires = time.Unix(secs, 0).UTC()
	if !s.now().Before(t.Expires) {
		return t, ErrURLExpired
	}
	return t, nil
}

// decodeSig decodes a base64url signature of exactly sha256.Size bytes
// (as base64.RawURLEncoding.DecodeString would, which also skips line
// breaks) without allocating in the usual case.
func decodeSig(sig string) ([sha256.Size]byte, bool) {
	var out [sha256.Size]byte
	var src [96]byte
	var dst [72]byte
	if len(sig) > len(src) {
		raw, err := base64.RawURLEncoding.DecodeString(sig)
		if err != nil || len(raw) != sha256.Size {
			return out, false
		}
		copy(out[:], raw)
		return out, true
	}
	n := copy(src[:], sig)
	m, err := base64.RawURLEncoding.Decode(dst[:], src[:n])
	if err != nil || m != sha256.Size {
		return out, false
	}
	copy(out[:], dst[:m])
	return out, true
}

// The query parameters of a signed URL.
const (
	qExp = iota
	qDisp
	qGrant
	qSig
	qCount
)

// signedQuery holds the values of exp, disp, g and sig and how often
// each occurred.
type signedQuery struct {
	vals [qCount]string
	n    [qCount]int
}

// parseSignedQuery reads the four parameters of a signed URL from a raw
// query the way url.ParseQuery would (the first value of each, "+" and
// %-escapes decoded, a semicolon or bad escape anywhere is an error,
// other parameters ignored) without building a url.Values map.
func parseSignedQuery(raw string) (signedQuery, bool) {
	var q signedQuery
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if strings.IndexByte(part, ';') >= 0 {
			return q, false
		}
		if part == "" {
			continue
		}
		key, value, _ := strings.Cut(part, "=")
		key, ok := queryUnescape(key)
		if !ok {
			return q, false
		}
		value, ok = queryUnescape(value)
		if !ok {
			return q, false
		}
		var i int
		switch key {
		case "exp":
			i = qExp
		case "disp":
			i = qDisp
		case "g":
			i = qGrant
		case "sig":
			i = qSig
		default:
			continue
		}
		if q.n[i] == 0 {
			q.vals[i] = value
		}
		q.n[i]++
	}
	return q, true
}

// queryUnescape is url.QueryUnescape without an allocation when there is
// nothing to decode.
func queryUnescape(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, true
	}
	v, err := url.QueryUnescape(s)
	return v, err == nil
}
