package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haulhq/haul/internal/testsvc"
	"github.com/haulhq/haul/store"
	"github.com/haulhq/haul/store/postgres"
)

// replicas opens n stores on one database, as n haul serve processes do.
func replicas(t *testing.T, n int) []*postgres.DB {
	t.Helper()
	dsn := testsvc.PostgreSQL(t)
	out := make([]*postgres.DB, n)
	for i := range out {
		db, err := postgres.Open(context.Background(), dsn, postgres.Options{MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		out[i] = db
	}
	return out
}

func seedAsset(t *testing.T, db *postgres.DB) (*store.Tenant, *store.Asset) {
	t.Helper()
	ctx := context.Background()
	tn := &store.Tenant{Name: "default"}
	if err := db.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	a := &store.Asset{TenantID: tn.ID, Title: "clip", Filename: "clip.mp4", ContentType: "video/mp4"}
	if err := db.CreateAsset(ctx, a); err != nil {
		t.Fatal(err)
	}
	return tn, a
}

// TestOneTimeGrantAcrossReplicas: concurrent redemptions of a one-time
// grant through two replicas succeed exactly once.
func TestOneTimeGrantAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	dbs := replicas(t, 2)
	tn, a := seedAsset(t, dbs[0])
	now := time.Now()
	g := &store.Grant{TenantID: tn.ID, AssetID: a.ID, Policy: store.GrantOneTime, TokenHash: "tok", AccessExpiresAt: now.Add(time.Hour)}
	if err := dbs[0].CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var ok, consumed atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := dbs[i%2].RedeemGrant(ctx, "tok", now)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrGrantConsumed):
				consumed.Add(1)
			default:
				t.Errorf("redeem: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || consumed.Load() != n-1 {
		t.Errorf("%d redemptions succeeded and %d were refused as consumed; want 1 and %d", ok.Load(), consumed.Load(), n-1)
	}
	got, err := dbs[1].GetGrant(ctx, tn.ID, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.GrantConsumed || got.DownloadsUsed != 1 {
		t.Errorf("grant after the race: status %s, %d downloads used", got.Status, got.DownloadsUsed)
	}
}

// TestJobsAcrossReplicas: workers on two replicas drain 40 jobs; each job
// is claimed and completed exactly once.
func TestJobsAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	dbs := replicas(t, 2)
	tn, a := seedAsset(t, dbs[0])
	const jobs = 40
	for i := range jobs {
		if _, _, err := dbs[i%2].CreateJob(ctx, &store.Job{TenantID: tn.ID, AssetID: a.ID, Format: fmt.Sprintf("f%02d", i), PresetVersion: 1}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	claims := map[string]string{}
	var wg sync.WaitGroup
	for w := range 6 {
		db := dbs[w%2]
		owner := fmt.Sprintf("replica%d-worker%d", w%2, w)
		wg.Go(func() {
			for {
				j, err := db.ClaimJob(ctx, owner, time.Now(), time.Minute)
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				if j == nil {
					return
				}
				mu.Lock()
				if prev, dup := claims[j.ID]; dup {
					t.Errorf("job %s claimed by %s and %s", j.ID, prev, owner)
				}
				claims[j.ID] = owner
				mu.Unlock()
				r := &store.Rendition{BlobKey: fmt.Sprintf("%064x", len(j.Format)), Size: 1, Checksum: "sha256:x", ContentType: "video/mp4"}
				if _, err := db.CompleteJob(ctx, j.ID, owner, r, time.Now()); err != nil {
					t.Errorf("complete %s: %v", j.ID, err)
				}
			}
		})
	}
	wg.Wait()
	if len(claims) != jobs {
		t.Errorf("%d jobs claimed, want %d", len(claims), jobs)
	}
	n, err := dbs[1].CountJobs(ctx, store.JobSucceeded)
	if err != nil {
		t.Fatal(err)
	}
	if n != jobs {
		t.Errorf("%d jobs succeeded, want %d", n, jobs)
	}
}

// TestRateLimitAcrossReplicas: the shared token bucket lets exactly its
// quota through, whichever replicas the requests arrive at.
func TestRateLimitAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	dbs := replicas(t, 2)
	now := time.Now()
	const limit, requests = 10, 40
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			r, err := dbs[i%2].TakeToken(ctx, "tenant:export", limit, time.Minute, now)
			if err != nil {
				t.Error(err)
				return
			}
			if r.Allowed {
				allowed.Add(1)
			} else if r.RetryAfter <= 0 {
				t.Errorf("denied without Retry-After: %+v", r)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != limit {
		t.Errorf("%d of %d requests allowed, want the quota %d", allowed.Load(), requests, limit)
	}
}

// TestLeaseAcrossReplicas: of owners on two replicas racing for a free
// lease exactly one gets it; the others get it only after it expires.
func TestLeaseAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	dbs := replicas(t, 2)
	now := time.Now()
	var won atomic.Int32
	var winner atomic.Value
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			owner := fmt.Sprint("replica", i)
			ok, err := dbs[i%2].AcquireLease(ctx, "lifecycle", owner, 30*time.Second, now)
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Add(1)
				winner.Store(owner)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d owners hold the lease, want 1", won.Load())
	}
	if ok, _ := dbs[0].AcquireLease(ctx, "lifecycle", "late", 30*time.Second, now.Add(10*time.Second)); ok {
		t.Error("lease taken while held")
	}
	if ok, _ := dbs[1].AcquireLease(ctx, "lifecycle", "late", 30*time.Second, now.Add(31*time.Second)); !ok {
		t.Error("expired lease not taken over")
	}
}
