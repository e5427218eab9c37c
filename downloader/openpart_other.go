//go:build !unix

package downloader

import "os"

// createPart creates (truncating) a part file.
func createPart(path string) (partFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// renameFile renames a finished part file into place.
func renameFile(from, to string) error { return os.Rename(from, to) }
