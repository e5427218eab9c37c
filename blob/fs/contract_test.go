package fs_test

import (
	"testing"

	"github.com/haulhq/haul/blob"
	"github.com/haulhq/haul/blob/blobtest"
	"github.com/haulhq/haul/blob/fs"
)

func TestContract(t *testing.T) {
	blobtest.Run(t, blobtest.Options{
		New: func(t *testing.T) blob.Store {
			st, err := fs.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
		ErrTooLarge: fs.ErrTooLarge,
	})
}
