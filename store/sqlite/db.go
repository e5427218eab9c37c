// Package sqlite is the embedded metadata store of haul serve: SQLite via
// modernc.org/sqlite (pure Go), in WAL mode, with one writer connection
// (every write is a BEGIN IMMEDIATE transaction, so writers never fail on a
// lock upgrade) and a pool of read-only connections. The schema lives in
// embedded migrations/NNNN_name.sql files, applied in order at Open, each
// in its own transaction, and recorded in schema_migrations.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/haulhq/haul/store"
	"github.com/haulhq/haul/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// storeMethods are the data methods DB shares with store/postgres, embedded
// under an unexported name.
type storeMethods = sqlstore.Store

// DB is the SQLite store. It implements store.Store; its data methods
// (all but Close, Ready, WithTx and WithRowLockTx) are the ones it shares
// with store/postgres, run here on the read pool or the writer.
type DB struct {
	storeMethods

	d     *sqlstore.Dialect
	clock func() time.Time // calls Now
	path  string
	w     *sql.DB // one connection: all writes
	r     *sql.DB // read-only pool
	rc    *stmtCache
	wal   walIndex

	// Now is the clock for times the caller did not give (CreatedAt and
	// the like). Replace it before use in tests.
	Now func() time.Time
}

var _ store.Store = (*DB)(nil)

// Options tune Open.
type Options struct {
	// SyncFull makes every commit wait for the WAL to reach the disk
	// (PRAGMA synchronous=FULL), so a power loss cannot undo a committed
	// change. The default (NORMAL) is already safe against crashes of the
	// process (SIGKILL, panics) and keeps writes several times faster; only
	// an OS crash or power loss can lose the last commits.
	SyncFull bool
	// ReadConns caps the read-only pool (0: twice GOMAXPROCS, at least 4).
	ReadConns int
}

// Open opens (creating if needed) the database file at path and migrates
// it to the current schema, with default Options.
func Open(ctx context.Context, path string) (*DB, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	params := url.Values{}
	params.Set("_busy_timeout", "10000")
	params.Set("_journal_mode", "WAL")
	params.Set("_foreign_keys", "1")
	if opts.SyncFull {
		params.Set("_synchronous", "FULL")
	} else {
		params.Set("_synchronous", "NORMAL")
	}
	params.Set("_txlock", "immediate")
	wdsn := "file:" + escapePath(path) + "?" + params.Encode()
	params.Set("_query_only", "1")
	rdsn := "file:" + escapePath(path) + "?" + params.Encode()

	w, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db := &DB{path: path, w: w, d: newDialect(), Now: time.Now}
	db.clock = func() time.Time { return db.Now() }
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", rdsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := opts.ReadConns
	if n <= 0 {
		n = max(4, runtime.GOMAXPROCS(0)*2)
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db.r = r
	db.rc = newStmtCache(r)
	db.storeMethods = sqlstore.NewStore(db.d, db.clock, poolQuerier{db.rc}, db.write, db.write)
	return db, nil
}

// escapePath keeps a file path intact inside a file: URI.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// Path returns the database file.
func (db *DB) Path() string { return db.path }

// Close closes both connection pools, after folding the WAL back into the
// database file (best effort) so that a copied haul.db is complete.
func (db *DB) Close() error {
	db.wal.close()
	var rerr error
	if db.r != nil {
		db.rc.close()
		rerr = db.r.Close()
	}
	db.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return errors.Join(rerr, db.w.Close())
}

// Ready runs a trivial query on each pool.
func (db *DB) Ready(ctx context.Context) error {
	var one int
	if err := db.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: not ready: %w", err)
	}
	if err := db.w.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: not ready: %w", err)
	}
	return nil
}

// migrate applies the embedded migrations not yet recorded, in name order,
// each in its own transaction.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	err := sqlstore.ApplyMigrations(migrationFS, func(version, body string) error {
		return db.writeSQL(ctx, func(t *sql.Tx) error {
			var n int
			if err := t.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := t.ExecContext(ctx, body); err != nil {
				return err
			}
			_, err := t.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", version, db.Now().UnixMicro())
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// write runs fn in a write transaction on the single writer connection.
func (db *DB) write(ctx context.Context, fn func(*sqlstore.Tx) error) error {
	return db.writeSQL(ctx, func(t *sql.Tx) error { return fn(sqlstore.NewSoleWriterTx(db.d, db.clock, t)) })
}

// writeSQL runs fn in a write transaction on the single writer connection.
func (db *DB) writeSQL(ctx context.Context, fn func(*sql.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := db.writeOnce(ctx, fn)
		// busy_timeout handles contention with other processes; a BUSY
		// that still gets here (a WAL checkpoint race) is retried briefly.
		if isBusy(err) && attempt < 5 && ctx.Err() == nil {
			time.Sleep(time.Duration(attempt+1) * 20 * time.Millisecond)
			continue
		}
		return err
	}
}

func (db *DB) writeOnce(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			sqlTx.Rollback()
			panic(p)
		}
	}()
	if err := fn(sqlTx); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// WithTx runs fn in one write transaction.
func (db *DB) WithTx(ctx context.Context, fn func(store.Tx) error) error {
	return db.write(ctx, func(t *sqlstore.Tx) error { return fn(t) })
}

// WithRowLockTx is WithTx: SQLite has one writer, so there is nothing to
// gain from a weaker isolation level.
func (db *DB) WithRowLockTx(ctx context.Context, fn func(store.Tx) error) error {
	return db.WithTx(ctx, fn)
}

// sqliteCode returns the extended result code of a SQLite error, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

func isBusy(err error) bool {
	c := sqliteCode(err)
	return c&0xff == sqlite3.SQLITE_BUSY || c&0xff == sqlite3.SQLITE_LOCKED
}

func isUnique(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func isForeignKey(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}
