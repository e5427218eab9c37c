package e2e_test

// End-to-end tests of the client commands (haul upload, export, get) run
// as the real binary against a real `haul serve`.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haulhq/haul/client"
	"github.com/haulhq/haul/internal/e2e"
	"github.com/haulhq/haul/manifest"
)

// cliRun runs haul against srv with key and returns stdout, stderr, code.
func cliRun(t *testing.T, srv *e2e.Server, key string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return e2e.Run(t, ctx, append([]string{"--server", srv.URL, "--token", key}, args...)...)
}

// cliFiles writes files of the given sizes (random bytes) and returns
// their paths.
func cliFiles(t *testing.T, sizes ...int) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, n := range sizes {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		p := filepath.Join(dir, fmt.Sprintf("clip-%d.bin", i))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// cliUpload uploads files with haul upload --wait (scanned and probed)
// and returns the asset ids.
func cliUpload(t *testing.T, srv *e2e.Server, files ...string) []string {
	t.Helper()
	out, errOut, code := cliRun(t, srv, srv.AdminKey, append([]string{"upload", "--wait", "--tag", "e2e"}, files...)...)
	if code != 0 {
		t.Fatalf("haul upload: exit %d\n%s", code, errOut)
	}
	ids := strings.Fields(out)
	if len(ids) != len(files) {
		t.Fatalf("haul upload printed %q for %d files", out, len(files))
	}
	return ids
}

// cliCheckSums runs sha256sum -c in dir (or checks in Go when the tool is
// missing) and compares the files with the originals by content.
func cliCheckSums(t *testing.T, dir string, originals []string) {
	t.Helper()
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "-c", "--strict", "SHA256SUMS")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sha256sum -c: %v\n%s", err, out)
		}
	} else {
		t.Log("sha256sum not installed; checking SHA256SUMS in Go")
	}
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums, err := manifest.ParseSHA256Sums(f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, p := range originals {
		b, _ := os.ReadFile(p)
		want[fmt.Sprintf("%x", sha256.Sum256(b))] = true
	}
	if len(sums) != len(originals) {
		t.Errorf("SHA256SUMS has %d entries, want %d", len(sums), len(originals))
	}
	for _, s := range sums {
		b, err := os.ReadFile(filepath.Join(dir, s.Name))
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprintf("%x", sha256.Sum256(b))
		if got != s.SHA256 || !want[got] {
			t.Errorf("%s: content does not match an uploaded file", s.Name)
		}
	}
}

func TestCLIExportEndToEnd(t *testing.T) {
	srv := e2e.StartServer(t)
	files := cliFiles(t, 1<<20, 300_000, 17, 0)
	ids := cliUpload(t, srv, files...)
	dir := filepath.Join(t.TempDir(), "out")

	_, errOut, code := cliRun(t, srv, srv.AdminKey, "export", "--tag", "e2e", "--format", "original", "-o", dir)
	if code != 0 {
		t.Fatalf("haul export: exit %d\n%s", code, errOut)
	}
	cliCheckSums(t, dir, files)
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != manifest.StatusReady || len(m.Items) != len(ids) || strings.Contains(string(raw), "sig=") {
		t.Errorf("manifest.json: status %s, %d items, signed URLs kept: %v", m.Status, len(m.Items), strings.Contains(string(raw), "sig="))
	}

	// The same command again attaches to the same export and skips every file.
	_, errOut2, code := cliRun(t, srv, srv.AdminKey, "export", "--tag", "e2e", "--format", "original", "-o", dir)
	if code != 0 || !strings.Contains(errOut2, "continuing export "+m.ID) || !strings.Contains(errOut2, fmt.Sprintf("%d already complete", len(ids))) {
		t.Errorf("re-run: exit %d\n%s", code, errOut2)
	}

	// By ids from a CSV file, into another directory, with JSON events.
	csvPath := filepath.Join(t.TempDir(), "ids.csv")
	_ = os.WriteFile(csvPath, []byte("title,asset_id\na,"+ids[0]+"\nb,"+ids[1]+"\n"), 0o644)
	dir2 := t.TempDir()
	out, errOut, code := cliRun(t, srv, srv.AdminKey, "export", "--from-file", csvPath, "--format", "original", "-o", dir2, "--json")
	if code != 0 {
		t.Fatalf("export --from-file: exit %d\n%s", code, errOut)
	}
	cliCheckSums(t, dir2, files[:2])
	var last map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
	}
	if last["type"] != "finish" {
		t.Errorf("last event %v", last)
	}

	// Ids piped from haul upload's output: --from-file -.
	dir3 := t.TempDir()
	pipe := exec.Command(e2e.Binary(t), "--server", srv.URL, "--token", srv.AdminKey, "export", "--from-file", "-", "--format", "original", "-o", dir3)
	pipe.Env = e2e.Env(t)
	pipe.Stdin = strings.NewReader(ids[2] + "\n" + ids[3] + "\n")
	if out, err := pipe.CombinedOutput(); err != nil {
		t.Fatalf("export --from-file -: %v\n%s", err, out)
	}
	cliCheckSums(t, dir3, files[2:])

	// haul get of one asset prints the path of the verified file.
	out, errOut, code = cliRun(t, srv, srv.AdminKey, "get", ids[1], "-o", t.TempDir())
	if code != 0 {
		t.Fatalf("haul get: exit %d\n%s", code, errOut)
	}
	got, _ := os.ReadFile(strings.TrimSpace(out))
	want, _ := os.ReadFile(files[1])
	if !bytes.Equal(got, want) {
		t.Errorf("haul get wrote %d bytes, want %d", len(got), len(want))
	}
}

func TestCLIExportResumesAfterSIGKILL(t *testing.T) {
	srv := e2e.StartServer(t)
	const size = 24 << 20
	files := cliFiles(t, size)
	ids := cliUpload(t, srv, files...)
	dir := t.TempDir()
	args := []string{"--server", srv.URL, "--token", srv.AdminKey, "export", ids[0], "--format", "original", "-o", dir}

	// A slow first run, killed once a good part of the file is on disk.
	const rate = 2 << 20
	cmd := exec.Command(e2e.Binary(t), append(args, "--limit-rate", "2M")...)
	cmd.Env = e2e.Env(t)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	partial := int64(0)
	deadline := time.Now().Add(60 * time.Second)
	for partial < 6<<20 {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("no partial data after 60s (%d bytes)\n%s", partial, errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
		partial = dirBytes(filepath.Join(dir, ".haul"))
	}
	// Give the journal a checkpoint interval, then kill without warning.
	time.Sleep(1200 * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if _, err := os.Stat(filepath.Join(dir, "SHA256SUMS")); err == nil {
		t.Fatal("the first run finished before it was killed; slow it down more")
	}
	onDisk := dirBytes(filepath.Join(dir, ".haul"))

	// The re-run continues the same export from the bytes on disk.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, stderr, code := e2e.Run(t, ctx, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("re-run: exit %d\n%s", code, stderr)
	}
	var replayed bool
	var received int64 = -1
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev struct {
			Type          string `json:"type"`
			Replayed      bool   `json:"replayed"`
			BytesReceived int64  `json:"bytes_received"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		switch ev.Type {
		case "export":
			replayed = ev.Replayed
		case "summary":
			received = ev.BytesReceived
		}
	}
	if !replayed {
		t.Error("the re-run created a new export instead of continuing the first")
	}
	// What was on disk is not fetched again, except what arrived after the
	// journal's last checkpoint (at most about a second of transfer; two
	// seconds allowed for a loaded machine).
	if received < 0 || received >= size || received > size-onDisk+2*rate {
		t.Errorf("re-run received %d bytes; %d of %d were on disk already", received, onDisk, size)
	}
	cliCheckSums(t, dir, files)
}

func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && !strings.HasSuffix(fi.Name(), ".json") {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func TestCLIExportWithoutExportScope(t *testing.T) {
	srv := e2e.StartServer(t)
	ids := cliUpload(t, srv, cliFiles(t, 1000)...)
	c, err := client.New(client.Options{BaseURL: srv.URL, Token: srv.AdminKey})
	if err != nil {
		t.Fatal(err)
	}
	key, err := c.CreateKey(context.Background(), client.CreateKeyRequest{Tenant: "default", Name: "no-export", Scopes: []string{"read", "write"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, errOut, code := cliRun(t, srv, key.Key, "export", ids[0], "--format", "original", "-o", dir)
	if code != 4 {
		t.Errorf("exit %d, want 4\n%s", code, errOut)
	}
	if !strings.Contains(errOut, `lacks the "export" scope`) || out != "" {
		t.Errorf("stdout %q, stderr %q: want a message naming the export scope", out, errOut)
	}
	if strings.Contains(errOut, key.Key) {
		t.Error("the API key was printed")
	}
	_, errOut, code = cliRun(t, srv, "not-a-key", "export", ids[0], "--format", "original", "-o", dir)
	if code != 4 || !strings.Contains(errOut, "authentication failed") {
		t.Errorf("bad key: exit %d\n%s", code, errOut)
	}
}

func TestCLIExportWaitsOutRateLimit(t *testing.T) {
	srv := e2e.StartServer(t, "--rate-limit", "export=1/4s")
	files := cliFiles(t, 5000, 7000)
	ids := cliUpload(t, srv, files...)
	if _, errOut, code := cliRun(t, srv, srv.AdminKey, "export", ids[0], "--format", "original", "-o", t.TempDir()); code != 0 {
		t.Fatalf("first export: exit %d\n%s", code, errOut)
	}
	// A different export right after: the server says 429 with
	// Retry-After and the client waits that long, then succeeds.
	dir := t.TempDir()
	start := time.Now()
	_, errOut, code := cliRun(t, srv, srv.AdminKey, "export", ids[1], "--format", "original", "-o", dir)
	if code != 0 {
		t.Fatalf("rate-limited export: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "rate limited (export limit); waiting") {
		t.Errorf("the wait was not reported:\n%s", errOut)
	}
	if time.Since(start) < time.Second {
		t.Errorf("finished after %v: did not wait as told", time.Since(start))
	}
	cliCheckSums(t, dir, files[1:])
}

func TestCLIExportSurvivesServerRestart(t *testing.T) {
	srv := e2e.StartServer(t)
	const size = 16 << 20
	files := cliFiles(t, size, 4096)
	ids := cliUpload(t, srv, files...)
	dir := t.TempDir()
	cmd := exec.Command(e2e.Binary(t), "--server", srv.URL, "--token", srv.AdminKey,
		"export", ids[0], ids[1], "--format", "original", "-o", dir, "--limit-rate", "4M")
	cmd.Env = e2e.Env(t)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for dirBytes(filepath.Join(dir, ".haul")) < 2<<20 {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no progress after 60s\n%s", errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The server dies mid-transfer and comes back on the same address; the
	// client retries, resumes and finishes.
	srv.KillAndRestart()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("haul export: %v\n%s", err, errOut.String())
		}
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("haul export did not finish after the restart\n%s", errOut.String())
	}
	if !strings.Contains(errOut.String(), "retry ") {
		t.Errorf("no retry reported across the restart:\n%s", errOut.String())
	}
	cliCheckSums(t, dir, files)
}

// cliRequirePreset skips (loudly) when the server cannot make renditions
// in format: ffmpeg missing, or a build without the rendition worker.
func cliRequirePreset(t *testing.T, srv *e2e.Server, format string) {
	t.Helper()
	c, err := client.New(client.Options{BaseURL: srv.URL, Token: srv.AdminKey})
	if err != nil {
		t.Fatal(err)
	}
	formats, err := c.ListFormats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range formats {
		if f.Name == format {
			return
		}
	}
	t.Skipf("SKIPPED: the server offers no %s preset (is ffmpeg installed?); rendition tests need it", format)
}

func TestCLIExportWithFailedRendition(t *testing.T) {
	srv := e2e.StartServer(t, "--workers", "2")
	cliRequirePreset(t, srv, "mp4_480p")
	notes := filepath.Join(t.TempDir(), "notes.txt")
	_ = os.WriteFile(notes, []byte("not a video at all\n"), 0o644)
	sample := filepath.Join("..", "..", "testdata", "media", "sample.mp4")
	if _, err := os.Stat(sample); err != nil {
		t.Fatalf("sample media missing: %v", err)
	}
	ids := cliUpload(t, srv, sample, notes)
	dir := t.TempDir()

	// The video is rendered and downloaded; the text file cannot be a
	// video: its item fails with the server's reason, the export exits 3.
	_, errOut, code := cliRun(t, srv, srv.AdminKey, "export", ids[0], ids[1], "--format", "mp4_480p", "-o", dir)
	if code != 3 {
		t.Fatalf("exit %d, want 3\n%s", code, errOut)
	}
	if !strings.Contains(errOut, ids[1]) || !strings.Contains(errOut, "unsupported_format") {
		t.Errorf("the failed item and its reason are not reported:\n%s", errOut)
	}
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sums, err := manifest.ParseSHA256Sums(f)
	f.Close()
	if err != nil || len(sums) != 1 || !strings.HasSuffix(sums[0].Name, "_mp4_480p.mp4") {
		t.Fatalf("SHA256SUMS = %+v, %v", sums, err)
	}
	cmd := exec.Command("sha256sum", "-c", "--strict", "SHA256SUMS")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	m, err := manifest.Parse(bytes.NewReader(raw))
	if err != nil || m.Status != manifest.StatusPartial {
		t.Errorf("manifest.json: %v, status %v", err, m)
	}

	// haul get through the 202 flow: a job, its progress, then the file.
	out, errOut, code := cliRun(t, srv, srv.AdminKey, "get", ids[0], "--format", "mp4_720p", "-o", t.TempDir())
	if code != 0 {
		t.Fatalf("haul get --format mp4_720p: exit %d\n%s", code, errOut)
	}
	if fi, err := os.Stat(strings.TrimSpace(out)); err != nil || fi.Size() == 0 {
		t.Errorf("haul get printed %q: %v", out, err)
	}
}
