package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/haulhq/haul/store"
)

func job(tenantID, assetID, format string) *store.Job {
	return &store.Job{TenantID: tenantID, AssetID: assetID, Format: format, PresetVersion: 1}
}

func rendition(key byte) *store.Rendition {
	return &store.Rendition{BlobKey: hex64(key), Size: 10, Checksum: "sha256:" + hex64(key), ContentType: "video/mp4"}
}

func testJobsCreateDedupe(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	other := tenant(t, s, "other")
	a := asset(t, s, tn.ID, "a")
	j, created, err := s.CreateJob(ctx(t), job(tn.ID, a.ID, "mp4_720p"))
	must(t, err)
	if !created || !store.HasPrefix(j.ID, store.PrefixJob) || j.Status != store.JobQueued || j.Progress != 0 || j.Attempts != 0 {
		t.Fatalf("CreateJob = %+v, %v", j, created)
	}
	again, created, err := s.CreateJob(ctx(t), job(tn.ID, a.ID, "mp4_720p"))
	must(t, err)
	if created || again.ID != j.ID {
		t.Fatalf("duplicate job made: %s vs %s", again.ID, j.ID)
	}
	// Other format or preset version: other jobs.
	j2, created, err := s.CreateJob(ctx(t), job(tn.ID, a.ID, "audio_m4a"))
	must(t, err)
	if !created || j2.ID == j.ID {
		t.Fatal("other format shares the job")
	}
	v2 := job(tn.ID, a.ID, "mp4_720p")
	v2.PresetVersion = 2
	_, created, err = s.CreateJob(ctx(t), v2)
	must(t, err)
	if !created {
		t.Fatal("other preset version shares the job")
	}
	_, _, err = s.CreateJob(ctx(t), job(other.ID, a.ID, "mp4_720p"))
	wantCode(t, err, store.ENOTFOUND)
	_, _, err = s.CreateJob(ctx(t), job(tn.ID, "ast_missing", "mp4_720p"))
	wantCode(t, err, store.ENOTFOUND)

	got, err := s.GetJob(ctx(t), tn.ID, j.ID)
	must(t, err)
	if got.AssetID != a.ID || got.Format != "mp4_720p" || got.PresetVersion != 1 || got.Status != store.JobQueued {
		t.Fatalf("GetJob = %+v", got)
	}
	_, err = s.GetJob(ctx(t), other.ID, j.ID)
	wantCode(t, err, store.ENOTFOUND)
	list, err := s.ListJobs(ctx(t), tn.ID, a.ID)
	must(t, err)
	if len(list) != 3 || list[0].ID != j.ID {
		t.Fatalf("ListJobs = %d jobs", len(list))
	}
	n, err := s.CountJobs(ctx(t), store.JobQueued)
	must(t, err)
	if n != 3 {
		t.Fatalf("CountJobs(queued) = %d", n)
	}
}

func testJobsCreateConcurrent(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	a := asset(t, s, tn.ID, "a")
	const n = 20
	ids := make([]string, n)
	createdCount := 0
	var mu sync.Mutex
	errs := parallel(n, func(i int) error {
		j, created, err := s.CreateJob(ctx(t), job(tn.ID, a.ID, "mp4_1080p"))
		if err != nil {
			return err
		}
		ids[i] = j.ID
		if created {
			mu.Lock()
			createdCount++
			mu.Unlock()
		}
		return nil
	})
	must(t, firstErr(errs))
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("callers got different jobs: %v", ids)
		}
	}
	if createdCount != 1 {
		t.Fatalf("%d callers created a job, want 1", createdCount)
	}
	list, err := s.ListJobs(ctx(t), tn.ID, a.ID)
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("%d jobs stored, want 1", len(list))
	}
}

func testJobsClaimLifecycle(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	a := asset(t, s, tn.ID, "a")
	none, err := s.ClaimJob(ctx(t), "w1", t0, time.Minute)
	must(t, err)
	if none != nil {
		t.Fatalf("empty queue gave %+v", none)
	}
	first, _, err := s.CreateJob(ctx(t), job(tn.ID, a.ID, "mp4_720p"))
	must(t, err)
	second, _, err := s.CreateJob(ctx(t), job(tn.ID, a.ID, "audio_m4a"))
	must(t, err)

	j, err := s.ClaimJob(ctx(t), "w1", t0, time.Minute)
	must(t, err)
	if j == nil || j.ID != first.ID {
		t.Fatalf("claimed %+v, want the oldest job %s", j, first.ID)
	}
	if j.Status != store.JobProcessing || j.LeaseOwner != "w1" || j.Attempts != 1 {
		t.Fatalf("claimed job = %+v", j)
	}
	sameTime(t, "LeaseExpiresAt", j.LeaseExpiresAt, t0.Add(time.Minute))
	sameTime(t, "StartedAt", j.StartedAt, t0)

	// Heartbeat with progress; a stranger cannot.
	must(t, s.HeartbeatJob(ctx(t), j.ID, "w1", 0.5, t0.Add(30*time.Second), time.Minute))
	wantCode(t, s.HeartbeatJob(ctx(t), j.ID, "w2", 0.7, t0.Add(30*time.Second), time.Minute), store.ECONFLICT)
	got, err := s.GetJob(ctx(t), tn.ID, j.ID)
	must(t, err)
	if got.Progress != 0.5 {
		t.Fatalf("progress = %v", got.Progress)
	}
	sameTime(t, "extended lease", got.LeaseExpiresAt, t0.Add(90*time.Second))
	must(t, s.HeartbeatJob(ctx(t), j.ID, "w1", -1, t0.Add(40*time.Second), time.Minute))
	got, err = s.GetJob(ctx(t), tn.ID, j.ID)
	must(t, err)
	if got.Progress != 0.5 {
		t.Fatalf("negative progress changed it to %v", got.Progress)
	}

	// Complete with a rendition.
	_, err = s.CompleteJob(ctx(t), j.ID, "w2", rendition('7'), t0.Add(time.Minute))
	wantCode(t, err, store.ECONFLICT)
	done, err := s.CompleteJob(ctx(t), j.ID, "w1", rendition('7'), t0.Add(time.Minute))
	must(t, err)
	if done.Status != store.JobSucceeded || done.Progress != 1 || done.RenditionID == "" || done.LeaseOwner != "" {
		t.Fatalf("completed job = %+v", done)
	}
	sameTime(t, "FinishedAt", done.FinishedAt, t0.Add(time.Minute))
	r, err := s.GetRendition(ctx(t), tn.ID, a.ID, "mp4_720p", 1)
	must(t, err)
	if r.ID != done.RenditionID || r.BlobKey != hex64('7') {
		t.Fatalf("rendition = %+v", r)
	}
	wantCode(t, s.HeartbeatJob(ctx(t), j.ID, "w1", 0.9, t0.Add(time.Minute), time.Minute), store.ECONFLICT)

	// A succeeded job with its rendition still stands for it.
	again, created, err := s.CreateJob(ctx(t), job(tn.ID, a.ID, "mp4_720p"))
	must(t, err)
	if created || again.ID != j.ID || again.Status != store.JobSucceeded {
		t.Fatalf("CreateJob after success = %+v, %v", again, created)
	}
	// Once the rendition is purged, a new job is queued.
	must(t, s.DeleteRendition(ctx(t), tn.ID, r.ID))
	rebuilt, created, err := s.CreateJob(ctx(t), job(tn.ID, a.ID, "mp4_720p"))
	must(t, err)
	if !created || rebuilt.ID == j.ID {
		t.Fatalf("CreateJob after rendition purge = %+v, %v", rebuilt, created)
	}

	// Release puts the job back.
	j2, err := s.ClaimJob(ctx(t), "w1", t0.Add(2*time.Minute), time.Minute)
	must(t, err)
	if j2.ID != second.ID {
		t.Fatalf("claimed %s, want %s", j2.ID, second.ID)
	}
	wantCode(t, s.ReleaseJob(ctx(t), j2.ID, "w9", t0), store.ECONFLICT)
	must(t, s.ReleaseJob(ctx(t), j2.ID, "w1", t0.Add(2*time.Minute)))
	got, err = s.GetJob(ctx(t), tn.ID, j2.ID)
	must(t, err)
	if got.Status != store.JobQueued || got.LeaseOwner != "" || got.Attempts != 1 {
		t.Fatalf("released job = %+v", got)
	}
	j3, err := s.ClaimJob(ctx(t), "w2", t0.Add(3*time.Minute), time.Minute)
	must(t, err)
	if j3.ID != second.ID || j3.Attempts != 2 || j3.LeaseOwner != "w2" {
		t.Fatalf("reclaimed = %+v", j3)
	}
	sameTime(t, "StartedAt kept from the first claim", j3.StartedAt, t0.Add(2*time.Minute))

	recent, err := s.ListRecentJobs(ctx(t), "mp4_720p", 5)
	must(t, err)
	if len(recent) != 1 || recent[0].ID != j.ID {
		t.Fatalf("ListRecentJobs = %+v", recent)
	}
	n, err := s.CountJobs(ctx(t), store.JobProcessing)
	must(t, err)
	if n != 1 {
		t.Fatalf("CountJobs(processing) = %d", n)
	}
}

func testJobsClaimExclusive(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	a := asset(t, s, tn.ID, "a")
	const jobs = 10
	for i := range jobs {
		_, _, err := s.CreateJob(ctx(t), job(tn.ID, a.ID, fmt.Sprint("fmt", i)))
		must(t, err)
	}
	const workers = 8
	var mu sync.Mutex
	seen := map[string]string{}
	errs := parallel(workers, func(w int) error {
		owner := fmt.Sprint("w", w)
		for range jobs {
			j, err := s.ClaimJob(ctx(t), owner, t0, time.Hour)
			if err != nil {
				return err
			}
			if j == nil {
				return nil
			}
			mu.Lock()
			prev, dup := seen[j.ID]
			seen[j.ID] = owner
			mu.Unlock()
			if dup {
				return fmt.Errorf("job %s claimed by %s and %s", j.ID, prev, owner)
			}
		}
		return nil
	})
	must(t, firstErr(errs))
	if len(seen) != jobs {
		t.Fatalf("%d jobs claimed, want %d", len(seen), jobs)
	}
}

func testJobsLeaseExpiry(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	a := asset(t, s, tn.ID, "a")
	created, _, err := s.CreateJob(ctx(t), job(tn.ID, a.ID, "mp4_480p"))
	must(t, err)
	j, err := s.ClaimJob(ctx(t), "dead-worker", t0, time.Minute)
	must(t, err)
	if j.ID != created.ID {
		t.Fatal("wrong job")
	}
	// Before the lease ends nobody else gets it.
	none, err := s.ClaimJob(ctx(t), "w2", t0.Add(59*time.Second), time.Minute)
	must(t, err)
	if none != nil {
		t.Fatalf("leased job claimed early: %+v", none)
	}
	// After it, another worker does, and the dead one has lost it.
	j2, err := s.ClaimJob(ctx(t), "w2", t0.Add(61*time.Second), time.Minute)
	must(t, err)
	if j2 == nil || j2.ID != j.ID || j2.Attempts != 2 || j2.LeaseOwner != "w2" {
		t.Fatalf("reclaim = %+v", j2)
	}
	wantCode(t, s.HeartbeatJob(ctx(t), j.ID, "dead-worker", 0.1, t0.Add(62*time.Second), time.Minute), store.ECONFLICT)
	_, err = s.CompleteJob(ctx(t), j.ID, "dead-worker", rendition('1'), t0.Add(62*time.Second))
	wantCode(t, err, store.ECONFLICT)
	_, err = s.FailJob(ctx(t), j.ID, "dead-worker", "late", t0.Add(62*time.Second))
	wantCode(t, err, store.ECONFLICT)
	_, err = s.CompleteJob(ctx(t), j.ID, "w2", rendition('2'), t0.Add(2*time.Minute))
	must(t, err)
}

func testJobsFailAndRetry(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	a := asset(t, s, tn.ID, "a")
	created, _, err := s.CreateJob(ctx(t), job(tn.ID, a.ID, "thumbnail_jpg"))
	must(t, err)
	j, err := s.ClaimJob(ctx(t), "w1", t0, time.Minute)
	must(t, err)
	failed, err := s.FailJob(ctx(t), j.ID, "w1", "ffmpeg: invalid data found", t0.Add(time.Second))
	must(t, err)
	if failed.Status != store.JobFailed || failed.Error != "ffmpeg: invalid data found" || failed.LeaseOwner != "" {
		t.Fatalf("failed job = %+v", failed)
	}
	sameTime(t, "FinishedAt", failed.FinishedAt, t0.Add(time.Second))
	none, err := s.ClaimJob(ctx(t), "w1", t0.Add(time.Hour), time.Minute)
	must(t, err)
	if none != nil {
		t.Fatal("failed job claimed again")
	}
	retry, wasCreated, err := s.CreateJob(ctx(t), job(tn.ID, a.ID, "thumbnail_jpg"))
	must(t, err)
	if !wasCreated || retry.ID == created.ID {
		t.Fatal("a failed job blocks a new one")
	}
	n, err := s.CountJobs(ctx(t), store.JobFailed)
	must(t, err)
	if n != 1 {
		t.Fatalf("CountJobs(failed) = %d", n)
	}
}
