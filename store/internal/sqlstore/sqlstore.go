// Package sqlstore is the data access that store/sqlite and store/postgres
// share: every query, scan and row rule of the store.Store data methods,
// written once with ? placeholders over the schema both backends keep
// (times as Unix microseconds, JSON as text, booleans as 0/1).
//
// What really differs between the two databases is gathered in a Dialect
// (a few SQL fragments, error classification, how rows are locked and
// batched, how event IDs are ordered). Everything about connections stays
// in the backends: opening and pragmas, migrations, transactions with
// their isolation levels and retries, placeholder rebinding, notification.
// A backend hands its transactions to Tx and its transaction runners to
// Store, and embeds the Store in its DB.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/haulhq/haul/store"
)

// Querier is what *sql.DB and *sql.Tx have in common: what a Tx runs its
// statements on.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Dialect is what differs between the backends in the shared statements
// and in reading their errors. Each backend builds one at Open.
type Dialect struct {
	// Name starts the message of every database error ("sqlite: …").
	Name string
	// IsUnique reports whether err is a unique or primary key violation.
	IsUnique func(err error) bool
	// IsForeignKey reports whether err is a foreign key violation.
	IsForeignKey func(err error) bool
	// Bool is the value written to a 0/1 integer column for a bool
	// parameter that is not converted in SQL.
	Bool func(b bool) any
	// AnyOp joins EXISTS terms into one value that is true or nonzero
	// when any of them holds: "+" (a sum of 0/1) or "OR".
	AnyOp string
	// Least is the SQL function returning the smaller of its arguments
	// ("min" or "LEAST").
	Least string
	// FloatParam is the placeholder of a float parameter compared in SQL
	// ("?", or "?::float8" where the type of a bare one cannot be
	// inferred).
	FloatParam string
	// RowLocks is set where writers run concurrently and queue on row
	// locks (PostgreSQL): ClaimJob picks its job FOR UPDATE SKIP LOCKED,
	// and TakeToken creates its bucket row if missing and locks it FOR
	// UPDATE. Unset (SQLite's single writer serializes every write), the
	// same statements run without locking clauses and a missing bucket
	// reads as a full one.
	RowLocks bool
	// RowsPerInsert is how many export items one INSERT statement writes.
	// 0 means one statement per item, prepared once per transaction when
	// the Tx can prepare (cheap where a statement is no round trip).
	RowsPerInsert int
	// LastEventID is the query of the newest event ID (NULL or '' when
	// there is none) that AppendEvent must exceed so that IDs follow
	// commit order; it takes whatever lock makes that ID stable until the
	// transaction ends.
	LastEventID string
	// SetLastEventID, when not empty, is the statement (one ? parameter)
	// AppendEvent runs to record a new event ID before inserting the
	// event.
	SetLastEventID string
}

// Tx runs the data operations on a Querier: a connection pool for single
// reads, or a write transaction. It implements store.Tx.
type Tx struct {
	q     Querier
	d     *Dialect
	clock func() time.Time

	// sole is the transaction of a Tx made by NewSoleWriterTx, else nil.
	sole *sql.Tx
	// lastEventID is the largest event ID, known once AppendEvent has
	// read or written it in a sole-writer transaction (which holds the
	// write lock, so nothing else can add events meanwhile).
	lastEventID *string
	// stmts are statements prepared in the sole-writer transaction (hot
	// inserts run many times in one batch); closed with the transaction.
	stmts map[string]*sql.Stmt
}

var _ store.Tx = (*Tx)(nil)

// NewTx returns the data operations on q, with the dialect d and the clock
// for times the caller did not give.
func NewTx(d *Dialect, clock func() time.Time, q Querier) *Tx {
	return &Tx{q: q, d: d, clock: clock}
}

// NewSoleWriterTx is NewTx on a write transaction that holds the only write
// lock of the database (SQLite's writer connection): statements run many
// times in it are prepared once, and the newest event ID, read once, is
// then followed in memory.
func NewSoleWriterTx(d *Dialect, clock func() time.Time, sqlTx *sql.Tx) *Tx {
	return &Tx{q: sqlTx, d: d, clock: clock, sole: sqlTx}
}

// now returns the store clock's time, truncated as stored.
func (t *Tx) now() time.Time { return t.clock().UTC().Truncate(time.Microsecond) }

// txStmt returns query prepared in this sole-writer transaction, or nil in
// any other Tx or when it cannot be prepared (the caller then runs it
// unprepared and gets the error there).
func (t *Tx) txStmt(ctx context.Context, query string) *sql.Stmt {
	if t.sole == nil {
		return nil
	}
	if s, ok := t.stmts[query]; ok {
		return s
	}
	s, err := t.sole.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[query] = s
	return s
}

// prepare returns an exec function for a statement run many times in one
// call (batch inserts): prepared once inside a sole-writer transaction,
// plain exec otherwise. done releases it.
func (t *Tx) prepare(ctx context.Context, query string) (exec func(ctx context.Context, args ...any) (sql.Result, error), done func(), err error) {
	if t.sole == nil {
		return func(ctx context.Context, args ...any) (sql.Result, error) {
			return t.q.ExecContext(ctx, query, args...)
		}, func() {}, nil
	}
	s, err := t.sole.PrepareContext(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	return s.ExecContext, func() { s.Close() }, nil
}

// dbErr wraps an unexpected database error with what was being done.
func (t *Tx) dbErr(what string, err error) error { return t.d.Err(what, err) }

// Err wraps an unexpected database error with what was being done: a
// store.Error passes through, a cancelled or expired context stays
// recognisable, anything else becomes EINTERNAL.
func (d *Dialect) Err(what string, err error) error {
	if err == nil {
		return nil
	}
	var se *store.Error
	if errors.As(err, &se) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %s: %w", d.Name, what, err)
	}
	return &store.Error{Code: store.EINTERNAL, Message: d.Name + ": " + what, Err: err}
}

// notFound returns the ENOTFOUND error for an object kind and id.
func notFound(kind, id string) error {
	return store.Errorf(store.ENOTFOUND, "%s %s not found", kind, id)
}
