package e2e_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haulhq/haul/internal/e2e"
)

// TestFetchGrantLink: haul fetch given a one-time grant link downloads
// the one file it leads to, under the asset's file name, redeeming the
// grant once; a signed download URL works the same way.
func TestFetchGrantLink(t *testing.T) {
	srv := e2e.StartServer(t)
	content := bytes.Repeat([]byte("grant link "), 30000)
	id := upload(t, srv, srv.AdminKey, map[string]any{"filename": "Season 1 Trailer.mov"}, content)
	g := do(t, srv, "POST", "/v1/assets/"+id+"/grants", srv.AdminKey, map[string]any{"policy": "one_time"}).status(http.StatusCreated).obj()
	link := srv.URL + g["url"].(string)

	out := t.TempDir()
	stdout, stderr, code := e2e.Run(t, context.Background(), "fetch", link, "-o", out, "--no-progress")
	if code != 0 {
		t.Fatalf("haul fetch %s: exit %d\n%s%s", link, code, stdout, stderr)
	}
	got, err := os.ReadFile(filepath.Join(out, "Season 1 Trailer.mov"))
	if err != nil || !bytes.Equal(got, content) {
		entries, _ := os.ReadDir(out)
		t.Fatalf("downloaded file: %v (%d bytes); dir has %v", err, len(got), entries)
	}
	info := do(t, srv, "GET", g["url"].(string)+"/info", "", nil, "Accept", "application/json").status(http.StatusOK).obj()
	if info["status"] != "consumed" {
		t.Errorf("grant after the download: %v, want consumed (redeemed once)", info)
	}
	// A second fetch of the used link says why it fails.
	_, stderr, code = e2e.Run(t, context.Background(), "fetch", link, "-o", t.TempDir(), "--no-progress")
	if code == 0 || !strings.Contains(stderr, "410") {
		t.Errorf("used one-time link: exit %d, stderr %q", code, stderr)
	}

	// A signed download URL is a file too.
	d := do(t, srv, "POST", "/v1/assets/"+id+"/downloads", srv.AdminKey, map[string]any{"format": "original", "filename": "copy.mov"}).status(http.StatusOK).obj()
	out2 := t.TempDir()
	if _, stderr, code := e2e.Run(t, context.Background(), "fetch", d["download_url"].(string), "-o", out2, "--no-progress"); code != 0 {
		t.Fatalf("fetch of a signed URL: exit %d: %s", code, stderr)
	}
	if got, err := os.ReadFile(filepath.Join(out2, "copy.mov")); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("signed URL download: %v (%d bytes)", err, len(got))
	}
}
