package sqlite

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/haulhq/haul/store"
)

func TestReclaimOrphanJobs(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SKIPPED: no flock on Windows; leases decide there")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "haul.db")
	open := func() *DB {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	db := open()
	tn := &store.Tenant{Name: "default"}
	if err := db.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	a := &store.Asset{TenantID: tn.ID, Title: "a", Filename: "a.mp4", State: store.AssetAvailable,
		Rights: store.Rights{Downloadable: true, Redistribution: store.RedistributionInternal}}
	if err := db.CreateAsset(ctx, a); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claim := func(db *DB, format string) *store.Job {
		t.Helper()
		if _, _, err := db.CreateJob(ctx, &store.Job{TenantID: tn.ID, AssetID: a.ID, Format: format, PresetVersion: 1}); err != nil {
			t.Fatal(err)
		}
		j, err := db.ClaimJob(ctx, "worker-"+format, now, time.Hour)
		if err != nil || j == nil || j.Format != format {
			t.Fatalf("claim %s: %+v, %v", format, j, err)
		}
		return j
	}
	status := func(id string) store.JobStatus {
		t.Helper()
		j, err := db.GetJob(ctx, tn.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		return j.Status
	}

	// A job left processing, with an hour of lease, by a process that died
	// (no lock held): requeued at once, its attempt kept.
	dead := claim(db, "mp4_720p")
	n, release, err := db.ReclaimOrphanJobs(ctx, now)
	if err != nil || n != 1 || status(dead.ID) != store.JobQueued {
		t.Fatalf("reclaim: %d, %v; job %s", n, err, status(dead.ID))
	}
	if j, _ := db.GetJob(ctx, tn.ID, dead.ID); j.Attempts != 1 || j.LeaseOwner != "" {
		t.Fatalf("requeued job %+v", j)
	}

	// While this process holds the lock, another start (a second process
	// on the same file) must not take the jobs it runs.
	running := claim(db, "mp4_720p")
	if running.ID != dead.ID {
		t.Fatalf("claimed %s, want the requeued %s", running.ID, dead.ID)
	}
	other := open()
	n, release2, err := other.ReclaimOrphanJobs(ctx, now)
	if err != nil || n != 0 || status(running.ID) != store.JobProcessing {
		t.Fatalf("second start: requeued %d, %v; job %s", n, err, status(running.ID))
	}
	release2()

	// Once the holder is gone, the next start takes it back.
	release()
	n, release, err = other.ReclaimOrphanJobs(ctx, now)
	if err != nil || n != 1 || status(running.ID) != store.JobQueued {
		t.Fatalf("after the holder ended: %d, %v; job %s", n, err, status(running.ID))
	}
	release()
}
