package backend_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/haulhq/haul/backend"
	"github.com/haulhq/haul/internal/testsvc"
	"github.com/haulhq/haul/store"
)

// The store-level costs behind the hot API paths, on SQLite and on
// PostgreSQL, with p99 latency next to ns/op:
//
//	go test -run '^$' -bench . -benchtime 3s ./backend
//
// Redeem is the atomic step of GET /g/{token}; Download is the reads of
// POST /v1/assets/{id}/downloads (key by hash, asset, rendition, signing
// keys); Manifest is ListExportEntries of a 10 000-item export.

func benchStores(b *testing.B) map[string]func(b *testing.B) store.Store {
	return map[string]func(b *testing.B) store.Store{
		"sqlite": func(b *testing.B) store.Store {
			st, err := backend.OpenStore(context.Background(), "", b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		},
		"postgres": func(b *testing.B) store.Store {
			st, err := backend.OpenStore(context.Background(), testsvc.PostgreSQL(b), "")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		},
	}
}

// latencies collects per-operation durations across goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

func (l *latencies) report(b *testing.B) {
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	b.ReportMetric(float64(l.d[len(l.d)*99/100].Microseconds()), "p99-µs")
}

func seedBench(b *testing.B, st store.Store) (*store.Tenant, *store.Asset) {
	ctx := context.Background()
	tn := &store.Tenant{Name: "default"}
	if err := st.CreateTenant(ctx, tn); err != nil {
		b.Fatal(err)
	}
	if err := st.CreateAPIKey(ctx, &store.APIKey{TenantID: tn.ID, Name: "k", Scopes: []string{store.ScopeExport}, Hash: "keyhash", Prefix: "p"}); err != nil {
		b.Fatal(err)
	}
	if _, err := st.EnsureSigningKey(ctx, []byte("0123456789abcdef"), time.Now()); err != nil {
		b.Fatal(err)
	}
	a := &store.Asset{TenantID: tn.ID, Title: "t", Filename: "f.mp4", State: store.AssetAvailable, BlobKey: fmt.Sprintf("%064d", 1), Size: 10}
	if err := st.CreateAsset(ctx, a); err != nil {
		b.Fatal(err)
	}
	return tn, a
}

func BenchmarkRedeem(b *testing.B) {
	for name, open := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			st := open(b)
			tn, a := seedBench(b, st)
			ctx := context.Background()
			// One grant per goroutine slot, so the benchmark measures the
			// redemption, not contention on one row.
			const grants = 64
			for i := range grants {
				g := &store.Grant{TenantID: tn.ID, AssetID: a.ID, Policy: store.GrantRenewable, TokenHash: fmt.Sprint("tok", i), AccessExpiresAt: time.Now().Add(time.Hour)}
				if err := st.CreateGrant(ctx, g); err != nil {
					b.Fatal(err)
				}
			}
			var lat latencies
			var next sync.Mutex
			n := 0
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				next.Lock()
				tok := fmt.Sprint("tok", n%grants)
				n++
				next.Unlock()
				for pb.Next() {
					start := time.Now()
					if _, err := st.RedeemGrant(ctx, tok, time.Now()); err != nil {
						b.Error(err)
						return
					}
					lat.add(time.Since(start))
				}
			})
			lat.report(b)
		})
	}
}

func BenchmarkDownload(b *testing.B) {
	for name, open := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			st := open(b)
			tn, a := seedBench(b, st)
			ctx := context.Background()
			var lat latencies
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					start := time.Now()
					if _, err := st.GetAPIKeyByHash(ctx, "keyhash"); err != nil {
						b.Error(err)
						return
					}
					if _, err := st.GetAsset(ctx, tn.ID, a.ID); err != nil {
						b.Error(err)
						return
					}
					if _, err := st.GetRendition(ctx, tn.ID, a.ID, "mp4_720p", 1); err == nil {
						b.Error("unexpected rendition")
						return
					}
					if _, err := st.SigningKeys(ctx, time.Now()); err != nil {
						b.Error(err)
						return
					}
					lat.add(time.Since(start))
				}
			})
			lat.report(b)
		})
	}
}

func BenchmarkManifest10k(b *testing.B) {
	for name, open := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			st := open(b)
			tn, _ := seedBench(b, st)
			ctx := context.Background()
			items := make([]store.ExportItem, 10000)
			for i := range items {
				a := &store.Asset{TenantID: tn.ID, Title: fmt.Sprint("asset ", i), Filename: "f.mp4", State: store.AssetAvailable}
				if err := st.CreateAsset(ctx, a); err != nil {
					b.Fatal(err)
				}
				items[i] = store.ExportItem{AssetID: a.ID, Status: store.ItemReady}
			}
			e := &store.Export{TenantID: tn.ID, Format: "original"}
			if err := st.CreateExport(ctx, e, items); err != nil {
				b.Fatal(err)
			}
			var lat latencies
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				entries, err := st.ListExportEntries(ctx, tn.ID, e.ID)
				if err != nil || len(entries) != len(items) {
					b.Fatalf("%d entries, %v", len(entries), err)
				}
				lat.add(time.Since(start))
			}
			lat.report(b)
		})
	}
}
