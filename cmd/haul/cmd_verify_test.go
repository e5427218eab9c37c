package main

import (
	"crypto/sha256"
	"encoding/hex"
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

// TestVerifyManifestFromStdinAndURL: haul verify takes MANIFEST the way
// haul fetch does (SPEC §2: a path, "-" for stdin, or an http(s) URL); the
// files are looked up in --dir. A mismatch exits 3, an unreadable manifest 2.
func TestVerifyManifestFromStdinAndURL(t *testing.T) {
	dir := t.TempDir()
	a, b := strings.Repeat("a", 3000), strings.Repeat("b", 4000)
	for name, body := range map[string]string{"a.bin": a, "sub/b.bin": b} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := manifest.Manifest{Version: 1, Items: []manifest.Item{
		{Filename: "a.bin", URL: "http://h/a", Checksum: "sha256:" + sha256Hex(a), Size: 3000},
		{Filename: "sub/b.bin", URL: "http://h/b", Checksum: "sha256:" + sha256Hex(b)},
	}}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var sawAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuth = r.Header.Get("Authorization")
		if r.URL.Path != "/manifest" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer srv.Close()

	code, stdout, errOut := runHaulIn(t, nil, string(body), "verify", "-", "--dir", dir)
	if code != 0 || !strings.Contains(stdout, "OK        a.bin") || !strings.Contains(stdout, "OK        sub/b.bin") {
		t.Fatalf("verify - : exit %d\n%s%s", code, stdout, errOut)
	}
	env := map[string]string{"HAUL_SERVER": srv.URL, "HAUL_TOKEN": "tok"}
	code, stdout, errOut = runHaulIn(t, env, "", "verify", srv.URL+"/manifest", "--dir", dir)
	if code != 0 || !strings.Contains(stdout, "OK        sub/b.bin") {
		t.Fatalf("verify URL: exit %d\n%s%s", code, stdout, errOut)
	}
	if sawAuth != "Bearer tok" {
		t.Errorf("manifest URL on the configured server got Authorization %q", sawAuth)
	}
	// SHA256SUMS lines on stdin work too.
	sums := sha256Hex(a) + "  a.bin\n" + sha256Hex(b) + "  sub/b.bin\n"
	if code, stdout, errOut := runHaulIn(t, nil, sums, "verify", "-", "--dir", dir); code != 0 {
		t.Errorf("verify - with SHA256SUMS: exit %d\n%s%s", code, stdout, errOut)
	}

	if err := os.WriteFile(filepath.Join(dir, "a.bin"), []byte(strings.Repeat("x", 3000)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runHaulIn(t, nil, string(body), "verify", "-", "--dir", dir)
	if code != exitPartial || !strings.Contains(stdout, "MISMATCH  a.bin") {
		t.Errorf("after corrupting a.bin: exit %d, want 3\n%s", code, stdout)
	}
	if code, _, _ := runHaulIn(t, nil, "not a manifest\n", "verify", "-", "--dir", dir); code != exitUsage {
		t.Errorf("garbage on stdin: exit %d, want 2", code)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
