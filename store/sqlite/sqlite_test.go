package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/haulhq/haul/store"
	"github.com/haulhq/haul/store/storetest"
)

func openTest(t *testing.T) store.Store {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "haul.db"))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestContract(t *testing.T) {
	storetest.Run(t, openTest)
}
