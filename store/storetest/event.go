package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/haulhq/haul/store"
)

func testEvents(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	other := tenant(t, s, "other")
	var ids []string
	for i := range 5 {
		typ := store.EventAssetCreated
		if i%2 == 1 {
			typ = "download.completed"
		}
		e := &store.Event{TenantID: tn.ID, Type: typ, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
		must(t, s.AppendEvent(ctx(t), e))
		if !store.HasPrefix(e.ID, store.PrefixEvent) || e.CreatedAt.IsZero() {
			t.Fatalf("AppendEvent filled %+v", e)
		}
		ids = append(ids, e.ID)
	}
	must(t, s.AppendEvent(ctx(t), &store.Event{TenantID: other.ID, Type: store.EventAssetCreated}))
	if !slices.IsSorted(ids) {
		t.Fatalf("event ids not increasing: %v", ids)
	}
	wantCode(t, s.AppendEvent(ctx(t), &store.Event{TenantID: tn.ID}), store.EINVALID)
	wantCode(t, s.AppendEvent(ctx(t), &store.Event{TenantID: tn.ID, Type: "x", Data: json.RawMessage("{")}), store.EINVALID)

	got, err := s.GetEvent(ctx(t), tn.ID, ids[2])
	must(t, err)
	if got.Type != store.EventAssetCreated || string(got.Data) != `{"n":2}` {
		t.Fatalf("GetEvent = %+v (%s)", got, got.Data)
	}
	_, err = s.GetEvent(ctx(t), other.ID, ids[2])
	wantCode(t, err, store.ENOTFOUND)

	list, next, err := s.ListEvents(ctx(t), tn.ID, store.EventFilter{})
	must(t, err)
	if len(list) != 5 || next != "" {
		t.Fatalf("ListEvents = %d, %q", len(list), next)
	}
	list, _, err = s.ListEvents(ctx(t), tn.ID, store.EventFilter{Page: store.Page{After: ids[1]}})
	must(t, err)
	if len(list) != 3 || list[0].ID != ids[2] {
		t.Fatalf("after %s: %d events", ids[1], len(list))
	}
	list, _, err = s.ListEvents(ctx(t), tn.ID, store.EventFilter{Types: []string{"download.completed"}})
	must(t, err)
	if len(list) != 2 || list[0].ID != ids[1] || list[1].ID != ids[3] {
		t.Fatalf("type filter = %v", list)
	}
	list, _, err = s.ListEvents(ctx(t), tn.ID, store.EventFilter{Types: []string{"download.completed", store.EventAssetCreated}})
	must(t, err)
	if len(list) != 5 {
		t.Fatalf("two-type filter = %d events, want 5", len(list))
	}
	list, next, err = s.ListEvents(ctx(t), tn.ID, store.EventFilter{Page: store.Page{Limit: 2}})
	must(t, err)
	if len(list) != 2 || next != ids[1] {
		t.Fatalf("page of 2: next %q", next)
	}
	// Data defaults to an empty object.
	e := &store.Event{TenantID: tn.ID, Type: store.EventGrantCreated, CreatedAt: t0}
	must(t, s.AppendEvent(ctx(t), e))
	got, err = s.GetEvent(ctx(t), tn.ID, e.ID)
	must(t, err)
	if string(got.Data) != "{}" {
		t.Fatalf("empty data stored as %q", got.Data)
	}
	sameTime(t, "given CreatedAt", got.CreatedAt, t0)
	list, _, err = s.ListEvents(ctx(t), tn.ID, store.EventFilter{Since: t0.Add(-time.Minute), Types: []string{store.EventGrantCreated}})
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("since filter = %d events", len(list))
	}

}

// testEventsConcurrentPaging has writers append while a reader pages with
// After: the reader must see every event exactly once, in ID order.
func testEventsConcurrentPaging(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	const writers, each = 4, 25
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := s.AppendEvent(ctx(t), &store.Event{TenantID: tn.ID, Type: "test.event",
					Data: json.RawMessage(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))}); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()

	seen := map[string]bool{}
	last := ""
	for polls := 0; ; polls++ {
		finished := false
		select {
		case <-writersDone:
			finished = true
		default:
		}
		list, _, err := s.ListEvents(ctx(t), tn.ID, store.EventFilter{Page: store.Page{After: last, Limit: 7}})
		must(t, err)
		for _, e := range list {
			if e.ID <= last || seen[e.ID] {
				t.Fatalf("event %s out of order or repeated (last %s)", e.ID, last)
			}
			seen[e.ID] = true
			last = e.ID
		}
		if finished && len(list) == 0 {
			break
		}
		if polls > 100000 {
			t.Fatal("reader never caught up")
		}
	}
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if len(seen) != writers*each {
		t.Fatalf("reader saw %d events, want %d", len(seen), writers*each)
	}
}

func testWithTxRollback(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	boom := errors.New("boom")
	var assetID string
	err := s.WithTx(ctx(t), func(tx store.Tx) error {
		a := &store.Asset{TenantID: tn.ID, Title: "t", Filename: "t"}
		if err := tx.CreateAsset(ctx(t), a); err != nil {
			return err
		}
		assetID = a.ID
		if err := tx.AppendEvent(ctx(t), &store.Event{TenantID: tn.ID, Type: store.EventAssetCreated,
			Data: json.RawMessage(`{"id":"` + a.ID + `"}`)}); err != nil {
			return err
		}
		// Reads inside the transaction see its writes.
		if _, err := tx.GetAsset(ctx(t), tn.ID, a.ID); err != nil {
			return fmt.Errorf("read own write: %w", err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WithTx = %v, want boom", err)
	}
	_, err = s.GetAsset(ctx(t), tn.ID, assetID)
	wantCode(t, err, store.ENOTFOUND)
	list, _, err := s.ListEvents(ctx(t), tn.ID, store.EventFilter{})
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("rolled-back event visible: %v", list)
	}

	// Committed: both the change and its event.
	must(t, s.WithTx(ctx(t), func(tx store.Tx) error {
		a := &store.Asset{TenantID: tn.ID, Title: "t", Filename: "t"}
		if err := tx.CreateAsset(ctx(t), a); err != nil {
			return err
		}
		assetID = a.ID
		return tx.AppendEvent(ctx(t), &store.Event{TenantID: tn.ID, Type: store.EventAssetCreated})
	}))
	_, err = s.GetAsset(ctx(t), tn.ID, assetID)
	must(t, err)
	list, _, err = s.ListEvents(ctx(t), tn.ID, store.EventFilter{})
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("%d events after commit", len(list))
	}
}
