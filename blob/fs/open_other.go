//go:build !unix

package fs

import (
	"os"
	"time"
)

// rawFile is an open file.
type rawFile struct{ *os.File }

// openRead opens a blob for reading.
func openRead(name string) (rawFile, error) {
	f, err := os.Open(name)
	return rawFile{f}, err
}

func (f rawFile) stat() (int64, time.Time, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, time.Time{}, err
	}
	return fi.Size(), fi.ModTime(), nil
}
