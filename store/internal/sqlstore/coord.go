package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/haulhq/haul/store"
)

// GetSetting returns a setting.
func (t *Tx) GetSetting(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := t.q.QueryRowContext(ctx, "SELECT value FROM settings WHERE name = ?", name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("setting", name)
	}
	return v, t.dbErr("get setting", err)
}

// PutSetting stores a setting.
func (t *Tx) PutSetting(ctx context.Context, name string, value []byte) error {
	_, err := t.q.ExecContext(ctx, "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
		name, nonNil(value))
	return t.dbErr("put setting", err)
}

// PutSettingIfAbsent stores a setting unless it exists.
func (t *Tx) PutSettingIfAbsent(ctx context.Context, name string, value []byte) ([]byte, bool, error) {
	res, err := t.q.ExecContext(ctx, "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", name, nonNil(value))
	if err != nil {
		return nil, false, t.dbErr("put setting", err)
	}
	n, _ := res.RowsAffected()
	if n == 1 {
		return value, true, nil
	}
	v, err := t.GetSetting(ctx, name)
	return v, false, err
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// SigningKeys returns the keys valid at now, current first.
func (t *Tx) SigningKeys(ctx context.Context, now time.Time) ([]store.SigningKey, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT id, secret, created_at, expires_at FROM signing_keys
		WHERE expires_at IS NULL OR expires_at > ?
		ORDER BY expires_at IS NOT NULL, created_at DESC, id DESC`, ts(tm(now)))
	if err != nil {
		return nil, t.dbErr("signing keys", err)
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		if err := rows.Scan(&k.ID, &k.Secret, timeCol{&k.CreatedAt}, timeCol{&k.ExpiresAt}); err != nil {
			return nil, t.dbErr("signing keys", err)
		}
		out = append(out, k)
	}
	return out, t.dbErr("signing keys", rows.Err())
}

func (t *Tx) currentSigningKey(ctx context.Context) (store.SigningKey, bool, error) {
	var k store.SigningKey
	err := t.q.QueryRowContext(ctx, `SELECT id, secret, created_at, expires_at FROM signing_keys
		WHERE expires_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 1`).
		Scan(&k.ID, &k.Secret, timeCol{&k.CreatedAt}, timeCol{&k.ExpiresAt})
	if errors.Is(err, sql.ErrNoRows) {
		return k, false, nil
	}
	return k, err == nil, t.dbErr("signing key", err)
}

func (t *Tx) insertSigningKey(ctx context.Context, secret []byte, now time.Time) (store.SigningKey, error) {
	if len(secret) == 0 {
		return store.SigningKey{}, store.Errorf(store.EINVALID, "empty signing secret")
	}
	k := store.SigningKey{ID: store.NewIDAt(store.PrefixSigningKey, now), Secret: secret, CreatedAt: tm(now)}
	_, err := t.q.ExecContext(ctx, "INSERT INTO signing_keys (id, secret, created_at) VALUES (?, ?, ?)", k.ID, secret, ts(k.CreatedAt))
	return k, t.dbErr("insert signing key", err)
}

// EnsureSigningKey makes a current key if there is none.
func (t *Tx) EnsureSigningKey(ctx context.Context, secret []byte, now time.Time) (store.SigningKey, error) {
	k, ok, err := t.currentSigningKey(ctx)
	if err != nil || ok {
		return k, err
	}
	return t.insertSigningKey(ctx, secret, now)
}

// RotateSigningKey makes secret the current key.
func (t *Tx) RotateSigningKey(ctx context.Context, secret []byte, grace time.Duration, now time.Time) (store.SigningKey, error) {
	if len(secret) == 0 {
		return store.SigningKey{}, store.Errorf(store.EINVALID, "empty signing secret")
	}
	if _, err := t.q.ExecContext(ctx, "UPDATE signing_keys SET expires_at = ? WHERE expires_at IS NULL", ts(tm(now.Add(grace)))); err != nil {
		return store.SigningKey{}, t.dbErr("rotate signing key", err)
	}
	if _, err := t.q.ExecContext(ctx, "DELETE FROM signing_keys WHERE expires_at IS NOT NULL AND expires_at <= ?", ts(tm(now))); err != nil {
		return store.SigningKey{}, t.dbErr("rotate signing key", err)
	}
	return t.insertSigningKey(ctx, secret, now)
}

// AcquireLease takes or renews a lease.
func (t *Tx) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration, now time.Time) (bool, error) {
	if name == "" || owner == "" {
		return false, store.Errorf(store.EINVALID, "lease name and owner are required")
	}
	res, err := t.q.ExecContext(ctx, `INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
		WHERE leases.owner = excluded.owner OR leases.expires_at <= ?`,
		name, owner, tm(now.Add(ttl)).UnixMicro(), tm(now).UnixMicro())
	if err != nil {
		return false, t.dbErr("acquire lease", err)
	}
	n, err := res.RowsAffected()
	return n == 1, t.dbErr("acquire lease", err)
}

// ReleaseLease gives a lease up.
func (t *Tx) ReleaseLease(ctx context.Context, name, owner string) error {
	_, err := t.q.ExecContext(ctx, "DELETE FROM leases WHERE name = ? AND owner = ?", name, owner)
	return t.dbErr("release lease", err)
}

// TakeToken counts a request with GCRA: the bucket stores the theoretical
// arrival time (tat) of the next request.
func (t *Tx) TakeToken(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (store.RateResult, error) {
	query := "SELECT tat FROM rate_buckets WHERE key = ?"
	if t.d.RowLocks {
		// Make sure the bucket row exists, then lock it: concurrent takes
		// on one key queue here, and each sees the previous one's tat (a
		// new bucket starts at 0, i.e. full, as a missing row does
		// without row locks).
		if _, err := t.q.ExecContext(ctx, "INSERT INTO rate_buckets (key, tat) VALUES (?, 0) ON CONFLICT (key) DO NOTHING", key); err != nil {
			return store.RateResult{}, t.dbErr("take token", err)
		}
		query += " FOR UPDATE"
	}
	var stored int64
	err := t.q.QueryRowContext(ctx, query, key).Scan(&stored)
	if err != nil && (t.d.RowLocks || !errors.Is(err, sql.ErrNoRows)) {
		return store.RateResult{}, t.dbErr("take token", err)
	}
	r, newTAT := gcra(time.UnixMicro(stored), limit, window, now)
	if r.Allowed {
		if _, err := t.q.ExecContext(ctx, "INSERT INTO rate_buckets (key, tat) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat",
			key, newTAT.UnixMicro()); err != nil {
			return store.RateResult{}, t.dbErr("take token", err)
		}
	}
	return r, nil
}

// gcra decides one request given the stored theoretical arrival time, and
// returns the result and the new tat to store when allowed.
func gcra(tat time.Time, limit int, window time.Duration, now time.Time) (store.RateResult, time.Time) {
	if limit <= 0 || window <= 0 {
		return store.RateResult{Allowed: false, Limit: limit, RetryAfter: window}, tat
	}
	now = tm(now)
	interval := window / time.Duration(limit)
	if tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(interval)
	allowAt := newTAT.Add(-window)
	if now.Before(allowAt) {
		return store.RateResult{
			Allowed:    false,
			Limit:      limit,
			Remaining:  0,
			Reset:      tat.Sub(now),
			RetryAfter: allowAt.Sub(now),
		}, tat
	}
	remaining := int(now.Sub(allowAt) / interval)
	return store.RateResult{
		Allowed:   true,
		Limit:     limit,
		Remaining: min(remaining, limit-1),
		Reset:     newTAT.Sub(now),
	}, newTAT
}
