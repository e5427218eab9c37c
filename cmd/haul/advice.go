package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/haulhq/haul/downloader"
)

// failureAdvice says what to do next about failed downloads: the most
// specific cause first (a full disk, refused access, files that changed on
// the server), then how to retry. Finished files and partial data are
// always kept, so the advice is to fix the cause and run the same command.
func failureAdvice(failed []downloader.Result) string {
	var full, refused, changed bool
	for _, r := range failed {
		switch {
		case errors.Is(r.Err, syscall.ENOSPC) || errors.Is(r.Err, syscall.EDQUOT):
			full = true
		case downloader.IsAuthError(r.Err):
			refused = true
		case errors.Is(r.Err, downloader.ErrChecksumMismatch) || errors.Is(r.Err, downloader.ErrSizeMismatch):
			changed = true
		}
	}
	switch {
	case full:
		return "the disk is full: free space (or choose another -o) and run the same command again; partial files are kept and resume"
	case refused:
		return "access was refused: check the API key, or ask for fresh links if the URLs were signed and have expired; then run the same command again"
	case changed:
		return "the server's files differ from the manifest (size or checksum): get a fresh manifest, then run the same command again"
	}
	return "run the same command again to retry the failed items; completed files are kept and partial ones resume"
}

// listenError explains a failed listen on addr, with what to do about the
// usual causes: the port is taken, or is privileged.
func listenError(addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("listen on %s: %w; another process holds the port: stop it or choose another --addr", addr, err)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("listen on %s: %w; ports below 1024 need privileges: choose a port of 1024 or more with --addr", addr, err)
	}
	return fmt.Errorf("listen on %s: %w", addr, err)
}

// makeOutputDir creates the output directory dir (-o) with its parents.
// A path that exists but is not a directory is a usage error (exit 2):
// the flag names a directory, not a file.
func makeOutputDir(dir string) error {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return usageErrorf("-o %s: not a directory; -o names the directory the files go into", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return usageErrorf("-o %s: a parent is not a directory", dir)
		}
		return fmt.Errorf("output directory: %w", err)
	}
	return nil
}
