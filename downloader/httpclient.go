package downloader

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// NewHTTPClient returns a client whose transport is tuned for a pool of
// conns concurrent downloads: enough idle connections per host to reuse
// them all, dial/TLS/header timeouts, HTTP/2 when the server offers it, no
// transparent decompression (bytes are hashed as served) and no overall
// timeout (the engine's stall timeout guards the bodies).
func NewHTTPClient(conns int) *http.Client {
	conns = max(conns, 1)
	d := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          conns * 2,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ReadBufferSize:        64 << 10,
		WriteBufferSize:       16 << 10,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	return &http.Client{Transport: tr}
}

// response is an opened download response with what was measured on the
// way.
type response struct {
	*http.Response
	gate *hostGate
	// rtt is the time from writing the request to the first response byte.
	rtt time.Duration
	// loopback is true when the peer address is a loopback address.
	loopback bool
}

// close drains a little of the body for connection reuse and frees the
// host gate slot.
func (r *response) close(ok bool) {
	if r.Body != nil {
		_, _ = io.CopyN(io.Discard, r.Body, 64<<10)
		r.Body.Close()
	}
	r.gate.release(ok)
}

// get sends a GET through the host gate. rng is the Range header value
// ("" for none), ifRange the If-Range value. A status other than 200/206
// is returned as *HTTPError (429/503 also close the gate for the host).
func (e *Engine) get(ctx context.Context, rawURL, rng, ifRange string) (*response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: bad url: %v", ErrInvalidItem, err)
	}
	gate := e.gates.get(u.Host)
	if err := gate.acquire(ctx); err != nil {
		return nil, err
	}
	r := &response{gate: gate}
	// Over HTTP/2 the request is written and the response read on two
	// different goroutines, so the write time crosses between them.
	var wrote atomic.Int64
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if a, ok := info.Conn.RemoteAddr().(*net.TCPAddr); ok {
				r.loopback = a.IP.IsLoopback()
			}
			gate.waitOpen(ctx)
		},
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(time.Now().UnixNano()) },
		GotFirstResponseByte: func() {
			if w := wrote.Load(); w != 0 {
				r.rtt = time.Duration(time.Now().UnixNano() - w)
			}
		},
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, rawURL, nil)
	if err != nil {
		gate.release(false)
		return nil, fmt.Errorf("%w: %v", ErrInvalidItem, err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
		if ifRange != "" {
			req.Header.Set("If-Range", ifRange)
		}
	}
	if e.opts.UserAgent != "" {
		req.Header.Set("User-Agent", e.opts.UserAgent)
	}
	if e.opts.Prepare != nil {
		e.opts.Prepare(req)
	}
	var began time.Time
	if e.debug {
		began = time.Now()
	}
	resp, err := e.client.Do(req)
	if err != nil {
		gate.release(false)
		var ue *url.Error
		if errors.As(err, &ue) {
			err = fmt.Errorf("GET %s: %w", redact(rawURL), ue.Err)
		}
		if e.debug {
			e.opts.Logger.Debug("GET failed", "url", redact(rawURL), "range", rng, "if_range", ifRange, "err", err)
		}
		return nil, err
	}
	if e.debug {
		e.opts.Logger.Debug("GET", "url", redact(rawURL), "host", u.Host, "status", resp.StatusCode,
			"range", rng, "if_range", ifRange, "content_range", resp.Header.Get("Content-Range"),
			"content_length", resp.ContentLength, "ms", time.Since(began).Milliseconds())
	}
	r.Response = resp
	switch resp.StatusCode {
	case http.StatusOK, http.StatusPartialContent:
		return r, nil
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		delay, ok := parseRetryAfter(resp.Header.Get("Retry-After"), e.opts.Now())
		if !ok {
			delay = gate.strike(e.backoff)
		}
		gate.throttle(delay)
		r.close(false)
		return nil, &HTTPError{StatusCode: resp.StatusCode, Status: resp.Status, URL: redact(rawURL), RetryAfter: delay}
	default:
		r.close(false)
		return nil, &HTTPError{StatusCode: resp.StatusCode, Status: resp.Status, URL: redact(rawURL)}
	}
}

// contentRange is a parsed Content-Range header.
type contentRange struct {
	first, last int64 // inclusive
	total       int64 // -1 when "*"
}

// parseContentRange parses "bytes first-last/total" (total may be "*").
func parseContentRange(s string) (contentRange, error) {
	bad := func() (contentRange, error) { return contentRange{}, fmt.Errorf("malformed Content-Range %q", s) }
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), "bytes ")
	if !ok {
		return bad()
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return bad()
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return bad()
	}
	first, err1 := parseDigits(a)
	last, err2 := parseDigits(b)
	if err1 != nil || err2 != nil || last < first {
		return bad()
	}
	total := int64(-1)
	if tot != "*" {
		t, err := parseDigits(tot)
		if err != nil || t <= last {
			return bad()
		}
		total = t
	}
	return contentRange{first: first, last: last, total: total}, nil
}

// parseDigits parses a non-negative decimal without sign or spaces.
func parseDigits(s string) (int64, error) {
	if s == "" || len(s) > 18 {
		return 0, errors.New("bad number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("bad number")
		}
	}
	return strconv.ParseInt(s, 10, 64)
}
