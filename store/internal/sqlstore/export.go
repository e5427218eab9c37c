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

const exportCols = "id, tenant_id, name, format, status, created_at, updated_at, completed_at"

// exportCountCols are the item counts of the export aliased e.
const exportCountCols = `(SELECT count(*) FROM export_items i WHERE i.export_id = e.id),
	(SELECT count(*) FROM export_items i WHERE i.export_id = e.id AND i.status = 'queued'),
	(SELECT count(*) FROM export_items i WHERE i.export_id = e.id AND i.status = 'processing'),
	(SELECT count(*) FROM export_items i WHERE i.export_id = e.id AND i.status = 'ready'),
	(SELECT count(*) FROM export_items i WHERE i.export_id = e.id AND i.status = 'failed')`

func scanExport(s interface{ Scan(...any) error }) (*store.Export, error) {
	var e store.Export
	c := &e.Counts
	err := s.Scan(&e.ID, &e.TenantID, &e.Name, &e.Format, &e.Status, timeCol{&e.CreatedAt}, timeCol{&e.UpdatedAt},
		timeCol{&e.CompletedAt}, &c.Total, &c.Queued, &c.Processing, &c.Ready, &c.Failed)
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// CreateExport stores an export and its items.
func (t *Tx) CreateExport(ctx context.Context, e *store.Export, items []store.ExportItem) error {
	if err := t.tenantExists(ctx, e.TenantID); err != nil {
		return err
	}
	ids := make([]string, 0, len(items))
	for _, it := range items {
		if !slices.Contains(ids, it.AssetID) {
			ids = append(ids, it.AssetID)
		}
	}
	found, err := t.GetAssets(ctx, e.TenantID, ids)
	if err != nil {
		return err
	}
	if len(found) != len(ids) {
		for _, id := range ids {
			if !slices.ContainsFunc(found, func(a *store.Asset) bool { return a.ID == id }) {
				return notFound("asset", id)
			}
		}
	}
	if e.ID == "" {
		e.ID = store.NewID(store.PrefixExport)
	}
	if e.Status == "" {
		e.Status = store.ExportProcessing
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = t.now()
	}
	if e.UpdatedAt.IsZero() {
		e.UpdatedAt = e.CreatedAt
	}
	e.CreatedAt, e.UpdatedAt, e.CompletedAt = tm(e.CreatedAt), tm(e.UpdatedAt), tm(e.CompletedAt)
	_, err = t.q.ExecContext(ctx, "INSERT INTO exports ("+exportCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		e.ID, e.TenantID, e.Name, e.Format, string(e.Status), ts(e.CreatedAt), ts(e.UpdatedAt), ts(e.CompletedAt))
	if t.d.IsUnique(err) {
		return store.Errorf(store.ECONFLICT, "export %s exists", e.ID)
	}
	if err != nil {
		return t.dbErr("create export", err)
	}
	e.Counts = store.ItemCounts{Total: len(items)}
	if t.d.RowsPerInsert > 0 {
		return t.insertExportItemRows(ctx, e, items)
	}
	insert, done, err := t.prepare(ctx, `INSERT INTO export_items (export_id, position, asset_id, format, preset_version,
		status, job_id, error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return t.dbErr("create export items", err)
	}
	defer done()
	for i := range items {
		it := &items[i]
		fillItem(e, it, i)
		_, err := insert(ctx, it.ExportID, it.Position, it.AssetID, it.Format, it.PresetVersion, string(it.Status),
			it.JobID, it.Error, ts(it.UpdatedAt))
		if err != nil {
			return t.dbErr("create export item", err)
		}
	}
	return nil
}

// insertExportItemRows inserts the items Dialect.RowsPerInsert to a
// statement: a round trip per item would make a 10 000 item export wait on
// 10 000 round trips.
func (t *Tx) insertExportItemRows(ctx context.Context, e *store.Export, items []store.ExportItem) error {
	for i := range items {
		fillItem(e, &items[i], i)
	}
	for chunk := range slices.Chunk(items, t.d.RowsPerInsert) {
		var q strings.Builder
		q.WriteString(`INSERT INTO export_items (export_id, position, asset_id, format, preset_version,
			status, job_id, error, updated_at) VALUES `)
		args := make([]any, 0, len(chunk)*9)
		for i, it := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, it.ExportID, it.Position, it.AssetID, it.Format, it.PresetVersion, string(it.Status), it.JobID, it.Error, ts(it.UpdatedAt))
		}
		if _, err := t.q.ExecContext(ctx, q.String(), args...); err != nil {
			return t.dbErr("create export items", err)
		}
	}
	return nil
}

// fillItem completes item i of export e as stored, and counts it.
func fillItem(e *store.Export, it *store.ExportItem, i int) {
	it.ExportID, it.Position = e.ID, i
	if it.Format == "" {
		it.Format = e.Format
	}
	if it.Status == "" {
		it.Status = store.ItemQueued
	}
	if it.UpdatedAt.IsZero() {
		it.UpdatedAt = e.CreatedAt
	}
	it.UpdatedAt = tm(it.UpdatedAt)
	countItem(&e.Counts, it.Status)
}

func countItem(c *store.ItemCounts, s store.ItemStatus) {
	switch s {
	case store.ItemQueued:
		c.Queued++
	case store.ItemProcessing:
		c.Processing++
	case store.ItemReady:
		c.Ready++
	case store.ItemFailed:
		c.Failed++
	}
}

// GetExport returns an export with counts.
func (t *Tx) GetExport(ctx context.Context, tenantID, id string) (*store.Export, error) {
	e, err := scanExport(t.q.QueryRowContext(ctx, "SELECT "+prefixCols("e.", exportCols)+", "+exportCountCols+
		" FROM exports e WHERE e.tenant_id = ? AND e.id = ?", tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("export", id)
	}
	return e, t.dbErr("get export", err)
}

// ListExports returns a page of the tenant's exports.
func (t *Tx) ListExports(ctx context.Context, tenantID string, p store.Page) ([]*store.Export, string, error) {
	limit := p.PageLimit()
	rows, err := t.q.QueryContext(ctx, "SELECT "+prefixCols("e.", exportCols)+", "+exportCountCols+
		" FROM exports e WHERE e.tenant_id = ? AND e.id > ? ORDER BY e.id LIMIT ?", tenantID, p.After, limit+1)
	if err != nil {
		return nil, "", t.dbErr("list exports", err)
	}
	defer rows.Close()
	var out []*store.Export
	for rows.Next() {
		e, err := scanExport(rows)
		if err != nil {
			return nil, "", t.dbErr("list exports", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", t.dbErr("list exports", err)
	}
	out, next := page(out, limit, func(e *store.Export) string { return e.ID })
	return out, next, nil
}

// ListExportEntries returns an export's items with assets and renditions.
func (t *Tx) ListExportEntries(ctx context.Context, tenantID, exportID string) ([]store.ExportEntry, error) {
	var n int
	if err := t.q.QueryRowContext(ctx, "SELECT count(*) FROM exports WHERE tenant_id = ? AND id = ?", tenantID, exportID).Scan(&n); err != nil {
		return nil, t.dbErr("list export entries", err)
	}
	if n == 0 {
		return nil, notFound("export", exportID)
	}
	rows, err := t.q.QueryContext(ctx, `SELECT i.export_id, i.position, i.asset_id, i.format, i.preset_version, i.status,
		i.job_id, i.error, i.updated_at, `+prefixCols("a.", assetCols)+`,
		r.id, r.tenant_id, r.asset_id, r.format, r.preset_version, r.blob_key, r.size, r.checksum, r.content_type,
		r.metadata, r.created_at, r.last_used_at
		FROM export_items i
		JOIN assets a ON a.id = i.asset_id
		LEFT JOIN renditions r ON r.asset_id = i.asset_id AND r.format = i.format AND r.preset_version = i.preset_version
		WHERE i.export_id = ? ORDER BY i.position`, exportID)
	if err != nil {
		return nil, t.dbErr("list export entries", err)
	}
	defer rows.Close()
	var out []store.ExportEntry
	for rows.Next() {
		var en store.ExportEntry
		it := &en.Item
		var a store.Asset
		var r struct {
			id, tenant, asset, format, blob, checksum, ctype sql.NullString
			version, size                                    sql.NullInt64
			meta                                             []byte
			created, used                                    sql.NullInt64
		}
		err := rows.Scan(&it.ExportID, &it.Position, &it.AssetID, &it.Format, &it.PresetVersion, &it.Status, &it.JobID,
			&it.Error, timeCol{&it.UpdatedAt},
			&a.ID, &a.TenantID, &a.Title, &a.Filename, &a.ContentType, jsonCol{&a.Tags}, jsonCol{&a.Rights},
			&a.State, &a.StateReason, &a.Size, &a.Checksum, &a.BlobKey, rawCol{&a.Media}, boolCol{&a.LegalHold},
			timeCol{&a.RetentionExpiresAt}, timeCol{&a.DeletedAt}, timeCol{&a.PurgedAt}, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt},
			&r.id, &r.tenant, &r.asset, &r.format, &r.version, &r.blob, &r.size, &r.checksum, &r.ctype,
			&r.meta, &r.created, &r.used)
		if err != nil {
			return nil, t.dbErr("list export entries", err)
		}
		a.Tags = strs(a.Tags)
		en.Asset = &a
		if r.id.Valid {
			en.Rendition = &store.Rendition{
				ID: r.id.String, TenantID: r.tenant.String, AssetID: r.asset.String, Format: r.format.String,
				PresetVersion: int(r.version.Int64), BlobKey: r.blob.String, Size: r.size.Int64, Checksum: r.checksum.String,
				ContentType: r.ctype.String, Metadata: r.meta,
				CreatedAt: time.UnixMicro(r.created.Int64).UTC(), LastUsedAt: time.UnixMicro(r.used.Int64).UTC(),
			}
		}
		out = append(out, en)
	}
	return out, t.dbErr("list export entries", rows.Err())
}

// UpdateExportItem sets one item's status.
func (t *Tx) UpdateExportItem(ctx context.Context, tenantID, exportID string, position int, status store.ItemStatus, jobID, message string, now time.Time) error {
	res, err := t.q.ExecContext(ctx, `UPDATE export_items SET status = ?, job_id = ?, error = ?, updated_at = ?
		WHERE export_id = (SELECT id FROM exports WHERE tenant_id = ? AND id = ?) AND position = ?`,
		string(status), jobID, message, ts(tm(now)), tenantID, exportID, position)
	if err != nil {
		return t.dbErr("update export item", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.Errorf(store.ENOTFOUND, "export %s has no item %d", exportID, position)
	}
	return t.touchExports(ctx, []string{exportID}, now)
}

func (t *Tx) touchExports(ctx context.Context, ids []string, now time.Time) error {
	for _, id := range ids {
		if _, err := t.q.ExecContext(ctx, "UPDATE exports SET updated_at = ? WHERE id = ?", ts(tm(now)), id); err != nil {
			return t.dbErr("touch export", err)
		}
	}
	return nil
}

// UpdateExportItemsByJob sets the status of every item waiting for a job.
func (t *Tx) UpdateExportItemsByJob(ctx context.Context, jobID string, status store.ItemStatus, message string, now time.Time) ([]string, error) {
	if jobID == "" {
		return nil, store.Errorf(store.EINVALID, "job id is required")
	}
	rows, err := t.q.QueryContext(ctx, "SELECT DISTINCT export_id FROM export_items WHERE job_id = ? ORDER BY export_id", jobID)
	if err != nil {
		return nil, t.dbErr("update items by job", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, t.dbErr("update items by job", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, t.dbErr("update items by job", err)
	}
	if _, err := t.q.ExecContext(ctx, "UPDATE export_items SET status = ?, error = ?, updated_at = ? WHERE job_id = ?",
		string(status), message, ts(tm(now)), jobID); err != nil {
		return nil, t.dbErr("update items by job", err)
	}
	return ids, t.touchExports(ctx, ids, now)
}

// CompleteExport marks an export completed once every item is done.
func (t *Tx) CompleteExport(ctx context.Context, tenantID, id string, now time.Time) (bool, error) {
	if _, err := t.GetExport(ctx, tenantID, id); err != nil {
		return false, err
	}
	res, err := t.q.ExecContext(ctx, `UPDATE exports SET status = 'completed', completed_at = ?, updated_at = ?
		WHERE tenant_id = ? AND id = ? AND status <> 'completed'
		AND NOT EXISTS (SELECT 1 FROM export_items WHERE export_id = ? AND status NOT IN ('ready', 'failed'))`,
		ts(tm(now)), ts(tm(now)), tenantID, id, id)
	if err != nil {
		return false, t.dbErr("complete export", err)
	}
	n, err := res.RowsAffected()
	return n == 1, t.dbErr("complete export", err)
}
