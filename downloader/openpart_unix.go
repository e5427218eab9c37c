//go:build unix

package downloader

import (
	"os"
	"syscall"
)

// createPart creates (truncating) a part file. Opening with syscall.Open
// and os.NewFile keeps the regular file out of the network poller, which
// saves a few fcntl/epoll_ctl calls per file: it adds up with thousands
// of small files.
func createPart(path string) (*os.File, error) {
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CREAT|syscall.O_TRUNC|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// renameFile is os.Rename without its Lstat of the destination (the
// target was checked when claimed; it is never a directory).
func renameFile(from, to string) error {
	if err := syscall.Rename(from, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
