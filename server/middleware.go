package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/haulhq/haul/store"
)

type ctxKey int

const (
	ctxRequestInfo ctxKey = iota
)

// requestInfo is per-request state filled in as the request goes through
// the middleware and the matched route: the access log and metrics read it
// after the handler returns.
type requestInfo struct {
	id       string
	route    string
	tenantID string
	keyID    string
	clientIP string
	// tok is the store's change token for the request (readCache).
	tok      store.ChangeToken
	tokOK    bool
	tokTaken bool
}

func info(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(ctxRequestInfo).(*requestInfo)
	if ri == nil {
		return &requestInfo{}
	}
	return ri
}

// RequestID returns the request's ID (also sent as X-Request-Id), or "".
func RequestID(ctx context.Context) string { return info(ctx).id }

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	var out [4 + 2*len(b)]byte
	copy(out[:], "req_")
	hex.Encode(out[4:], b[:])
	return string(out[:])
}

// validRequestID accepts a caller-supplied X-Request-Id when it is short
// and made of safe characters, so IDs can be correlated across proxies
// without letting clients inject log noise.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// statusWriter records the status and body size of a response. It keeps
// io.ReaderFrom so that file bodies still go out with sendfile, and
// Unwrap so http.ResponseController reaches the connection.
type statusWriter struct {
	http.ResponseWriter
	status  int
	written int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 || w.status < 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.written += int64(n)
	return n, err
}

func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	// A file body longer than net/http's sniffing window, with its
	// Content-Type set: send the header first, so that net/http's
	// ReadFrom hands the whole body to sendfile at once instead of first
	// reading 512 bytes of it through a buffer to sniff a type nobody
	// needs (one read system call and copy per response less).
	if lr, ok := r.(*io.LimitedReader); ok && lr.N >= sniffLen {
		if _, isFile := lr.R.(syscall.Conn); isFile && w.Header().Get("Content-Type") != "" {
			if f, ok := w.ResponseWriter.(http.Flusher); ok {
				f.Flush()
			}
		}
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, r)
	}
	w.written += n
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("hijack not supported")
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type writerOnly struct{ io.Writer }

// sniffLen is how much of a body net/http reads for content sniffing.
const sniffLen = 512

// observe is the outermost middleware: request ID, client IP, panic
// recovery into a 500 problem, metrics and one access log line.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		// The request's state and its response writer in one allocation.
		st := &struct {
			ri requestInfo
			sw statusWriter
		}{}
		ri, sw := &st.ri, &st.sw
		ri.id = r.Header.Get("X-Request-Id")
		if !validRequestID(ri.id) {
			ri.id = newRequestID()
		}
		ri.clientIP = s.clientIP(r)
		w.Header()["X-Request-Id"] = []string{ri.id}
		sw.ResponseWriter = w
		r = r.WithContext(context.WithValue(r.Context(), ctxRequestInfo, ri))

		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic in handler", "request_id", ri.id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeProblem(sw, r, Errorf(CodeInternal, "an unexpected error occurred; see the server log for request %s", ri.id))
				} else {
					sw.status = http.StatusInternalServerError
				}
			}
			elapsed := s.now().Sub(start)
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			route := ri.route
			if route == "" {
				route = "unmatched"
			}
			s.metrics.observeRequest(route, r.Method, status, elapsed)
			if route != "GET /metrics" && route != "GET /healthz" && route != "GET /readyz" {
				s.accessLog(r, ri, route, status, sw.written, elapsed)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// accessLog writes the request's access-log line. The record goes to the
// handler directly: through the Logger each line would also capture a
// call stack for a source position nobody reads (a fixed line in this
// function).
func (s *Server) accessLog(r *http.Request, ri *requestInfo, route string, status int, written int64, elapsed time.Duration) {
	ctx := r.Context()
	h := s.log.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
	rec.AddAttrs(
		slog.String("request_id", ri.id), slog.String("method", r.Method), slog.String("path", redactGrantToken(r.URL.Path)),
		slog.String("route", route), slog.Int("status", status), slog.Int64("bytes", written),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.String("ip", ri.clientIP), slog.String("tenant", ri.tenantID), slog.String("ua", r.UserAgent()))
	_ = h.Handle(ctx, rec)
}

// clientIP is the TCP peer, or with --trust-proxy the right-most
// X-Forwarded-For address not belonging to a trusted proxy.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(s.cfg.TrustProxy) == 0 {
		return host
	}
	peer := net.ParseIP(host)
	if peer == nil || !s.trusted(peer) {
		return host
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, p := range splitComma(v) {
			hops = append(hops, p)
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		ip := net.ParseIP(hops[i])
		if ip == nil {
			return host
		}
		if !s.trusted(ip) {
			return ip.String()
		}
		host = ip.String()
	}
	return host
}

func (s *Server) trusted(ip net.IP) bool {
	for _, n := range s.cfg.TrustProxy {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func splitComma(v string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || v[i] == ',' {
			p := v[start:i]
			for len(p) > 0 && (p[0] == ' ' || p[0] == '\t') {
				p = p[1:]
			}
			for len(p) > 0 && (p[len(p)-1] == ' ' || p[len(p)-1] == '\t') {
				p = p[:len(p)-1]
			}
			if p != "" {
				out = append(out, p)
			}
			start = i + 1
		}
	}
	return out
}

// limitBody caps request bodies for JSON routes.
func (s *Server) limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			writeProblem(w, r, Errorf(CodeTooLarge, "request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, max))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		// A JSON body has 30 s to arrive: slow clients cannot hold
		// connections open by trickling bytes. (Not on GET: the deadline
		// would also end long-polls, whose connection is read in the
		// background.)
		if r.Method == http.MethodPost || r.Method == http.MethodPatch {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(30 * time.Second))
		}
		next.ServeHTTP(w, r)
	})
}

// retryAfterSeconds formats a duration for Retry-After, at least 1.
func retryAfterSeconds(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return strconv.FormatInt(secs, 10)
}
