package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// checkRetry is the retry policy: connection errors, 5xx (but 501) and 429
// are retried, unless the call forbids it (a POST without an idempotency key
// never reaches here: every POST gets one) or the server asks for a wait
// longer than MaxRetryWait, which the caller should hear about instead.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if v, _ := ctx.Value(noRetryKey).(bool); v {
		return false, nil
	}
	if err != nil {
		var certErr *tls.CertificateVerificationError
		if errors.As(err, &certErr) {
			return false, err
		}
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusServiceUnavailable:
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok && d > c.opts.MaxRetryWait {
			return false, nil
		}
		return true, nil
	case resp.StatusCode == http.StatusRequestTimeout:
		return true, nil
	case resp.StatusCode == http.StatusConflict && resp.Request != nil && resp.Request.Header.Get("Idempotency-Key") != "":
		// The first request with this key is still running: asking again
		// shortly gets its stored response.
		return isInFlight(resp), nil
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		return true, nil
	}
	return false, nil
}

// backoff computes the wait before retry attempt+1: the server's Retry-After
// on 429 and 503, else exponential backoff with full jitter between
// RetryWaitMin and RetryWaitMax.
func (c *Client) backoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
	info := RetryInfo{Attempt: attempt + 1}
	wait := time.Duration(-1)
	if resp != nil {
		info.Status = resp.StatusCode
		if resp.Request != nil {
			info.Method, info.URL = resp.Request.Method, redact(resp.Request.URL.String())
		}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
				wait, info.RetryAfter = d, true
			}
			info.Scope = rateLimitScope(resp.Header)
		}
	}
	if wait < 0 {
		wait = jitterBackoff(minWait, maxWait, attempt)
	}
	info.Wait = wait
	if c.log != nil {
		c.log.Debug("retrying request", "method", info.Method, "url", info.URL, "status", info.Status,
			"attempt", info.Attempt, "wait", wait, "retry_after", info.RetryAfter)
	}
	if c.opts.OnRetry != nil {
		c.opts.OnRetry(info)
	}
	return wait
}

// jitterBackoff is "full jitter": a random wait between minWait and
// min(maxWait, minWait·2^attempt).
func jitterBackoff(minWait, maxWait time.Duration, attempt int) time.Duration {
	ceil := maxWait
	if attempt < 30 {
		if d := minWait << uint(attempt); d > 0 && d < maxWait {
			ceil = d
		}
	}
	if ceil <= minWait {
		return minWait
	}
	return minWait + rand.N(ceil-minWait)
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
// A date in the past means "now".
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if !(secs >= 0 && secs <= 1e9) { // also refuses NaN
			return 0, false
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}

// rateLimitScope returns the policy name of a RateLimit header in the
// syntax of draft-ietf-httpapi-ratelimit-headers (`"export";r=0;t=42`).
func rateLimitScope(h http.Header) string {
	for _, name := range []string{"RateLimit", "RateLimit-Policy"} {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			continue
		}
		if i := strings.IndexAny(v, ";,"); i >= 0 {
			v = v[:i]
		}
		v = strings.TrimSpace(v)
		if s, err := strconv.Unquote(v); err == nil {
			return s
		}
		if v != "" {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// isInFlight reports a 409 idempotency_key_in_flight problem. It peeks at
// the body and leaves it readable.
func isInFlight(resp *http.Response) bool {
	if resp.Body == nil {
		return false
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	return bytes.Contains(head, []byte(`"`+CodeIdempotencyKeyInFlight+`"`))
}
