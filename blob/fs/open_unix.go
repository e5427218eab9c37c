//go:build unix

package fs

import (
	"errors"
	"io"
	"os"
	"syscall"
	"time"
)

// rawFile is an open regular file as a bare descriptor. os.Open would add
// the descriptor to the runtime poller (four fcntl calls and a failing
// epoll_ctl on Linux: regular files are not pollable) and os.NewFile
// costs an fcntl, an allocation and a finalizer; a blob is opened per
// delivery, so here it is one openat and nothing else.
type rawFile struct {
	fd   int
	name string
}

// openRead opens a blob for reading.
func openRead(name string) (rawFile, error) {
	for {
		fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return rawFile{fd: -1}, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return rawFile{fd: fd, name: name}, nil
	}
}

// Name returns the path the file was opened with.
func (f *rawFile) Name() string { return f.name }

func (f *rawFile) stat() (int64, time.Time, error) {
	var st syscall.Stat_t
	for {
		err := syscall.Fstat(f.fd, &st)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, time.Time{}, &os.PathError{Op: "stat", Path: f.name, Err: err}
		}
		return st.Size, time.Unix(st.Mtim.Unix()), nil
	}
}

// Read implements io.Reader.
func (f *rawFile) Read(p []byte) (int, error) {
	if f.fd < 0 {
		return 0, os.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := syscall.Read(f.fd, p)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, &os.PathError{Op: "read", Path: f.name, Err: err}
		}
		if n == 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

// ReadAt implements io.ReaderAt.
func (f *rawFile) ReadAt(p []byte, off int64) (int, error) {
	if f.fd < 0 {
		return 0, os.ErrClosed
	}
	if off < 0 {
		return 0, &os.PathError{Op: "readat", Path: f.name, Err: errors.New("negative offset")}
	}
	total := 0
	for len(p) > 0 {
		n, err := syscall.Pread(f.fd, p, off)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return total, &os.PathError{Op: "read", Path: f.name, Err: err}
		}
		if n == 0 {
			return total, io.EOF
		}
		total += n
		p = p[n:]
		off += int64(n)
	}
	return total, nil
}

// Seek implements io.Seeker.
func (f *rawFile) Seek(offset int64, whence int) (int64, error) {
	if f.fd < 0 {
		return 0, os.ErrClosed
	}
	n, err := syscall.Seek(f.fd, offset, whence)
	if err != nil {
		return 0, &os.PathError{Op: "seek", Path: f.name, Err: err}
	}
	return n, nil
}

// Close closes the descriptor; later calls return os.ErrClosed.
func (f *rawFile) Close() error {
	if f.fd < 0 {
		return os.ErrClosed
	}
	fd := f.fd
	f.fd = -1
	// close(2) releases the descriptor even when it reports EINTR.
	if err := syscall.Close(fd); err != nil && err != syscall.EINTR {
		return &os.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}

// SyscallConn gives net/http the descriptor, so a response body copied
// from it goes out with sendfile.
func (f *rawFile) SyscallConn() (syscall.RawConn, error) {
	if f.fd < 0 {
		return nil, os.ErrClosed
	}
	return fdConn(f.fd), nil
}

// fdConn is the syscall.RawConn of a regular file: always ready.
type fdConn int

func (c fdConn) Control(fn func(fd uintptr)) error { fn(uintptr(c)); return nil }

// Read calls fn until it reports done; a regular file never blocks, so
// that is at once for every caller in the standard library.
func (c fdConn) Read(fn func(fd uintptr) bool) error {
	for !fn(uintptr(c)) {
	}
	return nil
}

func (c fdConn) Write(fn func(fd uintptr) bool) error {
	for !fn(uintptr(c)) {
	}
	return nil
}
