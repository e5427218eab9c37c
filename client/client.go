// Package client is a typed Go SDK for the haul API (SPEC section 3): assets,
// formats, downloads and jobs, exports and their manifests, grants, webhooks,
// the audit log, administration and health.
//
// A Client retries what is safe to retry: connection errors, 5xx and 429
// responses, honouring Retry-After (seconds or an HTTP date). GET, HEAD, PUT,
// PATCH and DELETE are retried; POSTs only because every POST carries an
// Idempotency-Key, generated once per logical call (or passed with
// WithIdempotencyKey) and reused on every retry, so the server answers a
// retried POST with the stored response instead of acting twice.
//
// Errors from the API are *APIError values decoded from problem+json; use
// errors.As or the helpers IsNotFound, IsAuth, IsRateLimited and friends.
// Lists are iterators over cursor pages (iter.Seq2[T, error]).
//
// The API key is sent only in the Authorization header and never logged.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Defaults used when Options leave a field zero.
const (
	DefaultRetryMax     = 4
	DefaultRetryWaitMin = 500 * time.Millisecond
	DefaultRetryWaitMax = 30 * time.Second
	DefaultMaxRetryWait = 2 * time.Minute
	DefaultTimeout      = 60 * time.Second
)

// Options configure a Client.
type Options struct {
	// BaseURL is the server's base URL, e.g. "https://media.example.com".
	// A path prefix is kept ("https://h/haul" → "https://h/haul/v1/...").
	BaseURL string
	// Token is the API key sent as "Authorization: Bearer <token>".
	Token string
	// UserAgent is sent with every request, e.g. "haul/1.2.3".
	UserAgent string
	// HTTPClient carries the requests; a pooled client with dial and TLS
	// timeouts (and no overall timeout, so uploads and long polls work) when
	// nil.
	HTTPClient *http.Client
	// Logger receives debug logs of requests and retries; nothing is logged
	// when nil. The token is never logged.
	Logger *slog.Logger
	// RetryMax is the number of retries after the first attempt; 0 means
	// DefaultRetryMax, a negative value disables retries.
	RetryMax int
	// RetryWaitMin and RetryWaitMax bound the exponential backoff (full
	// jitter) used when the server gives no Retry-After.
	RetryWaitMin, RetryWaitMax time.Duration
	// MaxRetryWait is the longest Retry-After the client waits out by
	// itself; a longer one is returned as an *APIError at once, so the
	// caller can tell the user. Default DefaultMaxRetryWait.
	MaxRetryWait time.Duration
	// Timeout bounds each call that is not an upload (long polls get their
	// wait added). Default DefaultTimeout; negative means no timeout.
	Timeout time.Duration
	// OnRetry, when set, is told before the client sleeps before a retry.
	OnRetry func(RetryInfo)
	// PollIntervalMin and PollIntervalMax bound WaitJob's polling backoff
	// (defaults 500ms and 5s).
	PollIntervalMin, PollIntervalMax time.Duration
}

// RetryInfo describes a retry the client is about to make.
type RetryInfo struct {
	// Method and URL of the request being retried.
	Method, URL string
	// Attempt is the number of the attempt that failed, from 1.
	Attempt int
	// Status is the HTTP status that caused the retry, 0 for connection errors.
	Status int
	// Err is the error of the failed attempt, when it had no response.
	Err error
	// Wait is how long the client sleeps before the next attempt.
	Wait time.Duration
	// RetryAfter reports whether Wait came from the server's Retry-After.
	RetryAfter bool
	// Scope is the rate limit's name from a 429 problem, when known.
	Scope string
}

// Client talks to one haul server. It is safe for concurrent use.
type Client struct {
	base   *url.URL
	token  string
	ua     string
	http   *http.Client
	rc     *retryablehttp.Client
	log    *slog.Logger
	opts   Options
	newKey func() string
	now    func() time.Time
}

// New returns a Client for the server at opts.BaseURL.
func New(opts Options) (*Client, error) {
	if strings.TrimSpace(opts.BaseURL) == "" {
		return nil, errors.New("client: no server URL")
	}
	base, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("client: server URL %q: %w", opts.BaseURL, err)
	}
	if base.Scheme != "http" && base.Scheme != "https" {
		return nil, fmt.Errorf("client: server URL %q: scheme must be http or https", opts.BaseURL)
	}
	if base.Host == "" {
		return nil, fmt.Errorf("client: server URL %q has no host", opts.BaseURL)
	}
	if opts.RetryMax == 0 {
		opts.RetryMax = DefaultRetryMax
	} else if opts.RetryMax < 0 {
		opts.RetryMax = 0
	}
	if opts.RetryWaitMin <= 0 {
		opts.RetryWaitMin = DefaultRetryWaitMin
	}
	if opts.RetryWaitMax <= 0 {
		opts.RetryWaitMax = DefaultRetryWaitMax
	}
	if opts.RetryWaitMax < opts.RetryWaitMin {
		opts.RetryWaitMax = opts.RetryWaitMin
	}
	if opts.MaxRetryWait <= 0 {
		opts.MaxRetryWait = DefaultMaxRetryWait
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.PollIntervalMin <= 0 {
		opts.PollIntervalMin = 500 * time.Millisecond
	}
	if opts.PollIntervalMax <= 0 {
		opts.PollIntervalMax = 5 * time.Second
	}
	if opts.PollIntervalMax < opts.PollIntervalMin {
		opts.PollIntervalMax = opts.PollIntervalMin
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "haul-client"
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient()
	}
	c := &Client{
		base:   base,
		token:  opts.Token,
		ua:     opts.UserAgent,
		http:   hc,
		log:    opts.Logger,
		opts:   opts,
		newKey: newIdempotencyKey,
		now:    time.Now,
	}
	c.rc = &retryablehttp.Client{
		HTTPClient:   hc,
		RetryWaitMin: opts.RetryWaitMin,
		RetryWaitMax: opts.RetryWaitMax,
		RetryMax:     opts.RetryMax,
		CheckRetry:   c.checkRetry,
		Backoff:      c.backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	return c, nil
}

// BaseURL returns the server's base URL.
func (c *Client) BaseURL() string { return c.base.String() }

// HTTPClient returns the *http.Client the Client sends requests with, for
// callers that download signed URLs with the same connection pool.
func (c *Client) HTTPClient() *http.Client { return c.http }

// ResolveURL turns a URL the server returned (possibly relative, such as a
// grant's "/g/{token}") into an absolute one.
func (c *Client) ResolveURL(ref string) string {
	u, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	if u.IsAbs() {
		return ref
	}
	return c.base.ResolveReference(u).String()
}

func defaultHTTPClient() *http.Client {
	t := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: t}
}

// newIdempotencyKey returns a random key of 128 bits, hex encoded.
func newIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "hk_" + hex.EncodeToString(b[:])
}

// CallOption adjusts one call.
type CallOption func(*callOptions)

type callOptions struct {
	idemKey  string
	response *ResponseInfo
}

// WithIdempotencyKey makes a POST use key as its Idempotency-Key instead of
// a random one, so a repeated logical call (a re-run of a command) is
// recognised by the server.
func WithIdempotencyKey(key string) CallOption {
	return func(o *callOptions) { o.idemKey = key }
}

// WithResponseInfo fills info with what the response said besides its body.
func WithResponseInfo(info *ResponseInfo) CallOption {
	return func(o *callOptions) { o.response = info }
}

// ResponseInfo is what a response carried besides its body.
type ResponseInfo struct {
	// Status is the HTTP status code.
	Status int
	// Header are the response headers.
	Header http.Header
	// Replayed reports "Idempotent-Replayed: true": the server answered a
	// repeated Idempotency-Key with the stored response.
	Replayed bool
	// IdempotencyKey is the key the request was sent with (POST only).
	IdempotencyKey string
}

// request describes one logical API call.
type request struct {
	method string
	path   string // relative to the base URL, or absolute
	query  url.Values
	body   any // JSON encoded; nil for none
	// raw, when set, streams the body (uploads); rawLen is its length or -1.
	raw       func() (io.Reader, error)
	rawLen    int64
	header    http.Header
	noAuth    bool
	noRetry   bool
	noTimeout bool
	extraWait time.Duration // added to the timeout (long polls)
	call      callOptions
}

type ctxKey int

const noRetryKey ctxKey = 1

func (c *Client) url(path string, q url.Values) string {
	var u *url.URL
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		u, _ = url.Parse(path)
	} else {
		u = new(url.URL)
		*u = *c.base
		u.Path = strings.TrimRight(c.base.Path, "/") + path
		u.RawPath = ""
	}
	if len(q) > 0 {
		merged := u.Query()
		for k, vs := range q {
			for _, v := range vs {
				merged.Add(k, v)
			}
		}
		u.RawQuery = merged.Encode()
	}
	return u.String()
}

// do sends r and returns the response when its status is 2xx or 3xx; any
// other status is decoded into an *APIError. The caller closes the body.
func (c *Client) do(ctx context.Context, r *request) (*http.Response, context.CancelFunc, error) {
	cancel := context.CancelFunc(func() {})
	if c.opts.Timeout > 0 && !r.noTimeout {
		ctx, cancel = context.WithTimeout(ctx, c.opts.Timeout+r.extraWait)
	}
	if r.noRetry {
		ctx = context.WithValue(ctx, noRetryKey, true)
	}
	var body any
	switch {
	case r.raw != nil:
		body = retryablehttp.ReaderFunc(r.raw)
	case r.body != nil:
		b, err := json.Marshal(r.body)
		if err != nil {
			cancel()
			return nil, nil, fmt.Errorf("encode %s %s request: %w", r.method, r.path, err)
		}
		body = b
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, r.method, c.url(r.path, r.query), body)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	if r.raw != nil {
		req.ContentLength = r.rawLen
	}
	for k, vs := range r.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("User-Agent", c.ua)
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json, application/problem+json")
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// The key goes only to the configured server, never to another host a
	// response pointed at.
	if c.token != "" && !r.noAuth && req.URL.Host == c.base.Host && req.URL.Scheme == c.base.Scheme {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if r.method == http.MethodPost {
		key := r.call.idemKey
		if key == "" {
			key = c.newKey()
		}
		req.Header.Set("Idempotency-Key", key)
		if r.call.response != nil {
			r.call.response.IdempotencyKey = key
		}
	}
	resp, err := c.rc.Do(req)
	if err != nil {
		cancel()
		if ctxErr := context.Cause(ctx); ctxErr != nil && errors.Is(err, ctxErr) {
			return nil, nil, fmt.Errorf("%s %s: %w", r.method, r.path, ctxErr)
		}
		return nil, nil, fmt.Errorf("%s %s: %w", r.method, redact(c.url(r.path, nil)), err)
	}
	if info := r.call.response; info != nil {
		info.Status = resp.StatusCode
		info.Header = resp.Header
		info.Replayed = strings.EqualFold(resp.Header.Get("Idempotent-Replayed"), "true")
	}
	if resp.StatusCode >= 400 {
		defer cancel()
		defer resp.Body.Close()
		return nil, nil, decodeError(resp, r.method, r.path, c.now())
	}
	return resp, cancel, nil
}

// call sends r and decodes a JSON response body into out (when out is not
// nil). It returns the response status.
func (c *Client) call(ctx context.Context, r *request, out any) (*http.Response, error) {
	resp, cancel, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	defer cancel()
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return resp, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read response: %w", r.method, r.path, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return resp, nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, fmt.Errorf("%s %s: decode %d response: %w", r.method, r.path, resp.StatusCode, err)
	}
	return resp, nil
}

func applyOptions(opts []CallOption) callOptions {
	var o callOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// redact drops the query string of a URL (signed URLs carry signatures).
func redact(raw string) string {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		return raw[:i]
	}
	return raw
}

// pathEscape escapes one path segment (an id or token).
func pathEscape(s string) string { return url.PathEscape(s) }
