package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/haulhq/haul/store"
)

const eventCols = "id, tenant_id, type, data, created_at"

func scanEvent(s interface{ Scan(...any) error }) (*store.Event, error) {
	var e store.Event
	if err := s.Scan(&e.ID, &e.TenantID, &e.Type, rawCol{&e.Data}, timeCol{&e.CreatedAt}); err != nil {
		return nil, err
	}
	return &e, nil
}

// AppendEvent stores an event and queues its webhook deliveries.
func (t *tx) AppendEvent(ctx context.Context, e *store.Event) error {
	if e.Type == "" || e.TenantID == "" {
		return store.Errorf(store.EINVALID, "event type and tenant are required")
	}
	if len(e.Data) == 0 {
		e.Data = json.RawMessage("{}")
	} else if !json.Valid(e.Data) {
		return store.Errorf(store.EINVALID, "event data is not JSON")
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = t.now()
	}
	e.CreatedAt = tm(e.CreatedAt)
	// Lock the event clock row until commit: appends serialize, and in a
	// serializable transaction the lock also fails (and the transaction is
	// retried) if another append committed since our snapshot. So the
	// newest ID is stable: make ours larger, and IDs follow commit order
	// across replicas and clock steps.
	var last string
	if err := t.q.QueryRowContext(ctx, "SELECT last_id FROM event_clock FOR UPDATE").Scan(&last); err != nil {
		return dbErr("append event", err)
	}
	e.ID = store.NewIDAt(store.PrefixEvent, t.db.Now())
	if last != "" && e.ID <= last {
		lt, _ := store.IDTime(last)
		e.ID = store.NewIDAt(store.PrefixEvent, lt.Add(time.Millisecond))
	}
	if _, err := t.q.ExecContext(ctx, "UPDATE event_clock SET last_id = ?", e.ID); err != nil {
		return dbErr("append event", err)
	}
	if _, err := t.q.ExecContext(ctx, "INSERT INTO events ("+eventCols+") VALUES (?, ?, ?, ?, ?)",
		e.ID, e.TenantID, e.Type, string(e.Data), ts(e.CreatedAt)); err != nil {
		return dbErr("append event", err)
	}
	if !store.IsWebhookEvent(e.Type) {
		return nil
	}
	hooks, err := t.queryWebhooks(ctx, "append event", "SELECT "+webhookCols+" FROM webhooks WHERE tenant_id = ? AND disabled = 0 ORDER BY id", e.TenantID)
	if err != nil {
		return err
	}
	for _, w := range hooks {
		if w.Subscribes(e.Type) {
			if err := t.insertDelivery(ctx, e.TenantID, w.ID, e.ID, e.CreatedAt); err != nil {
				return err
			}
		}
	}
	return nil
}

// GetEvent returns one of the tenant's events.
func (t *tx) GetEvent(ctx context.Context, tenantID, id string) (*store.Event, error) {
	e, err := scanEvent(t.q.QueryRowContext(ctx, "SELECT "+eventCols+" FROM events WHERE tenant_id = ? AND id = ?", tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("event", id)
	}
	return e, dbErr("get event", err)
}

// ListEvents returns a page of the tenant's events.
func (t *tx) ListEvents(ctx context.Context, tenantID string, f store.EventFilter) ([]*store.Event, string, error) {
	limit := f.PageLimit()
	query := "SELECT " + eventCols + " FROM events WHERE tenant_id = ? AND id > ?"
	args := []any{tenantID, f.After}
	if f.Type != "" {
		query += " AND type = ?"
		args = append(args, f.Type)
	}
	if !f.Since.IsZero() {
		query += " AND created_at >= ?"
		args = append(args, ts(tm(f.Since)))
	}
	rows, err := t.q.QueryContext(ctx, query+" ORDER BY id LIMIT ?", append(args, limit+1)...)
	if err != nil {
		return nil, "", dbErr("list events", err)
	}
	defer rows.Close()
	var out []*store.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, "", dbErr("list events", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", dbErr("list events", err)
	}
	out, next := page(out, limit, func(e *store.Event) string { return e.ID })
	return out, next, nil
}
