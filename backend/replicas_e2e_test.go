package backend_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haulhq/haul/internal/e2e"
	"github.com/haulhq/haul/internal/testsvc"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// useBinary builds haul once into a directory this package removes (the
// e2e harness's own build directory is only removed by e2e.Main, and this
// package's TestMain must also stop the test services) and points the
// harness at it.
func useBinary(t *testing.T) {
	t.Helper()
	if os.Getenv("HAUL_E2E_BINARY") != "" && binDir == "" {
		return // a prebuilt binary was given
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "haul-backend-e2e-")
		if binErr != nil {
			return
		}
		bin := filepath.Join(binDir, "haul")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/haul")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		binErr = os.Setenv("HAUL_E2E_BINARY", bin)
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
}

func removeBinary() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// api sends a JSON request with the key and decodes a JSON answer.
func api(t *testing.T, method, url, key string, body any, out any) *http.Response {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, b, err)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return resp
}

// TestTwoReplicas runs two haul serve processes on one PostgreSQL database
// and one bucket: an upload on A is downloadable through B (by a redirect
// to a presigned S3 URL), an export made on A is polled on B, and B keeps
// serving when A dies.
func TestTwoReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dsn := testsvc.PostgreSQL(t)
	bucket := testsvc.S3(t)
	useBinary(t)
	for _, kv := range bucket.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	args := []string{"--db", dsn, "--blobs", bucket.URL("haul"), "--rate-limit=off"}
	a := e2e.StartServer(t, args...)
	b := e2e.StartServer(t, args...)
	key := a.AdminKey
	if key == "" {
		t.Fatalf("replica A did not write admin.key:\n%s", a.Output())
	}
	if b.AdminKey != "" {
		t.Errorf("replica B bootstrapped again (wrote its own admin.key)")
	}

	// Upload on A; B sees it become available.
	data := make([]byte, 300<<10)
	rand.Read(data)
	assetID := uploadAvailable(t, a, b, key, "clip.bin", data)

	// A download through B redirects to the bucket.
	var dl struct {
		DownloadURL string `json:"download_url"`
	}
	if resp := api(t, "POST", b.URL+"/v1/assets/"+assetID+"/downloads", key, map[string]any{"format": "original"}, &dl); resp.StatusCode != 200 {
		t.Fatalf("download on B: %d", resp.StatusCode)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(dl.DownloadURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, bucket.Endpoint+"/") {
		t.Fatalf("signed URL answered %d, Location %q; want 302 to the bucket at %s", resp.StatusCode, loc, bucket.Endpoint)
	}
	get := func(url string) ([]byte, http.Header) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
		}
		return body, resp.Header
	}
	body, hdr := get(loc)
	if !bytes.Equal(body, data) {
		t.Errorf("presigned download: %d bytes differing from the %d uploaded", len(body), len(data))
	}
	if cd := hdr.Get("Content-Disposition"); !strings.Contains(cd, "clip.bin") {
		t.Errorf("presigned download Content-Disposition = %q", cd)
	}

	// An export made on A, its manifest polled on B.
	var exp struct {
		ID string `json:"id"`
	}
	if resp := api(t, "POST", a.URL+"/v1/exports", key, map[string]any{"format": "original", "items": []any{map[string]string{"asset_id": assetID}}}, &exp); resp.StatusCode != 202 {
		t.Fatalf("export on A: %d", resp.StatusCode)
	}
	var manifest struct {
		Items []struct {
			URL      string `json:"url"`
			Checksum string `json:"checksum"`
		} `json:"items"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(manifest.Items) == 0 || manifest.Items[0].URL == "" {
		if time.Now().After(deadline) {
			t.Fatalf("manifest on B has no URL after 30s: %+v", manifest)
		}
		api(t, "GET", b.URL+"/v1/exports/"+exp.ID+"/manifest?wait=5s", key, nil, &manifest)
	}
	if body, _ := get(manifest.Items[0].URL); !bytes.Equal(body, data) {
		t.Errorf("manifest download: %d bytes differing from the %d uploaded", len(body), len(data))
	}

	// B carries on alone.
	a.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rq, _ := http.NewRequestWithContext(ctx, "GET", b.URL+"/readyz", nil)
	resp, err = http.DefaultClient.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("B /readyz after A died: %d", resp.StatusCode)
	}
	var again struct {
		State string `json:"state"`
	}
	if api(t, "GET", b.URL+"/v1/assets/"+assetID, key, nil, &again); again.State != "available" {
		t.Errorf("asset on B after A died: state %q", again.State)
	}
}

// TestMigrateStoreCommand: an embedded install with an upload is moved by
// `haul admin migrate-store`, and haul serve on the scale-out backend then
// serves the same asset and bytes with the same admin key.
func TestMigrateStoreCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dsn := testsvc.PostgreSQL(t)
	bucket := testsvc.S3(t)
	useBinary(t)
	for _, kv := range bucket.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	data := t.TempDir()
	embedded := e2e.StartServer(t, "--data", data, "--rate-limit=off")
	key := embedded.AdminKey
	payload := bytes.Repeat([]byte("migrate me "), 40000)
	assetID := uploadAvailable(t, embedded, embedded, key, "moved.txt", payload)
	embedded.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stdout, stderr, code := e2e.Run(t, ctx, "admin", "migrate-store", "--from", data, "--to-db", dsn, "--to-blobs", bucket.URL(""), "--json")
	if code != 0 {
		t.Fatalf("migrate-store exited %d:\n%s%s", code, stdout, stderr)
	}
	var rep struct {
		Rows       map[string]int64 `json:"rows"`
		Referenced int              `json:"referenced"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("migrate-store --json: %v: %s", err, stdout)
	}
	if rep.Rows["assets"] != 1 || rep.Referenced != 1 {
		t.Errorf("report: %+v", rep)
	}

	scaled := e2e.StartServer(t, "--data", data, "--db", dsn, "--blobs", bucket.URL(""), "--rate-limit=off")
	var moved struct {
		State string `json:"state"`
		Size  int64  `json:"size"`
	}
	if resp := api(t, "GET", scaled.URL+"/v1/assets/"+assetID, key, nil, &moved); resp.StatusCode != 200 || moved.State != "available" || moved.Size != int64(len(payload)) {
		t.Fatalf("asset on the scale-out server: %d %+v", resp.StatusCode, moved)
	}
	var dl struct {
		DownloadURL string `json:"download_url"`
	}
	api(t, "POST", scaled.URL+"/v1/assets/"+assetID+"/downloads", key, map[string]any{"format": "original"}, &dl)
	resp, err := http.Get(dl.DownloadURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, payload) {
		t.Errorf("download after migration: %d, %d bytes", resp.StatusCode, len(body))
	}

	if _, _, code := e2e.Run(t, ctx, "admin", "migrate-store", "--from", data); code != 2 {
		t.Errorf("missing flags: exit %d, want 2", code)
	}
}
