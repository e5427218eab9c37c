// Package blobtest is the contract suite every blob.Store implementation
// passes: blob/fs on local disk and blob/s3 against a real S3 server run
// the same tests, so no behaviour exists in one backend only.
//
// Use it from an implementation's test:
//
//	func TestContract(t *testing.T) {
//		blobtest.Run(t, blobtest.Options{New: func(t *testing.T) blob.Store { … }})
//	}
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haulhq/haul/blob"
)

// Options describe the implementation under test.
type Options struct {
	// New returns an empty store for one subtest and arranges (t.Cleanup)
	// for it to be closed and removed.
	New func(t *testing.T) blob.Store
	// ErrTooLarge, when set, is the error Put wraps when more than
	// PutOptions.MaxSize bytes arrive.
	ErrTooLarge error
	// WantPresign says PresignGet must return ok=true (the backend serves
	// bytes itself). When false, ok=false is accepted, and a URL, when one
	// is returned, is checked all the same.
	WantPresign bool
	// LargeSize is the size of the biggest blob the suite stores; make it
	// span several upload parts of the implementation. Default 3 MiB + 17.
	LargeSize int
}

// Run runs the contract suite.
func Run(t *testing.T, o Options) {
	if o.New == nil {
		t.Fatal("blobtest: Options.New is nil")
	}
	if o.LargeSize <= 0 {
		o.LargeSize = 3<<20 + 17
	}
	s := suite{o}
	tests := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"PutOpenRoundTrip", s.testPutOpenRoundTrip},
		{"PutSameContentTwice", s.testPutSameContentTwice},
		{"ExpectSHA256Match", s.testExpectSHA256Match},
		{"ExpectSHA256MismatchKeepsNothing", s.testExpectSHA256Mismatch},
		{"ExpectSHA256MismatchOnStoredContent", s.testExpectSHA256MismatchStored},
		{"ExpectSHA256BadLength", s.testExpectSHA256BadLength},
		{"MaxSize", s.testMaxSize},
		{"ReaderErrorKeepsNothing", s.testReaderError},
		{"CanceledContextKeepsNothing", s.testCanceled},
		{"NotFound", s.testNotFound},
		{"Delete", s.testDelete},
		{"List", s.testList},
		{"ListStopsOnError", s.testListStops},
		{"Seek", s.testSeek},
		{"ServeContentRange", s.testServeContentRange},
		{"ConcurrentIdenticalPuts", s.testConcurrentIdenticalPuts},
		{"ConcurrentDistinctPuts", s.testConcurrentDistinctPuts},
		{"PresignGet", s.testPresignGet},
		{"Ready", s.testReady},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.fn)
	}
}

type suite struct{ o Options }

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// content returns n deterministic pseudo-random bytes for seed.
func content(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sum(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

func keyOf(b []byte) string { return hex.EncodeToString(sum(b)) }

// onlyReader hides any WriterTo/Seeker/Len of the source, as a request
// body would, so implementations cannot peek at the size.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func put(t *testing.T, ctx context.Context, st blob.Store, b []byte) blob.Info {
	t.Helper()
	info, err := st.Put(ctx, onlyReader{bytes.NewReader(b)}, blob.PutOptions{SizeHint: -1})
	if err != nil {
		t.Fatalf("Put(%d bytes): %v", len(b), err)
	}
	return info
}

// list returns every stored blob by key.
func list(t *testing.T, ctx context.Context, st blob.Store) map[string]blob.Info {
	t.Helper()
	got := map[string]blob.Info{}
	err := st.List(ctx, func(i blob.Info) error {
		if _, dup := got[i.Key]; dup {
			t.Errorf("List reported %s twice", i.Key)
		}
		got[i.Key] = i
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return got
}

func expectEmpty(t *testing.T, ctx context.Context, st blob.Store) {
	t.Helper()
	if got := list(t, ctx, st); len(got) != 0 {
		t.Errorf("store holds %d blobs, want none: %v", len(got), got)
	}
}

func readAll(t *testing.T, ctx context.Context, st blob.Store, key string) []byte {
	t.Helper()
	obj, err := st.Open(ctx, key)
	if err != nil {
		t.Fatalf("Open(%s): %v", key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

func (s suite) testPutOpenRoundTrip(t *testing.T) {
	sizes := []struct {
		name string
		n    int
	}{
		{"empty", 0},
		{"one byte", 1},
		{"small", 1000},
		{"64KiB+1", 64<<10 + 1},
		{"large", s.o.LargeSize},
	}
	for i, sz := range sizes {
		t.Run(sz.name, func(t *testing.T) {
			ctx := ctxFor(t)
			st := s.o.New(t)
			data := content(uint64(i+1), sz.n)
			before := time.Now().Add(-2 * time.Second)
			info, err := st.Put(ctx, onlyReader{bytes.NewReader(data)}, blob.PutOptions{SizeHint: int64(sz.n)})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			want := keyOf(data)
			if info.Key != want {
				t.Errorf("Put key = %s, want sha256 hex %s", info.Key, want)
			}
			if info.Size != int64(sz.n) {
				t.Errorf("Put size = %d, want %d", info.Size, sz.n)
			}
			if info.ModTime.Before(before) || info.ModTime.After(time.Now().Add(2*time.Second)) {
				t.Errorf("Put ModTime = %v, not about now", info.ModTime)
			}
			stat, err := st.Stat(ctx, want)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if stat.Key != want || stat.Size != int64(sz.n) || stat.ModTime.IsZero() {
				t.Errorf("Stat = %+v", stat)
			}
			obj, err := st.Open(ctx, want)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer obj.Close()
			if oi := obj.Info(); oi.Key != want || oi.Size != int64(sz.n) {
				t.Errorf("Object.Info = %+v", oi)
			}
			got, err := io.ReadAll(obj)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("read %d bytes back, differing from the %d stored", len(got), len(data))
			}
			if n := len(list(t, ctx, st)); n != 1 {
				t.Errorf("List has %d blobs, want 1", n)
			}
		})
	}
}

func (s suite) testPutSameContentTwice(t *testing.T) {
	ctx := ctxFor(t)
	st := s.o.New(t)
	data := content(7, 5000)
	first := put(t, ctx, st, data)
	// Re-storing must refresh ModTime: garbage collection spares young
	// blobs, and a second upload of known content is a new reference.
	time.Sleep(1100 * time.Millisecond) // S3 times have one-second resolution
	before := time.Now().Truncate(time.Second)
	second := put(t, ctx, st, data)
	if second.Key != first.Key || second.Size != first.Size {
		t.Errorf("second Put = %+v, first %+v", second, first)
	}
	stat, err := st.Stat(ctx, first.Key)
	if err != nil {
		t.Fatal(err)
	}
	if stat.ModTime.Before(before.Add(-time.Second)) {
		t.Errorf("ModTime after re-Put = %v, not refreshed (first put %v, second started %v)", stat.ModTime, first.ModTime, before)
	}
	if n := len(list(t, ctx, st)); n != 1 {
		t.Errorf("List has %d blobs after storing one content twice, want 1", n)
	}
	if got := readAll(t, ctx, st, first.Key); !bytes.Equal(got, data) {
		t.Error("content changed after re-Put")
	}
}

func (s suite) testExpectSHA256Match(t *testing.T) {
	for _, n := range []int{0, 10, s.o.LargeSize} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ctx := ctxFor(t)
			st := s.o.New(t)
			data := content(11, n)
			info, err := st.Put(ctx, onlyReader{bytes.NewReader(data)}, blob.PutOptions{ExpectSHA256: sum(data), SizeHint: -1})
			if err != nil {
				t.Fatalf("Put with the right digest: %v", err)
			}
			if info.Key != keyOf(data) || info.Size != int64(n) {
				t.Errorf("Put = %+v", info)
			}
			if got := readAll(t, ctx, st, info.Key); !bytes.Equal(got, data) {
				t.Error("content differs")
			}
		})
	}
}

func (s suite) testExpectSHA256Mismatch(t *testing.T) {
	for _, n := range []int{0, 10, s.o.LargeSize} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ctx := ctxFor(t)
			st := s.o.New(t)
			data := content(12, n)
			wrong := sum([]byte("something else"))
			_, err := st.Put(ctx, onlyReader{bytes.NewReader(data)}, blob.PutOptions{ExpectSHA256: wrong, SizeHint: -1})
			if !errors.Is(err, blob.ErrDigestMismatch) {
				t.Fatalf("Put with a wrong digest: err = %v, want ErrDigestMismatch", err)
			}
			for _, key := range []string{keyOf(data), hex.EncodeToString(wrong)} {
				if _, err := st.Stat(ctx, key); !errors.Is(err, blob.ErrNotFound) {
					t.Errorf("Stat(%s) after mismatch: err = %v, want ErrNotFound", key, err)
				}
			}
			expectEmpty(t, ctx, st)
		})
	}
}

// testExpectSHA256MismatchStored: a wrong digest naming content that is
// already stored must not be "deduplicated" into success.
func (s suite) testExpectSHA256MismatchStored(t *testing.T) {
	ctx := ctxFor(t)
	st := s.o.New(t)
	stored := content(13, 100)
	put(t, ctx, st, stored)
	other := content(14, 100)
	_, err := st.Put(ctx, onlyReader{bytes.NewReader(other)}, blob.PutOptions{ExpectSHA256: sum(stored), SizeHint: -1})
	if !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("Put of other bytes claiming a stored digest: err = %v, want ErrDigestMismatch", err)
	}
	if got := readAll(t, ctx, st, keyOf(stored)); !bytes.Equal(got, stored) {
		t.Error("stored content was replaced")
	}
	if got := list(t, ctx, st); len(got) != 1 {
		t.Errorf("List has %d blobs, want 1", len(got))
	}
}

func (s suite) testExpectSHA256BadLength(t *testing.T) {
	ctx := ctxFor(t)
	st := s.o.New(t)
	_, err := st.Put(ctx, strings.NewReader("x"), blob.PutOptions{ExpectSHA256: []byte{1, 2, 3}, SizeHint: -1})
	if err == nil {
		t.Fatal("Put with a 3-byte ExpectSHA256 succeeded")
	}
	expectEmpty(t, ctx, st)
}

func (s suite) testMaxSize(t *testing.T) {
	ctx := ctxFor(t)
	st := s.o.New(t)
	const max = 4096
	data := content(15, max)
	info, err := st.Put(ctx, onlyReader{bytes.NewReader(data)}, blob.PutOptions{MaxSize: max, SizeHint: -1})
	if err != nil {
		t.Fatalf("Put of exactly MaxSize bytes: %v", err)
	}
	if info.Size != max {
		t.Errorf("size = %d", info.Size)
	}
	for _, n := range []int{max + 1, s.o.LargeSize} {
		over := content(16, n)
		_, err = st.Put(ctx, onlyReader{bytes.NewReader(over)}, blob.PutOptions{MaxSize: max, SizeHint: -1})
		if err == nil {
			t.Fatalf("Put of %d bytes with MaxSize %d succeeded", n, max)
		}
		if s.o.ErrTooLarge != nil && !errors.Is(err, s.o.ErrTooLarge) {
			t.Errorf("Put over MaxSize: err = %v, want %v", err, s.o.ErrTooLarge)
		}
		if _, err := st.Stat(ctx, keyOf(over)); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("oversized blob stored: Stat err = %v", err)
		}
	}
	if got := list(t, ctx, st); len(got) != 1 {
		t.Errorf("List has %d blobs, want only the one within the limit", len(got))
	}
}

// failingReader returns n bytes of data and then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func (s suite) testReaderError(t *testing.T) {
	for _, n := range []int{0, 1000, s.o.LargeSize} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ctx := ctxFor(t)
			st := s.o.New(t)
			boom := errors.New("connection reset by client")
			_, err := st.Put(ctx, &failingReader{data: content(17, n), err: boom}, blob.PutOptions{SizeHint: -1})
			if !errors.Is(err, boom) {
				t.Fatalf("Put from a failing reader: err = %v, want it to wrap %v", err, boom)
			}
			expectEmpty(t, ctx, st)
		})
	}
}

// cancelingReader cancels the context after handing out its data once.
type cancelingReader struct {
	data   []byte
	cancel context.CancelFunc
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		c.cancel()
		// Like a request body whose connection went away with the context.
		return 0, context.Canceled
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	return n, nil
}

func (s suite) testCanceled(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		st := s.o.New(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := st.Put(ctx, strings.NewReader("hello"), blob.PutOptions{SizeHint: -1}); err == nil {
			t.Error("Put with a canceled context succeeded")
		}
		expectEmpty(t, ctxFor(t), st)
	})
	t.Run("during", func(t *testing.T) {
		st := s.o.New(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := st.Put(ctx, &cancelingReader{data: content(18, 200000), cancel: cancel}, blob.PutOptions{SizeHint: -1})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Put canceled midway: err = %v, want context.Canceled", err)
		}
		expectEmpty(t, ctxFor(t), st)
	})
}

func (s suite) testNotFound(t *testing.T) {
	ctx := ctxFor(t)
	st := s.o.New(t)
	put(t, ctx, st, []byte("present"))
	absent := keyOf([]byte("absent"))
	for _, key := range []string{absent, "", "not-a-key", "../../etc/passwd", strings.ToUpper(keyOf([]byte("present")))} {
		if _, err := st.Stat(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Stat(%q): err = %v, want ErrNotFound", key, err)
		}
		obj, err := st.Open(ctx, key)
		if !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Open(%q): err = %v, want ErrNotFound", key, err)
		}
		if obj != nil {
			obj.Close()
		}
	}
}

func (s suite) testDelete(t *testing.T) {
	ctx := ctxFor(t)
	st := s.o.New(t)
	a := put(t, ctx, st, []byte("keep me"))
	b := put(t, ctx, st, []byte("delete me"))
	if err := st.Delete(ctx, b.Key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := st.Stat(ctx, b.Key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat after Delete: err = %v, want ErrNotFound", err)
	}
	if _, err := st.Open(ctx, b.Key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open after Delete: err = %v, want ErrNotFound", err)
	}
	if err := st.Delete(ctx, b.Key); err != nil {
		t.Errorf("second Delete: %v, want nil", err)
	}
	if err := st.Delete(ctx, keyOf([]byte("never stored"))); err != nil {
		t.Errorf("Delete of an absent blob: %v, want nil", err)
	}
	got := list(t, ctx, st)
	if _, ok := got[a.Key]; !ok || len(got) != 1 {
		t.Errorf("List after Delete = %v, want only %s", got, a.Key)
	}
	// Content can be stored again after deletion.
	again := put(t, ctx, st, []byte("delete me"))
	if got := readAll(t, ctx, st, again.Key); string(got) != "delete me" {
		t.Errorf("re-stored content = %q", got)
	}
}

func (s suite) testList(t *testing.T) {
	ctx := ctxFor(t)
	st := s.o.New(t)
	expectEmpty(t, ctx, st)
	want := map[string]int64{}
	for i := range 7 {
		data := content(uint64(100+i), 10*i)
		info := put(t, ctx, st, data)
		want[info.Key] = int64(len(data))
	}
	got := list(t, ctx, st)
	if len(got) != len(want) {
		t.Errorf("List has %d blobs, want %d", len(got), len(want))
	}
	for key, size := range want {
		info, ok := got[key]
		if !ok {
			t.Errorf("List misses %s", key)
			continue
		}
		if info.Size != size || info.ModTime.IsZero() {
			t.Errorf("List info for %s = %+v, want size %d and a ModTime", key, info, size)
		}
	}
}

func (s suite) testListStops(t *testing.T) {
	ctx := ctxFor(t)
	st := s.o.New(t)
	for i := range 3 {
		put(t, ctx, st, content(uint64(200+i), 10))
	}
	stop := errors.New("enough")
	calls := 0
	err := st.List(ctx, func(blob.Info) error { calls++; return stop })
	if !errors.Is(err, stop) {
		t.Errorf("List returned %v, want the callback's error", err)
	}
	if calls != 1 {
		t.Errorf("callback ran %d times after returning an error, want 1", calls)
	}
}

func (s suite) testSeek(t *testing.T) {
	ctx := ctxFor(t)
	st := s.o.New(t)
	data := content(19, 100000)
	info := put(t, ctx, st, data)
	obj, err := st.Open(ctx, info.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	size := int64(len(data))
	steps := []struct {
		offset int64
		whence int
		pos    int64
		read   int
	}{
		{0, io.SeekEnd, size, 0},
		{0, io.SeekStart, 0, 10},
		{5, io.SeekCurrent, 15, 1000},
		{-3, io.SeekEnd, size - 3, 3},
		{50000, io.SeekStart, 50000, 20000},
		{-10000, io.SeekCurrent, 60000, 10},
		{0, io.SeekCurrent, 60010, 0},
	}
	for _, step := range steps {
		pos, err := obj.Seek(step.offset, step.whence)
		if err != nil {
			t.Fatalf("Seek(%d, %d): %v", step.offset, step.whence, err)
		}
		if pos != step.pos {
			t.Fatalf("Seek(%d, %d) = %d, want %d", step.offset, step.whence, pos, step.pos)
		}
		buf := make([]byte, step.read)
		if _, err := io.ReadFull(obj, buf); err != nil {
			t.Fatalf("read %d at %d: %v", step.read, pos, err)
		}
		if !bytes.Equal(buf, data[pos:pos+int64(step.read)]) {
			t.Errorf("bytes at %d differ", pos)
		}
	}
	if _, err := obj.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	if n, err := obj.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("Read at the end = %d, %v; want 0, io.EOF", n, err)
	}
	if _, err := obj.Seek(-1, io.SeekStart); err == nil {
		t.Error("Seek before the start succeeded")
	}
}

func (s suite) testServeContentRange(t *testing.T) {
	ctx := ctxFor(t)
	st := s.o.New(t)
	data := content(20, 300000)
	info := put(t, ctx, st, data)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		obj, err := st.Open(r.Context(), info.Key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer obj.Close()
		http.ServeContent(w, r, "", obj.Info().ModTime, obj)
	}))
	defer srv.Close()
	cases := []struct {
		rng        string
		status     int
		start, end int // inclusive byte range expected in the body
	}{
		{"", http.StatusOK, 0, len(data) - 1},
		{"bytes=0-99", http.StatusPartialContent, 0, 99},
		{"bytes=123456-", http.StatusPartialContent, 123456, len(data) - 1},
		{"bytes=-500", http.StatusPartialContent, len(data) - 500, len(data) - 1},
		{"bytes=299999-400000", http.StatusPartialContent, 299999, 299999},
		{"bytes=300000-", http.StatusRequestedRangeNotSatisfiable, 0, -1},
	}
	for _, c := range cases {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		if c.rng != "" {
			req.Header.Set("Range", c.rng)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != c.status {
			t.Errorf("Range %q: status %d, want %d", c.rng, resp.StatusCode, c.status)
			continue
		}
		if c.end >= c.start && !bytes.Equal(body, data[c.start:c.end+1]) {
			t.Errorf("Range %q: body of %d bytes differs from bytes %d-%d", c.rng, len(body), c.start, c.end)
		}
	}
}

func (s suite) testConcurrentIdenticalPuts(t *testing.T) {
	ctx := ctxFor(t)
	st := s.o.New(t)
	data := content(21, 256<<10)
	const n = 8
	var wg sync.WaitGroup
	infos := make([]blob.Info, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			opts := blob.PutOptions{SizeHint: -1}
			if i%2 == 0 {
				opts.ExpectSHA256 = sum(data)
			}
			infos[i], errs[i] = st.Put(ctx, onlyReader{bytes.NewReader(data)}, opts)
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Put %d: %v", i, errs[i])
		} else if infos[i].Key != keyOf(data) || infos[i].Size != int64(len(data)) {
			t.Errorf("Put %d = %+v", i, infos[i])
		}
	}
	if got := list(t, ctx, st); len(got) != 1 {
		t.Errorf("List has %d blobs after %d identical Puts, want 1", len(got), n)
	}
	if got := readAll(t, ctx, st, keyOf(data)); !bytes.Equal(got, data) {
		t.Error("content differs after concurrent Puts")
	}
}

func (s suite) testConcurrentDistinctPuts(t *testing.T) {
	ctx := ctxFor(t)
	st := s.o.New(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = st.Put(ctx, onlyReader{bytes.NewReader(content(uint64(300+i), 50000))}, blob.PutOptions{SizeHint: -1})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Put %d: %v", i, err)
		}
	}
	got := list(t, ctx, st)
	if len(got) != n {
		t.Errorf("List has %d blobs, want %d", len(got), n)
	}
	for i := range n {
		data := content(uint64(300+i), 50000)
		if b := readAll(t, ctx, st, keyOf(data)); !bytes.Equal(b, data) {
			t.Errorf("blob %d differs", i)
		}
	}
}

func (s suite) testPresignGet(t *testing.T) {
	ctx := ctxFor(t)
	st := s.o.New(t)
	data := content(22, 70000)
	info := put(t, ctx, st, data)
	disp := `attachment; filename="clip_ast_1_original.mp4"; filename*=UTF-8''clip%20%C3%A9t%C3%A9.mp4`
	u, ok, err := st.PresignGet(ctx, info.Key, blob.PresignOptions{
		Expires:            5 * time.Minute,
		ContentDisposition: disp,
		ContentType:        "video/mp4",
	})
	if err != nil {
		t.Fatalf("PresignGet: %v", err)
	}
	if !ok {
		if s.o.WantPresign {
			t.Fatal("PresignGet returned ok=false, want a URL")
		}
		if u != "" {
			t.Errorf("PresignGet returned ok=false with URL %q", u)
		}
		return
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET presigned URL: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET presigned URL: status %d: %s", resp.StatusCode, body)
	}
	if !bytes.Equal(body, data) {
		t.Errorf("presigned GET returned %d bytes differing from the %d stored", len(body), len(data))
	}
	if got := resp.Header.Get("Content-Disposition"); got != disp {
		t.Errorf("Content-Disposition = %q, want %q", got, disp)
	}
	if got := resp.Header.Get("Content-Type"); got != "video/mp4" {
		t.Errorf("Content-Type = %q, want video/mp4", got)
	}
	// Range requests work on the URL, so interrupted downloads resume.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Range", "bytes=1000-1999")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[1000:2000]) {
		t.Errorf("ranged GET: status %d, %d bytes", resp.StatusCode, len(body))
	}
	// A tampered URL is refused.
	bad := strings.Replace(u, "Signature=", "Signature=0", 1)
	if bad != u {
		resp, err := http.Get(bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("GET with a tampered signature succeeded")
		}
	}
}

func (s suite) testReady(t *testing.T) {
	ctx := ctxFor(t)
	st := s.o.New(t)
	if err := st.Ready(ctx); err != nil {
		t.Errorf("Ready: %v", err)
	}
	expectEmpty(t, ctx, st)
}
