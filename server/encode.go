package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// apiFunc is a handler that reports failure by returning an error; wrap
// turns the error into a problem response.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

// wrap adapts fn to http.Handler, writing any returned error as a problem.
func (s *Server) wrap(fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			p := asProblem(err)
			switch {
			case p.Status >= 500 && r.Context().Err() != nil:
				// The client went away mid-request: nothing failed on our
				// side. Nobody reads the answer; the access log and the
				// metrics record nginx's 499 (client closed request), not
				// a server error.
				s.log.InfoContext(r.Context(), "client went away", "err", err, "request_id", RequestID(r.Context()))
				p = &Problem{Code: CodeClientClosed, Status: StatusClientClosed, Detail: "the client closed the request"}
			case p.Status >= 500:
				s.log.ErrorContext(r.Context(), "request failed", "err", err, "request_id", RequestID(r.Context()))
			}
			writeProblem(w, r, p)
		}
	})
}

// encode writes v as JSON with the given status.
func encode(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	return nil
}

// decode reads a JSON request body into a T. Malformed JSON is a 400, a body
// over the size cap a 413, a non-JSON content type a 415. A missing content
// type and application/x-www-form-urlencoded (what `curl -d` sends when no
// -H is given) are read as JSON, so a plain `curl -d '{...}'` works.
func decode[T any](r *http.Request) (T, error) {
	var v T
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json") && mt != "application/x-www-form-urlencoded") {
			return v, Errorf(CodeUnsupportedMedia, "request bodies are JSON: send Content-Type: application/json")
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return v, Errorf(CodeTooLarge, "request body exceeds the limit of %d bytes", mbe.Limit)
		case errors.Is(err, io.EOF):
			return v, Errorf(CodeBadRequest, "request body is empty; send a JSON object")
		default:
			var ute *json.UnmarshalTypeError
			if errors.As(err, &ute) {
				return v, Errorf(CodeValidationFailed, "field %q: expected %s, got %s", ute.Field, ute.Type, ute.Value)
			}
			var pe *time.ParseError
			if errors.As(err, &pe) {
				return v, Errorf(CodeValidationFailed, "times are RFC 3339, e.g. 2026-01-02T15:04:05Z: %q is not", pe.Value)
			}
			return v, Errorf(CodeBadRequest, "malformed JSON body: %v", err)
		}
	}
	if dec.More() {
		return v, Errorf(CodeBadRequest, "request body has data after the JSON object")
	}
	return v, nil
}
