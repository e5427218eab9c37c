package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/haulhq/haul/store"
)

const assetCols = `id, tenant_id, title, filename, content_type, tags, rights, state, state_reason,
	size, checksum, blob_key, media, legal_hold, retention_expires_at, deleted_at, purged_at, created_at, updated_at`

func scanAsset(s interface{ Scan(...any) error }) (*store.Asset, error) {
	var a store.Asset
	err := s.Scan(&a.ID, &a.TenantID, &a.Title, &a.Filename, &a.ContentType, jsonCol{&a.Tags}, jsonCol{&a.Rights},
		&a.State, &a.StateReason, &a.Size, &a.Checksum, &a.BlobKey, rawCol{&a.Media}, boolCol{&a.LegalHold},
		timeCol{&a.RetentionExpiresAt}, timeCol{&a.DeletedAt}, timeCol{&a.PurgedAt}, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt})
	if err != nil {
		return nil, err
	}
	a.Tags = strs(a.Tags)
	return &a, nil
}

func (t *Tx) queryAssets(ctx context.Context, what, query string, args ...any) ([]*store.Asset, error) {
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, t.dbErr(what, err)
	}
	defer rows.Close()
	var out []*store.Asset
	for rows.Next() {
		a, err := scanAsset(rows)
		if err != nil {
			return nil, t.dbErr(what, err)
		}
		out = append(out, a)
	}
	return out, t.dbErr(what, rows.Err())
}

// normalizeAsset fixes up the fields as they are stored.
func normalizeAsset(a *store.Asset) {
	var tags []string
	for _, tag := range a.Tags {
		if !slices.Contains(tags, tag) {
			tags = append(tags, tag)
		}
	}
	a.Tags = strs(tags)
	if a.Rights.AvailableUntil != nil {
		u := tm(*a.Rights.AvailableUntil)
		a.Rights.AvailableUntil = &u
	}
	a.RetentionExpiresAt, a.DeletedAt, a.PurgedAt = tm(a.RetentionExpiresAt), tm(a.DeletedAt), tm(a.PurgedAt)
	a.CreatedAt, a.UpdatedAt = tm(a.CreatedAt), tm(a.UpdatedAt)
}

// assetArgs returns the column values of a in assetCols order.
func assetArgs(a *store.Asset) ([]any, error) {
	tags, err := jsonVal(a.Tags)
	if err != nil {
		return nil, err
	}
	rights, err := jsonVal(a.Rights)
	if err != nil {
		return nil, err
	}
	legal := 0
	if a.LegalHold {
		legal = 1
	}
	return []any{a.ID, a.TenantID, a.Title, a.Filename, a.ContentType, tags, rights, string(a.State), a.StateReason,
		a.Size, a.Checksum, a.BlobKey, rawVal(a.Media), legal, ts(a.RetentionExpiresAt), ts(a.DeletedAt), ts(a.PurgedAt),
		ts(a.CreatedAt), ts(a.UpdatedAt)}, nil
}

func (t *Tx) writeTags(ctx context.Context, a *store.Asset) error {
	if _, err := t.q.ExecContext(ctx, "DELETE FROM asset_tags WHERE asset_id = ?", a.ID); err != nil {
		return t.dbErr("write tags", err)
	}
	for _, tag := range a.Tags {
		if _, err := t.q.ExecContext(ctx, "INSERT INTO asset_tags (tenant_id, tag, asset_id) VALUES (?, ?, ?)", a.TenantID, tag, a.ID); err != nil {
			return t.dbErr("write tags", err)
		}
	}
	return nil
}

// CreateAsset stores an asset.
func (t *Tx) CreateAsset(ctx context.Context, a *store.Asset) error {
	if err := t.tenantExists(ctx, a.TenantID); err != nil {
		return err
	}
	if a.ID == "" {
		a.ID = store.NewID(store.PrefixAsset)
	}
	if a.State == "" {
		a.State = store.AssetCreated
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = t.now()
	}
	if a.UpdatedAt.IsZero() {
		a.UpdatedAt = a.CreatedAt
	}
	normalizeAsset(a)
	args, err := assetArgs(a)
	if err != nil {
		return err
	}
	_, err = t.q.ExecContext(ctx, "INSERT INTO assets ("+assetCols+") VALUES ("+placeholders(len(args))+")", args...)
	if t.d.IsUnique(err) {
		return store.Errorf(store.ECONFLICT, "asset %s exists", a.ID)
	}
	if err != nil {
		return t.dbErr("create asset", err)
	}
	return t.writeTags(ctx, a)
}

// GetAsset returns one of the tenant's assets.
func (t *Tx) GetAsset(ctx context.Context, tenantID, id string) (*store.Asset, error) {
	a, err := scanAsset(t.q.QueryRowContext(ctx, "SELECT "+assetCols+" FROM assets WHERE tenant_id = ? AND id = ?", tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("asset", id)
	}
	if err != nil {
		return nil, t.dbErr("get asset", err)
	}
	return a, nil
}

// GetAssets returns the tenant's assets among ids, in the order of ids.
func (t *Tx) GetAssets(ctx context.Context, tenantID string, ids []string) ([]*store.Asset, error) {
	byID := make(map[string]*store.Asset, len(ids))
	for chunk := range slices.Chunk(ids, 500) {
		args := []any{tenantID}
		for _, id := range chunk {
			args = append(args, id)
		}
		found, err := t.queryAssets(ctx, "get assets",
			"SELECT "+assetCols+" FROM assets WHERE tenant_id = ? AND id IN ("+placeholders(len(chunk))+")", args...)
		if err != nil {
			return nil, err
		}
		for _, a := range found {
			byID[a.ID] = a
		}
	}
	out := make([]*store.Asset, 0, len(byID))
	for _, id := range ids {
		if a, ok := byID[id]; ok {
			out = append(out, a)
			delete(byID, id)
		}
	}
	return out, nil
}

// ListAssets returns a page of the tenant's assets.
func (t *Tx) ListAssets(ctx context.Context, tenantID string, f store.AssetFilter) ([]*store.Asset, string, error) {
	var where strings.Builder
	args := []any{tenantID}
	where.WriteString("a.tenant_id = ?")
	if f.After != "" {
		where.WriteString(" AND a.id > ?")
		args = append(args, f.After)
	}
	if len(f.States) > 0 {
		where.WriteString(" AND a.state IN (" + placeholders(len(f.States)) + ")")
		for _, s := range f.States {
			args = append(args, string(s))
		}
	} else {
		where.WriteString(" AND a.state <> 'deleted'")
	}
	if f.Tag != "" {
		where.WriteString(" AND EXISTS (SELECT 1 FROM asset_tags g WHERE g.tenant_id = a.tenant_id AND g.tag = ? AND g.asset_id = a.id)")
		args = append(args, f.Tag)
	}
	limit := f.PageLimit()
	args = append(args, limit+1)
	out, err := t.queryAssets(ctx, "list assets",
		"SELECT "+prefixCols("a.", assetCols)+" FROM assets a WHERE "+where.String()+" ORDER BY a.id LIMIT ?", args...)
	if err != nil {
		return nil, "", err
	}
	out, next := page(out, limit, func(a *store.Asset) string { return a.ID })
	return out, next, nil
}

// prefixCols qualifies a column list with a table alias.
func prefixCols(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// UpdateAsset changes an asset through fn.
func (t *Tx) UpdateAsset(ctx context.Context, tenantID, id string, now time.Time, fn func(*store.Asset) error) (*store.Asset, error) {
	a, err := t.GetAsset(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	oldTags, createdAt := slices.Clone(a.Tags), a.CreatedAt
	if err := fn(a); err != nil {
		return nil, err
	}
	a.ID, a.TenantID, a.CreatedAt, a.UpdatedAt = id, tenantID, createdAt, now
	normalizeAsset(a)
	args, err := assetArgs(a)
	if err != nil {
		return nil, err
	}
	_, err = t.q.ExecContext(ctx, `UPDATE assets SET title = ?, filename = ?, content_type = ?, tags = ?, rights = ?,
		state = ?, state_reason = ?, size = ?, checksum = ?, blob_key = ?, media = ?, legal_hold = ?,
		retention_expires_at = ?, deleted_at = ?, purged_at = ?, updated_at = ?
		WHERE tenant_id = ? AND id = ?`, slices.Concat(args[2:17], []any{args[18], tenantID, id})...)
	if err != nil {
		return nil, t.dbErr("update asset", err)
	}
	if !slices.Equal(oldTags, a.Tags) {
		if err := t.writeTags(ctx, a); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// ListRetentionDue returns assets whose retention ended.
func (t *Tx) ListRetentionDue(ctx context.Context, now time.Time, limit int) ([]*store.Asset, error) {
	return t.queryAssets(ctx, "list retention due", "SELECT "+assetCols+` FROM assets
		WHERE retention_expires_at IS NOT NULL AND retention_expires_at <= ? AND state <> 'deleted' AND legal_hold = 0
		ORDER BY retention_expires_at, id LIMIT ?`, ts(tm(now)), limitOr(limit))
}

// ListPurgeDue returns deleted assets whose grace period ended.
func (t *Tx) ListPurgeDue(ctx context.Context, deletedBefore time.Time, limit int) ([]*store.Asset, error) {
	return t.queryAssets(ctx, "list purge due", "SELECT "+assetCols+` FROM assets
		WHERE deleted_at IS NOT NULL AND purged_at IS NULL AND deleted_at <= ? AND legal_hold = 0
		ORDER BY deleted_at, id LIMIT ?`, ts(tm(deletedBefore)), limitOr(limit))
}

// limitOr returns limit, or the default page size when not positive.
func limitOr(limit int) int {
	if limit <= 0 {
		return store.DefaultPageLimit
	}
	return limit
}

// BlobReferenced reports whether a blob is in use.
func (t *Tx) BlobReferenced(ctx context.Context, key string) (bool, error) {
	var used bool
	err := t.q.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM assets WHERE blob_key = ? AND purged_at IS NULL) `+t.d.AnyOp+`
		EXISTS (SELECT 1 FROM renditions WHERE blob_key = ?)`, key, key).Scan(boolCol{&used})
	return used, t.dbErr("blob referenced", err)
}
