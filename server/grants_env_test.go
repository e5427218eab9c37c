package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haulhq/haul/blob"
	blobfs "github.com/haulhq/haul/blob/fs"
	"github.com/haulhq/haul/store"
	"github.com/haulhq/haul/store/sqlite"
)

// gwClock is a settable clock shared by the server, the store and the
// workers of a grants/webhooks test.
type gwClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *gwClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *gwClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// gwEnv is a real server (SQLite, blob/fs) behind httptest, with an admin
// key of tenant "default" and a controllable clock.
type gwEnv struct {
	t     *testing.T
	clock *gwClock
	db    *sqlite.DB
	blobs *blobfs.Store
	srv   *Server
	ts    *httptest.Server
	key   string
	data  string
}

func newGWEnv(t *testing.T, mutate func(*Config), withDeps ...func(*Deps)) *gwEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	clock := &gwClock{now: time.Now().UTC().Truncate(time.Second)}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "haul.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Now = clock.Now
	blobs, err := blobfs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := Bootstrap(ctx, db, dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{RateLimits: DefaultLimits(), Webhooks: WebhookConfig{AllowPrivate: true}}
	if mutate != nil {
		mutate(&cfg)
	}
	deps := Deps{Store: db, Blobs: blobs, Now: clock.Now, Logger: slog.New(slog.DiscardHandler), Config: cfg}
	for _, f := range withDeps {
		f(&deps)
	}
	srv, err := NewServer(ctx, deps)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
		blobs.Close()
		db.Close()
	})
	return &gwEnv{t: t, clock: clock, db: db, blobs: blobs, srv: srv, ts: ts, key: key, data: dir}
}

// gwNoRedirect is a client that shows redirects instead of following them.
var gwNoRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       30 * time.Second,
}

// do sends a request with the admin key (unless key is "-") and returns
// the status and body.
func (e *gwEnv) do(method, path string, body any, hdr ...string) (int, []byte, http.Header) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	u := path
	if strings.HasPrefix(path, "/") {
		u = e.ts.URL + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+e.key)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Authorization" && hdr[i+1] == "-" {
			req.Header.Del("Authorization")
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := gwNoRedirect.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// must sends a request and fails the test unless the status is want; it
// decodes the body into out when out is non-nil.
func (e *gwEnv) must(want int, method, path string, body, out any) http.Header {
	e.t.Helper()
	status, b, h := e.do(method, path, body)
	if status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return h
}

// gwProblemCode returns the problem code of a body.
func gwProblemCode(b []byte) string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(b, &p)
	return p.Code
}

// upload creates an available asset with content and returns its id.
func (e *gwEnv) upload(filename string, content []byte, rights map[string]any) string {
	e.t.Helper()
	body := map[string]any{"title": filename, "filename": filename}
	if rights != nil {
		body["rights"] = rights
	}
	var a struct {
		ID string `json:"id"`
	}
	e.must(http.StatusCreated, "POST", "/v1/assets", body, &a)
	req, _ := http.NewRequest("PUT", e.ts.URL+"/v1/assets/"+a.ID+"/content", bytes.NewReader(content))
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		e.t.Fatalf("upload: %d %s", resp.StatusCode, b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got struct {
			State string `json:"state"`
		}
		e.must(http.StatusOK, "GET", "/v1/assets/"+a.ID, nil, &got)
		if got.State == "available" {
			return a.ID
		}
		if got.State == "quarantined" || time.Now().After(deadline) {
			e.t.Fatalf("asset %s is %s, want available", a.ID, got.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// grantResp is the 201 of POST /v1/assets/{id}/grants.
type grantResp struct {
	ID                 string    `json:"id"`
	Token              string    `json:"token"`
	URL                string    `json:"url"`
	ShareURL           string    `json:"share_url"`
	Status             string    `json:"status"`
	Policy             string    `json:"policy"`
	AccessExpiresAt    time.Time `json:"access_expires_at"`
	DownloadsRemaining *int      `json:"downloads_remaining"`
	DownloadsUsed      int       `json:"downloads_used"`
}

func (e *gwEnv) grant(assetID string, body map[string]any) grantResp {
	e.t.Helper()
	var g grantResp
	e.must(http.StatusCreated, "POST", "/v1/assets/"+assetID+"/grants", body, &g)
	return g
}

// events returns the tenant's audit log entries of a type.
func (e *gwEnv) events(typ string) []eventJSON {
	e.t.Helper()
	var l struct {
		Data []eventJSON `json:"data"`
	}
	e.must(http.StatusOK, "GET", "/v1/events?limit=1000&type="+typ, nil, &l)
	return l.Data
}

// tenantID is the id of tenant "default".
func (e *gwEnv) tenantID() string {
	e.t.Helper()
	t, err := e.db.GetTenantByName(context.Background(), DefaultTenant)
	if err != nil {
		e.t.Fatal(err)
	}
	return t.ID
}

// newKey makes an API key with scopes for a tenant.
func (e *gwEnv) newKey(tenantID string, scopes ...string) string {
	e.t.Helper()
	secret, k, err := NewAPIKey(tenantID, "test", scopes)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.CreateAPIKey(context.Background(), k); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// otherTenant makes a second tenant and returns an admin key of it.
func (e *gwEnv) otherTenant() string {
	e.t.Helper()
	tn := &store.Tenant{Name: "other"}
	if err := e.db.CreateTenant(context.Background(), tn); err != nil {
		e.t.Fatal(err)
	}
	return e.newKey(tn.ID, store.ScopeAdmin)
}

func gwBlobPutOpts() blob.PutOptions { return blob.PutOptions{SizeHint: -1} }
