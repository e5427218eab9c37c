package server

import (
	"context"
	"time"

	"github.com/haulhq/haul/store"
)

// timedStore reports the latency of the store calls on the request path
// to haul_store_operation_duration_seconds; other calls pass through.
type timedStore struct {
	store.Store
	m *metrics
}

func (t timedStore) GetAPIKeyByHash(ctx context.Context, hash string) (*store.APIKey, error) {
	defer t.m.storeOp("get_api_key")()
	return t.Store.GetAPIKeyByHash(ctx, hash)
}

func (t timedStore) GetAsset(ctx context.Context, tenantID, id string) (*store.Asset, error) {
	defer t.m.storeOp("get_asset")()
	return t.Store.GetAsset(ctx, tenantID, id)
}

func (t timedStore) GetAssets(ctx context.Context, tenantID string, ids []string) ([]*store.Asset, error) {
	defer t.m.storeOp("get_assets")()
	return t.Store.GetAssets(ctx, tenantID, ids)
}

func (t timedStore) ListAssets(ctx context.Context, tenantID string, f store.AssetFilter) ([]*store.Asset, string, error) {
	defer t.m.storeOp("list_assets")()
	return t.Store.ListAssets(ctx, tenantID, f)
}

func (t timedStore) UpdateAsset(ctx context.Context, tenantID, id string, now time.Time, fn func(*store.Asset) error) (*store.Asset, error) {
	defer t.m.storeOp("update_asset")()
	return t.Store.UpdateAsset(ctx, tenantID, id, now, fn)
}

func (t timedStore) GetRendition(ctx context.Context, tenantID, assetID, format string, presetVersion int) (*store.Rendition, error) {
	defer t.m.storeOp("get_rendition")()
	return t.Store.GetRendition(ctx, tenantID, assetID, format, presetVersion)
}

func (t timedStore) GetJob(ctx context.Context, tenantID, id string) (*store.Job, error) {
	defer t.m.storeOp("get_job")()
	return t.Store.GetJob(ctx, tenantID, id)
}

func (t timedStore) CreateExport(ctx context.Context, e *store.Export, items []store.ExportItem) error {
	defer t.m.storeOp("create_export")()
	return t.Store.CreateExport(ctx, e, items)
}

func (t timedStore) GetExport(ctx context.Context, tenantID, id string) (*store.Export, error) {
	defer t.m.storeOp("get_export")()
	return t.Store.GetExport(ctx, tenantID, id)
}

func (t timedStore) ListExportEntries(ctx context.Context, tenantID, exportID string) ([]store.ExportEntry, error) {
	defer t.m.storeOp("list_export_entries")()
	return t.Store.ListExportEntries(ctx, tenantID, exportID)
}

func (t timedStore) BeginIdempotency(ctx context.Context, rec *store.IdempotencyRecord, staleAfter time.Duration) (*store.IdempotencyRecord, bool, error) {
	defer t.m.storeOp("begin_idempotency")()
	return t.Store.BeginIdempotency(ctx, rec, staleAfter)
}

func (t timedStore) TakeToken(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (store.RateResult, error) {
	defer t.m.storeOp("take_token")()
	return t.Store.TakeToken(ctx, key, limit, window, now)
}

func (t timedStore) WithTx(ctx context.Context, fn func(tx store.Tx) error) error {
	defer t.m.storeOp("transaction")()
	return t.Store.WithTx(ctx, fn)
}

func (t timedStore) WithRowLockTx(ctx context.Context, fn func(tx store.Tx) error) error {
	defer t.m.storeOp("transaction")()
	return t.Store.WithRowLockTx(ctx, fn)
}

func (t timedStore) Ready(ctx context.Context) error {
	defer t.m.storeOp("ready")()
	return t.Store.Ready(ctx)
}
