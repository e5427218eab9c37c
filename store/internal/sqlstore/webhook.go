package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/haulhq/haul/store"
)

const webhookCols = `id, tenant_id, url, events, secret, disabled, disabled_reason, consecutive_failures,
	last_success_at, last_failure_at, created_at, updated_at`

func scanWebhook(s interface{ Scan(...any) error }) (*store.WebhookEndpoint, error) {
	var w store.WebhookEndpoint
	err := s.Scan(&w.ID, &w.TenantID, &w.URL, jsonCol{&w.Events}, &w.Secret, boolCol{&w.Disabled}, &w.DisabledReason,
		&w.ConsecutiveFailures, timeCol{&w.LastSuccessAt}, timeCol{&w.LastFailureAt}, timeCol{&w.CreatedAt}, timeCol{&w.UpdatedAt})
	if err != nil {
		return nil, err
	}
	w.Events = strs(w.Events)
	return &w, nil
}

func (t *Tx) queryWebhooks(ctx context.Context, what, query string, args ...any) ([]*store.WebhookEndpoint, error) {
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, t.dbErr(what, err)
	}
	defer rows.Close()
	var out []*store.WebhookEndpoint
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, t.dbErr(what, err)
		}
		out = append(out, w)
	}
	return out, t.dbErr(what, rows.Err())
}

// CreateWebhook stores an endpoint.
func (t *Tx) CreateWebhook(ctx context.Context, w *store.WebhookEndpoint) error {
	if w.URL == "" || w.Secret == "" {
		return store.Errorf(store.EINVALID, "webhook url and secret are required")
	}
	if err := t.tenantExists(ctx, w.TenantID); err != nil {
		return err
	}
	if w.ID == "" {
		w.ID = store.NewID(store.PrefixWebhook)
	}
	if w.CreatedAt.IsZero() {
		w.CreatedAt = t.now()
	}
	if w.UpdatedAt.IsZero() {
		w.UpdatedAt = w.CreatedAt
	}
	w.CreatedAt, w.UpdatedAt, w.LastSuccessAt, w.LastFailureAt = tm(w.CreatedAt), tm(w.UpdatedAt), tm(w.LastSuccessAt), tm(w.LastFailureAt)
	w.Events = strs(w.Events)
	events, err := jsonVal(w.Events)
	if err != nil {
		return err
	}
	_, err = t.q.ExecContext(ctx, "INSERT INTO webhooks ("+webhookCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		w.ID, w.TenantID, w.URL, events, w.Secret, t.d.Bool(w.Disabled), w.DisabledReason, w.ConsecutiveFailures,
		ts(w.LastSuccessAt), ts(w.LastFailureAt), ts(w.CreatedAt), ts(w.UpdatedAt))
	if t.d.IsUnique(err) {
		return store.Errorf(store.ECONFLICT, "webhook %s exists", w.ID)
	}
	return t.dbErr("create webhook", err)
}

// GetWebhook returns one of the tenant's endpoints.
func (t *Tx) GetWebhook(ctx context.Context, tenantID, id string) (*store.WebhookEndpoint, error) {
	w, err := scanWebhook(t.q.QueryRowContext(ctx, "SELECT "+webhookCols+" FROM webhooks WHERE tenant_id = ? AND id = ?", tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("webhook", id)
	}
	return w, t.dbErr("get webhook", err)
}

// ListWebhooks returns a page of the tenant's endpoints.
func (t *Tx) ListWebhooks(ctx context.Context, tenantID string, p store.Page) ([]*store.WebhookEndpoint, string, error) {
	limit := p.PageLimit()
	out, err := t.queryWebhooks(ctx, "list webhooks", "SELECT "+webhookCols+" FROM webhooks WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?",
		tenantID, p.After, limit+1)
	if err != nil {
		return nil, "", err
	}
	out, next := page(out, limit, func(w *store.WebhookEndpoint) string { return w.ID })
	return out, next, nil
}

// DeleteWebhook removes an endpoint with its deliveries and attempts.
func (t *Tx) DeleteWebhook(ctx context.Context, tenantID, id string) error {
	res, err := t.q.ExecContext(ctx, "DELETE FROM webhooks WHERE tenant_id = ? AND id = ?", tenantID, id)
	if err != nil {
		return t.dbErr("delete webhook", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("webhook", id)
	}
	return nil
}

// SetWebhookDisabled disables or enables an endpoint.
func (t *Tx) SetWebhookDisabled(ctx context.Context, tenantID, id string, disabled bool, reason string, now time.Time) (*store.WebhookEndpoint, error) {
	var err error
	if disabled {
		_, err = t.q.ExecContext(ctx, "UPDATE webhooks SET disabled = 1, disabled_reason = ?, updated_at = ? WHERE tenant_id = ? AND id = ?",
			reason, ts(tm(now)), tenantID, id)
	} else {
		_, err = t.q.ExecContext(ctx, `UPDATE webhooks SET disabled = 0, disabled_reason = '', consecutive_failures = 0,
			updated_at = ? WHERE tenant_id = ? AND id = ?`, ts(tm(now)), tenantID, id)
	}
	if err != nil {
		return nil, t.dbErr("set webhook disabled", err)
	}
	return t.GetWebhook(ctx, tenantID, id)
}

func (t *Tx) insertDelivery(ctx context.Context, tenantID, endpointID, eventID string, due time.Time) error {
	now := t.now()
	_, err := t.q.ExecContext(ctx, `INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, status, attempts,
		next_attempt_at, lease_owner, lease_expires_at, last_error, created_at, updated_at, delivered_at)
		VALUES (?, ?, ?, ?, 'pending', 0, ?, '', NULL, '', ?, ?, NULL)`,
		store.NewID(store.PrefixDelivery), tenantID, endpointID, eventID, ts(tm(due)), ts(now), ts(now))
	return t.dbErr("queue delivery", err)
}

const deliveryCols = `d.id, d.tenant_id, d.endpoint_id, d.event_id, d.status, d.attempts, d.next_attempt_at, d.lease_owner,
	d.lease_expires_at, d.last_error, d.created_at, d.updated_at, d.delivered_at`

func scanDeliveryInto(d *store.Delivery) []any {
	return []any{&d.ID, &d.TenantID, &d.EndpointID, &d.EventID, &d.Status, &d.Attempts, timeCol{&d.NextAttemptAt},
		&d.LeaseOwner, timeCol{&d.LeaseExpiresAt}, &d.LastError, timeCol{&d.CreatedAt}, timeCol{&d.UpdatedAt}, timeCol{&d.DeliveredAt}}
}

// ClaimDeliveries leases due deliveries.
func (t *Tx) ClaimDeliveries(ctx context.Context, c store.DeliveryClaim) ([]store.ClaimedDelivery, error) {
	if c.Owner == "" {
		return nil, store.Errorf(store.EINVALID, "claim owner is required")
	}
	now := tm(c.Now)
	limit := c.Limit
	if limit <= 0 {
		limit = store.DefaultPageLimit
	}
	per := c.PerEndpoint
	if per <= 0 {
		per = limit
	}
	query := `WITH due AS (
		SELECT d.id, d.next_attempt_at,
			row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS rn
		FROM deliveries d JOIN webhooks w ON w.id = d.endpoint_id
		WHERE d.status IN ('pending', 'failed') AND d.next_attempt_at <= ?
		AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ?) AND w.disabled = 0`
	args := []any{ts(now), ts(now)}
	if len(c.ExcludeEndpoints) > 0 {
		query += " AND d.endpoint_id NOT IN (" + placeholders(len(c.ExcludeEndpoints)) + ")"
		for _, id := range c.ExcludeEndpoints {
			args = append(args, id)
		}
	}
	query += `) SELECT id FROM due WHERE rn <= ? ORDER BY next_attempt_at, id LIMIT ?`
	args = append(args, per, limit)
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, t.dbErr("claim deliveries", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, t.dbErr("claim deliveries", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, t.dbErr("claim deliveries", err)
	}
	out := make([]store.ClaimedDelivery, 0, len(ids))
	for _, id := range ids {
		if _, err := t.q.ExecContext(ctx, "UPDATE deliveries SET lease_owner = ?, lease_expires_at = ?, updated_at = ? WHERE id = ?",
			c.Owner, ts(tm(now.Add(c.Lease))), ts(now), id); err != nil {
			return nil, t.dbErr("claim deliveries", err)
		}
		var cd store.ClaimedDelivery
		ev, wh := &cd.Event, &cd.Endpoint
		dest := append(scanDeliveryInto(&cd.Delivery),
			&ev.ID, &ev.TenantID, &ev.Type, rawCol{&ev.Data}, timeCol{&ev.CreatedAt},
			&wh.ID, &wh.TenantID, &wh.URL, jsonCol{&wh.Events}, &wh.Secret, boolCol{&wh.Disabled}, &wh.DisabledReason,
			&wh.ConsecutiveFailures, timeCol{&wh.LastSuccessAt}, timeCol{&wh.LastFailureAt}, timeCol{&wh.CreatedAt}, timeCol{&wh.UpdatedAt})
		err := t.q.QueryRowContext(ctx, "SELECT "+deliveryCols+", "+prefixCols("e.", eventCols)+", "+prefixCols("w.", webhookCols)+`
			FROM deliveries d JOIN events e ON e.id = d.event_id JOIN webhooks w ON w.id = d.endpoint_id
			WHERE d.id = ?`, id).Scan(dest...)
		if err != nil {
			return nil, t.dbErr("claim deliveries", err)
		}
		out = append(out, cd)
	}
	return out, nil
}

// FinishDelivery records an attempt and settles the delivery.
func (t *Tx) FinishDelivery(ctx context.Context, r store.DeliveryResult) (*store.WebhookEndpoint, error) {
	var d store.Delivery
	var eventType string
	err := t.q.QueryRowContext(ctx, "SELECT "+deliveryCols+", e.type FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = ?",
		r.DeliveryID).Scan(append(scanDeliveryInto(&d), &eventType)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("delivery", r.DeliveryID)
	}
	if err != nil {
		return nil, t.dbErr("finish delivery", err)
	}
	if d.LeaseOwner != r.Owner || (d.Status != store.DeliveryPending && d.Status != store.DeliveryFailed) {
		return nil, store.Errorf(store.ECONFLICT, "delivery %s is not held by %s", d.ID, r.Owner)
	}
	now := tm(r.Now)
	a := r.Attempt
	if a.ID == "" {
		a.ID = store.NewID(store.PrefixAttempt)
	}
	if a.Attempt == 0 {
		a.Attempt = d.Attempts + 1
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	a.TenantID, a.EndpointID, a.DeliveryID, a.EventID = d.TenantID, d.EndpointID, d.ID, d.EventID
	if a.EventType == "" {
		a.EventType = eventType
	}
	if _, err := t.q.ExecContext(ctx, `INSERT INTO delivery_attempts (id, tenant_id, endpoint_id, delivery_id, event_id,
		event_type, attempt, status_code, success, latency_ms, error, response, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.TenantID, a.EndpointID, a.DeliveryID, a.EventID, a.EventType, a.Attempt, a.StatusCode, t.d.Bool(a.Success),
		a.LatencyMS, a.Error, a.Response, ts(tm(a.CreatedAt))); err != nil {
		return nil, t.dbErr("record attempt", err)
	}
	switch {
	case a.Success:
		_, err = t.q.ExecContext(ctx, `UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, lease_owner = '',
			lease_expires_at = NULL, last_error = '', delivered_at = ?, updated_at = ? WHERE id = ?`, ts(now), ts(now), d.ID)
		if err == nil {
			_, err = t.q.ExecContext(ctx, "UPDATE webhooks SET consecutive_failures = 0, last_success_at = ?, updated_at = ? WHERE id = ?",
				ts(now), ts(now), d.EndpointID)
		}
	default:
		status, next := store.DeliveryFailed, r.NextAttemptAt
		if next.IsZero() {
			status, next = store.DeliveryDead, d.NextAttemptAt
		}
		_, err = t.q.ExecContext(ctx, `UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?,
			lease_owner = '', lease_expires_at = NULL, last_error = ?, updated_at = ? WHERE id = ?`,
			string(status), ts(tm(next)), a.Error, ts(now), d.ID)
		if err == nil {
			_, err = t.q.ExecContext(ctx, `UPDATE webhooks SET consecutive_failures = consecutive_failures + 1,
				last_failure_at = ?, updated_at = ? WHERE id = ?`, ts(now), ts(now), d.EndpointID)
		}
	}
	if err != nil {
		return nil, t.dbErr("finish delivery", err)
	}
	return t.GetWebhook(ctx, d.TenantID, d.EndpointID)
}

// ListDeliveryAttempts returns a page of an endpoint's attempts.
func (t *Tx) ListDeliveryAttempts(ctx context.Context, tenantID, endpointID string, p store.Page) ([]*store.DeliveryAttempt, string, error) {
	if _, err := t.GetWebhook(ctx, tenantID, endpointID); err != nil {
		return nil, "", err
	}
	limit := p.PageLimit()
	rows, err := t.q.QueryContext(ctx, `SELECT id, tenant_id, endpoint_id, delivery_id, event_id, event_type, attempt,
		status_code, success, latency_ms, error, response, created_at FROM delivery_attempts
		WHERE tenant_id = ? AND endpoint_id = ? AND id > ? ORDER BY id LIMIT ?`, tenantID, endpointID, p.After, limit+1)
	if err != nil {
		return nil, "", t.dbErr("list attempts", err)
	}
	defer rows.Close()
	var out []*store.DeliveryAttempt
	for rows.Next() {
		var a store.DeliveryAttempt
		if err := rows.Scan(&a.ID, &a.TenantID, &a.EndpointID, &a.DeliveryID, &a.EventID, &a.EventType, &a.Attempt,
			&a.StatusCode, boolCol{&a.Success}, &a.LatencyMS, &a.Error, &a.Response, timeCol{&a.CreatedAt}); err != nil {
			return nil, "", t.dbErr("list attempts", err)
		}
		out = append(out, &a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", t.dbErr("list attempts", err)
	}
	out, next := page(out, limit, func(a *store.DeliveryAttempt) string { return a.ID })
	return out, next, nil
}

// ReplayWebhook queues the endpoint's events since a time again.
func (t *Tx) ReplayWebhook(ctx context.Context, tenantID, endpointID string, since, now time.Time) (int, error) {
	w, err := t.GetWebhook(ctx, tenantID, endpointID)
	if err != nil {
		return 0, err
	}
	rows, err := t.q.QueryContext(ctx, "SELECT id, type FROM events WHERE tenant_id = ? AND created_at >= ? ORDER BY id",
		tenantID, ts(tm(since)))
	if err != nil {
		return 0, t.dbErr("replay", err)
	}
	var ids []string
	for rows.Next() {
		var id, typ string
		if err := rows.Scan(&id, &typ); err != nil {
			rows.Close()
			return 0, t.dbErr("replay", err)
		}
		if w.Subscribes(typ) {
			ids = append(ids, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, t.dbErr("replay", err)
	}
	for _, id := range ids {
		if err := t.insertDelivery(ctx, tenantID, endpointID, id, now); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// CountDeliveries counts deliveries with a status.
func (t *Tx) CountDeliveries(ctx context.Context, status store.DeliveryStatus) (int, error) {
	var n int
	err := t.q.QueryRowContext(ctx, "SELECT count(*) FROM deliveries WHERE status = ?", string(status)).Scan(&n)
	return n, t.dbErr("count deliveries", err)
}
