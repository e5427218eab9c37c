package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haulhq/haul/client"
)

// fakeAPI is an in-memory stand-in for `haul serve` used by the command
// tests that check flags and human output; the end-to-end tests run the
// real server.
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	scopes  map[string][]string // token → scopes
	assets  []*client.Asset
	content map[string][]byte
	jobs    map[string][]client.Job // job id → states returned in turn
	exports []*client.Export
	// manifests are the JSON documents returned in turn per export id.
	manifests map[string][]string
	requests  []string
	next      int
}

var fakeNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{
		t:         t,
		scopes:    map[string][]string{"tok-admin": {"admin"}, "tok-read": {"read"}},
		content:   map[string][]byte{},
		jobs:      map[string][]client.Job{},
		manifests: map[string][]string{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/assets", f.auth("write", f.createAsset))
	mux.HandleFunc("PUT /v1/assets/{id}/content", f.auth("write", f.putContent))
	mux.HandleFunc("GET /v1/assets", f.auth("read", f.listAssets))
	mux.HandleFunc("GET /v1/assets/{id}", f.auth("read", f.getAsset))
	mux.HandleFunc("PATCH /v1/assets/{id}", f.auth("write", f.patchAsset))
	mux.HandleFunc("DELETE /v1/assets/{id}", f.auth("write", f.deleteAsset))
	mux.HandleFunc("GET /v1/jobs/{id}", f.auth("read", f.getJob))
	mux.HandleFunc("GET /v1/exports", f.auth("read", f.listExports))
	mux.HandleFunc("GET /v1/exports/{id}", f.auth("read", f.getExport))
	mux.HandleFunc("GET /v1/exports/{id}/manifest", f.auth("read", f.getManifest))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) auth(scope string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
		f.mu.Unlock()
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		scopes, known := f.scopes[tok]
		if !ok || !known {
			problem(w, 401, "unauthorized", "missing or invalid API key", nil)
			return
		}
		if !slices.Contains(scopes, "admin") && !slices.Contains(scopes, scope) {
			problem(w, 403, "forbidden", "API key lacks the "+scope+" scope", nil)
			return
		}
		h(w, r)
	}
}

func problem(w http.ResponseWriter, status int, code, detail string, extra map[string]any) {
	m := map[string]any{"type": "urn:haul:problem:" + code, "title": http.StatusText(status), "status": status, "code": code, "detail": detail}
	for k, v := range extra {
		m[k] = v
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(m)
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// addAsset stores an asset as if uploaded and returns it.
func (f *fakeAPI) addAsset(a client.Asset) *client.Asset {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a.ID == "" {
		f.next++
		a.ID = fmt.Sprintf("ast_%02d", f.next)
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = fakeNow.Add(-2 * time.Hour)
	}
	f.assets = append(f.assets, &a)
	return &a
}

func (f *fakeAPI) find(id string) *client.Asset {
	for _, a := range f.assets {
		if a.ID == id && a.State != client.AssetDeleted {
			return a
		}
	}
	return nil
}

func (f *fakeAPI) createAsset(w http.ResponseWriter, r *http.Request) {
	var req client.CreateAssetRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Filename == "" {
		problem(w, 422, "validation_failed", "filename is required", nil)
		return
	}
	a := f.addAsset(client.Asset{Title: req.Title, Filename: req.Filename, ContentType: req.ContentType, Tags: req.Tags, State: client.AssetCreated, CreatedAt: fakeNow})
	a.UploadURL = f.srv.URL + "/v1/assets/" + a.ID + "/content"
	reply(w, 201, a)
}

func (f *fakeAPI) putContent(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sum := sha256.Sum256(body)
	if d := r.Header.Get("Repr-Digest"); d != "" && d != client.ReprDigest(sum[:]) {
		problem(w, 422, "digest_mismatch", "Repr-Digest does not match the body", nil)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.find(r.PathValue("id"))
	if a == nil {
		problem(w, 404, "not_found", "no such asset", nil)
		return
	}
	f.content[a.ID] = body
	a.Size, a.Checksum, a.State = int64(len(body)), fmt.Sprintf("sha256:%x", sum), client.AssetAvailable
	reply(w, 200, a)
}

func (f *fakeAPI) listAssets(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 {
		limit = 2 // small pages, so pagination is exercised
	}
	cursor := r.URL.Query().Get("cursor")
	tag := r.URL.Query().Get("tag")
	var page client.Page[client.Asset]
	for _, a := range f.assets {
		if a.State == client.AssetDeleted || a.ID <= cursor || (tag != "" && !slices.Contains(a.Tags, tag)) {
			continue
		}
		if len(page.Data) == limit {
			page.NextCursor = page.Data[len(page.Data)-1].ID
			break
		}
		page.Data = append(page.Data, *a)
	}
	reply(w, 200, page)
}

func (f *fakeAPI) getAsset(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a := f.find(r.PathValue("id")); a != nil {
		reply(w, 200, a)
		return
	}
	problem(w, 404, "not_found", "asset "+r.PathValue("id")+" not found", nil)
}

func (f *fakeAPI) patchAsset(w http.ResponseWriter, r *http.Request) {
	var req map[string]json.RawMessage
	_ = json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.find(r.PathValue("id"))
	if a == nil {
		problem(w, 404, "not_found", "no such asset", nil)
		return
	}
	for k, v := range req {
		var err error
		switch k {
		case "title":
			err = json.Unmarshal(v, &a.Title)
		case "tags":
			err = json.Unmarshal(v, &a.Tags)
		case "rights":
			err = json.Unmarshal(v, &a.Rights)
		case "legal_hold":
			err = json.Unmarshal(v, &a.LegalHold)
		case "retention_expires_at":
			a.RetentionExpiresAt = nil
			err = json.Unmarshal(v, &a.RetentionExpiresAt)
		default:
			err = fmt.Errorf("unknown field %s", k)
		}
		if err != nil {
			problem(w, 422, "validation_failed", err.Error(), nil)
			return
		}
	}
	up := fakeNow
	a.UpdatedAt = &up
	reply(w, 200, a)
}

func (f *fakeAPI) deleteAsset(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.find(r.PathValue("id"))
	if a == nil {
		problem(w, 404, "not_found", "asset "+r.PathValue("id")+" not found", nil)
		return
	}
	a.State = client.AssetDeleted
	w.WriteHeader(204)
}

func (f *fakeAPI) getJob(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	states := f.jobs[r.PathValue("id")]
	if len(states) == 0 {
		problem(w, 404, "not_found", "no such job", nil)
		return
	}
	j := states[0]
	if len(states) > 1 {
		f.jobs[r.PathValue("id")] = states[1:]
	}
	reply(w, 200, j)
}

func (f *fakeAPI) listExports(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	page := client.Page[client.Export]{Data: []client.Export{}}
	for _, e := range f.exports {
		page.Data = append(page.Data, *e)
	}
	reply(w, 200, page)
}

func (f *fakeAPI) getExport(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.exports {
		if e.ID == r.PathValue("id") {
			reply(w, 200, e)
			return
		}
	}
	problem(w, 404, "not_found", "no such export", nil)
}

func (f *fakeAPI) getManifest(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ms := f.manifests[r.PathValue("id")]
	if len(ms) == 0 {
		problem(w, 404, "not_found", "no such export", nil)
		return
	}
	m := ms[0]
	if len(ms) > 1 {
		f.manifests[r.PathValue("id")] = ms[1:]
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, strings.ReplaceAll(m, "{{host}}", r.Host))
}

// options returns apiOptions aimed at the fake server with token tok.
func (f *fakeAPI) options(t *testing.T, tok string) (apiOptions, *strings.Builder, *strings.Builder) {
	t.Helper()
	var o, e strings.Builder
	ios := &IOStreams{In: strings.NewReader(""), Out: &o, ErrOut: &e}
	return apiOptions{
		IO: ios,
		Client: func() (*client.Client, error) {
			return client.New(client.Options{BaseURL: f.srv.URL, Token: tok, UserAgent: "haul/test",
				RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond,
				PollIntervalMin: time.Millisecond, PollIntervalMax: 5 * time.Millisecond})
		},
		Now: func() time.Time { return fakeNow },
	}, &o, &e
}

// runAPICmd runs the whole command tree like main does, against the fake
// server with token tok, and returns the exit code and output.
func runAPICmd(t *testing.T, server, tok string, args ...string) (int, string, string) {
	t.Helper()
	ios, out, errOut := testIO()
	cfgHome := t.TempDir()
	env := map[string]string{"HAUL_SERVER": server, "HAUL_TOKEN": tok, "XDG_CONFIG_HOME": cfgHome, "HOME": cfgHome}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, args, func(k string) string { return env[k] }, ios)
	return code, out.String(), errOut.String()
}
