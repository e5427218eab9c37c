package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/haulhq/haul/store"
)

const renditionCols = `id, tenant_id, asset_id, format, preset_version, blob_key, size, checksum, content_type,
	metadata, created_at, last_used_at`

func scanRendition(s interface{ Scan(...any) error }) (*store.Rendition, error) {
	var r store.Rendition
	err := s.Scan(&r.ID, &r.TenantID, &r.AssetID, &r.Format, &r.PresetVersion, &r.BlobKey, &r.Size, &r.Checksum,
		&r.ContentType, rawCol{&r.Metadata}, timeCol{&r.CreatedAt}, timeCol{&r.LastUsedAt})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func (t *Tx) queryRenditions(ctx context.Context, what, query string, args ...any) ([]*store.Rendition, error) {
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, t.dbErr(what, err)
	}
	defer rows.Close()
	var out []*store.Rendition
	for rows.Next() {
		r, err := scanRendition(rows)
		if err != nil {
			return nil, t.dbErr(what, err)
		}
		out = append(out, r)
	}
	return out, t.dbErr(what, rows.Err())
}

// PutRendition stores a rendition, replacing the one of the same asset,
// format and preset version.
func (t *Tx) PutRendition(ctx context.Context, r *store.Rendition) error {
	if _, err := t.GetAsset(ctx, r.TenantID, r.AssetID); err != nil {
		return err
	}
	if r.Format == "" || r.BlobKey == "" {
		return store.Errorf(store.EINVALID, "rendition format and blob key are required")
	}
	var existing string
	err := t.q.QueryRowContext(ctx, "SELECT id FROM renditions WHERE asset_id = ? AND format = ? AND preset_version = ?",
		r.AssetID, r.Format, r.PresetVersion).Scan(&existing)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return t.dbErr("put rendition", err)
	}
	if existing != "" {
		r.ID = existing
	} else if r.ID == "" {
		r.ID = store.NewID(store.PrefixRendition)
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = t.now()
	}
	if r.LastUsedAt.IsZero() {
		r.LastUsedAt = r.CreatedAt
	}
	r.CreatedAt, r.LastUsedAt = tm(r.CreatedAt), tm(r.LastUsedAt)
	_, err = t.q.ExecContext(ctx, `INSERT INTO renditions (`+renditionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET blob_key = excluded.blob_key, size = excluded.size, checksum = excluded.checksum,
		content_type = excluded.content_type, metadata = excluded.metadata, created_at = excluded.created_at,
		last_used_at = excluded.last_used_at`,
		r.ID, r.TenantID, r.AssetID, r.Format, r.PresetVersion, r.BlobKey, r.Size, r.Checksum, r.ContentType,
		rawVal(r.Metadata), ts(r.CreatedAt), ts(r.LastUsedAt))
	return t.dbErr("put rendition", err)
}

// GetRendition returns the rendition of an asset in a format and version.
func (t *Tx) GetRendition(ctx context.Context, tenantID, assetID, format string, presetVersion int) (*store.Rendition, error) {
	r, err := scanRendition(t.q.QueryRowContext(ctx, "SELECT "+renditionCols+` FROM renditions
		WHERE tenant_id = ? AND asset_id = ? AND format = ? AND preset_version = ?`, tenantID, assetID, format, presetVersion))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "no %s rendition of asset %s", format, assetID)
	}
	return r, t.dbErr("get rendition", err)
}

// GetRenditionByID returns a rendition by ID.
func (t *Tx) GetRenditionByID(ctx context.Context, tenantID, id string) (*store.Rendition, error) {
	r, err := scanRendition(t.q.QueryRowContext(ctx, "SELECT "+renditionCols+" FROM renditions WHERE tenant_id = ? AND id = ?", tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("rendition", id)
	}
	return r, t.dbErr("get rendition", err)
}

// ListRenditions returns an asset's renditions.
func (t *Tx) ListRenditions(ctx context.Context, tenantID, assetID string) ([]*store.Rendition, error) {
	return t.queryRenditions(ctx, "list renditions", "SELECT "+renditionCols+" FROM renditions WHERE tenant_id = ? AND asset_id = ? ORDER BY id",
		tenantID, assetID)
}

// TouchRendition records a use.
func (t *Tx) TouchRendition(ctx context.Context, id string, now time.Time) error {
	_, err := t.q.ExecContext(ctx, "UPDATE renditions SET last_used_at = ? WHERE id = ? AND last_used_at < ?", ts(tm(now)), id, ts(tm(now)))
	return t.dbErr("touch rendition", err)
}

// DeleteRendition removes a rendition and releases its job's dedupe key.
func (t *Tx) DeleteRendition(ctx context.Context, tenantID, id string) error {
	res, err := t.q.ExecContext(ctx, "DELETE FROM renditions WHERE tenant_id = ? AND id = ?", tenantID, id)
	if err != nil {
		return t.dbErr("delete rendition", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("rendition", id)
	}
	_, err = t.q.ExecContext(ctx, "UPDATE jobs SET dedupe_key = NULL WHERE rendition_id = ? AND status = 'succeeded'", id)
	return t.dbErr("delete rendition", err)
}

// ListRenditionsUnusedSince returns renditions not used since before.
func (t *Tx) ListRenditionsUnusedSince(ctx context.Context, before time.Time, limit int) ([]*store.Rendition, error) {
	return t.queryRenditions(ctx, "list unused renditions", "SELECT "+renditionCols+` FROM renditions
		WHERE last_used_at < ? ORDER BY last_used_at, id LIMIT ?`, ts(tm(before)), limitOr(limit))
}
