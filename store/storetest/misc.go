package storetest

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haulhq/haul/store"
)

func idem(tenantID, key, fp string, now time.Time) *store.IdempotencyRecord {
	return &store.IdempotencyRecord{TenantID: tenantID, Key: key, Fingerprint: fp, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
}

func testIdempotency(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	other := tenant(t, s, "other")
	ex, created, err := s.BeginIdempotency(ctx(t), idem(tn.ID, "k1", "fp1", t0), time.Minute)
	must(t, err)
	if !created || ex != nil {
		t.Fatalf("first begin = %+v, %v", ex, created)
	}
	// Same key, other tenant: independent.
	_, created, err = s.BeginIdempotency(ctx(t), idem(other.ID, "k1", "fpX", t0), time.Minute)
	must(t, err)
	if !created {
		t.Fatal("keys are not tenant-scoped")
	}
	ex, created, err = s.BeginIdempotency(ctx(t), idem(tn.ID, "k1", "fp2", t0.Add(time.Second)), time.Minute)
	must(t, err)
	if created || ex.State != store.IdempotencyInFlight || ex.Fingerprint != "fp1" {
		t.Fatalf("in-flight begin = %+v, %v", ex, created)
	}
	hdr := http.Header{"Content-Type": {"application/json"}, "Location": {"/v1/jobs/job_1"}}
	must(t, s.CompleteIdempotency(ctx(t), tn.ID, "k1", 202, hdr, []byte(`{"job_id":"job_1"}`), t0.Add(2*time.Second)))
	ex, created, err = s.BeginIdempotency(ctx(t), idem(tn.ID, "k1", "fp1", t0.Add(3*time.Second)), time.Minute)
	must(t, err)
	if created || ex.State != store.IdempotencyDone || ex.ResponseStatus != 202 || string(ex.ResponseBody) != `{"job_id":"job_1"}` ||
		http.Header(ex.ResponseHeaders).Get("Location") != "/v1/jobs/job_1" {
		t.Fatalf("replay record = %+v", ex)
	}
	sameTime(t, "CreatedAt", ex.CreatedAt, t0)
	sameTime(t, "ExpiresAt", ex.ExpiresAt, t0.Add(24*time.Hour))
	wantCode(t, s.CompleteIdempotency(ctx(t), tn.ID, "nope", 200, nil, nil, t0), store.ENOTFOUND)

	// A stale in-flight key (its server died) is taken over.
	_, _, err = s.BeginIdempotency(ctx(t), idem(tn.ID, "k2", "fp", t0), time.Minute)
	must(t, err)
	ex, created, err = s.BeginIdempotency(ctx(t), idem(tn.ID, "k2", "fp", t0.Add(30*time.Second)), time.Minute)
	must(t, err)
	if created {
		t.Fatal("fresh in-flight key taken over")
	}
	_, created, err = s.BeginIdempotency(ctx(t), idem(tn.ID, "k2", "fp", t0.Add(2*time.Minute)), time.Minute)
	must(t, err)
	if !created {
		t.Fatal("stale in-flight key not taken over")
	}
	// Delete lets a retry start over.
	must(t, s.DeleteIdempotency(ctx(t), tn.ID, "k2"))
	_, created, err = s.BeginIdempotency(ctx(t), idem(tn.ID, "k2", "fp", t0.Add(3*time.Minute)), time.Minute)
	must(t, err)
	if !created {
		t.Fatal("deleted key still present")
	}
	// Expired keys are replaced on begin and removed by ExpireIdempotency.
	day := t0.Add(25 * time.Hour)
	_, created, err = s.BeginIdempotency(ctx(t), idem(tn.ID, "k1", "fp9", day), time.Minute)
	must(t, err)
	if !created {
		t.Fatal("expired key not replaced")
	}
	n, err := s.ExpireIdempotency(ctx(t), t0.Add(24*time.Hour+5*time.Minute))
	must(t, err)
	if n != 2 { // other/k1 and tn/k2; tn/k1 was renewed at day
		t.Fatalf("ExpireIdempotency removed %d, want 2", n)
	}
	ex, created, err = s.BeginIdempotency(ctx(t), idem(tn.ID, "k1", "fp9", day), time.Minute)
	must(t, err)
	if created || ex.Fingerprint != "fp9" {
		t.Fatalf("renewed key = %+v, %v", ex, created)
	}
	_, _, err = s.BeginIdempotency(ctx(t), &store.IdempotencyRecord{TenantID: tn.ID, Key: "k3", CreatedAt: t0}, time.Minute)
	wantCode(t, err, store.EINVALID)
}

func testIdempotencyConcurrentBegin(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	var created atomic.Int32
	must(t, firstErr(parallel(16, func(int) error {
		_, c, err := s.BeginIdempotency(ctx(t), idem(tn.ID, "race", "fp", t0), time.Minute)
		if c {
			created.Add(1)
		}
		return err
	})))
	if created.Load() != 1 {
		t.Fatalf("%d concurrent begins created the key, want 1", created.Load())
	}
}

func testLeases(t *testing.T, s store.Store) {
	ok, err := s.AcquireLease(ctx(t), "lifecycle", "a", time.Minute, t0)
	must(t, err)
	if !ok {
		t.Fatal("free lease not acquired")
	}
	ok, err = s.AcquireLease(ctx(t), "lifecycle", "b", time.Minute, t0.Add(30*time.Second))
	must(t, err)
	if ok {
		t.Fatal("held lease taken")
	}
	ok, err = s.AcquireLease(ctx(t), "lifecycle", "a", time.Minute, t0.Add(50*time.Second))
	must(t, err)
	if !ok {
		t.Fatal("owner could not renew")
	}
	ok, err = s.AcquireLease(ctx(t), "lifecycle", "b", time.Minute, t0.Add(100*time.Second))
	must(t, err)
	if ok {
		t.Fatal("renewed lease taken before it ended")
	}
	ok, err = s.AcquireLease(ctx(t), "lifecycle", "b", time.Minute, t0.Add(111*time.Second))
	must(t, err)
	if !ok {
		t.Fatal("expired lease not taken over")
	}
	ok, err = s.AcquireLease(ctx(t), "webhooks", "a", time.Minute, t0)
	must(t, err)
	if !ok {
		t.Fatal("leases are not independent")
	}
	must(t, s.ReleaseLease(ctx(t), "lifecycle", "a")) // not a's: no effect
	ok, err = s.AcquireLease(ctx(t), "lifecycle", "c", time.Minute, t0.Add(112*time.Second))
	must(t, err)
	if ok {
		t.Fatal("release by a non-owner freed the lease")
	}
	must(t, s.ReleaseLease(ctx(t), "lifecycle", "b"))
	ok, err = s.AcquireLease(ctx(t), "lifecycle", "c", time.Minute, t0.Add(112*time.Second))
	must(t, err)
	if !ok {
		t.Fatal("released lease not free")
	}
	// Contenders at one instant: exactly one wins.
	var wins atomic.Int32
	must(t, firstErr(parallel(8, func(i int) error {
		ok, err := s.AcquireLease(ctx(t), "race", fmt.Sprint("r", i), time.Minute, t0)
		if ok {
			wins.Add(1)
		}
		return err
	})))
	if wins.Load() != 1 {
		t.Fatalf("%d contenders hold the lease", wins.Load())
	}
}

func testRateLimit(t *testing.T, s store.Store) {
	// 3 per minute: a burst of 3, then one every 20 s.
	for i := range 3 {
		r, err := s.TakeToken(ctx(t), "export:ten_1", 3, time.Minute, t0)
		must(t, err)
		if !r.Allowed || r.Limit != 3 || r.Remaining != 2-i {
			t.Fatalf("request %d = %+v", i, r)
		}
	}
	r, err := s.TakeToken(ctx(t), "export:ten_1", 3, time.Minute, t0)
	must(t, err)
	if r.Allowed || r.Remaining != 0 || r.RetryAfter != 20*time.Second || r.Reset != time.Minute {
		t.Fatalf("over the limit = %+v", r)
	}
	// Other keys are independent.
	r, err = s.TakeToken(ctx(t), "export:ten_2", 3, time.Minute, t0)
	must(t, err)
	if !r.Allowed {
		t.Fatal("separate key limited")
	}
	r, err = s.TakeToken(ctx(t), "export:ten_1", 3, time.Minute, t0.Add(20*time.Second))
	must(t, err)
	if !r.Allowed || r.Remaining != 0 {
		t.Fatalf("after 20 s = %+v", r)
	}
	r, err = s.TakeToken(ctx(t), "export:ten_1", 3, time.Minute, t0.Add(10*time.Minute))
	must(t, err)
	if !r.Allowed || r.Remaining != 2 {
		t.Fatalf("after a long pause = %+v", r)
	}
	// Concurrent takers never exceed the burst.
	var allowed atomic.Int32
	must(t, firstErr(parallel(10, func(int) error {
		r, err := s.TakeToken(ctx(t), "burst", 4, time.Minute, t0)
		if r.Allowed {
			allowed.Add(1)
		}
		return err
	})))
	if allowed.Load() != 4 {
		t.Fatalf("%d of 10 concurrent requests allowed, want 4", allowed.Load())
	}
}

func testReady(t *testing.T, s store.Store) {
	must(t, s.Ready(ctx(t)))
}
