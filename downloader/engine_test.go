package downloader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haulhq/haul/manifest"
)

func TestDownloadMany(t *testing.T) {
	s := newFaultServer(t)
	sizes := map[string]int{"empty.bin": 0, "one.bin": 1, "small.bin": 32 << 10, "mid.bin": 3 << 20, "dir/big.bin": 9<<20 + 17}
	var items []manifest.Item
	data := map[string][]byte{}
	i := uint64(0)
	for name, n := range sizes {
		i++
		data[name] = randomData(n, i)
		items = append(items, s.add(name, data[name]))
	}
	dir := t.TempDir()
	sum, evs := runEngine(t, dir, Options{Jobs: 3}, items...)
	assertOK(t, sum)
	for name, d := range data {
		assertFile(t, dir, name, d)
	}
	assertClean(t, dir)
	if got := countEvents(evs, EventDone); got != len(items) {
		t.Errorf("done events = %d, want %d", got, len(items))
	}
	last := evs[len(evs)-1]
	if last.Type != EventSummary || last.FilesDone != len(items) || last.FilesFailed != 0 {
		t.Errorf("last event = %+v", last)
	}
	for _, r := range sum.Results {
		if r.SHA256 != sha(data[r.Name]) {
			t.Errorf("%s: result sha %s", r.Name, r.SHA256)
		}
	}

	// A second run skips everything without a single request.
	before := len(s.requests())
	sum, _ = runEngine(t, dir, Options{}, items...)
	assertOK(t, sum)
	if n := len(s.requests()) - before; n != 0 {
		t.Errorf("second run made %d requests, want 0", n)
	}
	for _, r := range sum.Results {
		if !r.Skipped {
			t.Errorf("%s not skipped", r.Key)
		}
	}

	// --verify-existing re-hashes: a corrupted file is fetched again.
	os.WriteFile(filepath.Join(dir, "mid.bin"), randomData(3<<20, 99), 0o644)
	sum, _ = runEngine(t, dir, Options{VerifyExisting: true}, items...)
	assertOK(t, sum)
	assertFile(t, dir, "mid.bin", data["mid.bin"])
	if n := len(s.requests()) - before; n != 1 {
		t.Errorf("verify-existing run made %d requests, want 1", n)
	}
}

func TestPlainListWithoutChecksum(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(100<<10, 7)
	s.add("a.txt", d)
	dir := t.TempDir()
	sum, _ := runEngine(t, dir, Options{}, manifest.Item{URL: s.URL + "/a.txt"})
	assertOK(t, sum)
	assertFile(t, dir, "a.txt", d)
	if sum.Results[0].SHA256 != sha(d) {
		t.Errorf("sha = %s", sum.Results[0].SHA256)
	}
}

func TestConnectionResetResumes(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(5<<20, 1)
	it := s.add("f.bin", d)
	s.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
		if n <= 2 {
			hijackAfter(w, r, f, 1<<20+n*1000)
			return true
		}
		return false
	}
	dir := t.TempDir()
	sum, evs := runEngine(t, dir, Options{}, it)
	assertOK(t, sum)
	assertFile(t, dir, "f.bin", d)
	reqs := s.requests()
	if len(reqs) != 3 {
		t.Fatalf("requests = %d, want 3", len(reqs))
	}
	for i, r := range reqs[1:] {
		if r.rng == "" || r.ifRange == "" {
			t.Errorf("retry %d: Range %q If-Range %q, want both", i+1, r.rng, r.ifRange)
		}
	}
	if got := countEvents(evs, EventRetry); got != 2 {
		t.Errorf("retry events = %d, want 2", got)
	}
	if served := s.served(); served > int64(len(d))+64<<10 {
		t.Errorf("served %d bytes for a %d-byte file: resume refetched data", served, len(d))
	}
}

func TestTruncatedBody(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(3<<20+5, 2)
	it := s.add("t.bin", d)
	s.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
		if n == 1 {
			// Promise everything, send half, end the connection.
			hijackAfter(w, r, f, len(f.data)/2)
			return true
		}
		return false
	}
	dir := t.TempDir()
	sum, _ := runEngine(t, dir, Options{}, it)
	assertOK(t, sum)
	assertFile(t, dir, "t.bin", d)
	if reqs := s.requests(); len(reqs) != 2 || !strings.HasPrefix(reqs[1].rng, fmt.Sprintf("bytes=%d-", len(d)/2)) {
		t.Errorf("requests = %+v, want a resume from the middle", reqs)
	}
}

func TestRetryAfterSecondsHoldsWholeHost(t *testing.T) {
	s := newFaultServer(t)
	var items []manifest.Item
	for i := range 12 {
		items = append(items, s.add(fmt.Sprintf("f%d", i), randomData(10<<10, uint64(i))))
	}
	var throttledAt atomic.Pointer[time.Time]
	s.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
		if r.URL.Path == "/f0" && n == 1 {
			now := time.Now()
			throttledAt.Store(&now)
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		if throttledAt.Load() == nil {
			// Hold the others until the throttle has been sent.
			time.Sleep(50 * time.Millisecond)
		}
		return false
	}
	dir := t.TempDir()
	sum, evs := runEngine(t, dir, Options{Jobs: 3}, items...)
	assertOK(t, sum)
	at := *throttledAt.Load()
	var retry *Event
	for i := range evs {
		if evs[i].Type == EventRetry {
			retry = &evs[i]
		}
	}
	// Requests already on the wire when the 429 arrived cannot be
	// recalled (50ms of slack covers them); every later request must wait
	// for the whole host.
	for _, r := range s.requests() {
		if r.at.After(at.Add(50*time.Millisecond)) && r.at.Before(at.Add(time.Second)) {
			t.Errorf("request to %s at +%v, before Retry-After passed", r.path, r.at.Sub(at))
		}
	}
	if n := len(s.requests()); n != 13 {
		t.Errorf("requests = %d, want 13", n)
	}
	if retry == nil || retry.Code != "http_429" || retry.DelayMS != 1000 {
		t.Errorf("retry event = %+v", retry)
	}
}

func TestServiceUnavailableHTTPDate(t *testing.T) {
	s := newFaultServer(t)
	it := s.add("x", randomData(1000, 3))
	it2 := s.add("y", randomData(1000, 4))
	var until atomic.Pointer[time.Time]
	s.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
		if r.URL.Path == "/x" && n == 1 {
			u := time.Now().Add(2 * time.Second).Truncate(time.Second)
			until.Store(&u)
			w.Header().Set("Retry-After", u.UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	dir := t.TempDir()
	sum, _ := runEngine(t, dir, Options{Jobs: 1}, it, it2)
	assertOK(t, sum)
	u := *until.Load()
	reqs := s.requests()
	if len(reqs) != 3 {
		t.Fatalf("requests = %d, want 3", len(reqs))
	}
	for _, r := range reqs[1:] {
		if r.at.Before(u) {
			t.Errorf("request to %s at %v, before Retry-After date %v", r.path, r.at, u)
		}
	}
}

func TestIgnoredRangeRestartsFromZero(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(4<<20, 5)
	it := s.add("r.bin", d)
	s.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
		if n == 1 {
			hijackAfter(w, r, f, 1<<20)
			return true
		}
		// A server that does not know Range: always 200, whole body.
		w.Header().Set("ETag", f.etag)
		w.Header().Set("Content-Length", fmt.Sprint(len(f.data)))
		w.Write(f.data)
		return true
	}
	dir := t.TempDir()
	sum, _ := runEngine(t, dir, Options{}, it)
	assertOK(t, sum)
	assertFile(t, dir, "r.bin", d)
}

func TestCorruptResponseRetriedFromZero(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(3<<20, 6)
	it := s.add("c.bin", d)
	s.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
		if n == 1 {
			serveCorrupt(w, f, len(f.data)/2)
			return true
		}
		return false
	}
	dir := t.TempDir()
	sum, evs := runEngine(t, dir, Options{}, it)
	assertOK(t, sum)
	assertFile(t, dir, "c.bin", d)
	reqs := s.requests()
	if len(reqs) != 2 || reqs[1].rng != "" && reqs[1].rng != "bytes=0-" {
		t.Errorf("requests = %+v, want a second full request", reqs)
	}
	found := false
	for _, e := range evs {
		if e.Type == EventRetry && e.Code == "checksum_mismatch" {
			found = true
		}
	}
	if !found {
		t.Error("no retry event with code checksum_mismatch")
	}
}

func TestPersistentMismatchFails(t *testing.T) {
	s := newFaultServer(t)
	it := s.add("p.bin", randomData(1000, 8))
	it.Checksum = "sha256:" + strings.Repeat("0", 64)
	dir := t.TempDir()
	sum, _ := runEngine(t, dir, Options{Retries: 2}, it)
	err := sum.Results[0].Err
	if !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("err = %v, want checksum mismatch", err)
	}
	if n := len(s.requests()); n != 3 {
		t.Errorf("requests = %d, want 3 (1 + 2 retries)", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "p.bin")); err == nil {
		t.Error("mismatching file was renamed into place")
	}
}

func TestETagChangeRestarts(t *testing.T) {
	s := newFaultServer(t)
	old := randomData(3<<20, 9)
	it := s.add("e.bin", old)
	it.Checksum, it.Size = "", 0
	fresh := randomData(3<<20+100, 10)
	s.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
		if n == 1 {
			hijackAfter(w, r, f, 1<<20)
			s.replace("e.bin", fresh)
			return true
		}
		return false
	}
	dir := t.TempDir()
	sum, _ := runEngine(t, dir, Options{}, it)
	assertOK(t, sum)
	assertFile(t, dir, "e.bin", fresh)
}

func TestStallIsRetried(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(1<<20, 11)
	it := s.add("s.bin", d)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
		if n == 1 {
			w.Header().Set("Content-Length", fmt.Sprint(len(f.data)))
			w.Header().Set("ETag", f.etag)
			w.Write(f.data[:1000])
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return true
		}
		return false
	}
	dir := t.TempDir()
	sum, evs := runEngine(t, dir, Options{StallTimeout: 300 * time.Millisecond}, it)
	assertOK(t, sum)
	assertFile(t, dir, "s.bin", d)
	found := false
	for _, e := range evs {
		if e.Type == EventRetry && e.Code == "stalled" {
			found = true
		}
	}
	if !found {
		t.Errorf("no stalled retry event")
	}
}

func TestNotFoundIsNotRetried(t *testing.T) {
	s := newFaultServer(t)
	ok := s.add("ok", randomData(100, 1))
	dir := t.TempDir()
	sum, _ := runEngine(t, dir, Options{}, ok, manifest.Item{URL: s.URL + "/missing", Filename: "missing"})
	if sum.Results[0].Err != nil {
		t.Errorf("ok: %v", sum.Results[0].Err)
	}
	err := sum.Results[1].Err
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != 404 || ErrorCode(err) != "http_404" {
		t.Fatalf("err = %v", err)
	}
	n := 0
	for _, r := range s.requests() {
		if r.path == "/missing" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("404 requested %d times, want 1", n)
	}
}

func TestExpiredURLRefreshesManifest(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(4<<20, 12)
	it := s.add("v.bin", d)
	it.URL += "?sig=old"
	s.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
		switch {
		case n == 1:
			hijackAfter(w, r, f, 2<<20)
			return true
		case r.URL.Query().Get("sig") == "old":
			w.WriteHeader(http.StatusGone)
			return true
		}
		return false
	}
	var refreshes atomic.Int32
	refresh := func(ctx context.Context, why RefreshReason) (*manifest.Manifest, error) {
		refreshes.Add(1)
		if why != RefreshExpired {
			t.Errorf("reason = %v", why)
		}
		fresh := it
		fresh.URL = s.URL + "/v.bin?sig=new"
		return &manifest.Manifest{Version: 1, Items: []manifest.Item{fresh}}, nil
	}
	dir := t.TempDir()
	sum, _ := runEngine(t, dir, Options{Refresh: refresh}, it)
	assertOK(t, sum)
	assertFile(t, dir, "v.bin", d)
	if refreshes.Load() != 1 {
		t.Errorf("refreshes = %d, want 1", refreshes.Load())
	}
	reqs := s.requests()
	last := reqs[len(reqs)-1]
	if last.rng != fmt.Sprintf("bytes=%d-", 2<<20) {
		t.Errorf("fresh URL requested with Range %q, want a resume at %d", last.rng, 2<<20)
	}

	// Without a refresher the same expiry fails the item.
	s2 := newFaultServer(t)
	it2 := s2.add("w.bin", d)
	s2.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
		w.WriteHeader(http.StatusGone)
		return true
	}
	sum, _ = runEngine(t, t.TempDir(), Options{}, it2)
	if ErrorCode(sum.Results[0].Err) != "http_410" {
		t.Errorf("err = %v", sum.Results[0].Err)
	}
}

func TestPendingItemsArePolled(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(1000, 13)
	ready := s.add("late.bin", d)
	pending := ready
	pending.Status, pending.URL = manifest.ItemProcessing, ""
	failed := manifest.Item{ID: "bad", Status: manifest.ItemQueued, Filename: "bad.bin"}
	var polls atomic.Int32
	refresh := func(ctx context.Context, why RefreshReason) (*manifest.Manifest, error) {
		n := polls.Add(1)
		m := &manifest.Manifest{Version: 1, Items: []manifest.Item{pending, failed}}
		if n >= 2 {
			m.Items = []manifest.Item{ready, {ID: "bad", Status: manifest.ItemFailed, Error: &manifest.ItemError{Code: "unsupported_format", Detail: "no video"}}}
		}
		return m, nil
	}
	dir := t.TempDir()
	sum, _ := runEngine(t, dir, Options{Refresh: refresh, PollInterval: 20 * time.Millisecond}, pending, failed)
	if sum.Results[0].Err != nil {
		t.Fatalf("late: %v", sum.Results[0].Err)
	}
	assertFile(t, dir, "late.bin", d)
	if err := sum.Results[1].Err; err == nil || !strings.Contains(err.Error(), "unsupported_format") {
		t.Errorf("bad: %v", err)
	}

	// Without a refresher, not-ready items fail clearly at once.
	sum, _ = runEngine(t, t.TempDir(), Options{}, pending)
	if !errors.Is(sum.Results[0].Err, ErrNotReady) {
		t.Errorf("err = %v", sum.Results[0].Err)
	}
}

func TestUnsafeAndDuplicateNames(t *testing.T) {
	s := newFaultServer(t)
	good := s.add("good.bin", randomData(10, 1))
	dir := t.TempDir()
	outside := t.TempDir()
	os.Symlink(outside, filepath.Join(dir, "link"))
	bad := []manifest.Item{
		{URL: good.URL, Filename: "../escape"},
		{URL: good.URL, Filename: "/etc/passwd"},
		{URL: good.URL, Filename: "C:/x"},
		{URL: good.URL, Filename: "a\x00b"},
		{URL: good.URL, Filename: "link/inside"},
		{URL: good.URL, Filename: "NUL.txt"},
		{URL: good.URL, Filename: "GOOD.bin"}, // duplicate, case-folded
	}
	sum, _ := runEngine(t, dir, Options{}, append([]manifest.Item{good}, bad...)...)
	if sum.Results[0].Err != nil {
		t.Fatalf("good: %v", sum.Results[0].Err)
	}
	for _, r := range sum.Results[1:] {
		code := ErrorCode(r.Err)
		if code != "unsafe_filename" && code != "duplicate_target" {
			t.Errorf("%q: err %v (code %s), want refused", r.Item.Filename, r.Err, code)
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("wrote outside the output dir: %v", entries)
	}
}

func TestSegmentedDownload(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(20<<20+3, 14)
	it := s.add("seg.bin", d)
	dir := t.TempDir()
	sum, _ := runEngine(t, dir, Options{Connections: 4}, it)
	assertOK(t, sum)
	assertFile(t, dir, "seg.bin", d)
	ranged := 0
	for _, r := range s.requests() {
		if strings.Contains(r.rng, "-") && !strings.HasSuffix(r.rng, "-") {
			ranged++
		}
	}
	if ranged != 4 {
		t.Errorf("closed-range requests = %d, want 4 segments", ranged)
	}
	if served := s.served(); served > int64(len(d))+256<<10 {
		t.Errorf("served %d for %d bytes", served, len(d))
	}
}

func TestSegmentedResumeAfterFailure(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(24<<20, 15)
	it := s.add("seg.bin", d)
	var failures atomic.Int32
	s.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
		rng := r.Header.Get("Range")
		if strings.Contains(rng, "-") && !strings.HasSuffix(rng, "-") && failures.Add(1) == 1 {
			var a, b int
			fmt.Sscanf(rng, "bytes=%d-%d", &a, &b)
			conn, buf, _ := http.NewResponseController(w).Hijack()
			fmt.Fprintf(buf, "HTTP/1.1 206 Partial Content\r\nContent-Length: %d\r\nETag: %s\r\nContent-Range: bytes %d-%d/%d\r\n\r\n", b-a+1, f.etag, a, b, len(f.data))
			buf.Write(f.data[a : a+(b-a)/2])
			buf.Flush()
			conn.Close()
			return true
		}
		return false
	}
	dir := t.TempDir()
	sum, _ := runEngine(t, dir, Options{Connections: 3}, it)
	assertOK(t, sum)
	assertFile(t, dir, "seg.bin", d)
}

func TestCancelSavesJournalAndResumes(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(8<<20, 16)
	it := s.add("slow.bin", d)
	slowFirst(s)
	dir := t.TempDir()
	sum := runCancelled(t, dir, it)
	if !errors.Is(sum.Results[0].Err, context.Canceled) {
		t.Fatalf("result err = %v", sum.Results[0].Err)
	}
	st := (&journal{dir: filepath.Join(dir, StateDir)}).loadState("slow.bin")
	if st == nil || st.bytesOnDisk() == 0 {
		t.Fatalf("no journal saved on cancel: %+v", st)
	}
	got := st.bytesOnDisk()
	sum, _ = runEngine(t, dir, Options{}, it)
	assertOK(t, sum)
	assertFile(t, dir, "slow.bin", d)
	if reqs := s.requests(); reqs[len(reqs)-1].rng != fmt.Sprintf("bytes=%d-", got) {
		t.Errorf("resume Range = %q, want from %d", reqs[len(reqs)-1].rng, got)
	}
}

func TestLimitRate(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(600<<10, 17)
	it := s.add("lim.bin", d)
	dir := t.TempDir()
	start := time.Now()
	sum, _ := runEngine(t, dir, Options{LimitRate: 1 << 20}, it)
	assertOK(t, sum)
	// 600 KiB at 1 MiB/s with a 256 KiB burst takes at least ~0.3 s.
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("took %v, rate limit not applied", el)
	}
}

// TestLimitRateLow: a low limit holds from the first byte; the bucket is a
// quarter second of the rate, not a fixed burst larger than the file.
func TestLimitRateLow(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(24<<10, 18)
	it := s.add("slow.bin", d)
	dir := t.TempDir()
	start := time.Now()
	sum, _ := runEngine(t, dir, Options{LimitRate: 16 << 10}, it)
	assertOK(t, sum)
	assertFile(t, dir, "slow.bin", d)
	// 24 KiB at 16 KiB/s with a 4 KiB bucket takes at least 1.25 s.
	if el := time.Since(start); el < time.Second {
		t.Errorf("took %v for 24 KiB at 16 KiB/s: the limit let a burst through", el)
	}
}

func TestIncrementalAdd(t *testing.T) {
	s := newFaultServer(t)
	dir := t.TempDir()
	var done atomic.Int32
	e, err := New(context.Background(), Options{Dir: dir, Events: func(ev Event) {
		if ev.Type == EventDone {
			done.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		e.Add(s.add(fmt.Sprintf("i%d", i), randomData(1000, uint64(i))))
		time.Sleep(10 * time.Millisecond)
	}
	e.Close()
	sum, err := e.Wait()
	if err != nil {
		t.Fatal(err)
	}
	assertOK(t, sum)
	if done.Load() != 5 || len(sum.Results) != 5 {
		t.Errorf("done = %d results = %d", done.Load(), len(sum.Results))
	}
}

func TestAutoUsesOneConnectionOnLoopback(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(autoMinSize+1<<20, 18)
	it := s.add("auto.bin", d)
	dir := t.TempDir()
	sum, _ := runEngine(t, dir, Options{Connections: Auto}, it)
	assertOK(t, sum)
	assertFile(t, dir, "auto.bin", d)
	if reqs := s.requests(); len(reqs) != 1 || reqs[0].rng != "bytes=0-" {
		t.Errorf("requests = %+v, want one open range request", reqs)
	}
}

func TestSegmentedResumeAcrossRuns(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(16<<20, 19)
	it := s.add("segs.bin", d)
	var slow atomic.Bool
	slow.Store(true)
	s.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
		if !slow.Load() {
			return false
		}
		var a, b int
		fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &a, &b)
		w.Header().Set("ETag", f.etag)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, len(f.data)))
		w.Header().Set("Content-Length", fmt.Sprint(b-a+1))
		w.WriteHeader(http.StatusPartialContent)
		for off := a; off <= b; off += 64 << 10 {
			if _, err := w.Write(f.data[off:min(off+64<<10, b+1)]); err != nil {
				return true
			}
			w.(http.Flusher).Flush()
			time.Sleep(10 * time.Millisecond)
		}
		return true
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	e, err := New(ctx, Options{Dir: dir, Connections: 4, CheckpointBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	e.Add(it)
	e.Close()
	time.Sleep(400 * time.Millisecond)
	cancel()
	if _, err := e.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait: %v", err)
	}
	st := (&journal{dir: filepath.Join(dir, StateDir)}).loadState("segs.bin")
	if st == nil || len(st.Segments) != 4 || st.bytesOnDisk() == 0 {
		t.Fatalf("segmented journal not saved: %+v", st)
	}
	firstRun := s.served()
	slow.Store(false)
	sum, _ := runEngine(t, dir, Options{Connections: 4}, it)
	assertOK(t, sum)
	assertFile(t, dir, "segs.bin", d)
	if again := s.served() - firstRun; again > int64(len(d))-st.bytesOnDisk()+1<<20 {
		t.Errorf("second run fetched %d bytes; %d were already on disk of %d", again, st.bytesOnDisk(), len(d))
	}
}

// TestSlowTransferReachesDisk: on a slow link the bytes received reach the
// part file promptly, not when a whole buffer is full, and the journal
// never claims more than the part file holds (what survives kill -9).
func TestSlowTransferReachesDisk(t *testing.T) {
	for _, size := range []int{300 << 10, 3 << 20} { // pumpSimple, pipelined pump
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			s := newFaultServer(t)
			d := randomData(size, 40)
			it := s.add("drip.bin", d)
			s.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
				w.Header().Set("Content-Length", fmt.Sprint(len(f.data)))
				w.Header().Set("ETag", f.etag)
				for off := 0; off < len(f.data); off += 8 << 10 {
					if _, err := w.Write(f.data[off:min(off+8<<10, len(f.data))]); err != nil {
						return true
					}
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
						return true
					case <-time.After(20 * time.Millisecond):
					}
				}
				return true
			}
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			e, err := New(ctx, Options{Dir: dir, CheckpointInterval: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			e.Add(it)
			e.Close()
			defer func() { cancel(); _, _ = e.Wait() }()
			jr := &journal{dir: filepath.Join(dir, StateDir)}
			deadline := time.Now().Add(10 * time.Second)
			for s.served() < 96<<10 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			sent := s.served()
			time.Sleep(300 * time.Millisecond)
			// Inspect while the transfer runs, as kill -9 would leave it.
			fi, err := os.Stat(jr.partPath("drip.bin"))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() < sent-8<<10 {
				t.Errorf("part file holds %d bytes, but %d were sent 300ms earlier", fi.Size(), sent)
			}
			st := jr.loadState("drip.bin")
			if st == nil || st.bytesOnDisk() == 0 {
				t.Fatalf("no checkpoint during a slow transfer: %+v", st)
			}
			if fi2, _ := os.Stat(jr.partPath("drip.bin")); st.bytesOnDisk() > fi2.Size() {
				t.Errorf("checkpoint claims %d bytes, part file has %d", st.bytesOnDisk(), fi2.Size())
			}
		})
	}
}

// TestResumeWithoutValidator: a file whose server sent no strong ETag and
// no Last-Modified changes between runs. Without a checksum the re-run
// must start over (a bare Range would splice two versions); with one, a
// splice fails verification and the file restarts from zero. Either way
// the result is the new file, exactly.
func TestResumeWithoutValidator(t *testing.T) {
	for _, tc := range []struct {
		name     string
		etag     string // the only validator sent; "" for none
		checksum bool
		noRange  bool // the re-run must start from byte 0
	}{
		{"none", "", false, true},
		{"weak etag", `W/"same"`, false, true},
		{"none with checksum", "", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFaultServer(t)
			old := randomData(600<<10, 41)
			fresh := randomData(600<<10, 42)
			it := s.add("v.bin", old)
			it.Checksum = ""
			if tc.checksum {
				it.Checksum = "sha256:" + sha(fresh)
			}
			it.Size = 0
			serve := func(w http.ResponseWriter, r *http.Request, f *testFile) {
				if tc.etag != "" {
					w.Header().Set("ETag", tc.etag)
				}
				http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
			}
			s.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
				if n > 1 {
					serve(w, r, f)
					return true
				}
				w.Header().Set("Content-Length", fmt.Sprint(len(f.data)))
				if tc.etag != "" {
					w.Header().Set("ETag", tc.etag)
				}
				for off := 0; off < len(f.data); off += 32 << 10 {
					if _, err := w.Write(f.data[off : off+32<<10]); err != nil {
						return true
					}
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
						return true
					case <-time.After(20 * time.Millisecond):
					}
				}
				return true
			}
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			e, err := New(ctx, Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			e.Add(it)
			e.Close()
			for s.served() < 200<<10 {
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond)
			cancel()
			if _, err := e.Wait(); !errors.Is(err, context.Canceled) {
				t.Fatalf("Wait err = %v", err)
			}
			if st := (&journal{dir: filepath.Join(dir, StateDir)}).loadState("v.bin"); st == nil || st.bytesOnDisk() == 0 {
				t.Fatalf("nothing saved by the first run")
			}
			s.replace("v.bin", fresh) // same size, same (or no) validator
			nreq := len(s.requests())
			sum, _ := runEngine(t, dir, Options{}, it)
			assertOK(t, sum)
			assertFile(t, dir, "v.bin", fresh)
			if reqs := s.requests(); tc.noRange && reqs[nreq].rng != "" && reqs[nreq].rng != "bytes=0-" {
				t.Errorf("re-run resumed with Range %q, If-Range %q and no validator", reqs[nreq].rng, reqs[nreq].ifRange)
			}
		})
	}
}

// TestProgressLearnsSizeAndConnections: without manifest sizes the totals
// use what the server announced; start and done report the connections
// really used; debug logs show every request.
func TestProgressLearnsSizeAndConnections(t *testing.T) {
	s := newFaultServer(t)
	a, b := randomData(100<<10, 50), randomData(3000, 51)
	ia, ib := s.add("a.bin", a), s.add("b.bin", b)
	ia.Size, ib.Size = 0, 0
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := randomData(5000, 52)
	ic := s.add("c.bin", c)
	ic.Size = 0
	s.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
		if r.URL.Path != "/c.bin" {
			return false
		}
		// No Content-Length: chunked, the size is known only at the end.
		w.Write(f.data[:100])
		w.(http.Flusher).Flush()
		w.Write(f.data[100:])
		return true
	}
	sum, evs := runEngine(t, t.TempDir(), Options{Logger: logger}, ia, ib, ic)
	assertOK(t, sum)
	if got, want := sum.Totals.BytesTotal, int64(len(a)+len(b)+len(c)); got != want {
		t.Errorf("bytes_total = %d, want %d from Content-Length", got, want)
	}
	for _, ev := range evs {
		if (ev.Type == EventStart || ev.Type == EventDone) && ev.Connections != 1 {
			t.Errorf("%s %s: connections = %d, want 1", ev.Type, ev.Filename, ev.Connections)
		}
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, "msg=GET") || !strings.Contains(out, "status=20") || !strings.Contains(out, "host=127.0.0.1") {
		t.Errorf("debug log has no request lines:\n%s", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestRateMeterWaitsForWindow: no rate before a second of samples, so a
// first burst (or resumed bytes) is never reported as the rate.
func TestRateMeterWaitsForWindow(t *testing.T) {
	var m rateMeter
	t0 := time.Unix(1700000000, 0)
	m.sample(t0, 0)
	m.sample(t0.Add(250*time.Millisecond), 256<<10) // limiter burst
	if r := m.rate(t0); r != 0 {
		t.Errorf("rate after 250ms = %d, want none yet", r)
	}
	for i := 2; i <= 8; i++ {
		m.sample(t0.Add(time.Duration(i)*250*time.Millisecond), 256<<10+int64(i-1)*250<<10)
	}
	if r := m.rate(t0); r < 400<<10 || r > 1200<<10 {
		t.Errorf("rate = %d, want about 1 MB/s", r)
	}
}

// TestDoneRecordsBatched: done records are written in batches (one write
// per file is a measurable cost with thousands of small files), within
// doneFlushDelay, and all of them by close.
func TestDoneRecordsBatched(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := j.markDone(doneRecord{Name: fmt.Sprintf("f%03d", i), Size: 1, SHA256: sha([]byte{byte(i)})}); err != nil {
			t.Fatal(err)
		}
	}
	logPath := filepath.Join(dir, StateDir, doneLog)
	if fi, _ := os.Stat(logPath); fi.Size() != 0 {
		t.Errorf("done log written per record (%d bytes at once)", fi.Size())
	}
	deadline := time.Now().Add(5 * time.Second)
	for fi, _ := os.Stat(logPath); fi.Size() == 0 && time.Now().Before(deadline); fi, _ = os.Stat(logPath) {
		time.Sleep(20 * time.Millisecond)
	}
	if fi, _ := os.Stat(logPath); fi.Size() == 0 {
		t.Fatalf("done records not written within %s", doneFlushDelay)
	}
	if err := j.markDone(doneRecord{Name: "last", Size: 1, SHA256: sha(nil)}); err != nil {
		t.Fatal(err)
	}
	if err := j.close(); err != nil {
		t.Fatal(err)
	}
	j2, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.close()
	for _, name := range []string{"f000", "f099", "last"} {
		if _, ok := j2.completed(name); !ok {
			t.Errorf("%s missing after close", name)
		}
	}
}

// TestLargeFileCopyModes runs long bodies through both copy paths (one
// goroutine, and the reader/writer/hasher pipeline) with several files in
// flight: a reset mid-body resumes with Range, a corrupt body is retried
// from zero, and every file ends up exact.
func TestLargeFileCopyModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode copyMode
	}{
		{"serial", copySerial},
		{"pipelined", copyPipelined},
		{"auto", copyAuto},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFaultServer(t)
			var items []manifest.Item
			var data [][]byte
			for i := range 3 {
				d := randomData(5<<20+i*4097, uint64(40+i))
				data = append(data, d)
				items = append(items, s.add(fmt.Sprintf("big%d.bin", i), d))
			}
			s.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
				switch {
				case r.URL.Path == "/big0.bin" && n == 1:
					hijackAfter(w, r, f, 3<<20+123)
					return true
				case r.URL.Path == "/big1.bin" && n == 1:
					serveCorrupt(w, f, len(f.data)-10)
					return true
				}
				return false
			}
			dir := t.TempDir()
			sum, _ := runEngine(t, dir, Options{Jobs: 3, copyMode: tc.mode}, items...)
			assertOK(t, sum)
			for i, d := range data {
				assertFile(t, dir, fmt.Sprintf("big%d.bin", i), d)
			}
			var resumed, refetched bool
			seen := map[string]int{}
			for _, r := range s.requests() {
				seen[r.path]++
				if r.path == "/big0.bin" && strings.HasPrefix(r.rng, fmt.Sprintf("bytes=%d-", 3<<20+123)) {
					resumed = true
				}
				if r.path == "/big1.bin" && seen[r.path] == 2 && (r.rng == "" || r.rng == "bytes=0-") {
					refetched = true
				}
			}
			if !resumed || !refetched {
				t.Errorf("requests = %+v: want big0 resumed at its reset and big1 fetched again from zero", s.requests())
			}
		})
	}
}
