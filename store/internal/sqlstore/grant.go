package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/haulhq/haul/store"
)

const grantCols = `id, tenant_id, asset_id, policy, max_downloads, downloads_used, token_hash, access_expires_at,
	format, recipient, status, created_at, updated_at, last_accessed_at, revoked_at`

func scanGrant(s interface{ Scan(...any) error }) (*store.Grant, error) {
	var g store.Grant
	err := s.Scan(&g.ID, &g.TenantID, &g.AssetID, &g.Policy, &g.MaxDownloads, &g.DownloadsUsed, &g.TokenHash,
		timeCol{&g.AccessExpiresAt}, &g.Format, &g.Recipient, &g.Status, timeCol{&g.CreatedAt}, timeCol{&g.UpdatedAt},
		timeCol{&g.LastAccessedAt}, timeCol{&g.RevokedAt})
	if err != nil {
		return nil, err
	}
	return &g, nil
}

func (t *Tx) queryGrants(ctx context.Context, what, query string, args ...any) ([]*store.Grant, error) {
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, t.dbErr(what, err)
	}
	defer rows.Close()
	var out []*store.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, t.dbErr(what, err)
		}
		out = append(out, g)
	}
	return out, t.dbErr(what, rows.Err())
}

// CreateGrant stores a grant.
func (t *Tx) CreateGrant(ctx context.Context, g *store.Grant) error {
	switch g.Policy {
	case store.GrantOneTime:
		g.MaxDownloads = 1
	case store.GrantLimited:
		if g.MaxDownloads <= 0 {
			return store.Errorf(store.EINVALID, "a limited grant needs max_downloads > 0")
		}
	case store.GrantRenewable:
		if g.MaxDownloads < 0 {
			return store.Errorf(store.EINVALID, "max_downloads must not be negative")
		}
	default:
		return store.Errorf(store.EINVALID, "unknown grant policy %q", g.Policy)
	}
	if g.TokenHash == "" || g.AccessExpiresAt.IsZero() {
		return store.Errorf(store.EINVALID, "grant token hash and expiry are required")
	}
	if _, err := t.GetAsset(ctx, g.TenantID, g.AssetID); err != nil {
		return err
	}
	if g.ID == "" {
		g.ID = store.NewID(store.PrefixGrant)
	}
	if g.Status == "" {
		g.Status = store.GrantActive
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = t.now()
	}
	if g.UpdatedAt.IsZero() {
		g.UpdatedAt = g.CreatedAt
	}
	g.AccessExpiresAt, g.CreatedAt, g.UpdatedAt = tm(g.AccessExpiresAt), tm(g.CreatedAt), tm(g.UpdatedAt)
	g.LastAccessedAt, g.RevokedAt = tm(g.LastAccessedAt), tm(g.RevokedAt)
	_, err := t.q.ExecContext(ctx, "INSERT INTO grants ("+grantCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		g.ID, g.TenantID, g.AssetID, string(g.Policy), g.MaxDownloads, g.DownloadsUsed, g.TokenHash, ts(g.AccessExpiresAt),
		g.Format, g.Recipient, string(g.Status), ts(g.CreatedAt), ts(g.UpdatedAt), ts(g.LastAccessedAt), ts(g.RevokedAt))
	if t.d.IsUnique(err) {
		return store.Errorf(store.ECONFLICT, "grant exists")
	}
	return t.dbErr("create grant", err)
}

// GetGrant returns one of the tenant's grants.
func (t *Tx) GetGrant(ctx context.Context, tenantID, id string) (*store.Grant, error) {
	g, err := scanGrant(t.q.QueryRowContext(ctx, "SELECT "+grantCols+" FROM grants WHERE tenant_id = ? AND id = ?", tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("grant", id)
	}
	return g, t.dbErr("get grant", err)
}

// GetGrantByTokenHash finds a grant by its token's hash.
func (t *Tx) GetGrantByTokenHash(ctx context.Context, tokenHash string) (*store.Grant, error) {
	g, err := scanGrant(t.q.QueryRowContext(ctx, "SELECT "+grantCols+" FROM grants WHERE token_hash = ?", tokenHash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "grant not found")
	}
	return g, t.dbErr("get grant", err)
}

// ListGrants returns a page of the tenant's grants.
func (t *Tx) ListGrants(ctx context.Context, tenantID string, f store.GrantFilter) ([]*store.Grant, string, error) {
	limit := f.PageLimit()
	query := "SELECT " + grantCols + " FROM grants WHERE tenant_id = ? AND id > ?"
	args := []any{tenantID, f.After}
	if f.AssetID != "" {
		query += " AND asset_id = ?"
		args = append(args, f.AssetID)
	}
	out, err := t.queryGrants(ctx, "list grants", query+" ORDER BY id LIMIT ?", append(args, limit+1)...)
	if err != nil {
		return nil, "", err
	}
	out, next := page(out, limit, func(g *store.Grant) string { return g.ID })
	return out, next, nil
}

// RedeemGrant counts one download in one UPDATE.
func (t *Tx) RedeemGrant(ctx context.Context, tokenHash string, now time.Time) (*store.Grant, error) {
	now = tm(now)
	res, err := t.q.ExecContext(ctx, `UPDATE grants SET downloads_used = downloads_used + 1,
		status = CASE WHEN max_downloads > 0 AND downloads_used + 1 >= max_downloads THEN 'consumed' ELSE status END,
		last_accessed_at = ?, updated_at = ?
		WHERE token_hash = ? AND status = 'active' AND access_expires_at > ?
		AND (max_downloads = 0 OR downloads_used < max_downloads)`, ts(now), ts(now), tokenHash, ts(now))
	if err != nil {
		return nil, t.dbErr("redeem grant", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, t.dbErr("redeem grant", err)
	}
	g, err := t.GetGrantByTokenHash(ctx, tokenHash)
	if err != nil {
		return nil, err
	}
	if n == 1 {
		return g, nil
	}
	return g, redeemError(g, now)
}

// redeemError says why a grant could not be redeemed.
func redeemError(g *store.Grant, now time.Time) error {
	switch {
	case g.Status == store.GrantRevoked:
		return store.Errorf(store.EGRANTREVOKED, "grant %s was revoked", g.ID)
	case g.Status == store.GrantConsumed || (g.MaxDownloads > 0 && g.DownloadsUsed >= g.MaxDownloads):
		return store.Errorf(store.EGRANTCONSUMED, "grant %s has no downloads left", g.ID)
	case g.Status == store.GrantExpired || !now.Before(g.AccessExpiresAt):
		return store.Errorf(store.EGRANTEXPIRED, "grant %s expired", g.ID)
	}
	return store.Errorf(store.ECONFLICT, "grant %s is %s", g.ID, g.Status)
}

// RevokeGrant marks a grant revoked: an active one becomes revoked; a
// consumed or expired one (also one past its expiry that the worker has
// not marked yet) keeps that status and only gets revoked_at.
func (t *Tx) RevokeGrant(ctx context.Context, tenantID, id string, now time.Time) (*store.Grant, bool, error) {
	now = tm(now)
	res, err := t.q.ExecContext(ctx, `UPDATE grants
		SET status = CASE WHEN status = 'active' AND access_expires_at > ? THEN 'revoked' ELSE status END,
		revoked_at = ?, updated_at = ?
		WHERE tenant_id = ? AND id = ? AND status <> 'revoked' AND revoked_at IS NULL`, ts(now), ts(now), ts(now), tenantID, id)
	if err != nil {
		return nil, false, t.dbErr("revoke grant", err)
	}
	n, _ := res.RowsAffected()
	g, err := t.GetGrant(ctx, tenantID, id)
	return g, n == 1, err
}

// RenewGrant extends a renewable grant.
func (t *Tx) RenewGrant(ctx context.Context, tenantID, id string, expiresAt, now time.Time) (*store.Grant, error) {
	g, err := t.GetGrant(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	switch {
	case g.Policy != store.GrantRenewable:
		return nil, store.Errorf(store.ECONFLICT, "grant %s is %s, not renewable", id, g.Policy)
	case g.Status == store.GrantRevoked || !g.RevokedAt.IsZero():
		return nil, store.Errorf(store.ECONFLICT, "grant %s was revoked", id)
	case g.Status == store.GrantConsumed:
		return nil, store.Errorf(store.ECONFLICT, "grant %s has no downloads left", id)
	case !expiresAt.After(now):
		return nil, store.Errorf(store.EINVALID, "new expiry must be in the future")
	}
	now = tm(now)
	if _, err := t.q.ExecContext(ctx, `UPDATE grants SET access_expires_at = ?, status = 'active', updated_at = ?
		WHERE id = ?`, ts(tm(expiresAt)), ts(now), id); err != nil {
		return nil, t.dbErr("renew grant", err)
	}
	return t.GetGrant(ctx, tenantID, id)
}

// ExpireGrants marks due grants expired.
func (t *Tx) ExpireGrants(ctx context.Context, now time.Time, limit int) ([]*store.Grant, error) {
	now = tm(now)
	due, err := t.queryGrants(ctx, "expire grants", "SELECT "+grantCols+` FROM grants
		WHERE status = 'active' AND access_expires_at <= ? ORDER BY access_expires_at, id LIMIT ?`, ts(now), limitOr(limit))
	if err != nil {
		return nil, err
	}
	for _, g := range due {
		if _, err := t.q.ExecContext(ctx, "UPDATE grants SET status = 'expired', updated_at = ? WHERE id = ?", ts(now), g.ID); err != nil {
			return nil, t.dbErr("expire grants", err)
		}
		g.Status, g.UpdatedAt = store.GrantExpired, now
	}
	return due, nil
}
