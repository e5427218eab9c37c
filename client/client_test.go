package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testToken = "hk_test_secret_token_value"

// newTestClient returns a Client for srv with fast retries.
func newTestClient(t *testing.T, srv *httptest.Server, mod ...func(*Options)) *Client {
	t.Helper()
	opts := Options{
		BaseURL:         srv.URL,
		Token:           testToken,
		UserAgent:       "haul/test",
		RetryMax:        3,
		RetryWaitMin:    time.Millisecond,
		RetryWaitMax:    5 * time.Millisecond,
		PollIntervalMin: time.Millisecond,
		PollIntervalMax: 5 * time.Millisecond,
	}
	for _, f := range mod {
		f(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, status int, code, detail string, extra map[string]any) {
	m := map[string]any{"type": "urn:haul:problem:" + code, "title": http.StatusText(status), "status": status, "code": code}
	if detail != "" {
		m["detail"] = detail
	}
	for k, v := range extra {
		m[k] = v
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(m)
}

func TestNewValidatesBaseURL(t *testing.T) {
	for _, u := range []string{"", "ftp://h", "://x", "http://"} {
		if _, err := New(Options{BaseURL: u}); err == nil {
			t.Errorf("New(%q) = nil error", u)
		}
	}
	c, err := New(Options{BaseURL: "https://h.example/prefix/"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.url("/v1/assets", nil); got != "https://h.example/prefix/v1/assets" {
		t.Errorf("url = %q", got)
	}
	if got := c.ResolveURL("/g/tok"); got != "https://h.example/g/tok" {
		t.Errorf("ResolveURL = %q", got)
	}
}

func TestRequestHeaders(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		writeJSON(w, 200, Asset{ID: "ast_1", Title: "t", State: "available"})
	}))
	defer srv.Close()
	c := newTestClient(t, srv)
	a, err := c.GetAsset(context.Background(), "ast_1")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "ast_1" {
		t.Errorf("asset = %+v", a)
	}
	if got.Get("Authorization") != "Bearer "+testToken {
		t.Errorf("Authorization = %q", got.Get("Authorization"))
	}
	if got.Get("User-Agent") != "haul/test" {
		t.Errorf("User-Agent = %q", got.Get("User-Agent"))
	}
	if got.Get("Idempotency-Key") != "" {
		t.Errorf("GET carried Idempotency-Key %q", got.Get("Idempotency-Key"))
	}
}

func TestRetriesServerErrors(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			writeProblem(w, 503, "unavailable", "warming up", nil)
			return
		}
		writeJSON(w, 200, Job{ID: "job_1", Status: JobSucceeded, Progress: 1})
	}))
	defer srv.Close()
	var retries []RetryInfo
	c := newTestClient(t, srv, func(o *Options) { o.OnRetry = func(ri RetryInfo) { retries = append(retries, ri) } })
	j, err := c.GetJob(context.Background(), "job_1")
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != JobSucceeded || n.Load() != 3 {
		t.Errorf("status %s after %d attempts, want succeeded after 3", j.Status, n.Load())
	}
	if len(retries) != 2 || retries[0].Status != 503 || retries[0].Attempt != 1 || retries[1].Attempt != 2 {
		t.Errorf("retries = %+v", retries)
	}
}

func TestGivesUpAfterRetryMax(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		writeProblem(w, 500, "internal", "boom", nil)
	}))
	defer srv.Close()
	c := newTestClient(t, srv, func(o *Options) { o.RetryMax = 2 })
	_, err := c.GetAsset(context.Background(), "ast_1")
	ae, ok := AsAPIError(err)
	if !ok || ae.Status != 500 || ae.Code != "internal" || ae.Detail != "boom" {
		t.Fatalf("err = %v (%#v)", err, ae)
	}
	if n.Load() != 3 {
		t.Errorf("attempts = %d, want 3", n.Load())
	}
}

func TestNoRetryOn4xx(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 409, 410, 422} {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			writeProblem(w, status, "x", "", nil)
		}))
		c := newTestClient(t, srv)
		_, err := c.CreateExport(context.Background(), CreateExportRequest{Format: "original", Tag: "t"})
		srv.Close()
		if err == nil || n.Load() != 1 {
			t.Errorf("status %d: err=%v attempts=%d, want an error after 1 attempt", status, err, n.Load())
		}
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		first := len(times) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("RateLimit-Policy", `"export";q=60;w=60`)
			w.Header().Set("RateLimit", `"export";r=0;t=1`)
			writeProblem(w, 429, CodeRateLimited, "slow down", map[string]any{"retry_after": 1, "scope": "export"})
			return
		}
		writeJSON(w, 202, Export{ID: "exp_1", Status: "processing", ManifestURL: "/v1/exports/exp_1/manifest"})
	}))
	defer srv.Close()
	var info RetryInfo
	c := newTestClient(t, srv, func(o *Options) { o.OnRetry = func(ri RetryInfo) { info = ri } })
	e, err := c.CreateExport(context.Background(), CreateExportRequest{Format: "original", Tag: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != "exp_1" {
		t.Errorf("export = %+v", e)
	}
	if len(times) != 2 {
		t.Fatalf("%d attempts, want 2", len(times))
	}
	if gap := times[1].Sub(times[0]); gap < time.Second {
		t.Errorf("retried after %v, before Retry-After: 1", gap)
	}
	if !info.RetryAfter || info.Wait != time.Second || info.Status != 429 || info.Scope != "export" {
		t.Errorf("retry info = %+v", info)
	}
}

func TestRetryAfterTooLongIsReturned(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Retry-After", "40")
		w.Header().Set("RateLimit", `"export";r=0;t=40`)
		writeProblem(w, 429, CodeRateLimited, "export creation limit reached", map[string]any{"retry_after": 40, "scope": "export"})
	}))
	defer srv.Close()
	c := newTestClient(t, srv, func(o *Options) { o.MaxRetryWait = 10 * time.Second })
	_, err := c.CreateExport(context.Background(), CreateExportRequest{Format: "original", Tag: "x"})
	if !IsRateLimited(err) {
		t.Fatalf("err = %v, want rate limited", err)
	}
	ae, _ := AsAPIError(err)
	if ae.RetryAfter != 40*time.Second || ae.Scope != "export" {
		t.Errorf("RetryAfter=%v Scope=%q", ae.RetryAfter, ae.Scope)
	}
	if want := "rate limited for 40s on export creation; retry later"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	if n.Load() != 1 {
		t.Errorf("attempts = %d, want 1 (wait longer than MaxRetryWait)", n.Load())
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"42", 42 * time.Second, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"-3", 0, false},
		{"soon", 0, false},
		{"Tue, 24 Nov 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Tuesday, 24-Nov-26 12:01:00 GMT", time.Minute, true},
		{"Tue, 24 Nov 2026 11:00:00 GMT", 0, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestJitterBackoffBounds(t *testing.T) {
	for attempt := range 12 {
		for range 50 {
			d := jitterBackoff(10*time.Millisecond, time.Second, attempt)
			ceil := min(time.Second, 10*time.Millisecond<<attempt)
			if d < 10*time.Millisecond || d > ceil {
				t.Fatalf("attempt %d: backoff %v outside [10ms, %v]", attempt, d, ceil)
			}
		}
	}
}

func TestIdempotencyKeyReusedAcrossRetries(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		n := len(keys)
		mu.Unlock()
		if n == 1 {
			// Drop the connection without answering: the POST may or may
			// not have been applied, which is what the key is for.
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
			return
		}
		if n == 2 {
			writeProblem(w, 502, "bad_gateway", "", nil)
			return
		}
		w.Header().Set("Idempotent-Replayed", "true")
		writeJSON(w, 202, Export{ID: "exp_1", Status: "processing"})
	}))
	defer srv.Close()
	c := newTestClient(t, srv)
	var info ResponseInfo
	if _, err := c.CreateExport(context.Background(), CreateExportRequest{Format: "original", Tag: "t"}, WithResponseInfo(&info)); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 || keys[0] == "" || keys[0] != keys[1] || keys[1] != keys[2] {
		t.Fatalf("keys across retries = %q, want 3 equal non-empty keys", keys)
	}
	if !info.Replayed || info.IdempotencyKey != keys[0] || info.Status != 202 {
		t.Errorf("response info = %+v", info)
	}
	// A second logical call gets a new key; an explicit key is sent as is.
	if _, err := c.CreateExport(context.Background(), CreateExportRequest{Format: "original", Tag: "t"}); err != nil {
		t.Fatal(err)
	}
	if keys[3] == keys[0] {
		t.Errorf("second call reused key %q", keys[3])
	}
	if _, err := c.CreateExport(context.Background(), CreateExportRequest{Format: "original", Tag: "t"}, WithIdempotencyKey("export-abc")); err != nil {
		t.Fatal(err)
	}
	if keys[4] != "export-abc" {
		t.Errorf("explicit key sent as %q", keys[4])
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		writeProblem(w, 503, "unavailable", "", nil)
	}))
	defer srv.Close()
	c := newTestClient(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetAsset(ctx, "ast_1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}

func TestTokenNeverLoggedNorSentElsewhere(t *testing.T) {
	var otherAuth atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherAuth.Store(r.Header.Get("Authorization"))
		_, _ = io.WriteString(w, `{"version":1,"status":"ready","items":[]}`)
	}))
	defer other.Close()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			writeProblem(w, 500, "internal", "", nil)
			return
		}
		writeProblem(w, 401, CodeUnauthorized, "invalid API key", nil)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newTestClient(t, srv, func(o *Options) { o.Logger = logger })
	_, err := c.GetAsset(context.Background(), "ast_1")
	if !IsUnauthorized(err) || !IsAuth(err) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(logs.String(), testToken) || strings.Contains(err.Error(), testToken) {
		t.Errorf("token leaked: logs=%q err=%q", logs.String(), err)
	}
	if !strings.Contains(logs.String(), "retrying request") {
		t.Errorf("retry not logged: %q", logs.String())
	}
	if _, err := c.FetchManifest(context.Background(), other.URL+"/m.json", ManifestOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := otherAuth.Load(); got != "" {
		t.Errorf("token sent to another host: %q", got)
	}
}

func TestProblemDecoding(t *testing.T) {
	tests := []struct {
		name   string
		status int
		ctype  string
		body   string
		header map[string]string
		check  func(*APIError) bool
		is     func(error) bool
		msg    string
	}{
		{
			name: "unsupported format", status: 422, ctype: "application/problem+json",
			body:  `{"type":"urn:haul:problem:unsupported_format","title":"Unsupported format","status":422,"code":"unsupported_format","detail":"mp4_720p does not apply to application/pdf","allowed_formats":["original"]}`,
			check: func(e *APIError) bool { return len(e.AllowedFormats) == 1 && e.AllowedFormats[0] == "original" },
			is:    IsValidation,
			msg:   "unsupported format: mp4_720p does not apply to application/pdf (allowed formats: original) [unsupported_format]",
		},
		{
			name: "unknown assets", status: 422, ctype: "application/problem+json",
			body: `{"status":422,"code":"validation_failed","title":"Validation failed","detail":"2 unknown assets","unknown_assets":["ast_x","ast_y"],"request_id":"r1"}`,
			check: func(e *APIError) bool {
				return len(e.UnknownAssets) == 2 && string(e.Extensions["request_id"]) == `"r1"`
			},
			is:  IsValidation,
			msg: "validation failed: 2 unknown assets (unknown assets: ast_x, ast_y) [validation_failed]",
		},
		{
			name: "forbidden scope", status: 403, ctype: "application/problem+json",
			body:  `{"status":403,"code":"forbidden","title":"Forbidden","detail":"API key lacks the export scope"}`,
			check: func(e *APIError) bool { return e.Code == CodeForbidden },
			is:    IsAuth,
			msg:   "permission denied: API key lacks the export scope [forbidden]",
		},
		{
			name: "rights denied", status: 403, ctype: "application/problem+json",
			body:  `{"status":403,"code":"rights_denied","detail":"asset is not downloadable"}`,
			check: func(e *APIError) bool { return e.Code == CodeRightsDenied },
			is:    IsForbidden,
			msg:   "rights denied: asset is not downloadable [rights_denied]",
		},
		{
			name: "not found", status: 404, ctype: "application/problem+json; charset=utf-8",
			body:  `{"status":404,"code":"not_found","detail":"asset ast_1 not found"}`,
			check: func(e *APIError) bool { return e.Code == CodeNotFound },
			is:    IsNotFound,
			msg:   "not found: asset ast_1 not found",
		},
		{
			name: "rate limited with header only", status: 429, ctype: "application/problem+json",
			body:   `{"status":429,"code":"rate_limited"}`,
			header: map[string]string{"Retry-After": "3", "RateLimit": `"grant";r=0;t=3`},
			check:  func(e *APIError) bool { return e.RetryAfter == 3*time.Second && e.Scope == "grant" },
			is:     IsRateLimited,
			msg:    "rate limited for 3s on grant creation; retry later",
		},
		{
			name: "html from a proxy", status: 502, ctype: "text/html",
			body:  `<html><body>Bad Gateway</body></html>`,
			check: func(e *APIError) bool { return e.Title == "Bad Gateway" && e.Detail == "" },
			is:    func(error) bool { return true },
			msg:   "bad gateway",
		},
		{
			name: "plain text", status: 400, ctype: "text/plain",
			body:  "missing field",
			check: func(e *APIError) bool { return e.Detail == "missing field" },
			is:    func(err error) bool { return !IsAuth(err) && !IsNotFound(err) },
			msg:   "bad request: missing field",
		},
		{
			name: "unauthorized without detail", status: 401, ctype: "application/problem+json",
			body:  `{"status":401,"code":"unauthorized"}`,
			check: func(e *APIError) bool { return e.Code == CodeUnauthorized },
			is:    IsUnauthorized,
			msg:   "authentication failed: missing or invalid API key [unauthorized]",
		},
		{
			name: "grant consumed", status: 410, ctype: "application/problem+json",
			body:  `{"status":410,"code":"grant_consumed","title":"Grant consumed","detail":"this link was already used"}`,
			check: func(e *APIError) bool { return e.Code == CodeGrantConsumed },
			is:    IsGone,
			msg:   "grant consumed: this link was already used [grant_consumed]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", tt.ctype)
				w.Header().Set("X-Request-Id", "req-123")
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c := newTestClient(t, srv, func(o *Options) { o.RetryMax = -1 })
			_, err := c.GetAsset(context.Background(), "ast_1")
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, not an *APIError", err)
			}
			if ae.Status != tt.status || ae.RequestID != "req-123" || ae.Method != "GET" || ae.Path != "/v1/assets/ast_1" {
				t.Errorf("APIError = %+v", ae)
			}
			if !tt.check(ae) {
				t.Errorf("APIError fields wrong: %+v", ae)
			}
			if !tt.is(err) {
				t.Errorf("helper does not recognise %v", err)
			}
			if err.Error() != tt.msg {
				t.Errorf("Error() = %q\n            want %q", err.Error(), tt.msg)
			}
		})
	}
}

// pagedServer serves n assets in pages of size, recording requests.
func pagedServer(t *testing.T, n, size int, fail int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := requests.Add(1)
		if fail > 0 && int(page) == fail {
			writeProblem(w, 400, "bad_request", "bad cursor", nil)
			return
		}
		start := 0
		if cur := r.URL.Query().Get("cursor"); cur != "" {
			fmt.Sscanf(cur, "c%d", &start)
		}
		if r.URL.Query().Get("tag") != "news" {
			t.Errorf("tag filter lost: %s", r.URL.RawQuery)
		}
		var p Page[Asset]
		for i := start; i < start+size && i < n; i++ {
			p.Data = append(p.Data, Asset{ID: fmt.Sprintf("ast_%03d", i), State: AssetAvailable})
		}
		if start+size < n {
			p.NextCursor = fmt.Sprintf("c%d", start+size)
		}
		writeJSON(w, 200, p)
	}))
	return srv, &requests
}

func TestListAssetsPagination(t *testing.T) {
	srv, requests := pagedServer(t, 7, 3, 0)
	defer srv.Close()
	c := newTestClient(t, srv)
	var ids []string
	for a, err := range c.ListAssets(context.Background(), AssetListOptions{Tag: "news", ListOptions: ListOptions{Limit: 3}}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	if len(ids) != 7 || ids[0] != "ast_000" || ids[6] != "ast_006" || requests.Load() != 3 {
		t.Errorf("ids = %v after %d requests", ids, requests.Load())
	}

	// Stopping early fetches no further page.
	requests.Store(0)
	count := 0
	for _, err := range c.ListAssets(context.Background(), AssetListOptions{Tag: "news"}) {
		if err != nil {
			t.Fatal(err)
		}
		if count++; count == 2 {
			break
		}
	}
	if requests.Load() != 1 {
		t.Errorf("break after 2 items made %d requests, want 1", requests.Load())
	}
}

func TestListAssetsPaginationError(t *testing.T) {
	srv, _ := pagedServer(t, 7, 3, 2)
	defer srv.Close()
	c := newTestClient(t, srv)
	var ids []string
	var errs []error
	for a, err := range c.ListAssets(context.Background(), AssetListOptions{Tag: "news"}) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ids = append(ids, a.ID)
	}
	if len(ids) != 3 || len(errs) != 1 || !strings.Contains(errs[0].Error(), "bad cursor") {
		t.Errorf("ids=%v errs=%v", ids, errs)
	}
}

func TestUploadFileStreamsWithDigest(t *testing.T) {
	content := bytes.Repeat([]byte("haul-upload-"), 100_000) // 1.2 MB
	sum := sha256.Sum256(content)
	path := filepath.Join(t.TempDir(), "clip.bin")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "POST" && r.URL.Path == "/v1/assets":
			var req CreateAssetRequest
			_ = json.NewDecoder(r.Body).Decode(&req)
			if req.Filename != "clip.bin" || req.Title != "My clip" || len(req.Tags) != 1 {
				t.Errorf("create request = %+v", req)
			}
			writeJSON(w, 201, Asset{ID: "ast_9", Title: req.Title, State: AssetCreated, UploadURL: "http://" + r.Host + "/v1/assets/ast_9/content"})
		case r.Method == "PUT" && r.URL.Path == "/v1/assets/ast_9/content":
			if r.ContentLength != int64(len(content)) {
				t.Errorf("Content-Length = %d", r.ContentLength)
			}
			h := sha256.New()
			n, _ := io.Copy(h, r.Body)
			if attempts.Add(1) == 1 {
				writeProblem(w, 503, "unavailable", "", nil)
				return
			}
			if want := ReprDigest(h.Sum(nil)); r.Header.Get("Repr-Digest") != want || n != int64(len(content)) {
				writeProblem(w, 422, CodeDigestMismatch, "digest mismatch", nil)
				return
			}
			writeJSON(w, 200, Asset{ID: "ast_9", State: AssetUploaded, Size: n, Checksum: fmt.Sprintf("sha256:%x", sum)})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := newTestClient(t, srv)
	var last, total int64
	var hashed int64
	a, err := c.Upload(context.Background(), path, CreateAssetRequest{Title: "My clip", Tags: []string{"news"}}, UploadOptions{
		Progress:     func(sent, tot int64) { last, total = sent, tot },
		HashProgress: func(done, _ int64) { hashed = done },
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.State != AssetUploaded || a.Size != int64(len(content)) || a.Checksum != fmt.Sprintf("sha256:%x", sum) {
		t.Errorf("asset = %+v", a)
	}
	if attempts.Load() != 2 {
		t.Errorf("PUT attempts = %d, want 2 (retried after 503)", attempts.Load())
	}
	if last != int64(len(content)) || total != int64(len(content)) || hashed != int64(len(content)) {
		t.Errorf("progress: sent %d of %d, hashed %d", last, total, hashed)
	}
}

func TestUploadNonSeekableIsNotRetried(t *testing.T) {
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		writeProblem(w, 503, "unavailable", "", nil)
	}))
	defer srv.Close()
	c := newTestClient(t, srv)
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte("streamed bytes"))
		pw.Close()
	}()
	_, err := c.UploadContent(context.Background(), "ast_1", pr, -1, UploadOptions{})
	if err == nil || attempts.Load() != 1 {
		t.Errorf("err=%v attempts=%d, want an error after one attempt", err, attempts.Load())
	}
}

func TestUploadRejectsBadDigestLength(t *testing.T) {
	c, _ := New(Options{BaseURL: "http://127.0.0.1:1"})
	if _, err := c.UploadContent(context.Background(), "ast_1", strings.NewReader("x"), 1, UploadOptions{SHA256: []byte{1, 2}}); err == nil {
		t.Error("short digest accepted")
	}
}

func TestCreateDownloadReadyAndPending(t *testing.T) {
	var polls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/assets/ast_ready/downloads":
			writeJSON(w, 200, Download{DownloadURL: "http://" + r.Host + "/dl/x?sig=1", Size: 10, Checksum: "sha256:" + strings.Repeat("a", 64), Filename: "x.mp4"})
		case "/v1/assets/ast_slow/downloads":
			w.Header().Set("Location", "/v1/jobs/job_7")
			w.Header().Set("Retry-After", "0")
			writeJSON(w, 202, JobRef{JobID: "job_7", Status: JobQueued, EstimatedSeconds: 4})
		case "/v1/jobs/job_7":
			switch polls.Add(1) {
			case 1:
				writeJSON(w, 200, Job{ID: "job_7", Status: JobQueued})
			case 2:
				writeJSON(w, 200, Job{ID: "job_7", Status: JobProcessing, Progress: 0.5})
			default:
				writeJSON(w, 200, Job{ID: "job_7", Status: JobSucceeded, Progress: 1, Result: &Download{DownloadURL: "http://" + r.Host + "/dl/y", Filename: "y.mp4"}})
			}
		case "/v1/jobs/job_bad":
			_, _ = io.WriteString(w, `{"id":"job_bad","status":"failed","progress":0.2,"error":{"code":"ffmpeg_failed","detail":"invalid data found"}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := newTestClient(t, srv)
	ctx := context.Background()
	res, err := c.CreateDownload(ctx, "ast_ready", DownloadRequest{Format: "mp4_720p"})
	if err != nil || res.Ready == nil || res.Pending != nil || res.Ready.Filename != "x.mp4" {
		t.Fatalf("ready: %+v, %v", res, err)
	}
	res, err = c.CreateDownload(ctx, "ast_slow", DownloadRequest{Format: "mp4_720p"})
	if err != nil || res.Pending == nil || res.Ready != nil || res.Pending.JobID != "job_7" || res.Pending.Location != "/v1/jobs/job_7" || res.Pending.EstimatedSeconds != 4 {
		t.Fatalf("pending: %+v, %v", res, err)
	}
	var seen []float64
	d, err := c.DownloadWhenReady(ctx, "ast_slow", DownloadRequest{Format: "mp4_720p"}, func(j *Job) { seen = append(seen, j.Progress) })
	if err != nil || d.Filename != "y.mp4" {
		t.Fatalf("DownloadWhenReady = %+v, %v", d, err)
	}
	if len(seen) != 3 || seen[1] != 0.5 || seen[2] != 1 {
		t.Errorf("progress seen = %v", seen)
	}
	j, err := c.WaitJob(ctx, "job_bad", nil)
	var jf *JobFailedError
	if !errors.As(err, &jf) || j.Status != JobFailed || j.Error.Code != "ffmpeg_failed" {
		t.Fatalf("WaitJob failed job: %+v, %v", j, err)
	}
	if want := "job job_bad failed: invalid data found (ffmpeg_failed)"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
}

func TestJobErrorAcceptsString(t *testing.T) {
	var j Job
	if err := json.Unmarshal([]byte(`{"id":"j","status":"failed","error":"ffmpeg exited 1"}`), &j); err != nil {
		t.Fatal(err)
	}
	if j.Error == nil || j.Error.Detail != "ffmpeg exited 1" || j.Error.String() != "ffmpeg exited 1" {
		t.Errorf("error = %+v", j.Error)
	}
}

func TestManifestLongPoll(t *testing.T) {
	var mu sync.Mutex
	var waits []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/exports/exp_1/manifest" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		waits = append(waits, r.URL.Query().Get("wait"))
		n := len(waits)
		mu.Unlock()
		status, item := "processing", `{"id":"itm_1","status":"processing","filename":"a.mp4"}`
		if n >= 3 {
			status, item = "ready", `{"id":"itm_1","status":"ready","filename":"a.mp4","url":"http://`+r.Host+`/dl/a","size":3}`
		}
		fmt.Fprintf(w, `{"version":1,"id":"exp_1","status":%q,"self":"http://%s/v1/exports/exp_1/manifest","items":[%s],"future_field":true}`, status, r.Host, item)
	}))
	defer srv.Close()
	c := newTestClient(t, srv)
	var statuses []string
	for m, err := range c.WatchManifest(context.Background(), "exp_1", 30*time.Second) {
		if err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, m.Status)
	}
	if strings.Join(statuses, ",") != "processing,processing,ready" {
		t.Errorf("statuses = %v", statuses)
	}
	if strings.Join(waits, ",") != ",30s,30s" {
		t.Errorf("waits = %q", waits)
	}
}

func TestManifestVersionError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"version":2,"items":[]}`)
	}))
	defer srv.Close()
	c := newTestClient(t, srv)
	if _, err := c.GetManifest(context.Background(), "exp_1", ManifestOptions{}); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("err = %v, want a version error", err)
	}
}

func TestUpdateAssetEncoding(t *testing.T) {
	title := "New"
	tags := []string{}
	hold := true
	b, err := json.Marshal(UpdateAssetRequest{Title: &title, Tags: &tags, LegalHold: &hold, ClearRetention: true})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if m["title"] != "New" || m["legal_hold"] != true || m["retention_expires_at"] != nil || len(m) != 4 {
		t.Errorf("PATCH body = %s", b)
	}
	if _, ok := m["retention_expires_at"]; !ok {
		t.Errorf("retention_expires_at not sent as null: %s", b)
	}
	b, _ = json.Marshal(UpdateAssetRequest{Title: &title})
	if string(b) != `{"title":"New"}` {
		t.Errorf("PATCH body = %s", b)
	}
	// Rights go whole: the server merges them (RFC 7396), so cleared
	// members are sent as null.
	b, _ = json.Marshal(UpdateAssetRequest{Rights: &Rights{Downloadable: true}})
	if string(b) != `{"rights":{"downloadable":true,"allowed_formats":null,"available_until":null,"redistribution":null}}` {
		t.Errorf("PATCH body with cleared rights = %s", b)
	}
	until := time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)
	b, _ = json.Marshal(UpdateAssetRequest{Rights: &Rights{AllowedFormats: []string{"original"}, AvailableUntil: &until, Redistribution: "partner"}, ClearRetention: true})
	if string(b) != `{"retention_expires_at":null,"rights":{"downloadable":false,"allowed_formats":["original"],"available_until":"2027-01-31T00:00:00Z","redistribution":"partner"}}` {
		t.Errorf("PATCH body with rights = %s", b)
	}
}

func TestGrantToken(t *testing.T) {
	for in, want := range map[string]string{
		"tok123":                          "tok123",
		"/g/tok123":                       "tok123",
		"https://h.example/g/tok123":      "tok123",
		"https://h.example/g/tok123/info": "tok123",
	} {
		if got := grantToken(in); got != want {
			t.Errorf("grantToken(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGrantInfoIsPublic(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Errorf("public endpoint got Authorization")
		}
		if r.URL.Path != "/g/tok/info" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, `{"status":"consumed","access_expires_at":"2026-11-24T12:00:00Z","downloads_remaining":0,"filename":"a.mp4","size":5}`)
	}))
	defer srv.Close()
	c := newTestClient(t, srv)
	info, err := c.GrantInfo(context.Background(), srv.URL+"/g/tok")
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != GrantConsumed || info.DownloadsRemaining == nil || *info.DownloadsRemaining != 0 || info.Size != 5 {
		t.Errorf("info = %+v", info)
	}
}

func TestHealth(t *testing.T) {
	ready := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && !ready {
			writeProblem(w, 503, "unavailable", "store unreachable", nil)
			return
		}
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}))
	defer srv.Close()
	c := newTestClient(t, srv)
	h, err := c.Readyz(context.Background())
	if err != nil || h.OK || h.Status != 503 {
		t.Errorf("readyz = %+v, %v", h, err)
	}
	ready = true
	h, err = c.Healthz(context.Background())
	if err != nil || !h.OK || string(h.Body) != `{"status":"ok"}` {
		t.Errorf("healthz = %+v, %v", h, err)
	}
}

func TestRetriesIdempotencyKeyInFlight(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/exports" && n.Add(1) == 1:
			writeProblem(w, 409, CodeIdempotencyKeyInFlight, "still running", nil)
		case r.URL.Path == "/v1/exports":
			writeJSON(w, 202, Export{ID: "exp_1", Status: "processing"})
		default:
			writeProblem(w, 409, "conflict", "asset is busy", nil)
		}
	}))
	defer srv.Close()
	c := newTestClient(t, srv)
	if _, err := c.CreateExport(context.Background(), CreateExportRequest{Format: "original", Tag: "t"}); err != nil || n.Load() != 2 {
		t.Errorf("in-flight 409: err=%v after %d attempts, want success after 2", err, n.Load())
	}
	_, err := c.CreateAsset(context.Background(), CreateAssetRequest{Title: "x", Filename: "x"})
	if !IsConflict(err) || !strings.Contains(err.Error(), "asset is busy") {
		t.Errorf("other 409: %v", err)
	}
}
