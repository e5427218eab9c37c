package main

import (
	"errors"
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
