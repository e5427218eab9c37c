package postgres

// The DB's data methods: reads go to the read-only pool, writes run in a
// write transaction of their own. The work is done by the tx methods, which
// WithTx callers use directly.

import (
	"context"
	"time"

	"github.com/haulhq/haul/store"
)

// CreateTenant implements store.TenantStore.
func (db *DB) CreateTenant(ctx context.Context, tn *store.Tenant) error {
	return db.write(ctx, func(t *tx) error { return t.CreateTenant(ctx, tn) })
}

// GetTenant implements store.TenantStore.
func (db *DB) GetTenant(ctx context.Context, id string) (*store.Tenant, error) {
	return db.rd().GetTenant(ctx, id)
}

// GetTenantByName implements store.TenantStore.
func (db *DB) GetTenantByName(ctx context.Context, name string) (*store.Tenant, error) {
	return db.rd().GetTenantByName(ctx, name)
}

// ListTenants implements store.TenantStore.
func (db *DB) ListTenants(ctx context.Context) ([]*store.Tenant, error) {
	return db.rd().ListTenants(ctx)
}

// CreateAPIKey implements store.KeyStore.
func (db *DB) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	return db.write(ctx, func(t *tx) error { return t.CreateAPIKey(ctx, k) })
}

// GetAPIKeyByHash implements store.KeyStore.
func (db *DB) GetAPIKeyByHash(ctx context.Context, hash string) (*store.APIKey, error) {
	return db.rd().GetAPIKeyByHash(ctx, hash)
}

// ListAPIKeys implements store.KeyStore.
func (db *DB) ListAPIKeys(ctx context.Context, tenantID string) ([]*store.APIKey, error) {
	return db.rd().ListAPIKeys(ctx, tenantID)
}

// RevokeAPIKey implements store.KeyStore.
func (db *DB) RevokeAPIKey(ctx context.Context, tenantID, id string, now time.Time) (*store.APIKey, error) {
	return write1(ctx, db, func(t *tx) (*store.APIKey, error) { return t.RevokeAPIKey(ctx, tenantID, id, now) })
}

// TouchAPIKey implements store.KeyStore.
func (db *DB) TouchAPIKey(ctx context.Context, id string, now time.Time) error {
	return db.write(ctx, func(t *tx) error { return t.TouchAPIKey(ctx, id, now) })
}

// GetSetting implements store.SettingStore.
func (db *DB) GetSetting(ctx context.Context, name string) ([]byte, error) {
	return db.rd().GetSetting(ctx, name)
}

// PutSetting implements store.SettingStore.
func (db *DB) PutSetting(ctx context.Context, name string, value []byte) error {
	return db.write(ctx, func(t *tx) error { return t.PutSetting(ctx, name, value) })
}

// PutSettingIfAbsent implements store.SettingStore.
func (db *DB) PutSettingIfAbsent(ctx context.Context, name string, value []byte) ([]byte, bool, error) {
	return write2(ctx, db, func(t *tx) ([]byte, bool, error) { return t.PutSettingIfAbsent(ctx, name, value) })
}

// SigningKeys implements store.SettingStore.
func (db *DB) SigningKeys(ctx context.Context, now time.Time) ([]store.SigningKey, error) {
	return db.rd().SigningKeys(ctx, now)
}

// EnsureSigningKey implements store.SettingStore.
func (db *DB) EnsureSigningKey(ctx context.Context, secret []byte, now time.Time) (store.SigningKey, error) {
	return write1(ctx, db, func(t *tx) (store.SigningKey, error) { return t.EnsureSigningKey(ctx, secret, now) })
}

// RotateSigningKey implements store.SettingStore.
func (db *DB) RotateSigningKey(ctx context.Context, secret []byte, grace time.Duration, now time.Time) (store.SigningKey, error) {
	return write1(ctx, db, func(t *tx) (store.SigningKey, error) { return t.RotateSigningKey(ctx, secret, grace, now) })
}

// CreateAsset implements store.AssetStore.
func (db *DB) CreateAsset(ctx context.Context, a *store.Asset) error {
	return db.write(ctx, func(t *tx) error { return t.CreateAsset(ctx, a) })
}

// GetAsset implements store.AssetStore.
func (db *DB) GetAsset(ctx context.Context, tenantID, id string) (*store.Asset, error) {
	return db.rd().GetAsset(ctx, tenantID, id)
}

// GetAssets implements store.AssetStore.
func (db *DB) GetAssets(ctx context.Context, tenantID string, ids []string) ([]*store.Asset, error) {
	return db.rd().GetAssets(ctx, tenantID, ids)
}

// ListAssets implements store.AssetStore.
func (db *DB) ListAssets(ctx context.Context, tenantID string, f store.AssetFilter) ([]*store.Asset, string, error) {
	return db.rd().ListAssets(ctx, tenantID, f)
}

// UpdateAsset implements store.AssetStore.
func (db *DB) UpdateAsset(ctx context.Context, tenantID, id string, now time.Time, fn func(*store.Asset) error) (*store.Asset, error) {
	return write1(ctx, db, func(t *tx) (*store.Asset, error) { return t.UpdateAsset(ctx, tenantID, id, now, fn) })
}

// ListRetentionDue implements store.AssetStore.
func (db *DB) ListRetentionDue(ctx context.Context, now time.Time, limit int) ([]*store.Asset, error) {
	return db.rd().ListRetentionDue(ctx, now, limit)
}

// ListPurgeDue implements store.AssetStore.
func (db *DB) ListPurgeDue(ctx context.Context, deletedBefore time.Time, limit int) ([]*store.Asset, error) {
	return db.rd().ListPurgeDue(ctx, deletedBefore, limit)
}

// BlobReferenced implements store.AssetStore.
func (db *DB) BlobReferenced(ctx context.Context, key string) (bool, error) {
	return db.rd().BlobReferenced(ctx, key)
}

// PutRendition implements store.RenditionStore.
func (db *DB) PutRendition(ctx context.Context, r *store.Rendition) error {
	return db.write(ctx, func(t *tx) error { return t.PutRendition(ctx, r) })
}

// GetRendition implements store.RenditionStore.
func (db *DB) GetRendition(ctx context.Context, tenantID, assetID, format string, presetVersion int) (*store.Rendition, error) {
	return db.rd().GetRendition(ctx, tenantID, assetID, format, presetVersion)
}

// GetRenditionByID implements store.RenditionStore.
func (db *DB) GetRenditionByID(ctx context.Context, tenantID, id string) (*store.Rendition, error) {
	return db.rd().GetRenditionByID(ctx, tenantID, id)
}

// ListRenditions implements store.RenditionStore.
func (db *DB) ListRenditions(ctx context.Context, tenantID, assetID string) ([]*store.Rendition, error) {
	return db.rd().ListRenditions(ctx, tenantID, assetID)
}

// touchGranularity is how stale a rendition's LastUsedAt may be before a
// use is written: uses are counted in days, and skipping the write keeps
// downloads of renditions off the write path (as on SQLite).
const touchGranularity = time.Minute

// TouchRendition implements store.RenditionStore. It reads first and
// writes only when the recorded use is older than touchGranularity.
func (db *DB) TouchRendition(ctx context.Context, id string, now time.Time) error {
	var last int64
	err := db.rd().q.QueryRowContext(ctx, "SELECT last_used_at FROM renditions WHERE id = ?", id).Scan(&last)
	if err == nil && !time.UnixMicro(last).Before(now.Add(-touchGranularity)) {
		return nil
	}
	return db.write(ctx, func(t *tx) error { return t.TouchRendition(ctx, id, now) })
}

// DeleteRendition implements store.RenditionStore.
func (db *DB) DeleteRendition(ctx context.Context, tenantID, id string) error {
	return db.write(ctx, func(t *tx) error { return t.DeleteRendition(ctx, tenantID, id) })
}

// ListRenditionsUnusedSince implements store.RenditionStore.
func (db *DB) ListRenditionsUnusedSince(ctx context.Context, before time.Time, limit int) ([]*store.Rendition, error) {
	return db.rd().ListRenditionsUnusedSince(ctx, before, limit)
}

// CreateJob implements store.JobStore.
func (db *DB) CreateJob(ctx context.Context, j *store.Job) (*store.Job, bool, error) {
	return write2(ctx, db, func(t *tx) (*store.Job, bool, error) { return t.CreateJob(ctx, j) })
}

// GetJob implements store.JobStore.
func (db *DB) GetJob(ctx context.Context, tenantID, id string) (*store.Job, error) {
	return db.rd().GetJob(ctx, tenantID, id)
}

// ListJobs implements store.JobStore.
func (db *DB) ListJobs(ctx context.Context, tenantID, assetID string) ([]*store.Job, error) {
	return db.rd().ListJobs(ctx, tenantID, assetID)
}

// ClaimJob implements store.JobStore.
func (db *DB) ClaimJob(ctx context.Context, owner string, now time.Time, lease time.Duration) (*store.Job, error) {
	var j *store.Job
	err := db.writeRC(ctx, func(t *tx) (err error) { j, err = t.ClaimJob(ctx, owner, now, lease); return err })
	return j, err
}

// HeartbeatJob implements store.JobStore.
func (db *DB) HeartbeatJob(ctx context.Context, id, owner string, progress float64, now time.Time, lease time.Duration) error {
	return db.write(ctx, func(t *tx) error { return t.HeartbeatJob(ctx, id, owner, progress, now, lease) })
}

// CompleteJob implements store.JobStore.
func (db *DB) CompleteJob(ctx context.Context, id, owner string, r *store.Rendition, now time.Time) (*store.Job, error) {
	return write1(ctx, db, func(t *tx) (*store.Job, error) { return t.CompleteJob(ctx, id, owner, r, now) })
}

// FailJob implements store.JobStore.
func (db *DB) FailJob(ctx context.Context, id, owner, message string, now time.Time) (*store.Job, error) {
	return write1(ctx, db, func(t *tx) (*store.Job, error) { return t.FailJob(ctx, id, owner, message, now) })
}

// ReleaseJob implements store.JobStore.
func (db *DB) ReleaseJob(ctx context.Context, id, owner string, now time.Time) error {
	return db.write(ctx, func(t *tx) error { return t.ReleaseJob(ctx, id, owner, now) })
}

// CountJobs implements store.JobStore.
func (db *DB) CountJobs(ctx context.Context, status store.JobStatus) (int, error) {
	return db.rd().CountJobs(ctx, status)
}

// ListRecentJobs implements store.JobStore.
func (db *DB) ListRecentJobs(ctx context.Context, format string, limit int) ([]*store.Job, error) {
	return db.rd().ListRecentJobs(ctx, format, limit)
}

// CreateExport implements store.ExportStore.
func (db *DB) CreateExport(ctx context.Context, e *store.Export, items []store.ExportItem) error {
	return db.write(ctx, func(t *tx) error { return t.CreateExport(ctx, e, items) })
}

// GetExport implements store.ExportStore.
func (db *DB) GetExport(ctx context.Context, tenantID, id string) (*store.Export, error) {
	return db.rd().GetExport(ctx, tenantID, id)
}

// ListExports implements store.ExportStore.
func (db *DB) ListExports(ctx context.Context, tenantID string, p store.Page) ([]*store.Export, string, error) {
	return db.rd().ListExports(ctx, tenantID, p)
}

// ListExportEntries implements store.ExportStore.
func (db *DB) ListExportEntries(ctx context.Context, tenantID, exportID string) ([]store.ExportEntry, error) {
	return db.rd().ListExportEntries(ctx, tenantID, exportID)
}

// UpdateExportItem implements store.ExportStore.
func (db *DB) UpdateExportItem(ctx context.Context, tenantID, exportID string, position int, status store.ItemStatus, jobID, message string, now time.Time) error {
	return db.write(ctx, func(t *tx) error {
		return t.UpdateExportItem(ctx, tenantID, exportID, position, status, jobID, message, now)
	})
}

// UpdateExportItemsByJob implements store.ExportStore.
func (db *DB) UpdateExportItemsByJob(ctx context.Context, jobID string, status store.ItemStatus, message string, now time.Time) ([]string, error) {
	return write1(ctx, db, func(t *tx) ([]string, error) { return t.UpdateExportItemsByJob(ctx, jobID, status, message, now) })
}

// CompleteExport implements store.ExportStore.
func (db *DB) CompleteExport(ctx context.Context, tenantID, id string, now time.Time) (bool, error) {
	return write1(ctx, db, func(t *tx) (bool, error) { return t.CompleteExport(ctx, tenantID, id, now) })
}

// CreateGrant implements store.GrantStore.
func (db *DB) CreateGrant(ctx context.Context, g *store.Grant) error {
	return db.write(ctx, func(t *tx) error { return t.CreateGrant(ctx, g) })
}

// GetGrant implements store.GrantStore.
func (db *DB) GetGrant(ctx context.Context, tenantID, id string) (*store.Grant, error) {
	return db.rd().GetGrant(ctx, tenantID, id)
}

// GetGrantByTokenHash implements store.GrantStore.
func (db *DB) GetGrantByTokenHash(ctx context.Context, tokenHash string) (*store.Grant, error) {
	return db.rd().GetGrantByTokenHash(ctx, tokenHash)
}

// ListGrants implements store.GrantStore.
func (db *DB) ListGrants(ctx context.Context, tenantID string, f store.GrantFilter) ([]*store.Grant, string, error) {
	return db.rd().ListGrants(ctx, tenantID, f)
}

// RedeemGrant implements store.GrantStore. The grant comes back with a
// grant-state error too, so the caller cannot use write1 (which drops it).
func (db *DB) RedeemGrant(ctx context.Context, tokenHash string, now time.Time) (*store.Grant, error) {
	var g *store.Grant
	var redeemErr error
	err := db.writeRC(ctx, func(t *tx) error {
		g, redeemErr = t.RedeemGrant(ctx, tokenHash, now)
		if redeemErr != nil && g == nil {
			return redeemErr
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return g, redeemErr
}

// RevokeGrant implements store.GrantStore.
func (db *DB) RevokeGrant(ctx context.Context, tenantID, id string, now time.Time) (*store.Grant, bool, error) {
	return write2(ctx, db, func(t *tx) (*store.Grant, bool, error) { return t.RevokeGrant(ctx, tenantID, id, now) })
}

// RenewGrant implements store.GrantStore.
func (db *DB) RenewGrant(ctx context.Context, tenantID, id string, expiresAt, now time.Time) (*store.Grant, error) {
	return write1(ctx, db, func(t *tx) (*store.Grant, error) { return t.RenewGrant(ctx, tenantID, id, expiresAt, now) })
}

// ExpireGrants implements store.GrantStore.
func (db *DB) ExpireGrants(ctx context.Context, now time.Time, limit int) ([]*store.Grant, error) {
	return write1(ctx, db, func(t *tx) ([]*store.Grant, error) { return t.ExpireGrants(ctx, now, limit) })
}

// AppendEvent implements store.EventStore. Prefer calling it on the Tx of
// the change that caused the event.
func (db *DB) AppendEvent(ctx context.Context, e *store.Event) error {
	return db.write(ctx, func(t *tx) error { return t.AppendEvent(ctx, e) })
}

// GetEvent implements store.EventStore.
func (db *DB) GetEvent(ctx context.Context, tenantID, id string) (*store.Event, error) {
	return db.rd().GetEvent(ctx, tenantID, id)
}

// ListEvents implements store.EventStore.
func (db *DB) ListEvents(ctx context.Context, tenantID string, f store.EventFilter) ([]*store.Event, string, error) {
	return db.rd().ListEvents(ctx, tenantID, f)
}

// CreateWebhook implements store.WebhookStore.
func (db *DB) CreateWebhook(ctx context.Context, w *store.WebhookEndpoint) error {
	return db.write(ctx, func(t *tx) error { return t.CreateWebhook(ctx, w) })
}

// GetWebhook implements store.WebhookStore.
func (db *DB) GetWebhook(ctx context.Context, tenantID, id string) (*store.WebhookEndpoint, error) {
	return db.rd().GetWebhook(ctx, tenantID, id)
}

// ListWebhooks implements store.WebhookStore.
func (db *DB) ListWebhooks(ctx context.Context, tenantID string, p store.Page) ([]*store.WebhookEndpoint, string, error) {
	return db.rd().ListWebhooks(ctx, tenantID, p)
}

// DeleteWebhook implements store.WebhookStore.
func (db *DB) DeleteWebhook(ctx context.Context, tenantID, id string) error {
	return db.write(ctx, func(t *tx) error { return t.DeleteWebhook(ctx, tenantID, id) })
}

// SetWebhookDisabled implements store.WebhookStore.
func (db *DB) SetWebhookDisabled(ctx context.Context, tenantID, id string, disabled bool, reason string, now time.Time) (*store.WebhookEndpoint, error) {
	return write1(ctx, db, func(t *tx) (*store.WebhookEndpoint, error) {
		return t.SetWebhookDisabled(ctx, tenantID, id, disabled, reason, now)
	})
}

// ClaimDeliveries implements store.WebhookStore.
func (db *DB) ClaimDeliveries(ctx context.Context, c store.DeliveryClaim) ([]store.ClaimedDelivery, error) {
	return write1(ctx, db, func(t *tx) ([]store.ClaimedDelivery, error) { return t.ClaimDeliveries(ctx, c) })
}

// FinishDelivery implements store.WebhookStore.
func (db *DB) FinishDelivery(ctx context.Context, r store.DeliveryResult) (*store.WebhookEndpoint, error) {
	return write1(ctx, db, func(t *tx) (*store.WebhookEndpoint, error) { return t.FinishDelivery(ctx, r) })
}

// ListDeliveryAttempts implements store.WebhookStore.
func (db *DB) ListDeliveryAttempts(ctx context.Context, tenantID, endpointID string, p store.Page) ([]*store.DeliveryAttempt, string, error) {
	return db.rd().ListDeliveryAttempts(ctx, tenantID, endpointID, p)
}

// ReplayWebhook implements store.WebhookStore.
func (db *DB) ReplayWebhook(ctx context.Context, tenantID, endpointID string, since, now time.Time) (int, error) {
	return write1(ctx, db, func(t *tx) (int, error) { return t.ReplayWebhook(ctx, tenantID, endpointID, since, now) })
}

// CountDeliveries implements store.WebhookStore.
func (db *DB) CountDeliveries(ctx context.Context, status store.DeliveryStatus) (int, error) {
	return db.rd().CountDeliveries(ctx, status)
}

// BeginIdempotency implements store.IdempotencyStore.
func (db *DB) BeginIdempotency(ctx context.Context, rec *store.IdempotencyRecord, staleAfter time.Duration) (*store.IdempotencyRecord, bool, error) {
	return write2(ctx, db, func(t *tx) (*store.IdempotencyRecord, bool, error) { return t.BeginIdempotency(ctx, rec, staleAfter) })
}

// CompleteIdempotency implements store.IdempotencyStore.
func (db *DB) CompleteIdempotency(ctx context.Context, tenantID, key string, status int, headers map[string][]string, body []byte, now time.Time) error {
	return db.write(ctx, func(t *tx) error { return t.CompleteIdempotency(ctx, tenantID, key, status, headers, body, now) })
}

// DeleteIdempotency implements store.IdempotencyStore.
func (db *DB) DeleteIdempotency(ctx context.Context, tenantID, key string) error {
	return db.write(ctx, func(t *tx) error { return t.DeleteIdempotency(ctx, tenantID, key) })
}

// ExpireIdempotency implements store.IdempotencyStore.
func (db *DB) ExpireIdempotency(ctx context.Context, now time.Time) (int, error) {
	return write1(ctx, db, func(t *tx) (int, error) { return t.ExpireIdempotency(ctx, now) })
}

// AcquireLease implements store.CoordStore.
func (db *DB) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration, now time.Time) (bool, error) {
	var ok bool
	err := db.writeRC(ctx, func(t *tx) (err error) { ok, err = t.AcquireLease(ctx, name, owner, ttl, now); return err })
	return ok, err
}

// ReleaseLease implements store.CoordStore.
func (db *DB) ReleaseLease(ctx context.Context, name, owner string) error {
	return db.writeRC(ctx, func(t *tx) error { return t.ReleaseLease(ctx, name, owner) })
}

// TakeToken implements store.CoordStore.
func (db *DB) TakeToken(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (store.RateResult, error) {
	var r store.RateResult
	err := db.writeRC(ctx, func(t *tx) (err error) { r, err = t.TakeToken(ctx, key, limit, window, now); return err })
	return r, err
}
