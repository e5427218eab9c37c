package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haulhq/haul/manifest"
)

// TestVerifyDirAfterFetch: haul verify DIR works on a directory filled by
// haul fetch (no manifest.json there, only the journal), and reports a file
// changed on disk afterwards with exit 3.
func TestVerifyDirAfterFetch(t *testing.T) {
	files := map[string]string{"/a.bin": strings.Repeat("a", 5000), "/b.bin": strings.Repeat("b", 7000)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, r.URL.Path, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), strings.NewReader(body))
	}))
	defer srv.Close()
	tmp := t.TempDir()
	list := filepath.Join(tmp, "list.txt")
	if err := os.WriteFile(list, []byte(srv.URL+"/a.bin\n"+srv.URL+"/b.bin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out")
	if code, _, errOut := runHaul(t, nil, "fetch", list, "-o", out, "--no-progress"); code != 0 {
		t.Fatalf("fetch exit %d: %s", code, errOut)
	}
	code, stdout, errOut := runHaul(t, nil, "verify", out)
	if code != 0 {
		t.Fatalf("verify exit %d, want 0: %s%s", code, stdout, errOut)
	}
	if !strings.Contains(stdout, "OK        a.bin") || !strings.Contains(stdout, "OK        b.bin") {
		t.Errorf("verify output lacks OK lines:\n%s", stdout)
	}
	if err := os.WriteFile(filepath.Join(out, "a.bin"), []byte(strings.Repeat("x", 5000)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runHaul(t, nil, "verify", out)
	if code != exitPartial || !strings.Contains(stdout, "MISMATCH  a.bin") {
		t.Errorf("after corrupting a.bin: exit %d, want 3; output:\n%s", code, stdout)
	}
	if code, _, _ := runHaul(t, nil, "verify", t.TempDir()); code != exitUsage {
		t.Errorf("verify of an empty directory: exit %d, want 2", code)
	}
}

// TestProblemDetailDecodesJSON: the detail of a problem+json body is shown
// decoded (no \u003c escapes), other bodies by their first line.
func TestProblemDetailDecodesJSON(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"code":"unauthorized","detail":"send an API key as Authorization: Bearer \u003ckey\u003e"}`, ": send an API key as Authorization: Bearer <key>"},
		{`{"detail":"say \"hi\""}`, `: say "hi"`},
		{"plain text\nsecond line", ": plain text"},
		{"", ""},
	} {
		if got := problemDetail(strings.NewReader(tc.body)); got != tc.want {
			t.Errorf("problemDetail(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

// TestVerifyManifestDuplicates: a manifest naming one target twice (also
// differing only in case, as haul fetch compares them) has its file
// checked once; the later item is reported as a duplicate, as fetch
// refused it.
func TestVerifyManifestDuplicates(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "ok"), 0o755); err != nil {
		t.Fatal(err)
	}
	data := []byte("hello")
	if err := os.WriteFile(filepath.Join(dir, "ok", "a.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	m := &manifest.Manifest{Version: 1, Items: []manifest.Item{
		{Filename: "ok/a.bin", URL: "http://127.0.0.1:1/a", Checksum: "sha256:" + sum(data)},
		{Filename: "ok/a.bin", URL: "http://127.0.0.1:1/a", Checksum: "sha256:" + sum(data)},
		{Filename: "OK/A.bin", URL: "http://127.0.0.1:1/A"},
	}}
	path := filepath.Join(dir, "manifest.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewEncoder(f).Encode(m); err != nil {
		t.Fatal(err)
	}
	f.Close()
	code, stdout, _ := runHaul(t, nil, "verify", path)
	if n := strings.Count(stdout, "OK        ok/a.bin"); n != 1 {
		t.Errorf("ok/a.bin checked %d times, want once:\n%s", n, stdout)
	}
	if strings.Contains(stdout, "UNCHECKED") || strings.Count(stdout, "duplicate target") != 2 {
		t.Errorf("the later items should be reported as duplicates:\n%s", stdout)
	}
	if code != exitPartial {
		t.Errorf("exit %d, want 3 (fetch refused the duplicates too)", code)
	}
}
