//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockJobs takes f's lock exclusively when no other process holds it
// (sole is true), or else waits for a shared one.
func lockJobs(f *os.File) (sole bool, err error) {
	fd := int(f.Fd())
	err = syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		return false, err
	}
	return false, shareJobs(f)
}

// shareJobs holds f's lock shared (downgrading an exclusive one).
func shareJobs(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH)
		if !errors.Is(err, syscall.EINTR) {
			if err != nil {
				return fmt.Errorf("share job lock: %w", err)
			}
			return nil
		}
	}
}
