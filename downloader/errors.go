package downloader

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/haulhq/haul/manifest"
)

// ErrChecksumMismatch means the downloaded bytes do not match the item's
// checksum. The partial data is discarded and the item retried from zero.
var ErrChecksumMismatch = errors.New("checksum mismatch")

// ErrSizeMismatch means the server delivered a different number of bytes
// than the manifest's size.
var ErrSizeMismatch = errors.New("size mismatch")

// ErrNotReady means an item is queued or processing and there is no way to
// refresh the manifest (no self URL or refresher).
var ErrNotReady = errors.New("item not ready and the manifest has no self URL to poll")

// ErrNoRefresh is returned by a Refresher that has no way to refresh (the
// manifest turned out to have no self URL). Pending items then fail with
// ErrNotReady and expired URLs with their HTTP error.
var ErrNoRefresh = errors.New("the manifest has no self URL to refresh from")

// ErrStalled means no byte arrived for Options.StallTimeout.
var ErrStalled = errors.New("transfer stalled")

// ErrInvalidItem marks an item the manifest describes badly (no URL, a
// malformed checksum, an unknown status).
var ErrInvalidItem = errors.New("invalid item")

// errRestart means the server ignored Range or the validator changed: the
// partial data was discarded and the next attempt starts from zero.
var errRestart = errors.New("server sent a different representation; restarting from zero")

// HTTPError is an unexpected HTTP status.
type HTTPError struct {
	// StatusCode is the response status.
	StatusCode int
	// Status is the status line text.
	Status string
	// URL is the request URL without its query (signed URLs carry secrets).
	URL string
	// RetryAfter is the delay the server asked for, 0 when none.
	RetryAfter time.Duration
}

// Error implements error.
func (e *HTTPError) Error() string {
	return fmt.Sprintf("GET %s: %s", e.URL, e.Status)
}

// retryable reports whether an attempt that failed with err may be
// retried.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		switch {
		case he.StatusCode == 408, he.StatusCode == 429, he.StatusCode == 416:
			return true
		case he.StatusCode >= 500:
			return true
		default:
			return false
		}
	}
	var ie *manifest.ItemError
	if errors.As(err, &ie) || errors.Is(err, ErrNotReady) || errors.Is(err, manifest.ErrUnsafeName) ||
		errors.Is(err, manifest.ErrDuplicate) {
		return false
	}
	if errors.Is(err, ErrInvalidItem) {
		return false
	}
	// Local filesystem trouble (disk full, permissions) does not get better
	// by asking the server again.
	var pe *os.PathError
	return !errors.As(err, &pe)
}

// ErrorCode classifies err with a stable short code, used in events and
// by commands to pick exit codes: "http_<status>", "checksum_mismatch",
// "size_mismatch", "unsafe_filename", "duplicate_target", "invalid_item", "not_ready",
// "item_failed", "stalled", "canceled", "io", "network".
func ErrorCode(err error) string {
	var he *HTTPError
	var ie *manifest.ItemError
	var pe *os.PathError
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &he):
		return fmt.Sprintf("http_%d", he.StatusCode)
	case errors.Is(err, ErrChecksumMismatch):
		return "checksum_mismatch"
	case errors.Is(err, ErrSizeMismatch):
		return "size_mismatch"
	case errors.Is(err, manifest.ErrUnsafeName):
		return "unsafe_filename"
	case errors.Is(err, manifest.ErrDuplicate):
		return "duplicate_target"
	case errors.Is(err, ErrInvalidItem):
		return "invalid_item"
	case errors.Is(err, ErrNotReady):
		return "not_ready"
	case errors.As(err, &ie):
		return "item_failed"
	case errors.Is(err, ErrStalled):
		return "stalled"
	case errors.As(err, &ne):
		return "network"
	case errors.As(err, &pe):
		return "io"
	default:
		return "network"
	}
}

// IsAuthError reports whether err is a 401 or 403 from the server.
func IsAuthError(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && (he.StatusCode == 401 || he.StatusCode == 403)
}
