package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haulhq/haul/internal/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }

// call is one raw HTTP exchange against a running server.
type call struct {
	t    *testing.T
	srv  *e2e.Server
	resp *http.Response
	body []byte
}

func do(t *testing.T, srv *e2e.Server, method, path, key string, body any, hdr ...string) *call {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		raw, _ := json.Marshal(b)
		rd, ct = bytes.NewReader(raw), "application/json"
	}
	url := path
	if !strings.HasPrefix(url, "http") {
		url = srv.URL + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.HTTPClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return &call{t: t, srv: srv, resp: resp, body: raw}
}

func (c *call) status(want int, code ...string) *call {
	c.t.Helper()
	if c.resp.StatusCode != want {
		c.t.Fatalf("%s %s: %d, want %d: %s", c.resp.Request.Method, c.resp.Request.URL.Path, c.resp.StatusCode, want, c.body)
	}
	if len(code) > 0 {
		var p map[string]any
		_ = json.Unmarshal(c.body, &p)
		if c.resp.Header.Get("Content-Type") != "application/problem+json" || p["code"] != code[0] {
			c.t.Fatalf("%s %s: problem %s (%s), want code %s", c.resp.Request.Method, c.resp.Request.URL.Path, c.body, c.resp.Header.Get("Content-Type"), code[0])
		}
	}
	return c
}

func (c *call) obj() map[string]any {
	var m map[string]any
	if err := json.Unmarshal(c.body, &m); err != nil {
		c.t.Fatalf("decode %s: %v", c.body, err)
	}
	return m
}

func upload(t *testing.T, srv *e2e.Server, key string, meta map[string]any, content []byte) string {
	t.Helper()
	a := do(t, srv, "POST", "/v1/assets", key, meta).status(201).obj()
	do(t, srv, "PUT", a["upload_url"].(string), key, content).status(200)
	id := a["id"].(string)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := do(t, srv, "GET", "/v1/assets/"+id, key, nil).status(200).obj()["state"]
		if st == "available" || st == "quarantined" {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("asset %s stuck in %v", id, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeBootstrapAndRestart(t *testing.T) {
	start := time.Now()
	srv := e2e.StartServer(t)
	t.Logf("ready after %s", time.Since(start))
	fi, err := os.Stat(filepath.Join(srv.DataDir, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.key mode %v", fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(filepath.Join(srv.DataDir, "admin.key"))
	if lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "haul_") {
		t.Fatalf("admin.key content %q", raw)
	}
	if !strings.Contains(srv.Output(), srv.AdminKey) || !strings.Contains(srv.Output(), "haul serving on http://"+srv.Addr) {
		t.Fatalf("bootstrap not logged:\n%s", srv.Output())
	}
	id := upload(t, srv, srv.AdminKey, map[string]any{"filename": "a.txt", "title": "A"}, []byte("hello"))
	url := do(t, srv, "POST", "/v1/assets/"+id+"/downloads", srv.AdminKey, map[string]any{"format": "original"}).status(200).obj()["download_url"].(string)

	srv.Restart()
	after, _ := os.ReadFile(filepath.Join(srv.DataDir, "admin.key"))
	if !bytes.Equal(raw, after) || strings.Count(srv.Output(), "admin API key") != 1 {
		t.Fatal("restart made another admin key")
	}
	// The asset and the signed URL survive the restart.
	if got := do(t, srv, "GET", url, "", nil).status(200).body; string(got) != "hello" {
		t.Fatalf("after restart: %q", got)
	}
	do(t, srv, "GET", "/v1/assets/"+id, srv.AdminKey, nil).status(200)
}

// TestServeStatusCodes checks every status code SPEC section 3 names for
// the core routes, with raw HTTP against the real binary.
func TestServeStatusCodes(t *testing.T) {
	srv := e2e.StartServer(t, "--rate-limit", "export=6/1m", "--max-batch-items", "5")
	key := srv.AdminKey
	content := []byte(strings.Repeat("abcdefghij", 100))
	id := upload(t, srv, key, map[string]any{"filename": "a.bin", "tags": []string{"t"}}, content)

	do(t, srv, "GET", "/healthz", "", nil).status(200)
	do(t, srv, "GET", "/readyz", "", nil).status(200)
	do(t, srv, "GET", "/metrics", "", nil).status(200)
	do(t, srv, "GET", "/openapi.json", "", nil).status(200)
	do(t, srv, "GET", "/v1/assets", "", nil).status(401, "unauthorized")
	do(t, srv, "GET", "/v1/assets", "haul_bogus", nil).status(401, "unauthorized")
	read := strings.TrimSpace(run(t, "admin", "key", "create", "--data", srv.DataDir, "--scopes", "read"))
	do(t, srv, "POST", "/v1/assets", read, map[string]any{"filename": "x"}).status(403, "forbidden")
	do(t, srv, "GET", "/v1/assets/ast_00000000000000000000000000", key, nil).status(404, "not_found")
	do(t, srv, "PUT", "/v1/assets", key, nil).status(405)
	do(t, srv, "POST", "/v1/assets", key, "{", "Content-Type", "application/json").status(400, "bad_request")
	do(t, srv, "POST", "/v1/assets", key, `{"filename":"a"}`, "Content-Type", "text/csv").status(415)
	do(t, srv, "PUT", "/v1/assets/"+id+"/content", key, "again").status(409, "conflict")

	// Repr-Digest mismatch.
	fresh := do(t, srv, "POST", "/v1/assets", key, map[string]any{"filename": "b.bin"}).status(201).obj()
	sum := sha256.Sum256([]byte("other"))
	do(t, srv, "PUT", fresh["upload_url"].(string), key, "data", "Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":").status(422, "digest_mismatch")

	// Downloads.
	do(t, srv, "POST", "/v1/assets/"+id+"/downloads", key, map[string]any{"format": "mp4_9000p"}).status(422, "unsupported_format")
	denied := upload(t, srv, key, map[string]any{"filename": "d.bin", "rights": map[string]any{"downloadable": false}}, []byte("d"))
	do(t, srv, "POST", "/v1/assets/"+denied+"/downloads", key, map[string]any{"format": "original"}).status(403, "rights_denied")
	dl := do(t, srv, "POST", "/v1/assets/"+id+"/downloads", key, map[string]any{"format": "original"}).status(200).obj()
	url := dl["download_url"].(string)
	got := do(t, srv, "GET", url, "", nil).status(200)
	if !bytes.Equal(got.body, content) {
		t.Fatal("download differs")
	}
	etag := got.resp.Header.Get("ETag")
	do(t, srv, "HEAD", url, "", nil).status(200)
	do(t, srv, "GET", url, "", nil, "Range", "bytes=0-9").status(206)
	do(t, srv, "GET", url, "", nil, "If-None-Match", etag).status(304)
	do(t, srv, "GET", url, "", nil, "Range", "bytes=5000-").status(416)
	do(t, srv, "GET", strings.Replace(url, "sig=", "sig=A", 1), "", nil).status(403, "bad_signature")
	expired := strings.Replace(url, "exp=", "exp=1", 1)
	do(t, srv, "GET", expired, "", nil).status(403, "bad_signature")

	// Exports: 202 always, 422 unknown, 413 over the batch cap, 429.
	items := []map[string]any{}
	for i := 0; i < 6; i++ {
		items = append(items, map[string]any{"asset_id": id})
	}
	do(t, srv, "POST", "/v1/exports", key, map[string]any{"items": items}).status(413, "too_many_items")
	c := do(t, srv, "POST", "/v1/exports", key, map[string]any{"items": []map[string]any{{"asset_id": "ast_nope"}}}).status(422, "validation_failed")
	if u, _ := c.obj()["unknown_assets"].([]any); len(u) != 1 {
		t.Fatalf("unknown_assets: %s", c.body)
	}
	exp := do(t, srv, "POST", "/v1/exports", key, map[string]any{"tag": "t", "format": "original"}, "Idempotency-Key", `"e1"`).status(202).obj()
	do(t, srv, "POST", "/v1/exports", key, map[string]any{"tag": "t", "format": "original"}, "Idempotency-Key", `"e1"`).status(202)
	do(t, srv, "POST", "/v1/exports", key, map[string]any{"tag": "other"}, "Idempotency-Key", `"e1"`).status(422, "idempotency_key_reused")
	do(t, srv, "GET", "/v1/exports/"+exp["id"].(string), key, nil).status(200)
	do(t, srv, "GET", "/v1/exports/"+exp["id"].(string)+"/manifest?wait=1s", key, nil).status(200)
	do(t, srv, "POST", "/v1/exports", key, map[string]any{"tag": "t"}).status(202)
	rl := do(t, srv, "POST", "/v1/exports", key, map[string]any{"tag": "t"}).status(429, "rate_limited")
	if rl.resp.Header.Get("Retry-After") == "" || rl.resp.Header.Get("RateLimit-Policy") != `"export";q=6;w=60` {
		t.Fatalf("429 headers: %v", rl.resp.Header)
	}
	do(t, srv, "DELETE", "/v1/assets/"+id, key, nil).status(204)
	do(t, srv, "GET", url, "", nil).status(410)
}

// TestServeKillMidUpload kills the server while an upload streams in: no
// asset may be available with partial bytes afterwards.
func TestServeKillMidUpload(t *testing.T) {
	srv := e2e.StartServer(t)
	key := srv.AdminKey
	a := do(t, srv, "POST", "/v1/assets", key, map[string]any{"filename": "big.bin"}).status(201).obj()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", a["upload_url"].(string), pr)
	req.ContentLength = 8 << 20
	req.Header.Set("Authorization", "Bearer "+key)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	if _, err := pw.Write(bytes.Repeat([]byte("x"), 1<<20)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	srv.Kill()
	pw.CloseWithError(fmt.Errorf("killed"))
	<-done
	srv.KillAndRestart()
	got := do(t, srv, "GET", "/v1/assets/"+a["id"].(string), key, nil).status(200).obj()
	if got["state"] != "created" || got["size"] != nil {
		t.Fatalf("after kill: %v", got)
	}
	var blobs int
	filepath.WalkDir(filepath.Join(srv.DataDir, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			blobs++
		}
		return nil
	})
	if blobs != 0 {
		t.Fatalf("%d blob files left after the killed upload", blobs)
	}
	// The asset can still be uploaded.
	do(t, srv, "PUT", a["upload_url"].(string), key, "complete").status(200)
}

// TestServeGracefulShutdown sends SIGTERM during an upload: the upload
// still completes and the server exits 0.
func TestServeGracefulShutdown(t *testing.T) {
	srv := e2e.StartServer(t)
	key := srv.AdminKey
	a := do(t, srv, "POST", "/v1/assets", key, map[string]any{"filename": "s.bin"}).status(201).obj()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", a["upload_url"].(string), pr)
	req.ContentLength = 2 << 20
	req.Header.Set("Authorization", "Bearer "+key)
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	pw.Write(bytes.Repeat([]byte("y"), 1<<20))
	time.Sleep(100 * time.Millisecond)
	stopped := make(chan struct{})
	go func() { srv.Stop(); close(stopped) }()
	time.Sleep(300 * time.Millisecond)
	pw.Write(bytes.Repeat([]byte("y"), 1<<20))
	pw.Close()
	r := <-done
	if r.err != nil || r.status != 200 {
		t.Fatalf("in-flight upload during shutdown: %+v", r)
	}
	<-stopped
	if exited, code := srv.Exited(); !exited || code != 0 {
		t.Fatalf("exit after SIGTERM: exited=%v code=%d\n%s", exited, code, srv.Output())
	}
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := e2e.Run(t, context.Background(), args...)
	if code != 0 {
		t.Fatalf("haul %v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

func TestAdminCommands(t *testing.T) {
	srv := e2e.StartServer(t)
	run(t, "admin", "tenant", "create", "acme", "--data", srv.DataDir)
	if out := run(t, "admin", "tenant", "list", "--data", srv.DataDir); !strings.Contains(out, "acme") || !strings.Contains(out, "default") {
		t.Fatalf("tenant list:\n%s", out)
	}
	_, _, code := e2e.Run(t, context.Background(), "admin", "tenant", "create", "acme", "--data", srv.DataDir)
	if code != 1 {
		t.Fatalf("duplicate tenant: exit %d", code)
	}
	key := strings.TrimSpace(run(t, "admin", "key", "create", "--tenant", "acme", "--scopes", "write,read", "--data", srv.DataDir))
	id := upload(t, srv, key, map[string]any{"filename": "acme.txt"}, []byte("acme"))
	do(t, srv, "GET", "/v1/assets/"+id, srv.AdminKey, nil).status(404, "not_found")
	do(t, srv, "POST", "/v1/assets/"+id+"/downloads", key, map[string]any{}).status(403, "forbidden")

	var keys []map[string]any
	json.Unmarshal([]byte(run(t, "admin", "key", "list", "--tenant", "acme", "--data", srv.DataDir, "--json")), &keys)
	if len(keys) != 1 {
		t.Fatalf("keys: %v", keys)
	}
	run(t, "admin", "key", "revoke", keys[0]["id"].(string), "--tenant", "acme", "--data", srv.DataDir)
	do(t, srv, "GET", "/v1/assets", key, nil).status(401, "unauthorized")
	if _, _, code := e2e.Run(t, context.Background(), "admin", "key", "create", "--scopes", "root", "--data", srv.DataDir); code != 2 {
		t.Fatalf("bad scope: exit %d", code)
	}
}

// TestServeExpiredURL: a signed URL past its expiry is 410 url_expired.
func TestServeExpiredURL(t *testing.T) {
	srv := e2e.StartServer(t, "--download-ttl", "1s")
	id := upload(t, srv, srv.AdminKey, map[string]any{"filename": "e.txt"}, []byte("soon gone"))
	url := do(t, srv, "POST", "/v1/assets/"+id+"/downloads", srv.AdminKey, map[string]any{}).status(200).obj()["download_url"].(string)
	time.Sleep(2100 * time.Millisecond)
	do(t, srv, "GET", url, "", nil).status(410, "url_expired")
	do(t, srv, "HEAD", url, "", nil).status(410)
}
