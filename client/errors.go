package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Stable problem codes the server uses (SPEC section 3, Conventions).
const (
	CodeUnsupportedFormat    = "unsupported_format"
	CodeRightsDenied         = "rights_denied"
	CodeRateLimited          = "rate_limited"
	CodeGrantConsumed        = "grant_consumed"
	CodeGrantRevoked         = "grant_revoked"
	CodeGrantExpired         = "grant_expired"
	CodeIdempotencyKeyReused = "idempotency_key_reused"
	// CodeIdempotencyKeyInFlight (409): the first request with the key is
	// still running; the client retries it.
	CodeIdempotencyKeyInFlight = "idempotency_key_in_flight"
	CodeValidationFailed       = "validation_failed"
	CodeDigestMismatch         = "digest_mismatch"
	CodeNotFound               = "not_found"
	CodeUnauthorized           = "unauthorized"
	CodeForbidden              = "forbidden"
	// CodeNotReady (409): the asset is not available yet; with Retry-After
	// while its uploaded bytes are being scanned.
	CodeNotReady = "not_ready"
)

// APIError is an error response of the API, decoded from its
// application/problem+json body (RFC 9457). Responses that are not problem
// documents (a proxy's HTML error page) still produce an APIError with
// Status and Title set.
type APIError struct {
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Type is the problem type URI.
	Type string `json:"type,omitempty"`
	// Title is the short human summary of the problem type.
	Title string `json:"title,omitempty"`
	// Detail explains this occurrence.
	Detail string `json:"detail,omitempty"`
	// Instance identifies this occurrence.
	Instance string `json:"instance,omitempty"`
	// Code is the stable machine code (the Code* constants).
	Code string `json:"code,omitempty"`
	// RetryAfter is how long the server asked to wait (429/503), from the
	// problem's retry_after member or the Retry-After header.
	RetryAfter time.Duration `json:"-"`
	// Scope names the rate limit that was hit ("export", "job", …).
	Scope string `json:"scope,omitempty"`
	// AllowedFormats lists usable formats with unsupported_format or
	// rights_denied.
	AllowedFormats []string `json:"allowed_formats,omitempty"`
	// UnknownAssets lists the asset ids an export refused.
	UnknownAssets []string `json:"unknown_assets,omitempty"`
	// Errors are per-field validation messages, when the server gives them.
	Errors []FieldError `json:"errors,omitempty"`
	// RequestID is the server's request id (X-Request-Id), for bug reports.
	RequestID string `json:"-"`
	// Method and Path are the request that failed.
	Method, Path string `json:"-"`
	// Extensions holds every other member of the problem document.
	Extensions map[string]json.RawMessage `json:"-"`
}

// FieldError is one invalid field of a request.
type FieldError struct {
	// Field is the JSON name of the field, or a path like items[3].asset_id.
	Field string `json:"field"`
	// Message says what is wrong with it.
	Message string `json:"message"`
}

// Error returns an actionable one-line message.
func (e *APIError) Error() string {
	var b strings.Builder
	detail := e.Detail
	switch {
	case e.Status == http.StatusTooManyRequests || e.Code == CodeRateLimited:
		b.WriteString("rate limited")
		if e.RetryAfter > 0 {
			fmt.Fprintf(&b, " for %s", roundDuration(e.RetryAfter))
		}
		if s := scopeDescription(e.Scope); s != "" {
			b.WriteString(" on " + s)
		}
		b.WriteString("; retry later")
		return b.String()
	case e.Status == http.StatusUnauthorized:
		b.WriteString("authentication failed")
		if detail == "" {
			detail = "missing or invalid API key"
		}
	case e.Code == CodeRightsDenied:
		b.WriteString("rights denied")
	case e.Status == http.StatusForbidden:
		b.WriteString("permission denied")
		if detail == "" {
			detail = "the API key lacks the scope this needs"
		}
	case e.Code == CodeUnsupportedFormat:
		b.WriteString("unsupported format")
	case e.Code == CodeDigestMismatch:
		b.WriteString("content digest mismatch")
	case e.Code == CodeIdempotencyKeyReused:
		b.WriteString("idempotency key reused with a different request")
	case e.Status == http.StatusNotFound:
		b.WriteString("not found")
	case e.Title != "" && e.Title != http.StatusText(e.Status):
		b.WriteString(strings.ToLower(e.Title[:1]) + e.Title[1:])
	default:
		b.WriteString(strings.ToLower(http.StatusText(e.Status)))
		if b.Len() == 0 {
			fmt.Fprintf(&b, "HTTP %d", e.Status)
		}
	}
	if detail != "" && !strings.EqualFold(detail, b.String()) {
		b.WriteString(": " + detail)
	}
	if len(e.AllowedFormats) > 0 && !strings.Contains(detail, e.AllowedFormats[0]) {
		fmt.Fprintf(&b, " (allowed formats: %s)", strings.Join(e.AllowedFormats, ", "))
	}
	if len(e.UnknownAssets) > 0 {
		ids := e.UnknownAssets
		more := ""
		if len(ids) > 10 {
			more = fmt.Sprintf(" and %d more", len(ids)-10)
			ids = ids[:10]
		}
		fmt.Fprintf(&b, " (unknown assets: %s%s)", strings.Join(ids, ", "), more)
	}
	if len(e.Errors) > 0 && detail == "" {
		parts := make([]string, 0, len(e.Errors))
		for _, fe := range e.Errors {
			parts = append(parts, fe.Field+": "+fe.Message)
		}
		b.WriteString(": " + strings.Join(parts, "; "))
	}
	if e.Code != "" && e.Status != http.StatusNotFound {
		fmt.Fprintf(&b, " [%s]", e.Code)
	}
	return b.String()
}

// scopeDescription names a rate limit's scope in words.
func scopeDescription(scope string) string {
	switch scope {
	case "":
		return ""
	case "export", "exports":
		return "export creation"
	case "job", "jobs":
		return "job creation"
	case "grant", "grants":
		return "grant creation"
	case "poll", "polling":
		return "polling"
	case "redeem", "redemption":
		return "link redemption"
	case "delivery", "deliveries":
		return "delivery"
	}
	return fmt.Sprintf("%q requests", scope)
}

func roundDuration(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(10 * time.Millisecond)
}

// problemJSON mirrors the wire format, with retry_after as a number.
type problemJSON struct {
	Type           string       `json:"type"`
	Title          string       `json:"title"`
	Status         int          `json:"status"`
	Detail         string       `json:"detail"`
	Instance       string       `json:"instance"`
	Code           string       `json:"code"`
	RetryAfter     *float64     `json:"retry_after"`
	Scope          string       `json:"scope"`
	AllowedFormats []string     `json:"allowed_formats"`
	UnknownAssets  []string     `json:"unknown_assets"`
	Errors         []FieldError `json:"errors"`
}

var knownProblemMembers = map[string]bool{"type": true, "title": true, "status": true, "detail": true,
	"instance": true, "code": true, "retry_after": true, "scope": true, "allowed_formats": true,
	"unknown_assets": true, "errors": true}

// decodeError turns an error response into an *APIError.
func decodeError(resp *http.Response, method, path string, now time.Time) *APIError {
	e := &APIError{
		Status:    resp.StatusCode,
		Method:    method,
		Path:      path,
		RequestID: resp.Header.Get("X-Request-Id"),
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	decoded := false
	if mt == "application/problem+json" || mt == "application/json" || strings.HasSuffix(mt, "+json") {
		var p problemJSON
		if err := json.Unmarshal(data, &p); err == nil {
			decoded = true
			e.Type, e.Title, e.Detail, e.Instance, e.Code = p.Type, p.Title, p.Detail, p.Instance, p.Code
			e.Scope, e.AllowedFormats, e.UnknownAssets, e.Errors = p.Scope, p.AllowedFormats, p.UnknownAssets, p.Errors
			if p.RetryAfter != nil && *p.RetryAfter > 0 {
				e.RetryAfter = time.Duration(*p.RetryAfter * float64(time.Second))
			}
			var all map[string]json.RawMessage
			if json.Unmarshal(data, &all) == nil {
				for k, v := range all {
					if !knownProblemMembers[k] {
						if e.Extensions == nil {
							e.Extensions = map[string]json.RawMessage{}
						}
						e.Extensions[k] = v
					}
				}
			}
		}
	}
	if !decoded {
		e.Title = http.StatusText(resp.StatusCode)
		if s := strings.TrimSpace(string(data)); s != "" && utf8.ValidString(s) && !strings.HasPrefix(s, "<") {
			if len(s) > 200 {
				s = s[:200] + "…"
			}
			e.Detail = s
		}
	}
	if e.RetryAfter == 0 {
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
			e.RetryAfter = d
		}
	}
	if e.Scope == "" && resp.StatusCode == http.StatusTooManyRequests {
		e.Scope = rateLimitScope(resp.Header)
	}
	return e
}

// AsAPIError returns the *APIError in err's chain.
func AsAPIError(err error) (*APIError, bool) {
	var e *APIError
	ok := errors.As(err, &e)
	return e, ok
}

func statusIs(err error, codes ...int) bool {
	e, ok := AsAPIError(err)
	if !ok {
		return false
	}
	for _, c := range codes {
		if e.Status == c {
			return true
		}
	}
	return false
}

// ErrorCode returns the problem code of the *APIError in err's chain, or "".
func ErrorCode(err error) string {
	if e, ok := AsAPIError(err); ok {
		return e.Code
	}
	return ""
}

// IsNotFound reports a 404: the object does not exist or belongs to
// another tenant.
func IsNotFound(err error) bool { return statusIs(err, http.StatusNotFound) }

// IsUnauthorized reports a 401: no key, or an invalid one.
func IsUnauthorized(err error) bool { return statusIs(err, http.StatusUnauthorized) }

// IsForbidden reports a 403: the key lacks a scope, or rights deny it.
func IsForbidden(err error) bool { return statusIs(err, http.StatusForbidden) }

// IsAuth reports an authentication or permission refusal (401 or 403),
// which commands turn into exit code 4.
func IsAuth(err error) bool { return IsUnauthorized(err) || IsForbidden(err) }

// IsRateLimited reports a 429.
func IsRateLimited(err error) bool { return statusIs(err, http.StatusTooManyRequests) }

// IsConflict reports a 409, e.g. a request with the same Idempotency-Key
// still in flight.
func IsConflict(err error) bool { return statusIs(err, http.StatusConflict) }

// IsValidation reports a 422 validation_failed (and other 422s).
func IsValidation(err error) bool { return statusIs(err, http.StatusUnprocessableEntity) }

// IsGone reports a 410: an expired signed URL or a spent grant.
func IsGone(err error) bool { return statusIs(err, http.StatusGone) }
