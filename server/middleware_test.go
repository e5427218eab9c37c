package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/haulhq/haul/store"
)

func TestAuth(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/v1/assets", "", nil)
	e.want(r, http.StatusUnauthorized, CodeUnauthorized)
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	e.want(e.do("GET", "/v1/assets", "haul_wrong", nil), http.StatusUnauthorized, CodeUnauthorized)
	e.want(e.do("GET", "/v1/assets", "", nil, "Authorization", "Basic dXNlcjpwYXNz"), http.StatusUnauthorized, CodeUnauthorized)

	read := e.newKey(DefaultTenant, "read")
	e.want(e.do("GET", "/v1/assets", read, nil), http.StatusOK)
	e.want(e.do("POST", "/v1/assets", read, map[string]any{"filename": "a"}), http.StatusForbidden, CodeForbidden)
	write := e.newKey(DefaultTenant, "write")
	e.want(e.do("POST", "/v1/assets", write, map[string]any{"filename": "a"}), http.StatusCreated)
	e.want(e.do("POST", "/v1/exports", write, map[string]any{"tag": "x"}), http.StatusForbidden, CodeForbidden)
	e.want(e.do("GET", "/v1/tenants", write, nil), http.StatusForbidden, CodeForbidden)
	e.want(e.do("GET", "/v1/tenants", e.admin, nil), http.StatusOK)

	// Revoked keys are 401.
	r = e.do("POST", "/v1/keys", e.admin, map[string]any{"scopes": []string{"read"}, "name": "tmp"})
	e.want(r, http.StatusCreated)
	k := r.obj()
	secret := k["key"].(string)
	e.want(e.do("GET", "/v1/assets", secret, nil), http.StatusOK)
	e.want(e.do("DELETE", "/v1/keys/"+k["id"].(string), e.admin, nil), http.StatusOK)
	e.want(e.do("GET", "/v1/assets", secret, nil), http.StatusUnauthorized, CodeUnauthorized)
}

func TestProblemsForUnknownRoutes(t *testing.T) {
	e := newEnv(t)
	e.want(e.do("GET", "/nope", "", nil), http.StatusNotFound, CodeNotFound)
	r := e.do("DELETE", "/v1/exports", e.admin, nil)
	e.want(r, http.StatusMethodNotAllowed, CodeMethodNotAllowed)
	if !strings.Contains(r.Header.Get("Allow"), "GET") {
		t.Fatalf("Allow: %v", r.Header)
	}
	if r.Header.Get("X-Request-Id") == "" {
		t.Fatal("no X-Request-Id")
	}
	r = e.do("GET", "/healthz", "", nil, "X-Request-Id", "abc-123")
	if r.Header.Get("X-Request-Id") != "abc-123" {
		t.Fatalf("request id not kept: %v", r.Header)
	}
}

func TestPanicRecovery(t *testing.T) {
	e := newEnv(t)
	h := e.srv.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != 500 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("panic: %d %s", rec.Code, rec.Body)
	}
	var p map[string]any
	json.Unmarshal(rec.Body.Bytes(), &p)
	if p["code"] != CodeInternal || strings.Contains(rec.Body.String(), "boom") {
		t.Fatalf("problem: %s", rec.Body)
	}
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"filename": "a.txt", "title": "A"}
	r1 := e.do("POST", "/v1/assets", e.admin, body, "Idempotency-Key", `"key-1"`)
	e.want(r1, http.StatusCreated)
	r2 := e.do("POST", "/v1/assets", e.admin, body, "Idempotency-Key", "key-1")
	e.want(r2, http.StatusCreated)
	if r2.Header.Get("Idempotent-Replayed") != "true" || r1.obj()["id"] != r2.obj()["id"] || r2.Header.Get("Location") != r1.Header.Get("Location") {
		t.Fatalf("replay: %s / %s %v", r1.body, r2.body, r2.Header)
	}
	if r1.Header.Get("Idempotent-Replayed") != "" {
		t.Fatal("first response marked replayed")
	}
	e.want(e.do("POST", "/v1/assets", e.admin, map[string]any{"filename": "b.txt"}, "Idempotency-Key", "key-1"), http.StatusUnprocessableEntity, CodeIdempotencyReused)
	// The same JSON value with other spacing and member order is the same request.
	r3 := e.do("POST", "/v1/assets", e.admin, "{ \"title\": \"A\",\n  \"filename\": \"a.txt\" }", "Idempotency-Key", "key-1", "Content-Type", "application/json")
	e.want(r3, http.StatusCreated)
	if r3.Header.Get("Idempotent-Replayed") != "true" || r3.obj()["id"] != r1.obj()["id"] {
		t.Fatalf("reformatted body not replayed: %s %v", r3.body, r3.Header)
	}
	// The same key in another tenant is independent.
	other := e.newKey("acme", "write")
	e.want(e.do("POST", "/v1/assets", other, body, "Idempotency-Key", "key-1"), http.StatusCreated)
	// A request still in flight is 409.
	busyBody, _ := json.Marshal(body)
	now := time.Now()
	_, created, err := e.st.BeginIdempotency(t.Context(), &store.IdempotencyRecord{TenantID: tenantIDOf(t, e), Key: "busy", Fingerprint: requestFingerprint("POST", "/v1/assets", busyBody), State: store.IdempotencyInFlight, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(25 * time.Hour)}, time.Hour)
	if err != nil || !created {
		t.Fatal(err, created)
	}
	e.want(e.do("POST", "/v1/assets", e.admin, body, "Idempotency-Key", "busy"), http.StatusConflict, CodeIdempotencyInFlight)
	e.want(e.do("POST", "/v1/assets", e.admin, body, "Idempotency-Key", `"unterminated`), http.StatusBadRequest, CodeBadRequest)
	// Errors other than 5xx are stored too: a replayed 422 stays 422.
	bad := map[string]any{"title": "no filename"}
	e.want(e.do("POST", "/v1/assets", e.admin, bad, "Idempotency-Key", "k-bad"), http.StatusUnprocessableEntity)
	r := e.do("POST", "/v1/assets", e.admin, bad, "Idempotency-Key", "k-bad")
	e.want(r, http.StatusUnprocessableEntity, CodeValidationFailed)
	if r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatal("422 not replayed")
	}
}

func TestParseIdempotencyKey(t *testing.T) {
	cases := map[string]string{`"abc"`: "abc", "abc": "abc", `"a\"b"`: `a"b`, " tok ": "tok", `""`: "", `"a`: "", "a b": "", "é": ""}
	for in, want := range cases {
		got, ok := parseIdempotencyKey(in)
		if got != want || ok != (want != "") {
			t.Errorf("parseIdempotencyKey(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestRateLimits(t *testing.T) {
	limits, err := ParseRateLimits([]string{"export=2/1m", "delivery=3/10s"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(d *Deps) { d.Config.RateLimits = limits })
	a := e.upload(e.admin, map[string]any{"filename": "a.txt", "tags": []string{"t"}}, []byte("a"))
	for i := 0; i < 2; i++ {
		r := e.do("POST", "/v1/exports", e.admin, map[string]any{"tag": "t"})
		e.want(r, http.StatusAccepted)
		if r.Header.Get("RateLimit-Policy") != `"export";q=2;w=60` || !strings.HasPrefix(r.Header.Get("RateLimit"), `"export";r=`+string(rune('1'-i))+";t=") {
			t.Fatalf("headers: %v", r.Header)
		}
	}
	r := e.do("POST", "/v1/exports", e.admin, map[string]any{"tag": "t"})
	e.want(r, http.StatusTooManyRequests, CodeRateLimited)
	p := r.obj()
	if p["scope"] != "export" || p["retry_after"].(float64) < 1 || r.Header.Get("Retry-After") == "" || !strings.HasPrefix(r.Header.Get("RateLimit"), `"export";r=0;t=`) {
		t.Fatalf("429: %s %v", r.body, r.Header)
	}
	// Another tenant has its own budget.
	other := e.newKey("acme", "admin")
	e.upload(other, map[string]any{"filename": "b.txt", "tags": []string{"t"}}, []byte("b"))
	e.want(e.do("POST", "/v1/exports", other, map[string]any{"tag": "t"}), http.StatusAccepted)
	// The window passes.
	e.clock.advance(61 * time.Second)
	e.want(e.do("POST", "/v1/exports", e.admin, map[string]any{"tag": "t"}), http.StatusAccepted)

	// Delivery is limited per IP; health endpoints never.
	d := e.do("POST", "/v1/assets/"+a["id"].(string)+"/downloads", e.admin, map[string]any{})
	url := d.obj()["download_url"].(string)
	for i := 0; i < 3; i++ {
		e.want(e.do("GET", url, "", nil), http.StatusOK)
	}
	e.want(e.do("GET", url, "", nil), http.StatusTooManyRequests, CodeRateLimited)
	for i := 0; i < 20; i++ {
		e.want(e.do("GET", "/healthz", "", nil), http.StatusOK)
	}
}

func TestParseRateLimits(t *testing.T) {
	if l, err := ParseRateLimits([]string{"off"}); err != nil || l != nil {
		t.Fatalf("off: %v %v", l, err)
	}
	l, err := ParseRateLimits([]string{"poll=10/10s,job=off"})
	if err != nil || l[ClassPoll] != (Limit{10, 10 * time.Second}) {
		t.Fatalf("%v %v", l, err)
	}
	if _, ok := l[ClassJob]; ok {
		t.Fatal("job=off kept")
	}
	for _, bad := range []string{"export", "export=0/1m", "export=5/0s", "nope=1/1m", "export=x/1m"} {
		if _, err := ParseRateLimits([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestClientIP(t *testing.T) {
	_, n, _ := net.ParseCIDR("10.0.0.0/8")
	s := &Server{cfg: Config{TrustProxy: []*net.IPNet{n}}}
	cases := []struct{ peer, xff, want string }{
		{"192.0.2.1:1", "203.0.113.9", "192.0.2.1"},
		{"10.0.0.2:1", "203.0.113.9", "203.0.113.9"},
		{"10.0.0.2:1", "198.51.100.1, 203.0.113.9, 10.0.0.5", "203.0.113.9"},
		{"10.0.0.2:1", "", "10.0.0.2"},
		{"10.0.0.2:1", "garbage", "10.0.0.2"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := s.clientIP(r); got != c.want {
			t.Errorf("peer %s xff %q: %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
}

func TestMetricsAndHealth(t *testing.T) {
	e := newEnv(t)
	e.want(e.do("GET", "/healthz", "", nil), http.StatusOK)
	r := e.do("GET", "/readyz", "", nil)
	e.want(r, http.StatusOK)
	e.want(e.do("GET", "/v1/assets", e.admin, nil), http.StatusOK)
	r = e.do("GET", "/metrics", "", nil)
	e.want(r, http.StatusOK)
	for _, want := range []string{`haul_http_requests_total{method="GET",route="GET /v1/assets",status="200"} 1`, "haul_http_request_duration_seconds", "haul_job_queue_depth", "haul_store_operation_duration_seconds", "haul_delivered_bytes_total"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/openapi.json", "", nil)
	e.want(r, http.StatusOK)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	r.json(&doc)
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			switch m {
			case "get", "put", "post", "patch", "delete", "head":
				documented[strings.ToUpper(m)+" "+p] = true
			}
		}
	}
	registered := map[string]bool{}
	for _, pat := range e.srv.Patterns() {
		registered[pat] = true
		if !documented[pat] {
			t.Errorf("route %s is not in openapi.json", pat)
		}
		if m, p, _ := strings.Cut(pat, " "); m == "GET" && strings.HasPrefix(p, "/dl/") {
			registered["HEAD "+p] = true
		}
	}
	for op := range documented {
		if !registered[op] {
			t.Errorf("openapi.json documents %s, which is not registered", op)
		}
	}
}

func TestSharedRateLimits(t *testing.T) {
	limits, _ := ParseRateLimits([]string{"poll=2/1m"})
	e := newEnv(t, func(d *Deps) { d.Config.RateLimits, d.Config.SharedRateLimits = limits, true })
	replica, err := NewServer(t.Context(), Deps{Store: e.st, Blobs: e.srv.blobs, Now: e.clock.now, Logger: e.srv.log, Config: Config{RateLimits: limits, SharedRateLimits: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	rts := httptest.NewServer(replica)
	defer rts.Close()
	e.want(e.do("GET", "/v1/jobs/job_x", e.admin, nil), http.StatusNotFound)
	e.want(e.do("GET", rts.URL+"/v1/jobs/job_x", e.admin, nil), http.StatusNotFound)
	// The budget of 2 is shared: the third request, on either, is 429.
	r := e.do("GET", "/v1/jobs/job_x", e.admin, nil)
	e.want(r, http.StatusTooManyRequests, CodeRateLimited)
	if r.Header.Get("RateLimit-Policy") != `"poll";q=2;w=60` || r.Header.Get("Retry-After") == "" {
		t.Fatalf("headers %v", r.Header)
	}
}

func TestAdminScopeIsPerTenant(t *testing.T) {
	e := newEnv(t)
	acmeAdmin := e.newKey("acme", "admin")
	e.want(e.do("GET", "/v1/tenants", acmeAdmin, nil), http.StatusForbidden, CodeForbidden)
	e.want(e.do("POST", "/v1/tenants", acmeAdmin, map[string]any{"name": "evil"}), http.StatusForbidden, CodeForbidden)
	e.want(e.do("POST", "/v1/keys", acmeAdmin, map[string]any{"tenant": DefaultTenant, "scopes": []string{"admin"}}), http.StatusNotFound, CodeNotFound)
	e.want(e.do("GET", "/v1/keys?tenant="+DefaultTenant, acmeAdmin, nil), http.StatusNotFound, CodeNotFound)
	// Its own tenant is fine.
	r := e.do("POST", "/v1/keys", acmeAdmin, map[string]any{"scopes": []string{"read"}})
	e.want(r, http.StatusCreated)
	// The operator manages every tenant.
	e.want(e.do("POST", "/v1/keys", e.admin, map[string]any{"tenant": "acme", "scopes": []string{"read"}}), http.StatusCreated)
	e.want(e.do("GET", "/v1/keys?tenant=acme", e.admin, nil), http.StatusOK)
	e.want(e.do("POST", "/v1/tenants", e.admin, map[string]any{"name": "beta"}), http.StatusCreated)
	e.want(e.do("POST", "/v1/tenants", e.admin, map[string]any{"name": "beta"}), http.StatusConflict, CodeConflict)
	e.want(e.do("POST", "/v1/tenants", e.admin, map[string]any{"name": "Bad Name"}), http.StatusUnprocessableEntity, CodeValidationFailed)
}

// TestStorageFullIs507: a full disk under any handler is 507
// insufficient_storage, not an opaque 500, so clients know to retry later.
func TestStorageFullIs507(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("store content: %w", &fs.PathError{Op: "write", Path: "/data/blobs/tmp/put-1", Err: syscall.ENOSPC}),
		fmt.Errorf("store content: %w", syscall.EDQUOT),
	} {
		p := asProblem(err)
		if p.Status != http.StatusInsufficientStorage || p.Code != CodeStorageFull {
			t.Errorf("asProblem(%v) = %d %s, want 507 %s", err, p.Status, p.Code, CodeStorageFull)
		}
	}
	if p := asProblem(errors.New("boom")); p.Status != http.StatusInternalServerError {
		t.Errorf("asProblem(boom) = %d, want 500", p.Status)
	}
}

// TestClientGoneIs499: a request whose client went away while it failed
// is recorded as 499 (client closed request), not as a server error.
func TestClientGoneIs499(t *testing.T) {
	e := newEnv(t)
	h := e.srv.wrap(func(w http.ResponseWriter, r *http.Request) error {
		return fmt.Errorf("read body: %w", r.Context().Err())
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil).WithContext(ctx))
	if rec.Code != StatusClientClosed {
		t.Errorf("status %d, want %d", rec.Code, StatusClientClosed)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("live client: status %d, want 500", rec.Code)
	}
}
