package downloader

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haulhq/haul/manifest"
)

// testFile is one file the fault server serves.
type testFile struct {
	data []byte
	etag string
}

// reqLog is one request the fault server saw.
type reqLog struct {
	path    string
	rng     string
	ifRange string
	at      time.Time
}

// faultServer serves files with http.ServeContent (Range, If-Range, ETag)
// unless a fault hook takes the request over. The hook sees the request
// number for its path (1-based) and returns true when it handled it.
type faultServer struct {
	*httptest.Server
	t *testing.T

	mu    sync.Mutex
	files map[string]*testFile
	log   []reqLog
	count map[string]int
	bytes int64 // body bytes served
	fault func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool
}

func newFaultServer(t *testing.T) *faultServer {
	t.Helper()
	s := &faultServer{t: t, files: make(map[string]*testFile), count: make(map[string]int)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func randomData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := range 8 {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// add serves data at /name and returns a ready manifest item for it.
func (s *faultServer) add(name string, data []byte) manifest.Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files["/"+name] = &testFile{data: data, etag: `"` + sha(data)[:16] + `"`}
	return manifest.Item{ID: "itm_" + name, Filename: name, URL: s.URL + "/" + name, Size: int64(len(data)), Checksum: "sha256:" + sha(data)}
}

func (s *faultServer) replace(name string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files["/"+name] = &testFile{data: data, etag: `"` + sha(data)[:16] + `"`}
}

func (s *faultServer) requests() []reqLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]reqLog(nil), s.log...)
}

func (s *faultServer) served() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

type countingWriter struct {
	http.ResponseWriter
	s *faultServer
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.s.mu.Lock()
	c.s.bytes += int64(n)
	c.s.mu.Unlock()
	return n, err
}

func (c countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *faultServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.log = append(s.log, reqLog{path: r.URL.Path, rng: r.Header.Get("Range"), ifRange: r.Header.Get("If-Range"), at: time.Now()})
	s.count[r.URL.Path]++
	n := s.count[r.URL.Path]
	f := s.files[r.URL.Path]
	fault := s.fault
	s.mu.Unlock()
	if f == nil {
		http.NotFound(w, r)
		return
	}
	cw := countingWriter{ResponseWriter: w, s: s}
	if fault != nil && fault(cw, r, n, f) {
		return
	}
	w.Header().Set("ETag", f.etag)
	http.ServeContent(cw, r, "", time.Unix(1700000000, 0), bytes.NewReader(f.data))
}

// hijackAfter writes the 200/206 headers for the request and then n body
// bytes, and drops the connection.
func hijackAfter(w http.ResponseWriter, r *http.Request, f *testFile, n int) {
	start := 0
	status := "200 OK"
	extra := ""
	if rng := r.Header.Get("Range"); rng != "" {
		fmt.Sscanf(rng, "bytes=%d-", &start)
		status = "206 Partial Content"
		extra = fmt.Sprintf("Content-Range: bytes %d-%d/%d\r\n", start, len(f.data)-1, len(f.data))
	}
	rc := http.NewResponseController(w)
	conn, buf, err := rc.Hijack()
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %s\r\nContent-Length: %d\r\nETag: %s\r\nAccept-Ranges: bytes\r\n%s\r\n", status, len(f.data)-start, f.etag, extra)
	end := min(start+n, len(f.data))
	buf.Write(f.data[start:end])
	buf.Flush()
}

// serveCorrupt answers with the whole of f, its ETag and length, but with
// the byte at flipped: a body only a checksum can catch.
func serveCorrupt(w http.ResponseWriter, f *testFile, at int) {
	bad := append([]byte(nil), f.data...)
	bad[at] ^= 0xff
	w.Header().Set("ETag", f.etag)
	w.Header().Set("Content-Length", fmt.Sprint(len(bad)))
	w.Write(bad)
}

// runEngine runs items against dir with test-friendly timings.
func runEngine(t *testing.T, dir string, opts Options, items ...manifest.Item) (*Summary, []Event) {
	t.Helper()
	opts.Dir = dir
	opts.BackoffBase = cmpOr(opts.BackoffBase, 10*time.Millisecond)
	opts.BackoffMax = cmpOr(opts.BackoffMax, 50*time.Millisecond)
	opts.ProgressInterval = cmpOr(opts.ProgressInterval, 20*time.Millisecond)
	var mu sync.Mutex
	var events []Event
	opts.Events = func(ev Event) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sum, err := Run(ctx, opts, items)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return sum, append([]Event(nil), events...)
}

func cmpOr[T comparable](a, b T) T {
	var zero T
	if a != zero {
		return a
	}
	return b
}

// assertFile checks that dir/name holds exactly want.
func assertFile(t *testing.T, dir, name string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes (sha %s), want %d bytes (sha %s)", name, len(got), sha(got)[:12], len(want), sha(want)[:12])
	}
}

// assertClean checks that no part files are left after success.
func assertClean(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(dir, StateDir))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".part") || strings.HasSuffix(e.Name(), ".json") {
			t.Errorf("left behind in .haul: %s", e.Name())
		}
	}
}

func assertOK(t *testing.T, sum *Summary) {
	t.Helper()
	for _, r := range sum.Results {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Key, r.Err)
		}
	}
}

func countEvents(evs []Event, typ EventType) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func (c countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// slowFirst makes the first request of every file trickle 256 KiB every
// 20 ms, so a test can cancel a run half way.
func slowFirst(s *faultServer) {
	s.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
		if n != 1 {
			return false
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(f.data)))
		w.Header().Set("ETag", f.etag)
		for off := 0; off < len(f.data); off += 256 << 10 {
			if _, err := w.Write(f.data[off:min(off+256<<10, len(f.data))]); err != nil {
				return true
			}
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
		}
		return true
	}
}

// runCancelled runs item against dir and cancels the run after 300 ms
// (with checkpoints only at the end), as Ctrl-C would; Wait must report
// the cancellation.
func runCancelled(t *testing.T, dir string, item manifest.Item) *Summary {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e, err := New(ctx, Options{Dir: dir, CheckpointBytes: 1 << 40, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.Add(item)
	e.Close()
	time.Sleep(300 * time.Millisecond)
	cancel()
	sum, err := e.Wait()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait err = %v", err)
	}
	return sum
}
