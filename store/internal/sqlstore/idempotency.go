package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/haulhq/haul/store"
)

const idemCols = `tenant_id, key, fingerprint, state, response_status, response_headers, response_body,
	created_at, updated_at, expires_at`

func scanIdem(s interface{ Scan(...any) error }) (*store.IdempotencyRecord, error) {
	var r store.IdempotencyRecord
	err := s.Scan(&r.TenantID, &r.Key, &r.Fingerprint, &r.State, &r.ResponseStatus, jsonCol{&r.ResponseHeaders},
		&r.ResponseBody, timeCol{&r.CreatedAt}, timeCol{&r.UpdatedAt}, timeCol{&r.ExpiresAt})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// BeginIdempotency records a key as in flight unless it is known.
func (t *Tx) BeginIdempotency(ctx context.Context, rec *store.IdempotencyRecord, staleAfter time.Duration) (*store.IdempotencyRecord, bool, error) {
	if rec.TenantID == "" || rec.Key == "" {
		return nil, false, store.Errorf(store.EINVALID, "idempotency tenant and key are required")
	}
	now := tm(rec.CreatedAt)
	if now.IsZero() {
		now = t.now()
	}
	if rec.ExpiresAt.IsZero() {
		return nil, false, store.Errorf(store.EINVALID, "idempotency record needs ExpiresAt")
	}
	existing, err := scanIdem(t.q.QueryRowContext(ctx, "SELECT "+idemCols+" FROM idempotency_keys WHERE tenant_id = ? AND key = ?",
		rec.TenantID, rec.Key))
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, false, t.dbErr("begin idempotency", err)
	}
	if err == nil {
		stale := existing.State == store.IdempotencyInFlight && staleAfter > 0 && !existing.UpdatedAt.After(now.Add(-staleAfter))
		if now.Before(existing.ExpiresAt) && !stale {
			return existing, false, nil
		}
	}
	rec.State = store.IdempotencyInFlight
	rec.CreatedAt, rec.UpdatedAt, rec.ExpiresAt = now, now, tm(rec.ExpiresAt)
	rec.ResponseStatus, rec.ResponseHeaders, rec.ResponseBody = 0, nil, nil
	_, err = t.q.ExecContext(ctx, `INSERT INTO idempotency_keys (`+idemCols+`) VALUES (?, ?, ?, ?, 0, 'null', NULL, ?, ?, ?)
		ON CONFLICT (tenant_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, state = excluded.state,
		response_status = 0, response_headers = 'null', response_body = NULL, created_at = excluded.created_at,
		updated_at = excluded.updated_at, expires_at = excluded.expires_at`,
		rec.TenantID, rec.Key, rec.Fingerprint, string(rec.State), ts(now), ts(now), ts(rec.ExpiresAt))
	if err != nil {
		return nil, false, t.dbErr("begin idempotency", err)
	}
	return nil, true, nil
}

// CompleteIdempotency stores the response of a key.
func (t *Tx) CompleteIdempotency(ctx context.Context, tenantID, key string, status int, headers map[string][]string, body []byte, now time.Time) error {
	h, err := jsonVal(headers)
	if err != nil {
		return err
	}
	res, err := t.q.ExecContext(ctx, `UPDATE idempotency_keys SET state = 'done', response_status = ?, response_headers = ?,
		response_body = ?, updated_at = ? WHERE tenant_id = ? AND key = ?`, status, h, nonNil(body), ts(tm(now)), tenantID, key)
	if err != nil {
		return t.dbErr("complete idempotency", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.Errorf(store.ENOTFOUND, "idempotency key not found")
	}
	return nil
}

// DeleteIdempotency forgets a key.
func (t *Tx) DeleteIdempotency(ctx context.Context, tenantID, key string) error {
	_, err := t.q.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE tenant_id = ? AND key = ?", tenantID, key)
	return t.dbErr("delete idempotency", err)
}

// ExpireIdempotency deletes expired keys.
func (t *Tx) ExpireIdempotency(ctx context.Context, now time.Time) (int, error) {
	res, err := t.q.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE expires_at <= ?", ts(tm(now)))
	if err != nil {
		return 0, t.dbErr("expire idempotency", err)
	}
	n, err := res.RowsAffected()
	return int(n), t.dbErr("expire idempotency", err)
}
