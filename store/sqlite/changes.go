package sqlite

import (
	"bytes"
	"os"
	"sync"
	"sync/atomic"

	"github.com/haulhq/haul/store"
)

// walIndex reads the header of the database's -shm file: the WAL index
// that every SQLite connection, in any process, updates when it commits.
// Comparing it answers "has anything been committed since?" with one pread
// instead of a query. The file is opened on first use, closed by Close.
type walIndex struct {
	f    atomic.Pointer[os.File]
	mu   sync.Mutex
	done bool
}

var _ store.Changes = (*DB)(nil)

// ChangeToken returns a token that differs from every earlier one whenever
// a transaction has been committed to the database since, by this or any
// other process (haul admin, another replica): it is the WAL-index header
// SQLite itself reads to decide whether a reader's snapshot is stale (it
// holds a counter bumped by every commit, the last frame and the WAL
// salts). ok is false when no token can be taken (a commit is writing the
// header at this instant, or the WAL index cannot be read); callers then
// read the store.
func (db *DB) ChangeToken() (tok store.ChangeToken, ok bool) {
	f := db.wal.file(db.path + "-shm")
	if f == nil {
		return tok, false
	}
	var hdr [96]byte
	if n, err := f.ReadAt(hdr[:], 0); n < len(hdr) {
		_ = err
		return tok, false
	}
	// A writer updates the second copy of the header, then the first:
	// different copies mean a commit is halfway through (SQLite's check).
	if !bytes.Equal(hdr[:48], hdr[48:]) {
		return tok, false
	}
	copy(tok[:], hdr[:48])
	return tok, true
}

func (w *walIndex) file(name string) *os.File {
	if f := w.f.Load(); f != nil {
		return f
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if f := w.f.Load(); f != nil || w.done {
		return f
	}
	f, err := os.Open(name)
	if err != nil {
		return nil
	}
	w.f.Store(f)
	return f
}

func (w *walIndex) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if f := w.f.Swap(nil); f != nil {
		f.Close()
	}
}
