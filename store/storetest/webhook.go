package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/haulhq/haul/store"
)

func webhook(t *testing.T, s store.Store, tenantID string, events ...string) *store.WebhookEndpoint {
	t.Helper()
	w := &store.WebhookEndpoint{TenantID: tenantID, URL: "https://example.com/hook", Events: events, Secret: "whsec_dGVzdA=="}
	must(t, s.CreateWebhook(ctx(t), w))
	return w
}

func event(t *testing.T, s store.Store, tenantID, typ string, at time.Time) *store.Event {
	t.Helper()
	e := &store.Event{TenantID: tenantID, Type: typ, Data: json.RawMessage(`{"k":"v"}`), CreatedAt: at}
	must(t, s.AppendEvent(ctx(t), e))
	return e
}

func testWebhooks(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	other := tenant(t, s, "other")
	w := webhook(t, s, tn.ID, "*")
	if !store.HasPrefix(w.ID, store.PrefixWebhook) || w.CreatedAt.IsZero() {
		t.Fatalf("CreateWebhook filled %+v", w)
	}
	wantCode(t, s.CreateWebhook(ctx(t), &store.WebhookEndpoint{TenantID: tn.ID}), store.EINVALID)
	got, err := s.GetWebhook(ctx(t), tn.ID, w.ID)
	must(t, err)
	if got.URL != w.URL || !slices.Equal(got.Events, []string{"*"}) || got.Secret != w.Secret || got.Disabled {
		t.Fatalf("GetWebhook = %+v", got)
	}
	_, err = s.GetWebhook(ctx(t), other.ID, w.ID)
	wantCode(t, err, store.ENOTFOUND)
	w2 := webhook(t, s, tn.ID, store.EventGrantCreated)
	webhook(t, s, other.ID, "*")
	list, next, err := s.ListWebhooks(ctx(t), tn.ID, store.Page{Limit: 1})
	must(t, err)
	if len(list) != 1 || list[0].ID != w.ID || next == "" {
		t.Fatalf("ListWebhooks page 1 = %v %q", list, next)
	}
	list, next, err = s.ListWebhooks(ctx(t), tn.ID, store.Page{After: next})
	must(t, err)
	if len(list) != 1 || list[0].ID != w2.ID || next != "" {
		t.Fatalf("ListWebhooks page 2 = %v %q", list, next)
	}
	d, err := s.SetWebhookDisabled(ctx(t), tn.ID, w2.ID, true, "410 Gone", t0)
	must(t, err)
	if !d.Disabled || d.DisabledReason != "410 Gone" {
		t.Fatalf("disabled = %+v", d)
	}
	d, err = s.SetWebhookDisabled(ctx(t), tn.ID, w2.ID, false, "", t0)
	must(t, err)
	if d.Disabled || d.DisabledReason != "" {
		t.Fatalf("enabled = %+v", d)
	}
	_, err = s.SetWebhookDisabled(ctx(t), other.ID, w2.ID, true, "x", t0)
	wantCode(t, err, store.ENOTFOUND)
	wantCode(t, s.DeleteWebhook(ctx(t), other.ID, w2.ID), store.ENOTFOUND)
	// Deleting an endpoint removes its pending deliveries.
	event(t, s, tn.ID, store.EventGrantCreated, t0) // → w (all) and w2
	n, err := s.CountDeliveries(ctx(t), store.DeliveryPending)
	must(t, err)
	if n != 2 {
		t.Fatalf("%d pending deliveries, want 2", n)
	}
	must(t, s.DeleteWebhook(ctx(t), tn.ID, w2.ID))
	_, err = s.GetWebhook(ctx(t), tn.ID, w2.ID)
	wantCode(t, err, store.ENOTFOUND)
	n, err = s.CountDeliveries(ctx(t), store.DeliveryPending)
	must(t, err)
	if n != 1 {
		t.Fatalf("%d pending deliveries after delete, want 1", n)
	}
}

func testWebhookOutbox(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	other := tenant(t, s, "other")
	all := webhook(t, s, tn.ID, "*")
	grants := webhook(t, s, tn.ID, store.EventGrantCreated, store.EventGrantRevoked)
	off := webhook(t, s, tn.ID, "*")
	_, err := s.SetWebhookDisabled(ctx(t), tn.ID, off.ID, true, "test", t0)
	must(t, err)
	webhook(t, s, other.ID, "*")

	e1 := event(t, s, tn.ID, store.EventAssetCreated, t0)
	e2 := event(t, s, tn.ID, store.EventGrantCreated, t0)
	event(t, s, tn.ID, "download.completed", t0) // audit only: never delivered
	n, err := s.CountDeliveries(ctx(t), store.DeliveryPending)
	must(t, err)
	if n != 3 { // e1→all, e2→all, e2→grants
		t.Fatalf("%d pending deliveries, want 3", n)
	}

	claimed, err := s.ClaimDeliveries(ctx(t), store.DeliveryClaim{Owner: "d1", Now: t0, Lease: time.Minute})
	must(t, err)
	if len(claimed) != 3 {
		t.Fatalf("claimed %d deliveries", len(claimed))
	}
	byPair := map[string]store.ClaimedDelivery{}
	for _, c := range claimed {
		byPair[c.Endpoint.ID+"/"+c.Event.ID] = c
		if c.Delivery.LeaseOwner != "d1" || c.Event.TenantID != tn.ID || c.Endpoint.Secret == "" || string(c.Event.Data) != `{"k":"v"}` {
			t.Fatalf("claimed delivery = %+v", c)
		}
		if !store.HasPrefix(c.Delivery.ID, store.PrefixDelivery) {
			t.Fatalf("delivery id %q", c.Delivery.ID)
		}
	}
	for _, pair := range []string{all.ID + "/" + e1.ID, all.ID + "/" + e2.ID, grants.ID + "/" + e2.ID} {
		if _, ok := byPair[pair]; !ok {
			t.Fatalf("missing delivery %s in %v", pair, byPair)
		}
	}
	// Leased: not claimable again until the lease ends.
	again, err := s.ClaimDeliveries(ctx(t), store.DeliveryClaim{Owner: "d2", Now: t0.Add(30 * time.Second), Lease: time.Minute})
	must(t, err)
	if len(again) != 0 {
		t.Fatalf("leased deliveries claimed again: %d", len(again))
	}

	// Success.
	c := byPair[all.ID+"/"+e1.ID]
	_, err = s.FinishDelivery(ctx(t), store.DeliveryResult{DeliveryID: c.Delivery.ID, Owner: "d2", Now: t0,
		Attempt: store.DeliveryAttempt{StatusCode: 200, Success: true}})
	wantCode(t, err, store.ECONFLICT)
	ep, err := s.FinishDelivery(ctx(t), store.DeliveryResult{DeliveryID: c.Delivery.ID, Owner: "d1", Now: t0.Add(time.Second),
		Attempt: store.DeliveryAttempt{StatusCode: 204, Success: true, LatencyMS: 12}})
	must(t, err)
	if ep.ID != all.ID || ep.ConsecutiveFailures != 0 {
		t.Fatalf("endpoint after success = %+v", ep)
	}
	sameTime(t, "LastSuccessAt", ep.LastSuccessAt, t0.Add(time.Second))
	_, err = s.FinishDelivery(ctx(t), store.DeliveryResult{DeliveryID: c.Delivery.ID, Owner: "d1", Now: t0,
		Attempt: store.DeliveryAttempt{StatusCode: 200, Success: true}})
	wantCode(t, err, store.ECONFLICT)

	// Failure with a retry, then failure with no retry left (dead).
	f := byPair[all.ID+"/"+e2.ID]
	retryAt := t0.Add(5 * time.Second)
	ep, err = s.FinishDelivery(ctx(t), store.DeliveryResult{DeliveryID: f.Delivery.ID, Owner: "d1", Now: t0.Add(time.Second),
		NextAttemptAt: retryAt, Attempt: store.DeliveryAttempt{StatusCode: 500, Error: "HTTP 500", Response: "oops", LatencyMS: 30}})
	must(t, err)
	if ep.ConsecutiveFailures != 1 {
		t.Fatalf("failures = %d", ep.ConsecutiveFailures)
	}
	early, err := s.ClaimDeliveries(ctx(t), store.DeliveryClaim{Owner: "d1", Now: t0.Add(4 * time.Second), Lease: time.Minute,
		ExcludeEndpoints: []string{grants.ID}})
	must(t, err)
	if len(early) != 0 {
		t.Fatalf("retry claimed before it is due: %+v", early)
	}
	retry, err := s.ClaimDeliveries(ctx(t), store.DeliveryClaim{Owner: "d1", Now: retryAt, Lease: time.Minute,
		ExcludeEndpoints: []string{grants.ID}})
	must(t, err)
	if len(retry) != 1 || retry[0].Delivery.ID != f.Delivery.ID || retry[0].Delivery.Attempts != 1 ||
		retry[0].Delivery.Status != store.DeliveryFailed {
		t.Fatalf("retry claim = %+v", retry)
	}
	ep, err = s.FinishDelivery(ctx(t), store.DeliveryResult{DeliveryID: f.Delivery.ID, Owner: "d1", Now: retryAt,
		Attempt: store.DeliveryAttempt{Error: "connection refused"}})
	must(t, err)
	if ep.ConsecutiveFailures != 2 {
		t.Fatalf("failures = %d", ep.ConsecutiveFailures)
	}
	dead, err := s.CountDeliveries(ctx(t), store.DeliveryDead)
	must(t, err)
	delivered, err := s.CountDeliveries(ctx(t), store.DeliveryDelivered)
	must(t, err)
	if dead != 1 || delivered != 1 {
		t.Fatalf("dead %d delivered %d", dead, delivered)
	}

	// Attempts are recorded per endpoint, in order.
	atts, next, err := s.ListDeliveryAttempts(ctx(t), tn.ID, all.ID, store.Page{})
	must(t, err)
	if len(atts) != 3 || next != "" {
		t.Fatalf("%d attempts", len(atts))
	}
	if atts[0].EventID != e1.ID || atts[0].EventType != store.EventAssetCreated || !atts[0].Success || atts[0].StatusCode != 204 ||
		atts[0].Attempt != 1 || atts[0].LatencyMS != 12 || !store.HasPrefix(atts[0].ID, store.PrefixAttempt) {
		t.Fatalf("attempt 0 = %+v", atts[0])
	}
	if atts[1].EventID != e2.ID || atts[1].Success || atts[1].StatusCode != 500 || atts[1].Attempt != 1 || atts[1].Response != "oops" {
		t.Fatalf("attempt 1 = %+v", atts[1])
	}
	if atts[2].Attempt != 2 || atts[2].Error != "connection refused" || atts[2].StatusCode != 0 {
		t.Fatalf("attempt 2 = %+v", atts[2])
	}
	_, _, err = s.ListDeliveryAttempts(ctx(t), other.ID, all.ID, store.Page{})
	wantCode(t, err, store.ENOTFOUND)

	// A disabled endpoint's pending deliveries wait; deleting an endpoint
	// removes its outbox and attempts.
	_, err = s.SetWebhookDisabled(ctx(t), tn.ID, grants.ID, true, "test", t0)
	must(t, err)
	event(t, s, tn.ID, store.EventGrantRevoked, t0.Add(time.Hour))
	got, err := s.ClaimDeliveries(ctx(t), store.DeliveryClaim{Owner: "d3", Now: t0.Add(2 * time.Hour), Lease: time.Minute})
	must(t, err)
	for _, c := range got {
		if c.Endpoint.ID == grants.ID {
			t.Fatal("delivery to a disabled endpoint claimed")
		}
	}
	must(t, s.DeleteWebhook(ctx(t), tn.ID, all.ID))
	_, _, err = s.ListDeliveryAttempts(ctx(t), tn.ID, all.ID, store.Page{})
	wantCode(t, err, store.ENOTFOUND)
}

func testWebhookClaimExclusive(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	for range 3 {
		webhook(t, s, tn.ID, "*")
	}
	for range 10 {
		event(t, s, tn.ID, store.EventAssetAvailable, t0)
	}
	var mu sync.Mutex
	seen := map[string]string{}
	errs := parallel(6, func(w int) error {
		owner := fmt.Sprint("d", w)
		for range 10 {
			got, err := s.ClaimDeliveries(ctx(t), store.DeliveryClaim{Owner: owner, Now: t0, Lease: time.Hour, Limit: 4})
			if err != nil {
				return err
			}
			if len(got) == 0 {
				return nil
			}
			mu.Lock()
			for _, c := range got {
				if prev, ok := seen[c.Delivery.ID]; ok {
					mu.Unlock()
					return fmt.Errorf("delivery %s claimed by %s and %s", c.Delivery.ID, prev, owner)
				}
				seen[c.Delivery.ID] = owner
			}
			mu.Unlock()
		}
		return nil
	})
	must(t, firstErr(errs))
	if len(seen) != 30 {
		t.Fatalf("%d deliveries claimed, want 30", len(seen))
	}
}

func testWebhookFairness(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	busy := webhook(t, s, tn.ID, store.EventAssetAvailable)
	for range 20 {
		event(t, s, tn.ID, store.EventAssetAvailable, t0)
	}
	quiet := webhook(t, s, tn.ID, store.EventJobFailed)
	event(t, s, tn.ID, store.EventJobFailed, t0.Add(time.Second))
	got, err := s.ClaimDeliveries(ctx(t), store.DeliveryClaim{Owner: "d", Now: t0.Add(time.Minute), Lease: time.Minute,
		Limit: 5, PerEndpoint: 2})
	must(t, err)
	per := map[string]int{}
	for _, c := range got {
		per[c.Endpoint.ID]++
	}
	if per[busy.ID] != 2 || per[quiet.ID] != 1 || len(got) != 3 {
		t.Fatalf("per-endpoint claims = %v (busy %s, quiet %s)", per, busy.ID, quiet.ID)
	}
	// Oldest due first within an endpoint.
	if got[0].Endpoint.ID != busy.ID {
		t.Fatalf("first claim is %s", got[0].Endpoint.ID)
	}
}

func testWebhookReplay(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	other := tenant(t, s, "other")
	event(t, s, tn.ID, store.EventAssetCreated, t0) // before the endpoint existed
	w := webhook(t, s, tn.ID, store.EventAssetCreated)
	e2 := event(t, s, tn.ID, store.EventAssetCreated, t0.Add(time.Hour))
	event(t, s, tn.ID, store.EventJobFailed, t0.Add(time.Hour)) // not subscribed
	// Deliver what is pending.
	claimed, err := s.ClaimDeliveries(ctx(t), store.DeliveryClaim{Owner: "d", Now: t0.Add(2 * time.Hour), Lease: time.Minute})
	must(t, err)
	if len(claimed) != 1 || claimed[0].Event.ID != e2.ID {
		t.Fatalf("claimed = %+v", claimed)
	}
	_, err = s.FinishDelivery(ctx(t), store.DeliveryResult{DeliveryID: claimed[0].Delivery.ID, Owner: "d", Now: t0.Add(2 * time.Hour),
		Attempt: store.DeliveryAttempt{StatusCode: 200, Success: true}})
	must(t, err)

	_, err = s.ReplayWebhook(ctx(t), other.ID, w.ID, t0, t0)
	wantCode(t, err, store.ENOTFOUND)
	n, err := s.ReplayWebhook(ctx(t), tn.ID, w.ID, t0.Add(-time.Minute), t0.Add(3*time.Hour))
	must(t, err)
	if n != 2 {
		t.Fatalf("replayed %d events, want 2", n)
	}
	none, err := s.ClaimDeliveries(ctx(t), store.DeliveryClaim{Owner: "d", Now: t0.Add(3*time.Hour - time.Second), Lease: time.Minute})
	must(t, err)
	if len(none) != 0 {
		t.Fatal("replay due before now")
	}
	claimed, err = s.ClaimDeliveries(ctx(t), store.DeliveryClaim{Owner: "d", Now: t0.Add(3 * time.Hour), Lease: time.Minute})
	must(t, err)
	var got []string
	for _, c := range claimed {
		got = append(got, c.Event.ID)
	}
	slices.Sort(got)
	if len(got) != 2 || got[1] != e2.ID {
		t.Fatalf("replayed event ids = %v", got)
	}
	n, err = s.ReplayWebhook(ctx(t), tn.ID, w.ID, t0.Add(30*time.Minute), t0.Add(3*time.Hour))
	must(t, err)
	if n != 1 {
		t.Fatalf("replay since 30m: %d", n)
	}
}
