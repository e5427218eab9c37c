package fs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/haulhq/haul/blob"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sum(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

// files lists every regular file under root, relative to it.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPutOpenRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := bytes.Repeat([]byte("haul "), 10000)
	key := hex.EncodeToString(sum(data))

	info, err := s.Put(ctx, bytes.NewReader(data), blob.PutOptions{ExpectSHA256: sum(data), SizeHint: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != key || info.Size != int64(len(data)) || info.ModTime.IsZero() {
		t.Fatalf("Put info = %+v", info)
	}
	want := key[0:2] + "/" + key[2:4] + "/" + key
	if got := files(t, s.Root()); !slices.Equal(got, []string{want}) {
		t.Fatalf("files = %v, want [%s]", got, want)
	}

	obj, err := s.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if obj.Info() != (blob.Info{Key: key, Size: info.Size, ModTime: obj.Info().ModTime}) {
		t.Fatalf("Open info = %+v", obj.Info())
	}
	if _, ok := obj.(syscall.Conn); !ok {
		t.Fatal("object does not expose SyscallConn: sendfile would not be used")
	}
	if _, err := obj.Seek(5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data[5:]) {
		t.Fatal("content differs after seek")
	}

	st, err := s.Stat(ctx, key)
	if err != nil || st.Size != info.Size {
		t.Fatalf("Stat = %+v, %v", st, err)
	}
}

func TestPutWithoutExpectedDigest(t *testing.T) {
	s := newStore(t)
	info, err := s.Put(context.Background(), strings.NewReader(""), blob.PutOptions{SizeHint: -1})
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" || info.Size != 0 {
		t.Fatalf("empty blob info = %+v", info)
	}
}

func TestPutFailuresLeaveNothing(t *testing.T) {
	data := []byte("0123456789")
	tests := []struct {
		name string
		r    func(cancel context.CancelFunc) io.Reader
		opts blob.PutOptions
		want error
	}{
		{
			name: "digest mismatch",
			r:    func(context.CancelFunc) io.Reader { return bytes.NewReader(data) },
			opts: blob.PutOptions{ExpectSHA256: sum([]byte("other"))},
			want: blob.ErrDigestMismatch,
		},
		{
			name: "over max size",
			r:    func(context.CancelFunc) io.Reader { return bytes.NewReader(data) },
			opts: blob.PutOptions{MaxSize: 9},
			want: ErrTooLarge,
		},
		{
			name: "reader fails midway",
			r: func(context.CancelFunc) io.Reader {
				return io.MultiReader(bytes.NewReader(data), iotestErrReader{errors.New("connection reset")})
			},
			want: nil, // any error
		},
		{
			name: "context canceled midway",
			r: func(cancel context.CancelFunc) io.Reader {
				return io.MultiReader(bytes.NewReader(data), cancelReader{cancel}, bytes.NewReader(data))
			},
			want: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := s.Put(ctx, tt.r(cancel), tt.opts)
			if err == nil {
				t.Fatal("Put succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got := files(t, s.Root()); len(got) != 0 {
				t.Fatalf("files left behind: %v", got)
			}
		})
	}
}

func TestPutExactlyMaxSize(t *testing.T) {
	s := newStore(t)
	if _, err := s.Put(context.Background(), strings.NewReader("12345"), blob.PutOptions{MaxSize: 5}); err != nil {
		t.Fatalf("Put of MaxSize bytes: %v", err)
	}
}

func TestPutBadExpectLength(t *testing.T) {
	s := newStore(t)
	if _, err := s.Put(context.Background(), strings.NewReader("x"), blob.PutOptions{ExpectSHA256: []byte{1, 2}}); err == nil {
		t.Fatal("Put accepted a 2-byte digest")
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

// cancelReader cancels the context when read, then reports nothing read.
type cancelReader struct{ cancel context.CancelFunc }

func (r cancelReader) Read([]byte) (int, error) { r.cancel(); return 0, io.EOF }

func TestPutSameContentTwice(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a, err := s.Put(ctx, strings.NewReader("same"), blob.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	p := filepath.Join(s.Root(), a.Key[0:2], a.Key[2:4], a.Key)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	b, err := s.Put(ctx, strings.NewReader("same"), blob.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Key != b.Key {
		t.Fatalf("keys differ: %s %s", a.Key, b.Key)
	}
	if !b.ModTime.After(old.Add(time.Hour)) {
		t.Fatalf("re-put did not refresh ModTime (GC would see an old blob): %v", b.ModTime)
	}
	if got := files(t, s.Root()); len(got) != 1 {
		t.Fatalf("files = %v", got)
	}
}

func TestOpenStatDelete(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	missing := strings.Repeat("ab", 32)
	for _, key := range []string{missing, "", "../../etc/passwd", strings.Repeat("AB", 32)} {
		if _, err := s.Open(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Open(%q) err = %v, want ErrNotFound", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Stat(%q) err = %v, want ErrNotFound", key, err)
		}
	}
	if err := s.Delete(ctx, missing); err != nil {
		t.Fatalf("Delete of absent blob: %v", err)
	}
	info, err := s.Put(ctx, strings.NewReader("bye"), blob.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Open(ctx, info.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if err := s.Delete(ctx, info.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, info.Key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat after Delete: %v", err)
	}
	// An open reader keeps its bytes (a download in progress finishes).
	got, err := io.ReadAll(obj)
	if err != nil || string(got) != "bye" {
		t.Fatalf("read after delete = %q, %v", got, err)
	}
}

func TestListSkipsTempAndStrays(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var want []string
	for i := range 5 {
		info, err := s.Put(ctx, strings.NewReader(fmt.Sprint("blob ", i)), blob.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, info.Key)
	}
	// A temp file of an upload in progress and a stray file are not blobs.
	if err := os.WriteFile(filepath.Join(s.Root(), "tmp", "put-123"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Root(), "README"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	misplaced := strings.Repeat("cd", 32)
	if err := os.WriteFile(filepath.Join(s.Root(), misplaced), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := s.List(ctx, func(i blob.Info) error { got = append(got, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	stop := errors.New("stop")
	n := 0
	err := s.List(ctx, func(blob.Info) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("List stop: err %v after %d calls", err, n)
	}
}

func TestNewAndSweepRemoveTempFiles(t *testing.T) {
	root := filepath.Join(t.TempDir(), "blobs")
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(root, "tmp", "put-stale")
	fresh := filepath.Join(root, "tmp", "put-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	n, err := s.Sweep(10*time.Minute, time.Now())
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("young temp file removed: %v", err)
	}
	if _, err := New(root); err != nil {
		t.Fatal(err)
	}
	if got := files(t, root); len(got) != 0 {
		t.Fatalf("New left temp files: %v", got)
	}
}

func TestReadyAndPresign(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if got := files(t, s.Root()); len(got) != 0 {
		t.Fatalf("Ready left files: %v", got)
	}
	url, ok, err := s.PresignGet(ctx, strings.Repeat("ab", 32), blob.PresignOptions{Expires: time.Minute})
	if url != "" || ok || err != nil {
		t.Fatalf("PresignGet = %q, %v, %v", url, ok, err)
	}
}

func TestServeContentRange(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := bytes.Repeat([]byte("0123456789"), 100000) // 1 MB: past the sniff buffer
	info, err := s.Put(ctx, bytes.NewReader(data), blob.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		obj, err := s.Open(r.Context(), info.Key)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer obj.Close()
		http.ServeContent(w, r, "f.bin", obj.Info().ModTime, obj)
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Range", "bytes=1000-900999")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[1000:901000]) {
		t.Fatalf("status %d, %d bytes", resp.StatusCode, len(body))
	}
}

// TestCrashMidPutLeavesNoBlob kills a process in the middle of a Put and
// checks that no blob appears under a real key and that New cleans up.
func TestCrashMidPutLeavesNoBlob(t *testing.T) {
	if os.Getenv("HAUL_BLOBFS_CRASH_CHILD") != "" {
		s, err := New(os.Getenv("HAUL_BLOBFS_CRASH_CHILD"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		s.Put(context.Background(), os.Stdin, blob.PutOptions{}) // killed while reading
		os.Exit(3)
	}
	root := filepath.Join(t.TempDir(), "blobs")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashMidPutLeavesNoBlob$")
	cmd.Env = append(os.Environ(), "HAUL_BLOBFS_CRASH_CHILD="+root)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	if _, err := stdin.Write(bytes.Repeat([]byte("x"), 1<<20)); err != nil {
		t.Fatal(err)
	}
	// Wait until the temp file holds bytes, then kill the writer.
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := files(t, root)
		if len(got) == 1 && strings.HasPrefix(got[0], "tmp/put-") {
			if fi, err := os.Stat(filepath.Join(root, got[0])); err == nil && fi.Size() > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("child never started writing; files: %v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for _, f := range files(t, root) {
		if !strings.HasPrefix(f, "tmp/") {
			t.Fatalf("a blob appeared after a crash: %s", f)
		}
	}
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	if got := files(t, root); len(got) != 0 {
		t.Fatalf("temp files survive restart: %v", got)
	}
	n := 0
	if err := s.List(context.Background(), func(blob.Info) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("List after crash: %d blobs, %v", n, err)
	}
}

// TestObjectFileMethods covers what callers use beyond blob.Object: Name
// (ffmpeg reads the path), ReadAt, Seek from the end, Close twice, and the
// descriptor handed to sendfile when the object is served over TCP.
func TestObjectFileMethods(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := bytes.Repeat([]byte("0123456789"), 20000)
	info, err := s.Put(ctx, bytes.NewReader(data), blob.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Open(ctx, info.Key)
	if err != nil {
		t.Fatal(err)
	}
	o := obj.(*Object)
	if want := filepath.Join(s.Root(), info.Key[0:2], info.Key[2:4], info.Key); o.Name() != want {
		t.Fatalf("Name = %s, want %s", o.Name(), want)
	}
	if fi, err := os.Stat(o.Name()); err != nil || fi.Size() != int64(len(data)) {
		t.Fatalf("stat of Name: %v, %v", fi, err)
	}
	buf := make([]byte, 10)
	if n, err := o.ReadAt(buf, 15); n != 10 || err != nil || string(buf) != "5678901234" {
		t.Fatalf("ReadAt = %d, %v, %q", n, err, buf)
	}
	if n, err := o.ReadAt(buf, int64(len(data))-4); n != 4 || err != io.EOF {
		t.Fatalf("ReadAt at the end = %d, %v", n, err)
	}
	if pos, err := o.Seek(-3, io.SeekEnd); err != nil || pos != int64(len(data))-3 {
		t.Fatalf("Seek from end = %d, %v", pos, err)
	}
	rest, err := io.ReadAll(o)
	if err != nil || string(rest) != "789" {
		t.Fatalf("read after seek = %q, %v", rest, err)
	}
	if n, err := o.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read at EOF = %d, %v", n, err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second Close = %v, want os.ErrClosed", err)
	}
	if _, err := o.Read(buf); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Read after Close = %v, want os.ErrClosed", err)
	}

	// Served over a real TCP connection (sendfile on Linux), whole and
	// as a range.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		obj, err := s.Open(r.Context(), info.Key)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer obj.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "", time.Time{}, obj)
	}))
	defer srv.Close()
	for _, rng := range []string{"", "bytes=100-150099"} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		want := data
		if rng != "" {
			req.Header.Set("Range", rng)
			want = data[100:150100]
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("served %q: %d bytes, %v; want %d bytes", rng, len(got), err, len(want))
		}
	}
}
