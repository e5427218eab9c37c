package backend_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haulhq/haul/backend"
	blobfs "github.com/haulhq/haul/blob/fs"
	blobs3 "github.com/haulhq/haul/blob/s3"
	"github.com/haulhq/haul/internal/testsvc"
	"github.com/haulhq/haul/store/postgres"
	"github.com/haulhq/haul/store/sqlite"
)

// TestMain stops the shared test services and removes the haul binary the
// end-to-end tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	testsvc.Stop()
	removeBinary()
	os.Exit(code)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestOpenEmbeddedDefault(t *testing.T) {
	data := t.TempDir()
	b, err := backend.Open(testCtx(t), backend.Options{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	db, ok := b.Store.(*sqlite.DB)
	if !ok {
		t.Fatalf("store is %T, want *sqlite.DB", b.Store)
	}
	if db.Path() != filepath.Join(data, "haul.db") {
		t.Errorf("database at %s", db.Path())
	}
	fs, ok := b.Blobs.(*blobfs.Store)
	if !ok {
		t.Fatalf("blobs are %T, want *fs.Store", b.Blobs)
	}
	if fs.Root() != filepath.Join(data, "blobs") {
		t.Errorf("blobs at %s", fs.Root())
	}
	if b.Broadcaster != nil {
		t.Error("embedded store has a cross-replica broadcaster")
	}
}

func TestOpenExplicitLocalPaths(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ db, blobs, wantDB, wantBlobs string }{
		{filepath.Join(dir, "a", "m.db"), filepath.Join(dir, "a", "b"), filepath.Join(dir, "a", "m.db"), filepath.Join(dir, "a", "b")},
		{"sqlite:" + filepath.Join(dir, "c.db"), "file://" + filepath.Join(dir, "c"), filepath.Join(dir, "c.db"), filepath.Join(dir, "c")},
	} {
		b, err := backend.Open(testCtx(t), backend.Options{Data: t.TempDir(), DB: tc.db, Blobs: tc.blobs})
		if err != nil {
			t.Fatalf("%s, %s: %v", tc.db, tc.blobs, err)
		}
		if got := b.Store.(*sqlite.DB).Path(); got != tc.wantDB {
			t.Errorf("--db %s: database at %s, want %s", tc.db, got, tc.wantDB)
		}
		if got := b.Blobs.(*blobfs.Store).Root(); got != tc.wantBlobs {
			t.Errorf("--blobs %s: blobs at %s, want %s", tc.blobs, got, tc.wantBlobs)
		}
		b.Close()
	}
}

func TestOpenScaleOut(t *testing.T) {
	ctx := testCtx(t)
	dsn := testsvc.PostgreSQL(t)
	srv := testsvc.S3(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	b, err := backend.Open(ctx, backend.Options{Data: t.TempDir(), DB: dsn, Blobs: srv.URL("haul")})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, ok := b.Store.(*postgres.DB); !ok {
		t.Errorf("store is %T, want *postgres.DB", b.Store)
	}
	if _, ok := b.Blobs.(*blobs3.Store); !ok {
		t.Errorf("blobs are %T, want *s3.Store", b.Blobs)
	}
	if b.Broadcaster == nil {
		t.Error("no cross-replica broadcaster on PostgreSQL")
	}
	if err := b.Store.Ready(ctx); err != nil {
		t.Error(err)
	}
	if err := b.Blobs.Ready(ctx); err != nil {
		t.Error(err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := testCtx(t)
	dsn := testsvc.PostgreSQL(t)
	srv := testsvc.S3(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	missing := srv
	missing.Bucket = "no-such-bucket"
	cases := []struct {
		name      string
		opts      backend.Options
		want      error
		mentions  []string
		badSecret bool
	}{
		{name: "unsupported db", opts: backend.Options{DB: "mysql://u:hunter2@h/db"}, want: backend.ErrUnsupported, mentions: []string{"--db", "mysql://"}},
		{name: "unsupported blobs", opts: backend.Options{Blobs: "gs://bucket"}, want: backend.ErrUnsupported, mentions: []string{"--blobs", "gs://bucket"}},
		{name: "unreachable database", opts: backend.Options{DB: "postgres://u:hunter2@127.0.0.1:1/haul?connect_timeout=2"}, want: postgres.ErrUnreachable, mentions: []string{"--db", "127.0.0.1:1"}},
		{name: "missing database", opts: backend.Options{DB: strings.Replace(dsn, "/t_", "/missing_", 1)}, want: postgres.ErrNoDatabase, mentions: []string{"--db", "missing_"}},
		{name: "missing bucket", opts: backend.Options{Blobs: missing.URL("")}, want: blobs3.ErrNoBucket, mentions: []string{"--blobs", "no-such-bucket"}},
		{name: "bad credentials", opts: backend.Options{Blobs: srv.URL("")}, want: blobs3.ErrAccessDenied, mentions: []string{"--blobs", "AWS_SECRET_ACCESS_KEY"}, badSecret: true},
		{name: "bad s3 url", opts: backend.Options{Blobs: "s3://b?endpoint=x"}, mentions: []string{"--blobs", "bucket name"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.badSecret {
				t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
			}
			c.opts.Data = t.TempDir()
			b, err := backend.Open(ctx, c.opts)
			if err == nil {
				b.Close()
				t.Fatal("Open succeeded")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
			for _, m := range c.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("err = %v, want it to mention %q", err, m)
				}
			}
			for _, secret := range []string{"hunter2", "wrong-secret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a secret: %v", err)
				}
			}
		})
	}
}
