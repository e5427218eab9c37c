// Package backend opens the metadata and blob stores haul serve (and the
// admin commands) run on, from the --data directory and the --db and
// --blobs URLs: SQLite at DATA/haul.db and blob/fs at DATA/blobs by
// default, PostgreSQL for postgres:// and S3 for s3:// URLs. It checks at
// start that each store is usable and says what to fix when it is not
// (unreachable database, failed authentication, missing bucket, rejected
// credentials), so haul serve fails fast instead of on the first request.
package backend

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/haulhq/haul/blob"
	blobfs "github.com/haulhq/haul/blob/fs"
	blobs3 "github.com/haulhq/haul/blob/s3"
	"github.com/haulhq/haul/store"
	"github.com/haulhq/haul/store/postgres"
	"github.com/haulhq/haul/store/sqlite"
)

// ErrUnsupported is wrapped by errors about URLs no backend handles.
var ErrUnsupported = errors.New("unsupported URL")

// Options say where metadata and bytes live.
type Options struct {
	// Data is the data directory: admin.key always, and haul.db and blobs/
	// unless DB and Blobs say otherwise.
	Data string
	// DB is the metadata store: empty for SQLite at DATA/haul.db, a SQLite
	// path (or sqlite:PATH, file:PATH), or a postgres:// URL.
	DB string
	// Blobs is the blob store: empty for DATA/blobs, a directory (or
	// file:///DIR), or s3://BUCKET[/prefix]?endpoint=…&region=….
	Blobs string
}

// Broadcaster wakes long-polls across replicas; it has the method set of
// server.Broadcaster.
type Broadcaster interface {
	// Publish wakes every subscriber of topic, on every replica.
	Publish(topic string)
	// Subscribe returns a channel woken after each Publish to topic, and a
	// function to cancel.
	Subscribe(topic string) (<-chan struct{}, func())
}

// Backends are the opened stores. Close releases them.
type Backends struct {
	Store store.Store
	Blobs blob.Store
	// Broadcaster is set when replicas share the metadata store
	// (PostgreSQL's LISTEN/NOTIFY); nil for the embedded store, where the
	// server's in-process broadcaster suffices.
	Broadcaster Broadcaster

	closers []func() error
}

// Open opens and checks both stores.
func Open(ctx context.Context, opts Options) (*Backends, error) {
	st, err := OpenStore(ctx, opts.DB, opts.Data)
	if err != nil {
		return nil, err
	}
	b := &Backends{Store: st}
	bs, err := OpenBlobs(ctx, opts.Blobs, opts.Data)
	if err != nil {
		st.Close()
		return nil, err
	}
	b.Blobs = bs
	if pg, ok := st.(*postgres.DB); ok {
		bc, err := pg.NewBroadcaster(ctx)
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("--db: listen for notifications: %w", err)
		}
		b.Broadcaster = bc
		b.closers = append(b.closers, bc.Close)
	}
	return b, nil
}

// Close releases the stores (the broadcaster first, the metadata store
// last).
func (b *Backends) Close() error {
	var errs []error
	for _, c := range b.closers {
		errs = append(errs, c())
	}
	if b.Blobs != nil {
		errs = append(errs, b.Blobs.Close())
	}
	if b.Store != nil {
		errs = append(errs, b.Store.Close())
	}
	return errors.Join(errs...)
}

// OpenStore opens the metadata store named by dbURL (see Options.DB) and
// checks that it answers.
func OpenStore(ctx context.Context, dbURL, dataDir string) (store.Store, error) {
	switch {
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		db, err := postgres.Open(ctx, dbURL, postgres.Options{})
		if err != nil {
			return nil, fmt.Errorf("--db: %w", err)
		}
		return db, nil
	}
	path, err := sqlitePath(dbURL, dataDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("--db: create directory for %s: %w", path, err)
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("--db: open SQLite %s: %w", path, err)
	}
	if err := db.Ready(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("--db: %w", err)
	}
	return db, nil
}

// sqlitePath returns the database file of an embedded-store URL.
func sqlitePath(dbURL, dataDir string) (string, error) {
	if dbURL == "" {
		if dataDir == "" {
			return "", errors.New("--data or --db is required")
		}
		return filepath.Join(dataDir, "haul.db"), nil
	}
	u, err := url.Parse(dbURL)
	if err == nil && (u.Scheme == "sqlite" || u.Scheme == "file") {
		p := u.Opaque
		if p == "" {
			p = u.Path
		}
		if p != "" {
			return p, nil
		}
	}
	if err == nil && u.Scheme == "" {
		return dbURL, nil
	}
	return "", fmt.Errorf("--db %q: %w (want a SQLite path, sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB)", redactURL(dbURL), ErrUnsupported)
}

// OpenBlobs opens the blob store named by blobsURL (see Options.Blobs) and
// checks that it is reachable and writable.
func OpenBlobs(ctx context.Context, blobsURL, dataDir string) (blob.Store, error) {
	if strings.HasPrefix(blobsURL, "s3://") {
		cfg, err := blobs3.ParseURL(blobsURL)
		if err != nil {
			return nil, fmt.Errorf("--blobs: %w", err)
		}
		bs, err := blobs3.New(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("--blobs: %w", err)
		}
		if err := bs.Ready(ctx); err != nil {
			bs.Close()
			return nil, fmt.Errorf("--blobs: %w", err)
		}
		return bs, nil
	}
	dir, err := blobDir(blobsURL, dataDir)
	if err != nil {
		return nil, err
	}
	bs, err := blobfs.New(dir)
	if err != nil {
		return nil, fmt.Errorf("--blobs: open blob directory %s: %w", dir, err)
	}
	if err := bs.Ready(ctx); err != nil {
		bs.Close()
		return nil, fmt.Errorf("--blobs: %w", err)
	}
	return bs, nil
}

// blobDir returns the directory of a local blob-store URL.
func blobDir(blobsURL, dataDir string) (string, error) {
	if blobsURL == "" {
		if dataDir == "" {
			return "", errors.New("--data or --blobs is required")
		}
		return filepath.Join(dataDir, "blobs"), nil
	}
	u, err := url.Parse(blobsURL)
	if err == nil && u.Scheme == "file" && u.Path != "" {
		return u.Path, nil
	}
	if err == nil && u.Scheme == "" {
		return blobsURL, nil
	}
	return "", fmt.Errorf("--blobs %q: %w (want a directory, file:///DIR or s3://BUCKET[/prefix]?endpoint=…&region=…)", redactURL(blobsURL), ErrUnsupported)
}

// redactURL hides a password in a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if i := strings.Index(raw, "@"); i >= 0 {
			return "…" + raw[i:]
		}
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
