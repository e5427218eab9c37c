package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/haulhq/haul/store"
)

// parseIdempotencyKey accepts an RFC 8941 sf-string ("abc") or a bare
// token (abc), 1..255 visible ASCII characters.
func parseIdempotencyKey(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		var b strings.Builder
		in := v[1 : len(v)-1]
		for i := 0; i < len(in); i++ {
			c := in[i]
			if c == '\\' {
				if i+1 >= len(in) || (in[i+1] != '"' && in[i+1] != '\\') {
					return "", false
				}
				i++
				c = in[i]
			} else if c == '"' {
				return "", false
			}
			if c < 0x20 || c > 0x7e {
				return "", false
			}
			b.WriteByte(c)
		}
		v = b.String()
	} else {
		for _, c := range []byte(v) {
			if c <= 0x20 || c > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\' {
				return "", false
			}
		}
	}
	return v, len(v) > 0 && len(v) <= 255
}

// recorder buffers a response so it can be stored for replay.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// replayHeaders are the response headers kept with an idempotent response.
var replayHeaders = []string{"Content-Type", "Location", "Retry-After"}

// idempotent honours Idempotency-Key on POST (SPEC section 3): the first
// request runs and its response is stored for at least 24 h; a retry with
// the same key and body gets the stored response with
// Idempotent-Replayed: true; another body is 422 idempotency_key_reused;
// a retry while the first still runs is 409.
func (s *Server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := r.Header.Get("Idempotency-Key")
		if r.Method != http.MethodPost || raw == "" {
			next.ServeHTTP(w, r)
			return
		}
		key, ok := parseIdempotencyKey(raw)
		if !ok {
			writeProblem(w, r, Errorf(CodeBadRequest, "Idempotency-Key must be a quoted string or a token of 1 to 255 visible ASCII characters"))
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeProblem(w, r, Errorf(CodeTooLarge, "request body exceeds the limit of %d bytes", mbe.Limit))
				return
			}
			writeProblem(w, r, Errorf(CodeBadRequest, "read request body: %v", err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		fp := requestFingerprint(r.Method, r.URL.Path, body)
		tenant := tenantOf(r.Context())
		now := s.now()
		rec := &store.IdempotencyRecord{
			TenantID: tenant, Key: key, Fingerprint: fp, State: store.IdempotencyInFlight,
			CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(s.cfg.IdempotencyTTL),
		}
		existing, created, err := s.store.BeginIdempotency(r.Context(), rec, 10*time.Minute)
		if err != nil {
			s.log.ErrorContext(r.Context(), "begin idempotency", "err", err)
			writeProblem(w, r, Errorf(CodeUnavailable, "cannot record the Idempotency-Key right now; retry"))
			return
		}
		if !created {
			switch {
			case existing.Fingerprint != fp:
				writeProblem(w, r, Errorf(CodeIdempotencyReused, "Idempotency-Key %q was used with a different request; use a new key for a new request", key))
			case existing.State != store.IdempotencyDone:
				p := Errorf(CodeIdempotencyInFlight, "a request with Idempotency-Key %q is still running; retry shortly", key)
				p.Header = http.Header{"Retry-After": {"1"}}
				writeProblem(w, r, p)
			default:
				h := w.Header()
				for k, vs := range existing.ResponseHeaders {
					h[k] = append([]string(nil), vs...)
				}
				h.Set("Idempotent-Replayed", "true")
				w.WriteHeader(existing.ResponseStatus)
				_, _ = w.Write(existing.ResponseBody)
			}
			return
		}
		rw := &recorder{ResponseWriter: w}
		completed := false
		defer func() {
			if completed {
				return
			}
			// Panic or a response we must not store: let a retry redo it.
			if err := s.store.DeleteIdempotency(context.WithoutCancel(r.Context()), tenant, key); err != nil {
				s.log.ErrorContext(r.Context(), "forget idempotency key", "err", err)
			}
		}()
		next.ServeHTTP(rw, r)
		status := rw.status
		if status == 0 {
			status = http.StatusOK
		}
		if status >= 500 || status == http.StatusTooManyRequests {
			return
		}
		hdr := map[string][]string{}
		for _, k := range replayHeaders {
			if v := w.Header().Values(k); len(v) > 0 {
				hdr[k] = v
			}
		}
		if err := s.store.CompleteIdempotency(context.WithoutCancel(r.Context()), tenant, key, status, hdr, rw.body.Bytes(), s.now()); err != nil {
			s.log.ErrorContext(r.Context(), "store idempotent response", "err", err, "status", strconv.Itoa(status))
			return
		}
		completed = true
	})
}

// requestFingerprint identifies a request for Idempotency-Key reuse checks.
// A JSON body counts by its value, so whitespace and member order do not
// make the same request "different".
func requestFingerprint(method, path string, body []byte) string {
	sum := sha256.New()
	io.WriteString(sum, method+" "+path+"\n")
	sum.Write(canonicalJSON(body))
	return hex.EncodeToString(sum.Sum(nil))
}

// expireIdempotencyKeys forgets keys past their ExpiresAt (at least 24 h
// old) every hour.
func (s *Server) expireIdempotencyKeys(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.store.ExpireIdempotency(ctx, s.now()); err != nil {
				s.log.Warn("expire idempotency keys", "err", err)
			} else if n > 0 {
				s.log.Debug("expired idempotency keys", "n", n)
			}
		}
	}
}

// canonicalJSON re-encodes a JSON body with sorted object members and no
// insignificant whitespace; other bodies are returned unchanged.
func canonicalJSON(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return body
	}
	out, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return out
}
