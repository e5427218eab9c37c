package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

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

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "haul.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	tn := &store.Tenant{Name: "default"}
	if err := db.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	got, err := db.GetTenantByName(ctx, "default")
	if err != nil || got.ID != tn.ID {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	var versions []string
	rows, err := db.r.QueryContext(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if len(versions) == 0 || versions[0] != "0001_init" {
		t.Fatalf("schema_migrations = %v", versions)
	}
	var mode string
	if err := db.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
	var fk int
	if err := db.r.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d, %v", fk, err)
	}
}

// TestTwoHandlesShareTheFile models `haul admin key create` writing while
// the server runs: both handles write concurrently without SQLITE_BUSY.
func TestTwoHandlesShareTheFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "haul.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tn := &store.Tenant{Name: "default"}
	if err := a.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 2)
	for i, db := range []*DB{a, b} {
		go func() {
			for j := range 30 {
				k := &store.APIKey{TenantID: tn.ID, Scopes: []string{store.ScopeRead}, Hash: fmt.Sprintf("h-%d-%d", i, j)}
				if err := db.CreateAPIKey(ctx, k); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	keys, err := b.ListAPIKeys(ctx, tn.ID)
	if err != nil || len(keys) != 60 {
		t.Fatalf("%d keys, %v", len(keys), err)
	}
}

func TestClockFillsTimes(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "haul.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.UTC)
	db.Now = func() time.Time { return at }
	tn := &store.Tenant{Name: "x"}
	if err := db.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if !tn.CreatedAt.Equal(at.Truncate(time.Microsecond)) {
		t.Fatalf("CreatedAt = %v", tn.CreatedAt)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(context.Background(), ""); err == nil {
		t.Fatal("empty path accepted")
	}
	if _, err := Open(context.Background(), filepath.Join(t.TempDir(), "missing", "dir", "haul.db")); err == nil {
		t.Fatal("path in a missing directory accepted")
	}
}

func benchDB(b *testing.B) (*DB, *store.Asset) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "haul.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	tn := &store.Tenant{Name: "default"}
	if err := db.CreateTenant(ctx, tn); err != nil {
		b.Fatal(err)
	}
	a := &store.Asset{TenantID: tn.ID, Title: "bench", Filename: "bench.mp4", State: store.AssetAvailable}
	if err := db.CreateAsset(ctx, a); err != nil {
		b.Fatal(err)
	}
	return db, a
}

func BenchmarkGetAssetParallel(b *testing.B) {
	db, a := benchDB(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.GetAsset(context.Background(), a.TenantID, a.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAppendEvent(b *testing.B) {
	db, a := benchDB(b)
	for b.Loop() {
		if err := db.AppendEvent(context.Background(), &store.Event{TenantID: a.TenantID, Type: store.EventGrantAccessed}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedeemGrant(b *testing.B) {
	db, a := benchDB(b)
	g := &store.Grant{TenantID: a.TenantID, AssetID: a.ID, Policy: store.GrantRenewable, TokenHash: "t",
		AccessExpiresAt: time.Now().Add(time.Hour)}
	if err := db.CreateGrant(context.Background(), g); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := db.RedeemGrant(context.Background(), "t", time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreateExport10k(b *testing.B) {
	db, a := benchDB(b)
	items := make([]store.ExportItem, 10000)
	for i := range items {
		items[i] = store.ExportItem{AssetID: a.ID}
	}
	for b.Loop() {
		e := &store.Export{TenantID: a.TenantID, Format: "original"}
		if err := db.CreateExport(context.Background(), e, items); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkListExportEntries10k(b *testing.B) {
	db, a := benchDB(b)
	items := make([]store.ExportItem, 10000)
	for i := range items {
		items[i] = store.ExportItem{AssetID: a.ID}
	}
	e := &store.Export{TenantID: a.TenantID, Format: "original"}
	if err := db.CreateExport(context.Background(), e, items); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := db.ListExportEntries(context.Background(), a.TenantID, e.ID); err != nil {
			b.Fatal(err)
		}
	}
}
