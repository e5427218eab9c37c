package downloader

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/haulhq/haul/manifest"
)

// linkServer stands for a grant link: every GET of /g/t counts one
// redemption and redirects to the file on the fault server, as
// GET /g/{token} redirects to a short-lived signed URL. Once the link is
// used up (limit redemptions), it answers 410.
type linkServer struct {
	*httptest.Server
	hits  atomic.Int64
	limit int64
}

func newLinkServer(t *testing.T, target string, limit int64) *linkServer {
	t.Helper()
	l := &linkServer{limit: limit}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.hits.Add(1) > l.limit {
			http.Error(w, "grant_consumed", http.StatusGone)
			return
		}
		http.Redirect(w, r, target, http.StatusFound)
	}))
	t.Cleanup(l.Close)
	return l
}

// linkItem is a manifest item for the link, with the file's size and
// checksum when known is set (a haul manifest), without (a URL list).
func linkItem(l *linkServer, it manifest.Item, known bool) manifest.Item {
	out := manifest.Item{Filename: it.Filename, URL: l.URL + "/g/t"}
	if known {
		out.Size, out.Checksum = it.Size, it.Checksum
	}
	return out
}

// TestGrantLinkFollowedOncePerFile: segments, retries and restarts of one
// file go to where the link redirected, so a one-time link is redeemed
// once and a limited one loses one download, not one per connection.
func TestGrantLinkFollowedOncePerFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		known bool
		opts  Options
		fault func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool
	}{
		{name: "segments, size in manifest", known: true, opts: Options{Connections: 4}},
		{name: "segments, url list", known: false, opts: Options{Connections: 4}},
		{name: "retry after reset", known: true, fault: func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
			if n == 1 {
				hijackAfter(w, r, f, 1<<20)
				return true
			}
			return false
		}},
		{name: "restart after corrupt body", known: true, fault: func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
			if n == 1 {
				serveCorrupt(w, f, 100)
				return true
			}
			return false
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFaultServer(t)
			d := randomData(20<<20+7, 61)
			it := s.add("x.bin", d)
			s.fault = tc.fault
			link := newLinkServer(t, it.URL, 1)
			dir := t.TempDir()
			sum, _ := runEngine(t, dir, tc.opts, linkItem(link, it, tc.known))
			assertOK(t, sum)
			assertFile(t, dir, "x.bin", d)
			if got := link.hits.Load(); got != 1 {
				t.Errorf("link followed %d times, want once", got)
			}
			if tc.opts.Connections > 1 && len(s.requests()) < 2 {
				t.Errorf("requests to the file = %d, want several segments", len(s.requests()))
			}
		})
	}
}

// TestGrantLinkResumesAcrossRuns: a one-time link's download killed half
// way resumes in the next run from the signed URL kept in the journal,
// without following the (used up) link again.
func TestGrantLinkResumesAcrossRuns(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(6<<20, 62)
	it := s.add("y.bin", d)
	slowFirst(s)
	link := newLinkServer(t, it.URL, 1)
	item := linkItem(link, it, true)
	dir := t.TempDir()
	runCancelled(t, dir, item)
	st := (&journal{dir: filepath.Join(dir, StateDir)}).loadState("y.bin")
	if st == nil || st.bytesOnDisk() == 0 || st.ResolvedURL != it.URL {
		t.Fatalf("journal after cancel: %+v, want bytes and resolved_url %s", st, it.URL)
	}
	sum, _ := runEngine(t, dir, Options{}, item)
	assertOK(t, sum)
	assertFile(t, dir, "y.bin", d)
	if got := link.hits.Load(); got != 1 {
		t.Errorf("link followed %d times, want once", got)
	}
	if reqs := s.requests(); !strings.HasPrefix(reqs[len(reqs)-1].rng, fmt.Sprintf("bytes=%d-", st.bytesOnDisk())) {
		t.Errorf("resume Range = %q, want from %d", reqs[len(reqs)-1].rng, st.bytesOnDisk())
	}
}

// TestGrantLinkFollowedAgainWhenSignedURLRefused: when the signed URL the
// link led to is refused (expired), the link is followed once more.
func TestGrantLinkFollowedAgainWhenSignedURLRefused(t *testing.T) {
	s := newFaultServer(t)
	d := randomData(3<<20, 63)
	it := s.add("z.bin", d)
	s.fault = func(w http.ResponseWriter, r *http.Request, n int, f *testFile) bool {
		switch n {
		case 1:
			hijackAfter(w, r, f, 1<<20)
			return true
		case 2:
			http.Error(w, "url_expired", http.StatusGone)
			return true
		}
		return false
	}
	link := newLinkServer(t, it.URL, 5)
	dir := t.TempDir()
	sum, _ := runEngine(t, dir, Options{}, linkItem(link, it, true))
	assertOK(t, sum)
	assertFile(t, dir, "z.bin", d)
	if got := link.hits.Load(); got != 2 {
		t.Errorf("link followed %d times, want 2 (once more after the 410)", got)
	}
	reqs := s.requests()
	if last := reqs[len(reqs)-1]; !strings.HasPrefix(last.rng, fmt.Sprintf("bytes=%d-", 1<<20)) {
		t.Errorf("last request Range = %q, want a resume from %d", last.rng, 1<<20)
	}
}
