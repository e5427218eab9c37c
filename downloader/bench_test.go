package downloader

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"testing"
	"time"
)

// repeatReader yields n bytes of pattern, in reads of at most chunk bytes,
// like a socket would.
type repeatReader struct {
	pattern []byte
	n       int64
	chunk   int
}

func (r *repeatReader) Read(b []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if len(b) > r.chunk {
		b = b[:r.chunk]
	}
	if int64(len(b)) > r.n {
		b = b[:r.n]
	}
	n := copy(b, r.pattern)
	r.n -= int64(n)
	return n, nil
}

func benchJob(b *testing.B, size int64) *fileJob {
	b.Helper()
	e, err := New(context.Background(), Options{Dir: b.TempDir(), Jobs: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		e.Close()
		e.Wait()
	})
	t := &task{name: "bench.bin", key: "bench.bin"}
	t.item.Size = size
	j := &fileJob{e: e, t: t}
	f, err := os.CreateTemp(b.TempDir(), "part")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	j.part = f
	return j
}

// BenchmarkCopyHash measures the hot path of a single-connection download:
// read, write to the part file and hash, in one goroutine (serial, as
// while other files are in flight) and pipelined (a file alone).
func BenchmarkCopyHash(b *testing.B) {
	const size = 64 << 20
	pattern := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 64<<10/7)
	for _, mode := range []struct {
		name string
		mode copyMode
	}{{"serial", copySerial}, {"pipelined", copyPipelined}} {
		b.Run(mode.name, func(b *testing.B) {
			j := benchJob(b, size)
			j.e.opts.copyMode = mode.mode
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				j.st = newFileState("bench.bin", "", size)
				j.h = sha256.New()
				j.part.Truncate(0)
				guard := j.newStallGuard(context.Background())
				err := j.pump(guard, &repeatReader{pattern: pattern, n: size, chunk: 64 << 10}, 0, func(int64) bool { return false })
				guard.stop()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCopyHashSmall is the same for a 32 KiB file (the one-goroutine
// path).
func BenchmarkCopyHashSmall(b *testing.B) {
	const size = 32 << 10
	j := benchJob(b, size)
	pattern := bytes.Repeat([]byte{9}, size)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		j.st = newFileState("bench.bin", "", size)
		j.h = sha256.New()
		guard := j.newStallGuard(context.Background())
		err := j.pump(guard, &repeatReader{pattern: pattern, n: size, chunk: size}, 0, func(int64) bool { return false })
		guard.stop()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckpoint measures one journal checkpoint of a segmented file:
// marshal the hash state, write the state file, rename it.
func BenchmarkCheckpoint(b *testing.B) {
	j := benchJob(b, 1<<30)
	j.st = newFileState("bench.bin", "https://example.com/f", 1<<30)
	j.split(0, 4)
	j.h = sha256.New()
	j.h.Write(make([]byte, 1<<20))
	j.st.Segments[0].Done = 1 << 20
	j.st.HashOffset = 1 << 20
	j.st.Validator = validator{ETag: `"abc"`, LastModified: time.Now().UTC().Format(time.RFC1123)}
	b.ReportAllocs()
	for b.Loop() {
		j.mu.Lock()
		j.saveLocked()
		j.mu.Unlock()
	}
}
