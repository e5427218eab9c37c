package sqlstore

import (
	"context"
	"time"
)

// Store has the data methods of store.Store (all but Close, Ready, WithTx
// and WithRowLockTx), each run as a single read or in a write transaction
// of its own, through the runners of the backend that embeds it.
type Store struct {
	d            *Dialect
	clock        func() time.Time
	read         Querier
	write        func(ctx context.Context, fn func(*Tx) error) error
	writeRowLock func(ctx context.Context, fn func(*Tx) error) error
}

// NewStore returns the data methods of a backend with dialect d and the
// clock for times the caller did not give. Single reads run on read (a
// pool); write runs fn in a write transaction (as WithTx does);
// writeRowLock runs fn in the write transaction of the hot single-row
// operations (ClaimJob, RedeemGrant, AcquireLease, ReleaseLease,
// TakeToken), as WithRowLockTx does.
func NewStore(d *Dialect, clock func() time.Time, read Querier, write, writeRowLock func(ctx context.Context, fn func(*Tx) error) error) Store {
	return Store{d: d, clock: clock, read: read, write: write, writeRowLock: writeRowLock}
}

// rd returns the operations on the read pool. It is small enough to
// inline, so a read's Tx can stay on the stack.
func (s *Store) rd() *Tx { return &Tx{q: s.read, d: s.d, clock: s.clock} }

// write1 runs fn in a write transaction and returns its value.
func write1[T any](ctx context.Context, s *Store, fn func(*Tx) (T, error)) (T, error) {
	return run1(ctx, s.write, fn)
}

// write1RowLock runs fn in a row-lock write transaction and returns its
// value.
func write1RowLock[T any](ctx context.Context, s *Store, fn func(*Tx) (T, error)) (T, error) {
	return run1(ctx, s.writeRowLock, fn)
}

func run1[T any](ctx context.Context, run func(context.Context, func(*Tx) error) error, fn func(*Tx) (T, error)) (T, error) {
	var v T
	err := run(ctx, func(t *Tx) error {
		var err error
		v, err = fn(t)
		return err
	})
	return v, err
}

// write2 runs fn in a write transaction and returns its two values.
func write2[T, U any](ctx context.Context, s *Store, fn func(*Tx) (T, U, error)) (T, U, error) {
	var v T
	var u U
	err := s.write(ctx, func(t *Tx) error {
		var err error
		v, u, err = fn(t)
		return err
	})
	return v, u, err
}
