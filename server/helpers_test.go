package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	blobfs "github.com/haulhq/haul/blob/fs"
	"github.com/haulhq/haul/store"
	"github.com/haulhq/haul/store/sqlite"
)

// env is one server on a real SQLite store and blob/fs in a temp dir.
type env struct {
	t     testing.TB
	srv   *Server
	ts    *httptest.Server
	st    store.Store
	admin string // admin key of tenant "default"
	clock *lockedClock
	dir   string
}

type lockedClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *lockedClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *lockedClock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

func newEnv(t *testing.T, mutate ...func(*Deps)) *env { return newEnvTB(t, mutate...) }

// newEnvB is newEnv for benchmarks.
func newEnvB(b *testing.B, mutate ...func(*Deps)) *env { return newEnvTB(b, mutate...) }

func newEnvTB(t testing.TB, mutate ...func(*Deps)) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "haul.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bs, err := blobfs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := Bootstrap(ctx, st, dir)
	if err != nil {
		t.Fatal(err)
	}
	clock := &lockedClock{}
	deps := Deps{Store: st, Blobs: bs, Now: clock.now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, m := range mutate {
		m(&deps)
	}
	srv, err := NewServer(ctx, deps)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	return &env{t: t, srv: srv, ts: ts, st: st, admin: key, clock: clock, dir: dir}
}

// response is a finished HTTP exchange.
type response struct {
	*http.Response
	body []byte
}

func (r *response) json(v any) {
	if err := json.Unmarshal(r.body, v); err != nil {
		panic("decode " + string(r.body) + ": " + err.Error())
	}
}

func (r *response) obj() map[string]any {
	var m map[string]any
	r.json(&m)
	return m
}

// do sends a request; body may be nil, []byte, string or a value to JSON.
func (e *env) do(method, path, key string, body any, hdr ...string) *response {
	e.t.Helper()
	var rd io.Reader
	isJSON := false
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd, isJSON = bytes.NewReader(raw), true
	}
	url := path
	if !strings.HasPrefix(path, "http") {
		url = e.ts.URL + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if isJSON {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return &response{Response: resp, body: raw}
}

// want fails unless the response has the status (and, for problems, code).
func (e *env) want(r *response, status int, code ...string) {
	e.t.Helper()
	if r.StatusCode != status {
		e.t.Fatalf("%s %s: status %d, want %d: %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
	}
	if len(code) > 0 {
		if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
			e.t.Fatalf("content type %q, want application/problem+json", ct)
		}
		var p map[string]any
		r.json(&p)
		if p["code"] != code[0] || p["status"] != float64(status) || p["type"] == "" || p["title"] == "" {
			e.t.Fatalf("problem %s, want code %s", r.body, code[0])
		}
	}
}

// newKey makes an API key in tenant (created when missing).
func (e *env) newKey(tenant string, scopes ...string) string {
	e.t.Helper()
	ctx := context.Background()
	t, err := e.st.GetTenantByName(ctx, tenant)
	if err != nil {
		t = &store.Tenant{Name: tenant}
		if err := e.st.CreateTenant(ctx, t); err != nil {
			e.t.Fatal(err)
		}
	}
	secret, k, err := NewAPIKey(t.ID, "test", scopes)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.CreateAPIKey(ctx, k); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// upload creates an asset with content and waits until it is scanned.
func (e *env) upload(key string, create map[string]any, content []byte) map[string]any {
	e.t.Helper()
	r := e.do("POST", "/v1/assets", key, create)
	e.want(r, http.StatusCreated)
	a := r.obj()
	r = e.do("PUT", a["upload_url"].(string), key, content)
	e.want(r, http.StatusOK)
	return e.waitState(key, a["id"].(string))
}

// waitState polls an asset until it leaves created/uploaded/scanning.
func (e *env) waitState(key, id string) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.do("GET", "/v1/assets/"+id, key, nil)
		e.want(r, http.StatusOK)
		a := r.obj()
		switch a["state"] {
		case "available", "quarantined", "deleted":
			return a
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("asset %s stuck in %v", id, a["state"])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hexOf(b []byte) string { return fmt.Sprintf("%x", b) }

func tenantIDOf(t *testing.T, e *env) string {
	t.Helper()
	tn, err := e.st.GetTenantByName(t.Context(), DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID
}

func storeEventFilter() store.EventFilter { return store.EventFilter{Page: store.Page{Limit: 1000}} }
