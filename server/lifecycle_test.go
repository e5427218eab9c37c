package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/haulhq/haul/blob"
	"github.com/haulhq/haul/store"
)

func TestLifecycleRetentionPurgeAndGC(t *testing.T) {
	e := newGWEnv(t, nil)
	ctx := context.Background()
	soon := e.clock.Now().Add(time.Hour)
	doomed := e.upload("doomed.txt", []byte("retained for an hour"), nil)
	held := e.upload("held.txt", []byte("on legal hold"), nil)
	twinA := e.upload("twin-a.txt", []byte("same bytes"), nil)
	twinB := e.upload("twin-b.txt", []byte("same bytes"), nil)
	heldAfterDelete := e.upload("late-hold.txt", []byte("held after deletion"), nil)
	e.must(http.StatusOK, "PATCH", "/v1/assets/"+doomed, map[string]any{"retention_expires_at": soon}, nil)
	e.must(http.StatusOK, "PATCH", "/v1/assets/"+held, map[string]any{"retention_expires_at": soon, "legal_hold": true}, nil)
	e.must(http.StatusOK, "PATCH", "/v1/assets/"+twinA, map[string]any{"retention_expires_at": soon}, nil)
	e.must(http.StatusNoContent, "DELETE", "/v1/assets/"+heldAfterDelete, nil, nil)
	if _, err := e.db.UpdateAsset(ctx, e.tenantID(), heldAfterDelete, e.clock.Now(), func(a *store.Asset) error {
		a.LegalHold = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	orphan, err := e.blobs.Put(ctx, strings.NewReader("uploaded, never named"), blob.PutOptions{SizeHint: -1})
	if err != nil {
		t.Fatal(err)
	}
	lc := NewLifecycle(LifecycleOptions{Store: e.db, Blobs: e.blobs, Now: e.clock.Now, PurgeAfter: 7 * 24 * time.Hour})

	// Before retention ends nothing happens (the orphan is young).
	rep, err := lc.RunOnce(ctx)
	if err != nil || rep != (LifecycleReport{}) {
		t.Fatalf("early pass: %+v, %v", rep, err)
	}

	e.clock.Add(2 * time.Hour)
	rep, err = lc.RunOnce(ctx)
	if err != nil || rep.AssetsDeleted != 2 || rep.AssetsPurged != 0 || rep.BlobsCollected != 1 {
		t.Fatalf("retention pass: %+v, %v", rep, err)
	}
	state := func(id string) string {
		a, err := e.db.GetAsset(ctx, e.tenantID(), id)
		if err != nil {
			t.Fatal(err)
		}
		return string(a.State)
	}
	if state(doomed) != "deleted" || state(twinA) != "deleted" || state(held) != "available" {
		t.Fatalf("states: doomed %s, twinA %s, held %s", state(doomed), state(twinA), state(held))
	}
	if _, err := e.blobs.Stat(ctx, orphan.Key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("orphan blob still stored: %v", err)
	}
	deleted := e.events(store.EventAssetDeleted)
	if len(deleted) != 3 { // two by retention, one by the API
		t.Fatalf("asset.deleted events: %d", len(deleted))
	}
	if !strings.Contains(string(deleted[1].Data), `"reason":"retention_expired"`) {
		t.Fatalf("retention deletion event %s", deleted[1].Data)
	}

	// Bytes stay through the grace period, then go, except on legal hold
	// and where another asset shares them.
	e.clock.Add(7*24*time.Hour - time.Minute)
	if rep, _ := lc.RunOnce(ctx); rep.AssetsPurged != 0 {
		t.Fatalf("purged inside the grace period: %+v", rep)
	}
	e.clock.Add(time.Minute)
	rep, err = lc.RunOnce(ctx)
	if err != nil || rep.AssetsPurged != 2 {
		t.Fatalf("purge pass: %+v, %v", rep, err)
	}
	key := func(id string) string {
		a, err := e.db.GetAsset(ctx, e.tenantID(), id)
		if err != nil {
			t.Fatal(err)
		}
		return a.BlobKey
	}
	if _, err := e.blobs.Stat(ctx, key(doomed)); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("purged asset's blob still stored: %v", err)
	}
	for _, id := range []string{held, twinB, heldAfterDelete} {
		if _, err := e.blobs.Stat(ctx, key(id)); err != nil {
			t.Fatalf("blob of %s removed: %v", id, err)
		}
	}
	var dl struct {
		DownloadURL string `json:"download_url"`
	}
	e.must(http.StatusOK, "POST", "/v1/assets/"+twinB+"/downloads", map[string]any{"format": "original"}, &dl)
	if status, body, _ := e.do("GET", dl.DownloadURL, nil); status != http.StatusOK || !bytes.Equal(body, []byte("same bytes")) {
		t.Fatalf("twin of a purged asset: %d %q", status, body)
	}
	purged := e.events(EventAssetPurged)
	if len(purged) != 2 {
		t.Fatalf("asset.purged audit entries: %d", len(purged))
	}
	var rec purgeRecord
	if err := json.Unmarshal(purged[0].Data, &rec); err != nil || rec.AssetID == "" || rec.Checksum == "" || rec.Size == 0 {
		t.Fatalf("purge record %s (%v)", purged[0].Data, err)
	}
	// Idempotent.
	if rep, err := lc.RunOnce(ctx); err != nil || rep != (LifecycleReport{}) {
		t.Fatalf("repeat pass: %+v %v", rep, err)
	}
}

func TestLifecycleRunHoldsLease(t *testing.T) {
	e := newGWEnv(t, nil)
	bg := context.Background()
	id := e.upload("a.txt", []byte("abc"), nil)
	e.grant(id, map[string]any{"policy": "one_time", "expires_in": 60})
	e.clock.Add(time.Minute)
	// Another replica holds the lease: this one must not work.
	if held, err := e.db.AcquireLease(bg, LifecycleLease, "replica-b", time.Hour, e.clock.Now()); err != nil || !held {
		t.Fatalf("replica-b lease: %v %v", held, err)
	}
	ctx, cancel := context.WithCancel(bg)
	a := NewLifecycle(LifecycleOptions{Store: e.db, Blobs: e.blobs, Now: e.clock.Now, Interval: 10 * time.Millisecond, Owner: "replica-a"})
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	time.Sleep(100 * time.Millisecond)
	if n := len(e.events(store.EventGrantExpired)); n != 0 {
		t.Fatalf("worked without the lease: %d grants expired", n)
	}
	if err := e.db.ReleaseLease(bg, LifecycleLease, "replica-b"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(e.events(store.EventGrantExpired)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("replica-a never ran after the lease was free")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if held, _ := e.db.AcquireLease(bg, LifecycleLease, "replica-b", time.Minute, e.clock.Now()); held {
		t.Fatal("replica-b took the lease while replica-a holds it")
	}
	cancel()
	<-done
	held, err := e.db.AcquireLease(bg, LifecycleLease, "replica-b", time.Minute, e.clock.Now())
	if err != nil || !held {
		t.Fatalf("lease not released at shutdown: %v %v", held, err)
	}
}
