//go:build unix

package fs

import (
	"os"
	"syscall"
)

// openRead opens a blob for reading. os.Open would try to add the
// descriptor to the runtime poller, which costs four fcntl calls and a
// failing epoll_ctl per open on Linux (regular files are not pollable);
// a plain open(2) wrapped by os.NewFile is one openat and one fcntl, and
// reads, Stat and sendfile work the same.
func openRead(name string) (*os.File, error) {
	for {
		fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), nil
	}
}
