// Package postgres is the scale-out metadata store of haul serve
// (--db postgres://…): many replicas share one PostgreSQL database.
//
// It speaks to PostgreSQL through pgx (github.com/jackc/pgx/v5) behind
// database/sql, and keeps the SQLite backend's schema shape and row
// handling (times as Unix microseconds, JSON as text), so that both
// backends run the same statements wherever the dialects agree, pass the
// same contract suite (store/storetest), and `haul admin migrate-store`
// can copy rows verbatim. The statements themselves live in
// store/internal/sqlstore, shared with the SQLite backend; this package
// gives them its dialect (dialect.go) and rewrites their ? placeholders
// at run time.
//
// Concurrency: writes run in SERIALIZABLE transactions, retried on a
// serialization failure or deadlock, so each method and WithTx behave as on
// SQLite's single writer, now across replicas. The hot paths, called on
// their own, run at READ COMMITTED with statements that are atomic there,
// so concurrent callers queue on a row lock instead of retrying: ClaimJob
// picks its job with FOR UPDATE SKIP LOCKED, RedeemGrant is one conditional
// UPDATE, AcquireLease one conditional upsert, TakeToken locks its bucket
// row. AppendEvent advances one event_clock row so that event IDs follow
// commit order. Schema migrations
// (embedded migrations/NNNN_name.sql, each in its own transaction) run
// under a session advisory lock, so replicas starting together apply them
// once.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/haulhq/haul/store"
	"github.com/haulhq/haul/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLockKey is the pg_advisory_lock key that serializes migrations
// ("haulmigr" in ASCII).
const migrationLockKey int64 = 0x686175_6c6d6967

// maxAttempts bounds the retries of a transaction that keeps conflicting.
const maxAttempts = 30

// Errors Open wraps when it can tell why the database is unusable.
var (
	// ErrUnreachable: nothing answered at the host and port.
	ErrUnreachable = errors.New("database unreachable")
	// ErrAuth: the server refused the user or password.
	ErrAuth = errors.New("database authentication failed")
	// ErrNoDatabase: the database named in the URL does not exist.
	ErrNoDatabase = errors.New("database does not exist")
)

// storeMethods are the data methods DB shares with store/sqlite, embedded
// under an unexported name.
type storeMethods = sqlstore.Store

// DB is the PostgreSQL store. It implements store.Store; its data methods
// (all but Close, Ready, WithTx and WithRowLockTx) are the ones it shares
// with store/sqlite, run here on the pool or in retried transactions.
type DB struct {
	storeMethods

	d     *sqlstore.Dialect
	clock func() time.Time // calls Now
	sql   *sql.DB
	conf  *pgx.ConnConfig
	// rebound caches queries with ? placeholders rewritten as $n.
	rebound sync.Map

	// Now is the clock for times the caller did not give (CreatedAt and
	// the like). Replace it before use in tests.
	Now func() time.Time
}

var _ store.Store = (*DB)(nil)

// Options tune Open.
type Options struct {
	// MaxConns caps the connection pool (default 20).
	MaxConns int
}

// Open connects to the database at dsn (a postgres:// URL or key=value
// string), checks that it answers, and migrates it to the current schema.
// Errors wrap ErrUnreachable, ErrAuth or ErrNoDatabase when the cause is
// one of those, and never contain the password.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	conf, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse URL: %s", redactErr(err, dsn))
	}
	if conf.ConnectTimeout == 0 {
		conf.ConnectTimeout = 10 * time.Second
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 20
	}
	sdb := stdlib.OpenDB(*conf)
	sdb.SetMaxOpenConns(opts.MaxConns)
	sdb.SetMaxIdleConns(opts.MaxConns)
	sdb.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{sql: sdb, conf: conf, d: newDialect(), Now: time.Now}
	db.clock = func() time.Time { return db.Now() }
	db.storeMethods = sqlstore.NewStore(db.d, db.clock, rebinder{sdb, db}, db.write, db.writeRC)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, db.describe(err)
	}
	if err := db.migrate(ctx); err != nil {
		sdb.Close()
		return nil, err
	}
	return db, nil
}

// where names the server for messages (never the password).
func (db *DB) where() string {
	return fmt.Sprintf("%s@%s/%s", db.conf.User, net.JoinHostPort(db.conf.Host, strconv.Itoa(int(db.conf.Port))), db.conf.Database)
}

// describe turns a connection error into one saying what to fix.
func (db *DB) describe(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "28P01", "28000":
			return fmt.Errorf("postgres %s: %w: %s", db.where(), ErrAuth, pe.Message)
		case "3D000":
			return fmt.Errorf("postgres %s: %w: %s (create it first)", db.where(), ErrNoDatabase, pe.Message)
		}
		return fmt.Errorf("postgres %s: %w", db.where(), err)
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || (errors.As(err, &ne) && ne.Timeout()) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("postgres %s: %w: %v", db.where(), ErrUnreachable, err)
	}
	return fmt.Errorf("postgres %s: %w", db.where(), err)
}

// redactErr returns err's text with the DSN's password removed.
func redactErr(err error, dsn string) string {
	msg := err.Error()
	if conf, perr := pgx.ParseConfig(dsn); perr == nil && conf.Password != "" {
		msg = strings.ReplaceAll(msg, conf.Password, "xxxxx")
	}
	return msg
}

// SQL returns the underlying pool, for tools such as migrate-store.
func (db *DB) SQL() *sql.DB { return db.sql }

// Close closes the connection pool.
func (db *DB) Close() error { return db.sql.Close() }

// Ready runs a trivial query.
func (db *DB) Ready(ctx context.Context) error {
	var one int
	if err := db.sql.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("postgres: not ready: %w", db.describe(err))
	}
	return nil
}

// migrate applies the embedded migrations not yet recorded, in name order,
// each in its own transaction, holding an advisory lock on one connection
// so that replicas starting together do not race.
func (db *DB) migrate(ctx context.Context) error {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return db.describe(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("postgres: take migration lock: %w", err)
	}
	defer func() {
		// Unlock even when ctx is done; closing the session would too.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(uctx, "SELECT pg_advisory_unlock($1)", migrationLockKey)
	}()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: create schema_migrations: %w", err)
	}
	err = sqlstore.ApplyMigrations(migrationFS, func(version, body string) error {
		return db.applyMigration(ctx, conn, version, body)
	})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

func (db *DB) applyMigration(ctx context.Context, conn *sql.Conn, version, body string) error {
	t, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer t.Rollback()
	var n int
	if err := t.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = $1", version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := t.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := t.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", version, db.Now().UnixMicro()); err != nil {
		return err
	}
	return t.Commit()
}

// rebinder runs queries written with SQLite's ? placeholders — the two
// backends share their statements — as PostgreSQL's $1, $2, ….
type rebinder struct {
	q  sqlstore.Querier
	db *DB
}

func (r rebinder) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.q.ExecContext(ctx, r.db.rebind(query), args...)
}

func (r rebinder) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.q.QueryContext(ctx, r.db.rebind(query), args...)
}

func (r rebinder) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return r.q.QueryRowContext(ctx, r.db.rebind(query), args...)
}

// rebind rewrites ? placeholders outside string literals as $n.
func (db *DB) rebind(query string) string {
	if v, ok := db.rebound.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n, inString := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			inString = !inString
			b.WriteByte(c)
		case c == '?' && !inString:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	db.rebound.Store(query, out)
	return out
}

// write runs fn in a serializable transaction, again after a
// serialization failure or deadlock (fn has no effects outside the
// transaction, so running it again is safe).
func (db *DB) write(ctx context.Context, fn func(*sqlstore.Tx) error) error {
	return db.writeIso(ctx, sql.LevelSerializable, fn)
}

// writeRC runs fn at READ COMMITTED, for the hot single-purpose operations
// whose statements are safe there on their own — a conditional UPDATE, an
// upsert, a row locked with FOR UPDATE (SKIP LOCKED) before it is changed —
// so that concurrent callers wait for a row lock instead of failing and
// retrying the whole transaction.
func (db *DB) writeRC(ctx context.Context, fn func(*sqlstore.Tx) error) error {
	return db.writeIso(ctx, sql.LevelReadCommitted, fn)
}

func (db *DB) writeIso(ctx context.Context, iso sql.IsolationLevel, fn func(*sqlstore.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.writeOnce(ctx, iso, fn)
		if !retryable(err) || attempt >= maxAttempts || ctx.Err() != nil {
			return err
		}
		backoff := time.Duration(min(1<<min(attempt, 7), 100)) * time.Millisecond
		select {
		case <-time.After(rand.N(backoff) + time.Millisecond):
		case <-ctx.Done():
			return err
		}
	}
}

func (db *DB) writeOnce(ctx context.Context, iso sql.IsolationLevel, fn func(*sqlstore.Tx) error) (err error) {
	sqlTx, err := db.sql.BeginTx(ctx, &sql.TxOptions{Isolation: iso})
	if err != nil {
		return db.d.Err("begin", db.describe(err))
	}
	defer func() {
		if p := recover(); p != nil {
			sqlTx.Rollback()
			panic(p)
		}
	}()
	if err := fn(sqlstore.NewTx(db.d, db.clock, rebinder{sqlTx, db})); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return db.d.Err("commit", err)
	}
	return nil
}

// WithTx runs fn in one serializable transaction.
func (db *DB) WithTx(ctx context.Context, fn func(store.Tx) error) error {
	return db.write(ctx, func(t *sqlstore.Tx) error { return fn(t) })
}

// WithRowLockTx runs fn in one READ COMMITTED transaction (retried on
// deadlock), for conditional row updates that must not fail when many
// callers touch the same row at once.
func (db *DB) WithRowLockTx(ctx context.Context, fn func(store.Tx) error) error {
	return db.writeRC(ctx, func(t *sqlstore.Tx) error { return fn(t) })
}

// pgCode returns the SQLSTATE of a PostgreSQL error, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// retryable reports whether a transaction failed only because of a
// concurrent one: a serialization failure, a deadlock, or a unique
// violation the code did not expect (two transactions inserting the same
// key; run again, the loser sees the winner's row and takes its path).
func retryable(err error) bool {
	switch pgCode(err) {
	case "40001", "40P01", "23505":
		return true
	}
	return false
}

func isUnique(err error) bool { return pgCode(err) == "23505" }

func isForeignKey(err error) bool { return pgCode(err) == "23503" }
