package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/haulhq/haul/manifest"
)

// patternReader is a deterministic, seekable stream of pseudo-random bytes,
// so the end-to-end test can serve a large file without holding it.
type patternReader struct {
	size, off int64
}

func patternByte(i int64) byte {
	x := uint64(i/8) * 0x9e3779b97f4a7c15
	x ^= x >> 29
	return byte(x >> (8 * (i % 8)))
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), p.size-p.off))
	for i := range n {
		b[i] = patternByte(p.off + int64(i))
	}
	p.off += int64(n)
	return n, nil
}

func (p *patternReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		p.off = off
	case io.SeekCurrent:
		p.off += off
	case io.SeekEnd:
		p.off = p.size + off
	}
	return p.off, nil
}

// throttledWriter paces writes to about rate bytes per second and counts
// what was sent.
type throttledWriter struct {
	w     http.ResponseWriter
	rate  int64
	start time.Time
	sent  *int64
	mu    *sync.Mutex
	n     int64
}

func (t *throttledWriter) Header() http.Header  { return t.w.Header() }
func (t *throttledWriter) WriteHeader(code int) { t.w.WriteHeader(code) }
func (t *throttledWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		chunk := b[:min(len(b), 64<<10)]
		n, err := t.w.Write(chunk)
		written += n
		t.mu.Lock()
		*t.sent += int64(n)
		t.mu.Unlock()
		t.n += int64(n)
		if err != nil {
			return written, err
		}
		b = b[n:]
		if t.rate > 0 {
			due := t.start.Add(time.Duration(float64(t.n) / float64(t.rate) * float64(time.Second)))
			time.Sleep(time.Until(due))
		}
	}
	return written, nil
}

// TestFetchSurvivesKill9 builds the binary, kills it with SIGKILL in the
// middle of a large download, runs it again and checks that the file is
// exact, that at most 10% of it was fetched twice, and that a third run
// fetches nothing.
func TestFetchSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	const size = 192 << 20
	bin := filepath.Join(t.TempDir(), "haul")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	var mu sync.Mutex
	var sent int64
	var requests []string
	rate := int64(48 << 20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r.Header.Get("Range"))
		limit := rate
		mu.Unlock()
		w.Header().Set("ETag", `"pattern-v1"`)
		tw := &throttledWriter{w: w, rate: limit, start: time.Now(), sent: &sent, mu: &mu}
		http.ServeContent(tw, r, "big.bin", time.Unix(1700000000, 0), &patternReader{size: size})
	}))
	defer srv.Close()

	h := sha256.New()
	io.Copy(h, &patternReader{size: size})
	want := hex.EncodeToString(h.Sum(nil))
	m := &manifest.Manifest{Version: 1, Items: []manifest.Item{{Filename: "big.bin", URL: srv.URL + "/big.bin", Size: size, Checksum: "sha256:" + want}}}
	mpath := writeManifest(t, m)
	out := t.TempDir()
	env := append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())

	// Run 1: kill -9 once about 40% has been sent.
	cmd := exec.Command(bin, "fetch", mpath, "-o", out, "--no-progress")
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		s := sent
		mu.Unlock()
		if s >= size*4/10 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("only %d bytes sent after 60s", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(out, "big.bin")); err == nil {
		t.Fatal("final file exists after the kill")
	}

	// Run 2: resume, unthrottled.
	mu.Lock()
	sentBefore := sent
	rate = 0
	requests = nil
	mu.Unlock()
	run2 := exec.Command(bin, "fetch", mpath, "-o", out, "--no-progress")
	run2.Env = env
	if outb, err := run2.CombinedOutput(); err != nil {
		t.Fatalf("second run: %v\n%s", err, outb)
	}
	mu.Lock()
	total := sent
	resumeRange := strings.Join(requests, ",")
	mu.Unlock()
	if !strings.HasPrefix(resumeRange, "bytes=") {
		t.Errorf("second run did not resume with Range: %q", resumeRange)
	}
	refetched := total - size
	t.Logf("killed after %d bytes sent; resumed with %s; refetched %d bytes (%.1f%%)", sentBefore, resumeRange, refetched, 100*float64(refetched)/size)
	if refetched > size/10 {
		t.Errorf("refetched %d bytes, more than 10%% of %d", refetched, size)
	}
	f, err := os.Open(filepath.Join(out, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	h.Reset()
	io.Copy(h, f)
	f.Close()
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Fatalf("sha256 = %s, want %s", got, want)
	}

	// Run 3: nothing to do, no request.
	mu.Lock()
	requests = nil
	mu.Unlock()
	run3 := exec.Command(bin, "fetch", mpath, "-o", out, "--no-progress")
	run3.Env = env
	if outb, err := run3.CombinedOutput(); err != nil {
		t.Fatalf("third run: %v\n%s", err, outb)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(requests) != 0 {
		t.Errorf("third run made %d requests, want 0", len(requests))
	}
}
