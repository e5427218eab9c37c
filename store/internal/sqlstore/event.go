package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
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
func (t *Tx) AppendEvent(ctx context.Context, e *store.Event) error {
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
	// Dialect.LastEventID holds the newest ID stable until commit (the
	// write lock, or a locked clock row): make ours larger, so IDs follow
	// commit order even across processes, replicas or clock steps. In a
	// sole-writer transaction the newest ID is read once and then
	// followed in memory (batches of audit records append hundreds).
	var last sql.NullString
	if t.lastEventID != nil {
		last = sql.NullString{String: *t.lastEventID, Valid: *t.lastEventID != ""}
	} else if err := t.q.QueryRowContext(ctx, t.d.LastEventID).Scan(&last); err != nil {
		return t.dbErr("append event", err)
	}
	e.ID = store.NewIDAt(store.PrefixEvent, t.clock())
	if last.Valid && last.String != "" && e.ID <= last.String {
		lt, _ := store.IDTime(last.String)
		e.ID = store.NewIDAt(store.PrefixEvent, lt.Add(time.Millisecond))
	}
	if t.d.SetLastEventID != "" {
		if _, err := t.q.ExecContext(ctx, t.d.SetLastEventID, e.ID); err != nil {
			return t.dbErr("append event", err)
		}
	}
	const insert = "INSERT INTO events (" + eventCols + ") VALUES (?, ?, ?, ?, ?)"
	args := []any{e.ID, e.TenantID, e.Type, string(e.Data), ts(e.CreatedAt)}
	var err error
	if st := t.txStmt(ctx, insert); st != nil {
		_, err = st.ExecContext(ctx, args...)
	} else {
		_, err = t.q.ExecContext(ctx, insert, args...)
	}
	if err != nil {
		return t.dbErr("append event", err)
	}
	if t.sole != nil {
		id := e.ID
		t.lastEventID = &id
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
func (t *Tx) GetEvent(ctx context.Context, tenantID, id string) (*store.Event, error) {
	e, err := scanEvent(t.q.QueryRowContext(ctx, "SELECT "+eventCols+" FROM events WHERE tenant_id = ? AND id = ?", tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("event", id)
	}
	return e, t.dbErr("get event", err)
}

// ListEvents returns a page of the tenant's events.
func (t *Tx) ListEvents(ctx context.Context, tenantID string, f store.EventFilter) ([]*store.Event, string, error) {
	limit := f.PageLimit()
	query := "SELECT " + eventCols + " FROM events WHERE tenant_id = ? AND id > ?"
	args := []any{tenantID, f.After}
	if len(f.Types) > 0 {
		query += " AND type IN (?" + strings.Repeat(", ?", len(f.Types)-1) + ")"
		for _, typ := range f.Types {
			args = append(args, typ)
		}
	}
	if !f.Since.IsZero() {
		query += " AND created_at >= ?"
		args = append(args, ts(tm(f.Since)))
	}
	rows, err := t.q.QueryContext(ctx, query+" ORDER BY id LIMIT ?", append(args, limit+1)...)
	if err != nil {
		return nil, "", t.dbErr("list events", err)
	}
	defer rows.Close()
	var out []*store.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, "", t.dbErr("list events", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", t.dbErr("list events", err)
	}
	out, next := page(out, limit, func(e *store.Event) string { return e.ID })
	return out, next, nil
}
