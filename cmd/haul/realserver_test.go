package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	blobfs "github.com/haulhq/haul/blob/fs"
	"github.com/haulhq/haul/server"
	"github.com/haulhq/haul/store/sqlite"
)

// realServer runs haul's API on a SQLite store in a temp dir and returns
// its URL, its data directory and the bootstrap admin key.
func realServer(t *testing.T) (url, dataDir, adminKey string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "haul.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bs, err := blobfs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := server.Bootstrap(ctx, st, dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.NewServer(ctx, server.Deps{Store: st, Blobs: bs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	return ts.URL, dir, key
}

// runIn runs haul with env as its whole environment.
func runIn(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	ios, out, errOut := testIO()
	cfgHome := t.TempDir()
	full := map[string]string{"XDG_CONFIG_HOME": cfgHome, "HOME": cfgHome}
	for k, v := range env {
		full[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, args, func(k string) string { return full[k] }, ios)
	return code, out.String(), errOut.String()
}
