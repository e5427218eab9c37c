package backend

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/haulhq/haul/blob"
	blobfs "github.com/haulhq/haul/blob/fs"
	"github.com/haulhq/haul/store/postgres"
	"github.com/haulhq/haul/store/sqlite"
)

// migrateTables lists the tables MigrateStore copies, parents before the
// tables that reference them. A table of the embedded schema missing here
// stops the migration, so a schema change cannot silently leave data behind.
var migrateTables = []string{
	"tenants", "api_keys", "settings", "signing_keys",
	"assets", "asset_tags", "renditions", "jobs",
	"exports", "export_items", "grants",
	"events", "webhooks", "deliveries", "delivery_attempts",
	"idempotency_keys",
}

// transientTables hold coordination state that is not worth moving: leases
// run out and rate-limit buckets refill.
var transientTables = []string{"leases", "rate_buckets", "schema_migrations"}

// MigrateReport says what MigrateStore moved and verified.
type MigrateReport struct {
	// Rows counts the rows of each table, equal in source and target.
	Rows map[string]int64 `json:"rows"`
	// Blobs is how many blobs the source holds; BlobsCopied how many of
	// them were not in the target yet; Bytes their total size.
	Blobs       int   `json:"blobs"`
	BlobsCopied int   `json:"blobs_copied"`
	Bytes       int64 `json:"bytes"`
	// Referenced is how many distinct blob keys assets and renditions name;
	// each was checked present in the target with its size.
	Referenced int `json:"referenced"`
}

// MigrateOptions name the embedded install and the scale-out target.
type MigrateOptions struct {
	// From is the embedded install's data directory (haul.db, blobs/).
	From string
	// ToDB is the target postgres:// URL; its database must hold no haul
	// data yet (it may be freshly migrated by a haul serve that never
	// bootstrapped, or empty).
	ToDB string
	// ToBlobs is the target blob store URL (s3://…, or a directory).
	ToBlobs string
	// Progress, when set, receives a line per step.
	Progress func(format string, args ...any)
}

// MigrateStore copies an embedded install (SQLite at FROM/haul.db, blobs in
// FROM/blobs) to PostgreSQL and a blob store, then verifies row counts per
// table and that every blob an asset or rendition names is in the target
// with its size. Blobs are copied with their digest checked on the way in
// (ExpectSHA256), so a damaged byte fails the copy. The rows go in one
// transaction: a failed migration leaves the target database as it was.
// Stop haul serve on the source first: writes made during the migration
// would be left behind.
func MigrateStore(ctx context.Context, o MigrateOptions) (*MigrateReport, error) {
	say := o.Progress
	if say == nil {
		say = func(string, ...any) {}
	}
	if o.From == "" || o.ToDB == "" || o.ToBlobs == "" {
		return nil, errors.New("migrate-store needs --from, --to-db and --to-blobs")
	}
	if !strings.HasPrefix(o.ToDB, "postgres://") && !strings.HasPrefix(o.ToDB, "postgresql://") {
		return nil, fmt.Errorf("--to-db %q: %w (want postgres://…)", redactURL(o.ToDB), ErrUnsupported)
	}
	dbPath := filepath.Join(o.From, "haul.db")
	// Open once through the store, so the source schema is current.
	src, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return nil, fmt.Errorf("--from: open %s: %w", dbPath, err)
	}
	src.Close()
	raw, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		return nil, fmt.Errorf("--from: open %s: %w", dbPath, err)
	}
	defer raw.Close()
	srcBlobs, err := blobfs.New(filepath.Join(o.From, "blobs"))
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	defer srcBlobs.Close()

	dst, err := OpenStore(ctx, o.ToDB, "")
	if err != nil {
		return nil, fmt.Errorf("--to-db: %w", err)
	}
	defer dst.Close()
	pg := dst.(*postgres.DB)
	dstBlobs, err := OpenBlobs(ctx, o.ToBlobs, "")
	if err != nil {
		return nil, fmt.Errorf("--to-blobs: %w", err)
	}
	defer dstBlobs.Close()

	if err := checkTables(ctx, raw); err != nil {
		return nil, err
	}
	rep := &MigrateReport{Rows: map[string]int64{}}

	// Blobs first: rows that name a blob are only worth copying once the
	// bytes are there.
	say("copying blobs")
	err = srcBlobs.List(ctx, func(info blob.Info) error {
		rep.Blobs++
		if got, err := dstBlobs.Stat(ctx, info.Key); err == nil && got.Size == info.Size {
			return nil
		}
		if err := copyBlob(ctx, srcBlobs, dstBlobs, info); err != nil {
			return err
		}
		rep.BlobsCopied++
		rep.Bytes += info.Size
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("copy blobs: %w", err)
	}
	say("copied %d of %d blobs (%d bytes)", rep.BlobsCopied, rep.Blobs, rep.Bytes)

	if err := copyRows(ctx, raw, pg.SQL(), rep, say); err != nil {
		return nil, err
	}
	if err := verifyRows(ctx, raw, pg.SQL(), rep); err != nil {
		return nil, err
	}
	if err := verifyBlobs(ctx, pg.SQL(), dstBlobs, rep); err != nil {
		return nil, err
	}
	say("verified %d tables and %d referenced blobs", len(rep.Rows), rep.Referenced)
	return rep, nil
}

// checkTables refuses a source with tables this code does not know.
func checkTables(ctx context.Context, raw *sql.DB) error {
	rows, err := raw.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
	if err != nil {
		return fmt.Errorf("--from: list tables: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		if !slices.Contains(migrateTables, name) && !slices.Contains(transientTables, name) {
			return fmt.Errorf("--from: table %q is unknown to migrate-store; upgrade haul", name)
		}
	}
	return rows.Err()
}

func copyBlob(ctx context.Context, from, to blob.Store, info blob.Info) error {
	obj, err := from.Open(ctx, info.Key)
	if err != nil {
		return err
	}
	defer obj.Close()
	sum, err := hex.DecodeString(info.Key)
	if err != nil {
		return fmt.Errorf("blob key %q: %w", info.Key, err)
	}
	got, err := to.Put(ctx, io.Reader(obj), blob.PutOptions{ExpectSHA256: sum, SizeHint: info.Size})
	if err != nil {
		return fmt.Errorf("blob %s: %w", info.Key, err)
	}
	if got.Size != info.Size {
		return fmt.Errorf("blob %s: copied %d bytes of %d", info.Key, got.Size, info.Size)
	}
	return nil
}

// copyRows copies every table in one target transaction.
func copyRows(ctx context.Context, raw, pg *sql.DB, rep *MigrateReport, say func(string, ...any)) error {
	tx, err := pg.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("--to-db: begin: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM tenants").Scan(&n); err != nil {
		return fmt.Errorf("--to-db: %w", err)
	}
	if n > 0 {
		return errors.New("--to-db: the target database holds haul data already; migrate into an empty database")
	}
	for _, table := range migrateTables {
		types, err := columnTypes(ctx, tx, table)
		if err != nil {
			return err
		}
		count, err := copyTable(ctx, raw, tx, table, types)
		if err != nil {
			return fmt.Errorf("copy %s: %w", table, err)
		}
		rep.Rows[table] = count
		say("copied %s: %d rows", table, count)
	}
	// New events must sort after the copied ones.
	if _, err := tx.ExecContext(ctx, "UPDATE event_clock SET last_id = COALESCE((SELECT max(id) FROM events), '')"); err != nil {
		return fmt.Errorf("--to-db: event clock: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("--to-db: commit: %w", err)
	}
	return nil
}

// columnTypes returns the target's column types of a table by name.
func columnTypes(ctx context.Context, tx *sql.Tx, table string) (map[string]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1", table)
	if err != nil {
		return nil, fmt.Errorf("--to-db: columns of %s: %w", table, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		out[name] = typ
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--to-db: no table %s", table)
	}
	return out, rows.Err()
}

func copyTable(ctx context.Context, raw *sql.DB, tx *sql.Tx, table string, types map[string]string) (int64, error) {
	rows, err := raw.QueryContext(ctx, "SELECT * FROM "+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	marks := make([]string, len(cols))
	for i, c := range cols {
		if _, ok := types[c]; !ok {
			return 0, fmt.Errorf("column %s is missing in the target", c)
		}
		marks[i] = fmt.Sprintf("$%d", i+1)
	}
	insert := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(marks, ", ") + ")"
	stmt, err := tx.PrepareContext(ctx, insert)
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		for i, c := range cols {
			vals[i] = convert(vals[i], types[c])
		}
		if _, err := stmt.ExecContext(ctx, vals...); err != nil {
			return n, fmt.Errorf("row %d: %w", n+1, err)
		}
		n++
	}
	return n, rows.Err()
}

// convert adapts a SQLite value (dynamically typed) to the target column.
func convert(v any, pgType string) any {
	switch pgType {
	case "double precision":
		if i, ok := v.(int64); ok {
			return float64(i)
		}
	case "text":
		if b, ok := v.([]byte); ok {
			return string(b)
		}
	case "bytea":
		if s, ok := v.(string); ok {
			return []byte(s)
		}
	case "bigint", "integer":
		if b, ok := v.(bool); ok {
			if b {
				return int64(1)
			}
			return int64(0)
		}
	}
	return v
}

// verifyRows compares the row count of every table.
func verifyRows(ctx context.Context, raw, pg *sql.DB, rep *MigrateReport) error {
	for _, table := range migrateTables {
		var a, b int64
		if err := raw.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&a); err != nil {
			return fmt.Errorf("verify %s: %w", table, err)
		}
		if err := pg.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&b); err != nil {
			return fmt.Errorf("verify %s: %w", table, err)
		}
		if a != b || a != rep.Rows[table] {
			return fmt.Errorf("verify %s: source has %d rows, target %d", table, a, b)
		}
	}
	return nil
}

// verifyBlobs checks that every blob the target's rows name is stored with
// its recorded size.
func verifyBlobs(ctx context.Context, pg *sql.DB, blobs blob.Store, rep *MigrateReport) error {
	rows, err := pg.QueryContext(ctx, `SELECT blob_key, max(size) FROM (
		SELECT blob_key, size FROM assets WHERE blob_key <> '' AND purged_at IS NULL
		UNION ALL SELECT blob_key, size FROM renditions) k GROUP BY blob_key ORDER BY blob_key`)
	if err != nil {
		return fmt.Errorf("verify blobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var size int64
		if err := rows.Scan(&key, &size); err != nil {
			return err
		}
		info, err := blobs.Stat(ctx, key)
		if err != nil {
			return fmt.Errorf("verify blob %s: %w", key, err)
		}
		if info.Size != size {
			return fmt.Errorf("verify blob %s: target holds %d bytes, rows say %d", key, info.Size, size)
		}
		rep.Referenced++
	}
	return rows.Err()
}
