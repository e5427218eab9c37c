//go:build unix

package downloader

import (
	"io"
	"os"
	"syscall"
)

// createPart creates (truncating) a part file. It is a bare descriptor
// used with pread/pwrite: an *os.File would cost an fcntl (os.NewFile
// checks the blocking mode), a finalizer and, through os.OpenFile, a
// try to add the regular file to the network poller. With thousands of
// small files those calls add up.
func createPart(path string) (partFile, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CREAT|syscall.O_TRUNC|syscall.O_CLOEXEC, 0o644)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return &fdFile{fd: fd, path: path}, nil
	}
}

// fdFile is a partFile on a bare file descriptor. Like *os.File, it is
// used by one goroutine at a time for Close, and concurrently only for
// positioned reads and writes.
type fdFile struct {
	fd   int
	path string
}

func (f *fdFile) WriteAt(b []byte, off int64) (int, error) {
	if f.fd < 0 {
		return 0, os.ErrClosed
	}
	n := 0
	for n < len(b) {
		m, err := syscall.Pwrite(f.fd, b[n:], off+int64(n))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, &os.PathError{Op: "write", Path: f.path, Err: err}
		}
		if m == 0 {
			return n, io.ErrShortWrite
		}
		n += m
	}
	return n, nil
}

func (f *fdFile) ReadAt(b []byte, off int64) (int, error) {
	if f.fd < 0 {
		return 0, os.ErrClosed
	}
	n := 0
	for n < len(b) {
		m, err := syscall.Pread(f.fd, b[n:], off+int64(n))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, &os.PathError{Op: "read", Path: f.path, Err: err}
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
	}
	return n, nil
}

func (f *fdFile) Truncate(size int64) error {
	if f.fd < 0 {
		return os.ErrClosed
	}
	for {
		err := syscall.Ftruncate(f.fd, size)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "truncate", Path: f.path, Err: err}
		}
		return nil
	}
}

func (f *fdFile) Close() error {
	if f.fd < 0 {
		return os.ErrClosed
	}
	err := syscall.Close(f.fd)
	f.fd = -1
	if err != nil {
		return &os.PathError{Op: "close", Path: f.path, Err: err}
	}
	return nil
}

// renameFile is os.Rename without its Lstat of the destination (the
// target was checked when claimed; it is never a directory).
func renameFile(from, to string) error {
	if err := syscall.Rename(from, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
