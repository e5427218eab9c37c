//go:build !unix

package fs

import "os"

// openRead opens a blob for reading.
func openRead(name string) (*os.File, error) { return os.Open(name) }
