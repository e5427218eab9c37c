package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/haulhq/haul/store"
)

// Audit-log entry types that are not webhook events (store.IsWebhookEvent
// is false for them, so they are never sent).
const (
	// EventDelivery records one response of the delivery endpoint.
	EventDelivery = "delivery"
	// EventAssetPurged records the bytes of a deleted asset being removed.
	EventAssetPurged = "asset.purged"
)

// eventJSON is the API form of an audit-log entry: the webhook payload
// ({type, timestamp, data}) with the event's id; created_at repeats
// timestamp under the name other API objects use.
type eventJSON struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

func viewEvent(e *store.Event) eventJSON {
	v := eventJSON{ID: e.ID, Type: e.Type, Timestamp: e.CreatedAt.UTC(), CreatedAt: e.CreatedAt.UTC(), Data: e.Data}
	if len(v.Data) == 0 {
		v.Data = json.RawMessage("{}")
	}
	return v
}

// handleEventList is GET /v1/events?after=&type=: the tenant's append-only
// audit log in order. after (or cursor) is the last event ID seen; a
// reader that keeps paging with it never misses a later event.
func (s *Server) handleEventList() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		p, err := pageOf(r, store.PrefixEvent)
		if err != nil {
			return err
		}
		q := r.URL.Query()
		var afterTime time.Time
		if after := q.Get("after"); after != "" {
			// after is an event ID, or an RFC 3339 time (events strictly later).
			if t, err := time.Parse(time.RFC3339Nano, after); err == nil {
				afterTime = t.Truncate(time.Microsecond).Add(time.Microsecond) // stores keep µs
			} else if strings.HasPrefix(after, "evt_") {
				p.After = after
			} else {
				return Errorf(CodeValidationFailed, "after must be an event id (evt_…) or an RFC 3339 time, e.g. 2026-01-02T15:04:05Z")
			}
		}
		// type= names one type, or several: comma-separated or repeated.
		var types []string
		for _, v := range q["type"] {
			for typ := range strings.SplitSeq(v, ",") {
				if typ = strings.TrimSpace(typ); typ != "" {
					types = append(types, typ)
				}
			}
		}
		if len(types) > 50 {
			return Errorf(CodeValidationFailed, "type names at most 50 event types")
		}
		f := store.EventFilter{Types: types, Page: p, Since: afterTime}
		if v := q.Get("since"); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return Errorf(CodeValidationFailed, "since must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z")
			}
			f.Since = t
		}
		evs, next, err := s.store.ListEvents(r.Context(), tenantOf(r.Context()), f)
		if err != nil {
			return err
		}
		out := make([]eventJSON, 0, len(evs))
		for _, e := range evs {
			out = append(out, viewEvent(e))
		}
		return encode(w, http.StatusOK, newList(out, next))
	})
}

func (s *Server) handleEventGet() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		e, err := s.store.GetEvent(r.Context(), tenantOf(r.Context()), r.PathValue("id"))
		if errors.Is(err, store.ErrNotFound) {
			return Errorf(CodeNotFound, "no event %q", r.PathValue("id"))
		}
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, viewEvent(e))
	})
}

// deliveryRecord is the data of a "delivery" audit entry: who got which
// bytes, when, and whether the transfer was whole.
type deliveryRecord struct {
	AssetID   string    `json:"asset_id"`
	Format    string    `json:"format"`
	GrantID   string    `json:"grant_id,omitempty"`
	Recipient string    `json:"recipient,omitempty"`
	ClientIP  string    `json:"client_ip"`
	Status    int       `json:"status"`
	Bytes     int64     `json:"bytes"`
	Size      int64     `json:"size"`
	Range     string    `json:"range,omitempty"`
	Complete  bool      `json:"complete"`
	Result    string    `json:"result"`
	At        time.Time `json:"at"`
}

// marshal is json.Marshal(r), byte for byte, without reflection: one is
// encoded per delivery.
func (r *deliveryRecord) marshal() ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, `{"asset_id":`...)
	b = appendJSONString(b, r.AssetID)
	b = append(b, `,"format":`...)
	b = appendJSONString(b, r.Format)
	if r.GrantID != "" {
		b = append(b, `,"grant_id":`...)
		b = appendJSONString(b, r.GrantID)
	}
	if r.Recipient != "" {
		b = append(b, `,"recipient":`...)
		b = appendJSONString(b, r.Recipient)
	}
	b = append(b, `,"client_ip":`...)
	b = appendJSONString(b, r.ClientIP)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, r.Bytes, 10)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, r.Size, 10)
	if r.Range != "" {
		b = append(b, `,"range":`...)
		b = appendJSONString(b, r.Range)
	}
	b = append(b, `,"complete":`...)
	b = strconv.AppendBool(b, r.Complete)
	b = append(b, `,"result":`...)
	b = appendJSONString(b, r.Result)
	b = append(b, `,"at":`...)
	if y := r.At.Year(); r.At.Location() == time.UTC && y >= 0 && y <= 9999 {
		b = append(b, '"')
		b = r.At.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	} else {
		at, err := r.At.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("encode delivery time: %w", err)
		}
		b = append(b, at...)
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as encoding/json writes it: plain printable
// ASCII as is, anything else (quotes, backslashes, control characters,
// <, >, &, non-ASCII) through encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// auditHook is the server's own DeliveryHook: it refuses URLs of revoked
// grants and writes each delivery to the audit log. Records are written in
// batches by a background writer (one transaction, one fsync, per batch) so
// that a busy download endpoint does not pay a database commit per
// response; Close flushes what is pending.
type auditHook struct {
	s     *Server
	start sync.Once
	ch    chan store.Event
}

// auditBatch and auditFlush bound a batch of delivery records.
const (
	auditBatch = 256
	auditFlush = 200 * time.Millisecond
)

func newAuditHook(s *Server) *auditHook {
	return &auditHook{s: s, ch: make(chan store.Event, 4*auditBatch)}
}

// CheckGrant implements DeliveryHook.
func (h *auditHook) CheckGrant(ctx context.Context, tenantID, grantID string) error {
	return h.s.checkGrantDelivery(ctx, tenantID, grantID)
}

// Delivered implements DeliveryHook.
func (h *auditHook) Delivered(ctx context.Context, d Delivery) {
	rec := deliveryRecord{
		AssetID: d.AssetID, Format: d.Format, GrantID: d.GrantID, ClientIP: d.ClientIP,
		Status: d.Status, Bytes: d.Bytes, Size: d.Size, Range: d.Range, Complete: d.Complete, At: d.At.UTC(),
	}
	switch {
	case d.Complete:
		rec.Result = "complete"
	case d.Status == http.StatusPartialContent:
		rec.Result = "partial"
	case d.Status == http.StatusFound:
		rec.Result = "redirected"
	case d.Status == http.StatusNotModified:
		rec.Result = "not_modified"
	case d.Status >= 400:
		rec.Result = "refused"
	default:
		rec.Result = "incomplete"
	}
	if d.GrantID != "" {
		if g, err := h.s.store.GetGrant(ctx, d.TenantID, d.GrantID); err == nil {
			rec.Recipient = g.Recipient
		}
	}
	raw, err := rec.marshal()
	if err != nil {
		h.s.log.WarnContext(ctx, "encode delivery record", "err", err)
		return
	}
	ev := store.Event{TenantID: d.TenantID, Type: EventDelivery, Data: raw, CreatedAt: d.At}
	h.start.Do(func() { h.s.goBackground(h.writer) })
	select {
	case h.ch <- ev:
	case <-h.s.bgCtx.Done():
		// Shutting down: the writer may be gone; write it here.
		h.write(context.WithoutCancel(ctx), []store.Event{ev})
	}
}

// writer drains the channel in batches until the server closes, then
// flushes what is left.
func (h *auditHook) writer(ctx context.Context) {
	var batch []store.Event
	t := time.NewTimer(auditFlush)
	defer t.Stop()
	flush := func() {
		if len(batch) > 0 {
			h.write(context.WithoutCancel(ctx), batch)
			batch = batch[:0]
		}
	}
	for {
		select {
		case ev := <-h.ch:
			batch = append(batch, ev)
			if len(batch) >= auditBatch {
				flush()
			}
		case <-t.C:
			flush()
			t.Reset(auditFlush)
		case <-ctx.Done():
			for {
				select {
				case ev := <-h.ch:
					batch = append(batch, ev)
				default:
					flush()
					return
				}
			}
		}
	}
}

func (h *auditHook) write(ctx context.Context, evs []store.Event) {
	err := h.writeTx(ctx, evs)
	if err == nil {
		return
	}
	if len(evs) == 1 {
		h.s.log.ErrorContext(ctx, "record delivery in the audit log", "tenant", evs[0].TenantID, "err", err)
		return
	}
	// One bad record must not take the rest of its batch down: write them
	// one by one, logging each that still fails.
	h.s.log.WarnContext(ctx, "record deliveries in the audit log: batch failed, writing one by one", "records", len(evs), "err", err)
	for i := range evs {
		if err := h.writeTx(ctx, evs[i:i+1]); err != nil {
			h.s.log.ErrorContext(ctx, "record delivery in the audit log", "tenant", evs[i].TenantID, "err", err)
		}
	}
}

// writeTx appends evs, in order, in one transaction.
func (h *auditHook) writeTx(ctx context.Context, evs []store.Event) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The transaction keeps the timeout; its statements get a context
	// without one, so the SQLite driver does not start a goroutine to
	// watch for cancellation on each of the batch's inserts.
	stmtCtx := context.WithoutCancel(ctx)
	return h.s.store.WithTx(ctx, func(tx store.Tx) error {
		for i := range evs {
			e := evs[i] // AppendEvent fills ID; a retried fn starts afresh
			e.ID = ""
			if err := tx.AppendEvent(stmtCtx, &e); err != nil {
				return err
			}
		}
		return nil
	})
}
