package server

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestSizedFile: seeks and reads through sizedFile give the bytes a plain
// *os.File gives, and the descriptor handed out is at the logical offset.
func TestSizedFile(t *testing.T) {
	data := make([]byte, 10000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	open := func() *sizedFile {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return newSizedFile(f, int64(len(data)))
	}
	type step struct {
		off    int64
		whence int
		read   int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"size probe then all", []step{{0, io.SeekEnd, 0}, {0, io.SeekStart, 0}, {0, io.SeekCurrent, 10000}}},
		{"range", []step{{0, io.SeekEnd, 0}, {0, io.SeekStart, 0}, {500, io.SeekStart, 100}}},
		{"two ranges", []step{{9000, io.SeekStart, 600}, {100, io.SeekStart, 50}, {10, io.SeekCurrent, 5}}},
		{"from end", []step{{-300, io.SeekEnd, 300}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open()
			var pos int64
			for i, st := range tt.steps {
				got, err := s.Seek(st.off, st.whence)
				switch st.whence {
				case io.SeekStart:
					pos = st.off
				case io.SeekCurrent:
					pos += st.off
				case io.SeekEnd:
					pos = int64(len(data)) + st.off
				}
				if err != nil || got != pos {
					t.Fatalf("step %d: Seek = %d, %v; want %d", i, got, err, pos)
				}
				if st.read > 0 {
					buf := make([]byte, st.read)
					if _, err := io.ReadFull(s, buf); err != nil {
						t.Fatalf("step %d: read: %v", i, err)
					}
					if !bytes.Equal(buf, data[pos:pos+int64(st.read)]) {
						t.Fatalf("step %d: read wrong bytes at %d", i, pos)
					}
					pos += int64(st.read)
				}
			}
			// The descriptor sendfile would get sits at the logical offset.
			if _, err := s.SyscallConn(); err != nil {
				t.Fatal(err)
			}
			if real, _ := s.f.Seek(0, io.SeekCurrent); real != pos {
				t.Fatalf("descriptor at %d, want %d", real, pos)
			}
			rest, _ := io.ReadAll(s)
			if !bytes.Equal(rest, data[pos:]) {
				t.Fatalf("after SyscallConn: read %d bytes, want %d", len(rest), len(data)-int(pos))
			}
		})
	}
	if _, err := open().Seek(-1, io.SeekStart); err == nil {
		t.Fatal("negative seek: no error")
	}
}
