package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"syscall"
)

// Problem is an RFC 9457 problem detail. Every error the API returns is one,
// served as application/problem+json. Code is the stable machine-readable
// name clients branch on; Extra holds extension members such as
// retry_after, scope, allowed_formats or unknown_assets.
type Problem struct {
	// Type is a URI naming the problem type; derived from Code when empty.
	Type string
	// Title is a short human summary of the problem type.
	Title string
	// Status is the HTTP status code.
	Status int
	// Detail explains this occurrence.
	Detail string
	// Code is the stable machine code (e.g. "rights_denied").
	Code string
	// Instance identifies this occurrence (the request ID).
	Instance string
	// Extra are extension members merged into the JSON object.
	Extra map[string]any
	// Header are response headers to send with the problem (Retry-After…).
	Header http.Header
}

// Error makes a Problem usable as an error.
func (p *Problem) Error() string {
	if p.Detail != "" {
		return fmt.Sprintf("%s: %s", p.Code, p.Detail)
	}
	return p.Code
}

// MarshalJSON writes the standard members followed by the extensions.
func (p *Problem) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, 6+len(p.Extra))
	for k, v := range p.Extra {
		m[k] = v
	}
	m["type"] = p.typeURI()
	m["title"] = p.title()
	m["status"] = p.Status
	if p.Detail != "" {
		m["detail"] = p.Detail
	}
	m["code"] = p.Code
	if p.Instance != "" {
		m["instance"] = p.Instance
	}
	return json.Marshal(m)
}

func (p *Problem) typeURI() string {
	if p.Type != "" {
		return p.Type
	}
	return "urn:haul:problem:" + p.Code
}

func (p *Problem) title() string {
	if p.Title != "" {
		return p.Title
	}
	if t, ok := problemTitles[p.Code]; ok {
		return t
	}
	return http.StatusText(p.Status)
}

// With returns a copy of p with an extension member set.
func (p *Problem) With(key string, value any) *Problem {
	c := *p
	c.Extra = make(map[string]any, len(p.Extra)+1)
	for k, v := range p.Extra {
		c.Extra[k] = v
	}
	c.Extra[key] = value
	return &c
}

// Problem codes, stable across releases (SPEC section 3, Conventions).
const (
	CodeBadRequest          = "bad_request"
	CodeUnauthorized        = "unauthorized"
	CodeForbidden           = "forbidden"
	CodeNotFound            = "not_found"
	CodeMethodNotAllowed    = "method_not_allowed"
	CodeConflict            = "conflict"
	CodeGone                = "gone"
	CodeRequestTimeout      = "request_timeout"
	CodeValidationFailed    = "validation_failed"
	CodeUnsupportedFormat   = "unsupported_format"
	CodeRightsDenied        = "rights_denied"
	CodeDigestMismatch      = "digest_mismatch"
	CodeIdempotencyReused   = "idempotency_key_reused"
	CodeIdempotencyInFlight = "idempotency_key_in_flight"
	CodeRateLimited         = "rate_limited"
	CodeTooLarge            = "payload_too_large"
	CodeTooManyItems        = "too_many_items"
	CodeUnsupportedMedia    = "unsupported_media_type"
	CodeNotReady            = "not_ready"
	CodeURLExpired          = "url_expired"
	CodeBadSignature        = "bad_signature"
	CodeRangeNotSatisfiable = "range_not_satisfiable"
	CodeUnavailable         = "unavailable"
	CodeInternal            = "internal"
	CodeStorageFull         = "insufficient_storage"
	CodeClientClosed        = "client_closed_request"
	CodeGrantConsumed       = "grant_consumed"
	CodeGrantRevoked        = "grant_revoked"
	CodeGrantExpired        = "grant_expired"
)

// StatusClientClosed is nginx's 499: the client closed the connection
// before the answer was ready. Only logs and metrics ever see it.
const StatusClientClosed = 499

// codeStatus is the one table from problem codes to HTTP status.
var codeStatus = map[string]int{
	CodeBadRequest:          http.StatusBadRequest,
	CodeUnauthorized:        http.StatusUnauthorized,
	CodeForbidden:           http.StatusForbidden,
	CodeNotFound:            http.StatusNotFound,
	CodeMethodNotAllowed:    http.StatusMethodNotAllowed,
	CodeConflict:            http.StatusConflict,
	CodeGone:                http.StatusGone,
	CodeRequestTimeout:      http.StatusRequestTimeout,
	CodeValidationFailed:    http.StatusUnprocessableEntity,
	CodeUnsupportedFormat:   http.StatusUnprocessableEntity,
	CodeRightsDenied:        http.StatusForbidden,
	CodeDigestMismatch:      http.StatusUnprocessableEntity,
	CodeIdempotencyReused:   http.StatusUnprocessableEntity,
	CodeIdempotencyInFlight: http.StatusConflict,
	CodeRateLimited:         http.StatusTooManyRequests,
	CodeTooLarge:            http.StatusRequestEntityTooLarge,
	CodeTooManyItems:        http.StatusRequestEntityTooLarge,
	CodeUnsupportedMedia:    http.StatusUnsupportedMediaType,
	CodeNotReady:            http.StatusConflict,
	CodeURLExpired:          http.StatusGone,
	CodeBadSignature:        http.StatusForbidden,
	CodeRangeNotSatisfiable: http.StatusRequestedRangeNotSatisfiable,
	CodeUnavailable:         http.StatusServiceUnavailable,
	CodeInternal:            http.StatusInternalServerError,
	CodeStorageFull:         http.StatusInsufficientStorage,
	CodeClientClosed:        StatusClientClosed,
	CodeGrantConsumed:       http.StatusGone,
	CodeGrantRevoked:        http.StatusGone,
	CodeGrantExpired:        http.StatusGone,
}

var problemTitles = map[string]string{
	CodeBadRequest:          "Malformed request",
	CodeUnauthorized:        "Missing or invalid API key",
	CodeForbidden:           "The API key lacks the required scope",
	CodeNotFound:            "Not found",
	CodeMethodNotAllowed:    "Method not allowed",
	CodeConflict:            "Conflict with the current state",
	CodeGone:                "Gone",
	CodeRequestTimeout:      "Request body too slow",
	CodeValidationFailed:    "Validation failed",
	CodeUnsupportedFormat:   "Unsupported format",
	CodeRightsDenied:        "Download not allowed by the asset's rights",
	CodeDigestMismatch:      "Content does not match Repr-Digest",
	CodeIdempotencyReused:   "Idempotency-Key reused with a different request",
	CodeIdempotencyInFlight: "A request with this Idempotency-Key is still running",
	CodeRateLimited:         "Too many requests",
	CodeTooLarge:            "Request too large",
	CodeTooManyItems:        "Too many items in one request",
	CodeUnsupportedMedia:    "Unsupported media type",
	CodeNotReady:            "Not ready",
	CodeURLExpired:          "Signed URL expired",
	CodeBadSignature:        "Signed URL signature invalid",
	CodeRangeNotSatisfiable: "Range not satisfiable",
	CodeUnavailable:         "Service unavailable",
	CodeInternal:            "Internal server error",
	CodeStorageFull:         "The server's storage is full",
	CodeClientClosed:        "Client closed the request",
	CodeGrantConsumed:       "Grant already used up",
	CodeGrantRevoked:        "Grant revoked",
	CodeGrantExpired:        "Grant expired",
}

// Errorf builds a problem with the status of code and a formatted detail.
func Errorf(code, format string, args ...any) *Problem {
	status, ok := codeStatus[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	return &Problem{Code: code, Status: status, Detail: fmt.Sprintf(format, args...)}
}

// writeProblem sends p as application/problem+json.
func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	if p.Instance == "" && r != nil {
		p.Instance = RequestID(r.Context())
	}
	h := w.Header()
	for k, vs := range p.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	h.Del("Content-Disposition")
	h.Del("Content-Encoding")
	h.Del("ETag")
	h.Del("Last-Modified")
	h.Del("Repr-Digest")
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	body, err := json.Marshal(p)
	if err != nil {
		body = []byte(`{"type":"urn:haul:problem:internal","title":"Internal server error","status":500,"code":"internal"}`)
		p.Status = http.StatusInternalServerError
	}
	w.WriteHeader(p.Status)
	if r == nil || r.Method != http.MethodHead {
		_, _ = w.Write(append(body, '\n'))
	}
}

// asProblem turns any error into a problem. Store errors are mapped through
// their codes (see problemFromStore); anything unknown is a 500 whose detail
// does not leak internals.
func asProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	if p := problemFromStore(err); p != nil {
		return p
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		// Logged as a server error too; the client learns it may retry.
		return Errorf(CodeStorageFull, "the server has no room to store this; nothing was kept. Try again later, or ask the operator to free space")
	}
	return &Problem{Code: CodeInternal, Status: http.StatusInternalServerError, Detail: "an unexpected error occurred; see the server log for the request id"}
}
