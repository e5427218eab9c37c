package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haulhq/haul/store"
)

func TestEventsAuditLog(t *testing.T) {
	e := newGWEnv(t, nil)
	id := e.upload("a.txt", []byte("0123456789"), nil)
	g := e.grant(id, map[string]any{"policy": "limited", "max_downloads": 2, "recipient": "bob"})
	_, _, h := e.redeem(g.Token)
	loc := h.Get("Location")
	// A HEAD sends no body: it is not a delivery, and not recorded as one.
	if status, _, hh := e.do("HEAD", loc, nil, "Authorization", "-"); status != http.StatusOK || hh.Get("Content-Length") != "10" {
		t.Fatalf("HEAD: %d %v", status, hh)
	}
	e.do("GET", loc, nil, "Authorization", "-")
	e.do("GET", loc, nil, "Authorization", "-", "Range", "bytes=0-3")

	// Every delivery is recorded: who, when, client IP, grant, bytes, result.
	// The records are written in batches, within a fraction of a second.
	recs := e.events(EventDelivery)
	for deadline := time.Now().Add(5 * time.Second); len(recs) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		recs = e.events(EventDelivery)
	}
	if len(recs) != 2 {
		t.Fatalf("%d delivery records, want 2", len(recs))
	}
	var full, part deliveryRecord
	_ = json.Unmarshal(recs[0].Data, &full)
	_ = json.Unmarshal(recs[1].Data, &part)
	if full.GrantID != g.ID || full.Recipient != "bob" || full.ClientIP != "127.0.0.1" || full.Bytes != 10 || !full.Complete || full.Result != "complete" || full.AssetID != id {
		t.Fatalf("full delivery record %+v", full)
	}
	if part.Bytes != 4 || part.Complete || part.Result != "partial" || part.Status != http.StatusPartialContent || part.Range != "bytes=0-3" {
		t.Fatalf("partial delivery record %+v", part)
	}

	// Paging with after= walks the whole log in order, once.
	var all []eventJSON
	after := ""
	for range 50 {
		var page struct {
			Data       []eventJSON `json:"data"`
			NextCursor *string     `json:"next_cursor"`
		}
		e.must(http.StatusOK, "GET", "/v1/events?limit=2&after="+after, nil, &page)
		all = append(all, page.Data...)
		if page.NextCursor == nil {
			break
		}
		after = *page.NextCursor
	}
	wantTypes := []string{store.EventAssetCreated, store.EventAssetAvailable, store.EventGrantCreated, store.EventGrantAccessed, EventDelivery, EventDelivery}
	if len(all) != len(wantTypes) {
		t.Fatalf("%d events, want %d: %+v", len(all), len(wantTypes), all)
	}
	for i, ev := range all {
		if ev.Type != wantTypes[i] || (i > 0 && ev.ID <= all[i-1].ID) || ev.CreatedAt.IsZero() {
			t.Fatalf("event %d: %+v (want type %s, increasing ids)", i, ev, wantTypes[i])
		}
	}
	// after= also takes an RFC 3339 time: events strictly later than it.
	var later struct {
		Data []eventJSON `json:"data"`
	}
	e.must(http.StatusOK, "GET", "/v1/events?after="+all[0].CreatedAt.Add(-time.Second).Format(time.RFC3339Nano), nil, &later)
	if len(later.Data) != len(all) {
		t.Fatalf("after=<a second before the first event>: %d events, want %d", len(later.Data), len(all))
	}
	e.must(http.StatusOK, "GET", "/v1/events?after="+all[len(all)-1].CreatedAt.Format(time.RFC3339Nano), nil, &later)
	if len(later.Data) != 0 {
		t.Fatalf("after=<time of the last event>: %+v, want none", later.Data)
	}
	if status, body, _ := e.do("GET", "/v1/events?after=yesterday", nil); status != http.StatusUnprocessableEntity {
		t.Fatalf("after=yesterday: %d %s, want 422", status, body)
	}

	var one eventJSON
	e.must(http.StatusOK, "GET", "/v1/events/"+all[2].ID, nil, &one)
	if one.ID != all[2].ID || one.Type != store.EventGrantCreated {
		t.Fatalf("event by id %+v", one)
	}

	// type= takes several types, comma-separated or repeated.
	grants, deliveries := len(e.events(store.EventGrantCreated)), len(e.events(EventDelivery))
	for _, q := range []string{store.EventGrantCreated + "," + EventDelivery, store.EventGrantCreated + "&type=" + EventDelivery} {
		got := e.events(q)
		if len(got) != grants+deliveries {
			t.Fatalf("type=%s: %d events, want %d", q, len(got), grants+deliveries)
		}
		for _, ev := range got {
			if ev.Type != store.EventGrantCreated && ev.Type != EventDelivery {
				t.Fatalf("type=%s: got a %s event", q, ev.Type)
			}
		}
	}

	// Tenant-scoped.
	other := e.otherTenant()
	status, body, _ := e.do("GET", "/v1/events", nil, "Authorization", "Bearer "+other)
	var l struct {
		Data []eventJSON `json:"data"`
	}
	_ = json.Unmarshal(body, &l)
	if status != http.StatusOK || len(l.Data) != 0 {
		t.Fatalf("other tenant sees %d events (%d)", len(l.Data), status)
	}
	if status, _, _ := e.do("GET", "/v1/events/"+all[0].ID, nil, "Authorization", "Bearer "+other); status != http.StatusNotFound {
		t.Fatalf("other tenant reads an event: %d", status)
	}
	if status, _, _ := e.do("GET", "/v1/events", nil, "Authorization", "-"); status != http.StatusUnauthorized {
		t.Fatalf("no key: %d", status)
	}
}

// TestDeliveryRecordMarshal: the hand-written encoder writes exactly what
// json.Marshal writes.
func TestDeliveryRecordMarshal(t *testing.T) {
	at := time.Date(2026, 11, 29, 23, 59, 1, 123456789, time.UTC)
	recs := []deliveryRecord{
		{},
		{AssetID: "ast_01", Format: "original", ClientIP: "127.0.0.1", Status: 200, Bytes: 65536, Size: 65536, Complete: true, Result: "complete", At: at},
		{AssetID: "ast_01", Format: "mp4_480p", GrantID: "grt_1", Recipient: "Bob <bob@example.com> & \"co\"", ClientIP: "::1", Status: 206, Bytes: 4, Size: 10, Range: "bytes=0-3", Result: "partial", At: at.Truncate(time.Second)},
		{AssetID: "ä\u2028\x00\x1f\x7f\xff", Format: "\\", Recipient: "日本", Status: -1, Bytes: -5, At: time.Date(1, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))},
	}
	for _, r := range recs {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.marshal()
		if err != nil || string(got) != string(want) {
			t.Fatalf("marshal(%+v) =\n%s, %v\nwant\n%s", r, got, err, want)
		}
	}
}

// FuzzDeliveryRecordMarshal compares the encoder with json.Marshal on any
// strings and numbers.
func FuzzDeliveryRecordMarshal(f *testing.F) {
	f.Add("ast_01", "original", "grt_1", "bob", "127.0.0.1", 200, int64(10), int64(10), "bytes=0-3", true, "complete", int64(1_800_000_000_123))
	f.Add("<&>", "\u2028", "", "\xff", "", -1, int64(-1), int64(0), "", false, "\"", int64(-62135596800000))
	f.Fuzz(func(t *testing.T, asset, format, grant, recipient, ip string, status int, n, size int64, rng string, complete bool, result string, ms int64) {
		r := deliveryRecord{AssetID: asset, Format: format, GrantID: grant, Recipient: recipient, ClientIP: ip, Status: status,
			Bytes: n, Size: size, Range: rng, Complete: complete, Result: result, At: time.UnixMilli(ms).UTC()}
		want, werr := json.Marshal(r)
		got, gerr := r.marshal()
		if (werr == nil) != (gerr == nil) || string(got) != string(want) {
			t.Fatalf("marshal = %s, %v; json.Marshal = %s, %v", got, gerr, want, werr)
		}
	})
}

// BenchmarkDeliveryRecordMarshal compares the encoder with json.Marshal.
func BenchmarkDeliveryRecordMarshal(b *testing.B) {
	r := deliveryRecord{AssetID: "ast_01M8MTDTNG7RR1G8JF1D6NZYV4", Format: "original", ClientIP: "127.0.0.1", Status: 200,
		Bytes: 65536, Size: 65536, Complete: true, Result: "complete", At: time.Now().UTC()}
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = r.marshal()
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(r)
		}
	})
}

// TestAuditWriterFlushesOnCloseInOrder: deliveries recorded just before
// Close are all in the audit log after it, in the order they happened,
// and a record the store refuses is logged without losing the others of
// its batch.
func TestAuditWriterFlushesOnCloseInOrder(t *testing.T) {
	var logs syncBuffer
	e := newEnvTB(t, func(d *Deps) { d.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	const n = 3*auditBatch + 17
	const tenant = "ten_audit"
	for i := range n {
		d := Delivery{TenantID: tenant, AssetID: "ast_1", Format: FormatOriginal, ClientIP: "127.0.0.1",
			Status: http.StatusOK, Bytes: int64(i), Size: n, At: time.Now()}
		if i == 5 {
			d.TenantID = "" // the store refuses an event without a tenant
		}
		e.srv.deliveries.Delivered(context.Background(), d)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	var got []int64
	after := ""
	for range 20 {
		evs, next, err := e.st.ListEvents(context.Background(), tenant, store.EventFilter{Types: []string{EventDelivery}, Page: store.Page{After: after, Limit: 1000}})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			var rec deliveryRecord
			if err := json.Unmarshal(ev.Data, &rec); err != nil {
				t.Fatal(err)
			}
			got = append(got, rec.Bytes)
		}
		if next == "" {
			break
		}
		after = next
	}
	if len(got) != n-1 {
		t.Fatalf("%d records after Close, want %d", len(got), n-1)
	}
	want := int64(0)
	for _, b := range got {
		if want == 5 {
			want++
		}
		if b != want {
			t.Fatalf("records out of order: got %d where %d was due (%v…)", b, want, got[:min(len(got), 10)])
		}
		want++
	}
	if out := logs.String(); !strings.Contains(out, "record delivery in the audit log") || !strings.Contains(out, "level=ERROR") {
		t.Fatalf("refused record not logged as an error; log:\n%s", out)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
