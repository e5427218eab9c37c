//go:build !unix

package downloader

import "os"

// createPart creates (truncating) a part file.
func createPart(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
}

// renameFile renames a finished part file into place.
func renameFile(from, to string) error { return os.Rename(from, to) }
