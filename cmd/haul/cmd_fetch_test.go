package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haulhq/haul/downloader"
	"github.com/haulhq/haul/manifest"
)

// runHaulIn is runHaul with stdin.
func runHaulIn(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["XDG_CONFIG_HOME"]; !ok {
		env["XDG_CONFIG_HOME"] = t.TempDir()
	}
	ios, out, errOut := testIO()
	ios.In = strings.NewReader(stdin)
	code = run(context.Background(), args, func(k string) string { return env[k] }, ios)
	return code, out.String(), errOut.String()
}

// fileServer serves named blobs with ranges and records headers.
type fileServer struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	auth  []string // Authorization header of each request
}

func newFileServer(t *testing.T) *fileServer {
	s := &fileServer{files: map[string][]byte{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		data, ok := s.files[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", `"`+sum(data)[:12]+`"`)
		http.ServeContent(w, r, "", time.Unix(1700000000, 0), bytes.NewReader(data))
	}))
	t.Cleanup(s.Close)
	return s
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (s *fileServer) add(name string, data []byte) manifest.Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files["/"+name] = data
	return manifest.Item{Filename: name, URL: s.URL + "/" + name, Size: int64(len(data)), Checksum: "sha256:" + sum(data)}
}

func writeManifest(t *testing.T, m *manifest.Manifest) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "manifest.json")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := manifest.Write(f, m); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFetchAndVerify(t *testing.T) {
	s := newFileServer(t)
	a := bytes.Repeat([]byte("a"), 100000)
	b := []byte("hello world\n")
	m := &manifest.Manifest{Version: 1, Items: []manifest.Item{s.add("a.bin", a), s.add("sub/b.txt", b)}}
	mpath := writeManifest(t, m)
	out := t.TempDir()
	code, stdout, stderr := runHaul(t, nil, "fetch", mpath, "-o", out, "--no-progress")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "2 of 2 files complete") {
		t.Errorf("summary missing: %s", stderr)
	}
	got, _ := os.ReadFile(filepath.Join(out, "sub", "b.txt"))
	if !bytes.Equal(got, b) {
		t.Fatalf("sub/b.txt = %q", got)
	}

	code, stdout, _ = runHaul(t, nil, "verify", mpath, "--dir", out)
	if code != 0 || !strings.Contains(stdout, "OK        a.bin") {
		t.Fatalf("verify exit %d: %s", code, stdout)
	}
	// DIR form with a SHA256SUMS file.
	var sums bytes.Buffer
	manifest.WriteSHA256Sums(&sums, []manifest.Sum{{SHA256: sum(a), Name: "a.bin"}, {SHA256: sum(b), Name: "sub/b.txt"}})
	os.WriteFile(filepath.Join(out, "SHA256SUMS"), sums.Bytes(), 0o644)
	if code, stdout, _ := runHaul(t, nil, "verify", out); code != 0 {
		t.Fatalf("verify DIR exit %d: %s", code, stdout)
	}

	os.WriteFile(filepath.Join(out, "a.bin"), []byte("tampered"), 0o644)
	os.Remove(filepath.Join(out, "sub", "b.txt"))
	code, stdout, _ = runHaul(t, nil, "--json", "verify", mpath, "--dir", out)
	if code != exitPartial {
		t.Fatalf("verify after tampering: exit %d, want 3\n%s", code, stdout)
	}
	statuses := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var r verifyResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		if r.Type == "file" {
			statuses[r.Name] = r.Status
		}
	}
	if statuses["a.bin"] != "mismatch" || statuses["sub/b.txt"] != "missing" {
		t.Errorf("statuses = %v", statuses)
	}
}

func TestFetchNotFoundExits3(t *testing.T) {
	s := newFileServer(t)
	good := s.add("good.bin", []byte("good"))
	m := &manifest.Manifest{Version: 1, Items: []manifest.Item{good, {Filename: "gone.bin", URL: s.URL + "/gone.bin"}}}
	out := t.TempDir()
	code, _, stderr := runHaul(t, nil, "fetch", writeManifest(t, m), "-o", out, "--no-progress")
	if code != exitPartial {
		t.Fatalf("exit %d, want 3\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "gone.bin") || !strings.Contains(stderr, "404") {
		t.Errorf("failure not reported: %s", stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "good.bin")); err != nil {
		t.Errorf("good file missing: %v", err)
	}
	// One request for the 404: it is not retried.
	n := 0
	for range s.auth {
		n++
	}
	if n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}
}

func TestFetchJSONEvents(t *testing.T) {
	s := newFileServer(t)
	m := &manifest.Manifest{Version: 1, Items: []manifest.Item{s.add("x", []byte("xx")), s.add("y", []byte("yyy"))}}
	code, stdout, stderr := runHaul(t, nil, "fetch", writeManifest(t, m), "-o", t.TempDir(), "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var types []string
	sc := bufio.NewScanner(strings.NewReader(stdout))
	var last map[string]any
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not NDJSON: %q", sc.Text())
		}
		types = append(types, ev["type"].(string))
		if _, ok := ev["time"]; !ok {
			t.Errorf("event without time: %v", ev)
		}
		last = ev
	}
	joined := strings.Join(types, ",")
	if strings.Count(joined, "start") != 2 || strings.Count(joined, "done") != 2 || types[len(types)-1] != "summary" {
		t.Errorf("event types = %v", types)
	}
	if last["files_done"] != float64(2) || last["files_total"] != float64(2) {
		t.Errorf("summary = %v", last)
	}
}

func TestFetchPlainListFromStdin(t *testing.T) {
	s := newFileServer(t)
	it := s.add("dir/file.txt", []byte("content"))
	list := "# files\n\n" + it.URL + "  " + it.Checksum + "\n"
	out := t.TempDir()
	code, _, stderr := runHaulIn(t, nil, list, "fetch", "-", "-o", out, "--no-progress")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "file.txt")); string(got) != "content" {
		t.Errorf("file.txt = %q", got)
	}
}

func TestFetchManifestURLSendsTokenOnlyToServer(t *testing.T) {
	files := newFileServer(t)
	item := files.add("f.bin", []byte("data"))
	var pollCount atomic.Int32
	var waitSeen atomic.Bool
	var api *httptest.Server
	api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sekrit" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("wait") == "30s" {
			waitSeen.Store(true)
		}
		m := manifest.Manifest{Version: 1, Status: manifest.StatusProcessing, Self: api.URL + "/v1/exports/exp_1/manifest"}
		pending := manifest.Item{ID: "i1", Status: manifest.ItemProcessing, Filename: "f.bin"}
		if pollCount.Add(1) >= 2 {
			ready := item
			ready.ID = "i1"
			m.Items = []manifest.Item{ready}
			m.Status = manifest.StatusReady
		} else {
			m.Items = []manifest.Item{pending}
		}
		manifest.Write(w, &m)
	}))
	defer api.Close()
	env := map[string]string{"HAUL_SERVER": api.URL, "HAUL_TOKEN": "sekrit"}
	out := t.TempDir()
	code, _, stderr := runHaul(t, env, "fetch", api.URL+"/v1/exports/exp_1/manifest", "-o", out, "--no-progress")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "f.bin")); string(got) != "data" {
		t.Errorf("f.bin = %q", got)
	}
	for _, a := range files.auth {
		if a != "" {
			t.Errorf("file host received Authorization %q", a)
		}
	}
	if !waitSeen.Load() {
		t.Error("pending items were not long-polled with ?wait=30s")
	}

	// Without the token: exit 4.
	code, _, stderr = runHaul(t, map[string]string{"HAUL_SERVER": api.URL}, "fetch", api.URL+"/v1/exports/exp_1/manifest", "-o", t.TempDir())
	if code != exitAuth {
		t.Errorf("without token: exit %d, want 4: %s", code, stderr)
	}
}

func TestFetchPendingWithoutSelfFails(t *testing.T) {
	m := &manifest.Manifest{Version: 1, Items: []manifest.Item{{ID: "i", Status: manifest.ItemQueued, Filename: "q.bin"}}}
	code, _, stderr := runHaul(t, nil, "fetch", writeManifest(t, m), "-o", t.TempDir(), "--no-progress")
	if code != exitPartial || !strings.Contains(stderr, "not ready") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

func TestFetchUsageErrors(t *testing.T) {
	good := writeManifest(t, &manifest.Manifest{Version: 1, Items: []manifest.Item{}})
	v2 := filepath.Join(t.TempDir(), "v2.json")
	os.WriteFile(v2, []byte(`{"version": 2, "items": []}`), 0o644)
	for name, args := range map[string][]string{
		"no args":        {"fetch"},
		"bad -c":         {"fetch", good, "-c", "lots"},
		"-c zero":        {"fetch", good, "-c", "0"},
		"bad rate":       {"fetch", good, "--limit-rate", "fast"},
		"bad jobs":       {"fetch", good, "-j", "0"},
		"missing file":   {"fetch", filepath.Join(t.TempDir(), "nope.json")},
		"version 2":      {"fetch", v2},
		"verify missing": {"verify", filepath.Join(t.TempDir(), "nope")},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := runHaul(t, nil, append(args, "-o", t.TempDir())...)
			if name == "verify missing" {
				code, _, stderr = runHaul(t, nil, args...)
			}
			if code != exitUsage {
				t.Errorf("exit %d, want 2: %s", code, stderr)
			}
		})
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "0": 0, "500K": 500 << 10, "20M": 20 << 20, "1.5m": 3 << 19, "2G": 2 << 30, "4096": 4096, "10MiB": 10 << 20, "1k/s": 1024} {
		got, err := parseRate(in)
		if err != nil || got != want {
			t.Errorf("parseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"fast", "-5M", "10X", "100"} {
		if _, err := parseRate(in); err == nil {
			t.Errorf("parseRate(%q) accepted", in)
		}
	}
}

func TestProgressLinesOnNonTerminal(t *testing.T) {
	s := newFileServer(t)
	m := &manifest.Manifest{Version: 1, Items: []manifest.Item{s.add("p.bin", []byte("p"))}}
	code, stdout, stderr := runHaul(t, nil, "fetch", writeManifest(t, m), "-o", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing without --json", stdout)
	}
	if !strings.Contains(stderr, "done  p.bin  1 B  sha256:") || strings.Contains(stderr, "\r") || strings.Contains(stderr, "\x1b[") {
		t.Errorf("stderr = %q", stderr)
	}
}

func TestBarFrameDraws(t *testing.T) {
	var buf bytes.Buffer
	ios := &IOStreams{Out: &bytes.Buffer{}, ErrOut: &buf, ErrIsTerminal: true}
	p := newProgressSink(ios, false, false)
	if p.mode != progressBars {
		t.Fatalf("mode = %v", p.mode)
	}
	ev := (`{"type":"progress","files_total":3,"files_done":1,"files_skipped":0,"files_failed":0,"bytes_total":3000,"bytes_done":1500,"bytes_received":1500,"rate_bps":100,"elapsed_ms":5,"active":[{"item":"a","filename":"big.mp4","bytes":500,"size":1000}]}`)
	var e downloader.Event
	if err := json.Unmarshal([]byte(ev), &e); err != nil {
		t.Fatal(err)
	}
	p.Event(e)
	p.Close()
	if !strings.Contains(buf.String(), "1/3 files") || !strings.Contains(buf.String(), "big.mp4") {
		t.Errorf("frame = %q", buf.String())
	}
}

func TestFetchInterruptedExits130AndResumes(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	var served atomic.Int64
	var slow atomic.Bool
	slow.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if !slow.Load() {
			http.ServeContent(w, r, "", time.Unix(1700000000, 0), bytes.NewReader(data))
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		for off := 0; off < len(data); off += 64 << 10 {
			if _, err := w.Write(data[off : off+64<<10]); err != nil {
				return
			}
			served.Add(64 << 10)
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
	}))
	defer srv.Close()
	m := &manifest.Manifest{Version: 1, Items: []manifest.Item{{Filename: "i.bin", URL: srv.URL + "/i.bin", Checksum: "sha256:" + sum(data)}}}
	mpath := writeManifest(t, m)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for served.Load() < 1<<20 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	ios, _, errOut := testIO()
	code := run(ctx, []string{"fetch", mpath, "-o", out, "--no-progress"}, func(string) string { return "" }, ios)
	if code != exitInterrupted {
		t.Fatalf("exit %d, want 130: %s", code, errOut)
	}
	states, _ := filepath.Glob(filepath.Join(out, ".haul", "*.json"))
	if len(states) != 1 {
		t.Fatalf("journal files after interrupt: %v", states)
	}
	slow.Store(false)
	code, _, stderr := runHaul(t, nil, "fetch", mpath, "-o", out, "--no-progress")
	if code != 0 {
		t.Fatalf("resume exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "i.bin")); !bytes.Equal(got, data) {
		t.Fatal("resumed file differs")
	}
}

// TestBarShowsEngineRateAndETA: the bar shows the engine's windowed rate
// and the ETA from it, and no rate of its own: a first frame after a
// resume (many bytes done at once, no rate yet) must not claim GiB/s.
func TestBarShowsEngineRateAndETA(t *testing.T) {
	var buf bytes.Buffer
	f := newBarFrame(&buf)
	f.draw(downloader.Event{Type: downloader.EventProgress, Totals: &downloader.Totals{
		FilesTotal: 1, BytesTotal: 4 << 30, BytesDone: 2 << 30}})
	if s := buf.String(); strings.Contains(s, "/s") || strings.Contains(s, "ETA") {
		t.Errorf("first frame shows a rate before the engine has one: %q", s)
	}
	buf.Reset()
	f.draw(downloader.Event{Type: downloader.EventProgress, Totals: &downloader.Totals{
		FilesTotal: 1, BytesTotal: 4 << 30, BytesDone: 3 << 30, RateBPS: 1 << 20}})
	if s := buf.String(); !strings.Contains(s, "1.0 MiB/s") || !strings.Contains(s, "ETA 17m4s") || !strings.Contains(s, "3.0 GiB/4.0 GiB") {
		t.Errorf("frame = %q, want 3.0 GiB/4.0 GiB, 1.0 MiB/s and ETA 17m4s", s)
	}
}
