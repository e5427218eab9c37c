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

	// Export simulation.
	fexports   map[string]*fakeExport
	idem       map[string]idemEntry // Idempotency-Key → stored response
	readyAfter map[string]int       // asset → manifest polls before its rendition is ready
	// gate keeps an asset processing until another asset's download has
	// begun: proof that downloads start before the whole batch is ready.
	gate       map[string]string
	failAssets map[string]string // asset → failure detail
	// rateLimitCreates makes the next N export creations answer 429
	// with Retry-After: 1.
	rateLimitCreates int
	// expireOnce makes the first download of each asset answer 410, as an
	// expired signed URL does; the next manifest signs a fresh URL.
	expireOnce map[string]bool
	generation map[string]int
	downloads  map[string]int // asset → GET /dl requests
	// scanning answers the next N download requests of an asset with 409
	// not_ready (state scanning, Retry-After: 1), as right after an upload.
	scanning map[string]int
	// manifestOverride, when set, is served for every export manifest.
	manifestOverride string
}

type fakeExport struct {
	export client.Export
	assets []string
	polls  int
}

type idemEntry struct {
	body string
	id   string
}

var fakeNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{
		t:          t,
		scopes:     map[string][]string{"tok-admin": {"admin"}, "tok-read": {"read"}},
		content:    map[string][]byte{},
		jobs:       map[string][]client.Job{},
		manifests:  map[string][]string{},
		fexports:   map[string]*fakeExport{},
		idem:       map[string]idemEntry{},
		readyAfter: map[string]int{},
		gate:       map[string]string{},
		failAssets: map[string]string{},
		expireOnce: map[string]bool{},
		generation: map[string]int{},
		downloads:  map[string]int{},
		scanning:   map[string]int{},
	}
	f.scopes["tok-export"] = []string{"read", "export"}
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
	mux.HandleFunc("POST /v1/exports", f.auth("export", f.createExport))
	mux.HandleFunc("GET /dl/{asset}", f.download)
	mux.HandleFunc("POST /v1/assets/{id}/downloads", f.auth("export", f.createDownload))
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
	if f.manifestOverride != "" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, f.manifestOverride)
		return
	}
	if fe, ok := f.fexports[r.PathValue("id")]; ok {
		f.buildManifest(w, r, fe)
		return
	}
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

func (f *fakeAPI) createExport(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req client.CreateExportRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Format == "" {
		problem(w, 422, "validation_failed", "format is required", nil)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rateLimitCreates > 0 {
		f.rateLimitCreates--
		w.Header().Set("Retry-After", "1")
		w.Header().Set("RateLimit-Policy", `"export";q=2;w=60`)
		w.Header().Set("RateLimit", `"export";r=0;t=1`)
		problem(w, 429, "rate_limited", "too many exports", map[string]any{"retry_after": 1, "scope": "export"})
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if e, ok := f.idem[key]; ok {
		if e.body != string(body) {
			problem(w, 422, "idempotency_key_reused", "different request with the same key", nil)
			return
		}
		w.Header().Set("Idempotent-Replayed", "true")
		reply(w, 202, f.fexports[e.id].export)
		return
	}
	var assets, unknown []string
	if req.Tag != "" {
		for _, a := range f.assets {
			if a.State != client.AssetDeleted && slices.Contains(a.Tags, req.Tag) {
				assets = append(assets, a.ID)
			}
		}
	}
	for _, it := range req.Items {
		if f.find(it.AssetID) == nil {
			unknown = append(unknown, it.AssetID)
		}
		assets = append(assets, it.AssetID)
	}
	if len(unknown) > 0 {
		problem(w, 422, "validation_failed", fmt.Sprintf("%d unknown assets", len(unknown)), map[string]any{"unknown_assets": unknown})
		return
	}
	f.next++
	id := fmt.Sprintf("exp_%02d", f.next)
	fe := &fakeExport{assets: assets, export: client.Export{ID: id, Name: req.Name, Format: req.Format, Status: "processing", ManifestURL: "/v1/exports/" + id + "/manifest"}}
	f.fexports[id] = fe
	f.idem[key] = idemEntry{body: string(body), id: id}
	reply(w, 202, fe.export)
}

func (f *fakeAPI) buildManifest(w http.ResponseWriter, r *http.Request, fe *fakeExport) {
	if r.URL.Query().Get("wait") != "" {
		fe.polls++
	}
	type item struct {
		ID       string           `json:"id"`
		AssetID  string           `json:"asset_id"`
		Format   string           `json:"format"`
		Status   string           `json:"status"`
		Filename string           `json:"filename"`
		URL      string           `json:"url,omitempty"`
		Size     int64            `json:"size,omitempty"`
		Checksum string           `json:"checksum,omitempty"`
		Error    *client.JobError `json:"error,omitempty"`
	}
	m := struct {
		Version int    `json:"version"`
		ID      string `json:"id"`
		Status  string `json:"status"`
		Self    string `json:"self"`
		Items   []item `json:"items"`
	}{Version: 1, ID: fe.export.ID, Self: f.srv.URL + fe.export.ManifestURL}
	pending, failed := 0, 0
	for i, id := range fe.assets {
		a := f.find(id)
		it := item{ID: fmt.Sprintf("itm_%d", i+1), AssetID: id, Format: fe.export.Format,
			Filename: fmt.Sprintf("%s_%s_%s.bin", strings.ToLower(strings.ReplaceAll(a.Title, " ", "-")), id, fe.export.Format)}
		switch {
		case f.failAssets[id] != "":
			it.Status, it.Error = "failed", &client.JobError{Code: "transcode_failed", Detail: f.failAssets[id]}
			failed++
		case fe.polls < f.readyAfter[id] || (f.gate[id] != "" && f.downloads[f.gate[id]] == 0):
			it.Status = "processing"
			pending++
		default:
			body := f.content[id]
			sum := sha256.Sum256(body)
			it.Status, it.Size, it.Checksum = "ready", int64(len(body)), fmt.Sprintf("sha256:%x", sum)
			it.URL = fmt.Sprintf("%s/dl/%s?exp=9999999999&sig=g%d", f.srv.URL, id, f.generation[id])
		}
		m.Items = append(m.Items, it)
	}
	switch {
	case pending > 0:
		m.Status = "processing"
	case failed > 0:
		m.Status = "partial"
	default:
		m.Status = "ready"
	}
	reply(w, 200, m)
}

func (f *fakeAPI) download(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	id := r.PathValue("asset")
	f.downloads[id]++
	if r.URL.Query().Get("sig") != fmt.Sprintf("g%d", f.generation[id]) {
		f.mu.Unlock()
		problem(w, 403, "bad_signature", "bad signature", nil)
		return
	}
	if f.expireOnce[id] {
		delete(f.expireOnce, id)
		f.generation[id]++
		f.mu.Unlock()
		problem(w, 410, "url_expired", "this URL has expired", nil)
		return
	}
	body, ok := f.content[id]
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(body)
	w.Header().Set("ETag", fmt.Sprintf(`"%x"`, sum[:8]))
	http.ServeContent(w, r, id, fakeNow, strings.NewReader(string(body)))
}

// uploadAsset stores an available asset with content.
func (f *fakeAPI) uploadAsset(title string, body []byte, tags ...string) string {
	sum := sha256.Sum256(body)
	a := f.addAsset(client.Asset{Title: title, Filename: title + ".bin", State: client.AssetAvailable, Size: int64(len(body)),
		Checksum: fmt.Sprintf("sha256:%x", sum), Tags: tags})
	f.mu.Lock()
	f.content[a.ID] = body
	f.mu.Unlock()
	return a.ID
}

// createDownload answers 200 for the original, a 202 job for mp4_720p
// (ready on the third poll) and "broken" (failing), 422 otherwise.
func (f *fakeAPI) createDownload(w http.ResponseWriter, r *http.Request) {
	var req client.DownloadRequest
	_ = json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.find(r.PathValue("id"))
	if a == nil {
		problem(w, 404, "not_found", "asset "+r.PathValue("id")+" not found", nil)
		return
	}
	if f.scanning[a.ID] > 0 {
		f.scanning[a.ID]--
		w.Header().Set("Retry-After", "1")
		problem(w, 409, "not_ready", "asset "+a.ID+" is scanning", map[string]any{"state": "scanning"})
		return
	}
	body := f.content[a.ID]
	sum := sha256.Sum256(body)
	ready := client.Download{
		DownloadURL: fmt.Sprintf("%s/dl/%s?exp=9999999999&sig=g%d", f.srv.URL, a.ID, f.generation[a.ID]),
		ExpiresAt:   fakeNow.Add(time.Hour), Size: int64(len(body)), Checksum: fmt.Sprintf("sha256:%x", sum),
		Filename: fmt.Sprintf("%s_%s_%s.bin", strings.ToLower(a.Title), a.ID, req.Format), ContentType: "application/octet-stream",
	}
	jobID := "job_" + a.ID + "_" + req.Format
	switch req.Format {
	case "original":
		reply(w, 200, ready)
	case "mp4_720p", "broken":
		if _, ok := f.jobs[jobID]; !ok {
			last := client.Job{ID: jobID, Status: client.JobSucceeded, Progress: 1, Result: &ready}
			if req.Format == "broken" {
				last = client.Job{ID: jobID, Status: client.JobFailed, Progress: 0.4, Error: &client.JobError{Code: "transcode_failed", Detail: "ffmpeg exited with status 1"}}
			}
			f.jobs[jobID] = []client.Job{{ID: jobID, Status: client.JobQueued}, {ID: jobID, Status: client.JobProcessing, Progress: 0.5}, last}
		}
		if states := f.jobs[jobID]; len(states) == 1 && states[0].Status == client.JobSucceeded {
			reply(w, 200, ready)
			return
		}
		w.Header().Set("Location", "/v1/jobs/"+jobID)
		w.Header().Set("Retry-After", "0")
		reply(w, 202, client.JobRef{JobID: jobID, Status: client.JobQueued, EstimatedSeconds: 3})
	default:
		problem(w, 422, "unsupported_format", req.Format+" does not apply to this asset", map[string]any{"allowed_formats": []string{"original", "mp4_720p"}})
	}
}
