package sqlstore

// The Store's data methods: reads go to the backend's read Tx, writes run
// in a write transaction of their own. The work is done by the Tx methods,
// which WithTx callers use directly.

import (
	"context"
	"time"

	"github.com/haulhq/haul/store"
)

// CreateTenant implements store.TenantStore.
func (s *Store) CreateTenant(ctx context.Context, tn *store.Tenant) error {
	return s.write(ctx, func(t *Tx) error { return t.CreateTenant(ctx, tn) })
}

// GetTenant implements store.TenantStore.
func (s *Store) GetTenant(ctx context.Context, id string) (*store.Tenant, error) {
	return s.rd().GetTenant(ctx, id)
}

// GetTenantByName implements store.TenantStore.
func (s *Store) GetTenantByName(ctx context.Context, name string) (*store.Tenant, error) {
	return s.rd().GetTenantByName(ctx, name)
}

// ListTenants implements store.TenantStore.
func (s *Store) ListTenants(ctx context.Context) ([]*store.Tenant, error) {
	return s.rd().ListTenants(ctx)
}

// CreateAPIKey implements store.KeyStore.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	return s.write(ctx, func(t *Tx) error { return t.CreateAPIKey(ctx, k) })
}

// GetAPIKeyByHash implements store.KeyStore.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash string) (*store.APIKey, error) {
	return s.rd().GetAPIKeyByHash(ctx, hash)
}

// ListAPIKeys implements store.KeyStore.
func (s *Store) ListAPIKeys(ctx context.Context, tenantID string) ([]*store.APIKey, error) {
	return s.rd().ListAPIKeys(ctx, tenantID)
}

// RevokeAPIKey implements store.KeyStore.
func (s *Store) RevokeAPIKey(ctx context.Context, tenantID, id string, now time.Time) (*store.APIKey, error) {
	return write1(ctx, s, func(t *Tx) (*store.APIKey, error) { return t.RevokeAPIKey(ctx, tenantID, id, now) })
}

// TouchAPIKey implements store.KeyStore.
func (s *Store) TouchAPIKey(ctx context.Context, id string, now time.Time) error {
	return s.write(ctx, func(t *Tx) error { return t.TouchAPIKey(ctx, id, now) })
}

// GetSetting implements store.SettingStore.
func (s *Store) GetSetting(ctx context.Context, name string) ([]byte, error) {
	return s.rd().GetSetting(ctx, name)
}

// PutSetting implements store.SettingStore.
func (s *Store) PutSetting(ctx context.Context, name string, value []byte) error {
	return s.write(ctx, func(t *Tx) error { return t.PutSetting(ctx, name, value) })
}

// PutSettingIfAbsent implements store.SettingStore.
func (s *Store) PutSettingIfAbsent(ctx context.Context, name string, value []byte) ([]byte, bool, error) {
	return write2(ctx, s, func(t *Tx) ([]byte, bool, error) { return t.PutSettingIfAbsent(ctx, name, value) })
}

// SigningKeys implements store.SettingStore.
func (s *Store) SigningKeys(ctx context.Context, now time.Time) ([]store.SigningKey, error) {
	return s.rd().SigningKeys(ctx, now)
}

// EnsureSigningKey implements store.SettingStore.
func (s *Store) EnsureSigningKey(ctx context.Context, secret []byte, now time.Time) (store.SigningKey, error) {
	return write1(ctx, s, func(t *Tx) (store.SigningKey, error) { return t.EnsureSigningKey(ctx, secret, now) })
}

// RotateSigningKey implements store.SettingStore.
func (s *Store) RotateSigningKey(ctx context.Context, secret []byte, grace time.Duration, now time.Time) (store.SigningKey, error) {
	return write1(ctx, s, func(t *Tx) (store.SigningKey, error) { return t.RotateSigningKey(ctx, secret, grace, now) })
}

// CreateAsset implements store.AssetStore.
func (s *Store) CreateAsset(ctx context.Context, a *store.Asset) error {
	return s.write(ctx, func(t *Tx) error { return t.CreateAsset(ctx, a) })
}

// GetAsset implements store.AssetStore.
func (s *Store) GetAsset(ctx context.Context, tenantID, id string) (*store.Asset, error) {
	return s.rd().GetAsset(ctx, tenantID, id)
}

// GetAssets implements store.AssetStore.
func (s *Store) GetAssets(ctx context.Context, tenantID string, ids []string) ([]*store.Asset, error) {
	return s.rd().GetAssets(ctx, tenantID, ids)
}

// ListAssets implements store.AssetStore.
func (s *Store) ListAssets(ctx context.Context, tenantID string, f store.AssetFilter) ([]*store.Asset, string, error) {
	return s.rd().ListAssets(ctx, tenantID, f)
}

// UpdateAsset implements store.AssetStore.
func (s *Store) UpdateAsset(ctx context.Context, tenantID, id string, now time.Time, fn func(*store.Asset) error) (*store.Asset, error) {
	return write1(ctx, s, func(t *Tx) (*store.Asset, error) { return t.UpdateAsset(ctx, tenantID, id, now, fn) })
}

// ListRetentionDue implements store.AssetStore.
func (s *Store) ListRetentionDue(ctx context.Context, now time.Time, limit int) ([]*store.Asset, error) {
	return s.rd().ListRetentionDue(ctx, now, limit)
}

// ListPurgeDue implements store.AssetStore.
func (s *Store) ListPurgeDue(ctx context.Context, deletedBefore time.Time, limit int) ([]*store.Asset, error) {
	return s.rd().ListPurgeDue(ctx, deletedBefore, limit)
}

// BlobReferenced implements store.AssetStore.
func (s *Store) BlobReferenced(ctx context.Context, key string) (bool, error) {
	return s.rd().BlobReferenced(ctx, key)
}

// PutRendition implements store.RenditionStore.
func (s *Store) PutRendition(ctx context.Context, r *store.Rendition) error {
	return s.write(ctx, func(t *Tx) error { return t.PutRendition(ctx, r) })
}

// GetRendition implements store.RenditionStore.
func (s *Store) GetRendition(ctx context.Context, tenantID, assetID, format string, presetVersion int) (*store.Rendition, error) {
	return s.rd().GetRendition(ctx, tenantID, assetID, format, presetVersion)
}

// GetRenditionByID implements store.RenditionStore.
func (s *Store) GetRenditionByID(ctx context.Context, tenantID, id string) (*store.Rendition, error) {
	return s.rd().GetRenditionByID(ctx, tenantID, id)
}

// ListRenditions implements store.RenditionStore.
func (s *Store) ListRenditions(ctx context.Context, tenantID, assetID string) ([]*store.Rendition, error) {
	return s.rd().ListRenditions(ctx, tenantID, assetID)
}

// touchGranularity is how stale a rendition's LastUsedAt may be before a
// use is written: uses are counted in days, and skipping the write keeps
// downloads of renditions off the write path (SQLite's single writer
// connection).
const touchGranularity = time.Minute

// TouchRendition implements store.RenditionStore. It reads first and
// writes only when the recorded use is older than touchGranularity.
func (s *Store) TouchRendition(ctx context.Context, id string, now time.Time) error {
	var last int64
	err := s.rd().q.QueryRowContext(ctx, "SELECT last_used_at FROM renditions WHERE id = ?", id).Scan(&last)
	if err == nil && !time.UnixMicro(last).Before(now.Add(-touchGranularity)) {
		return nil
	}
	return s.write(ctx, func(t *Tx) error { return t.TouchRendition(ctx, id, now) })
}

// DeleteRendition implements store.RenditionStore.
func (s *Store) DeleteRendition(ctx context.Context, tenantID, id string) error {
	return s.write(ctx, func(t *Tx) error { return t.DeleteRendition(ctx, tenantID, id) })
}

// ListRenditionsUnusedSince implements store.RenditionStore.
func (s *Store) ListRenditionsUnusedSince(ctx context.Context, before time.Time, limit int) ([]*store.Rendition, error) {
	return s.rd().ListRenditionsUnusedSince(ctx, before, limit)
}

// CreateJob implements store.JobStore.
func (s *Store) CreateJob(ctx context.Context, j *store.Job) (*store.Job, bool, error) {
	return write2(ctx, s, func(t *Tx) (*store.Job, bool, error) { return t.CreateJob(ctx, j) })
}

// GetJob implements store.JobStore.
func (s *Store) GetJob(ctx context.Context, tenantID, id string) (*store.Job, error) {
	return s.rd().GetJob(ctx, tenantID, id)
}

// ListJobs implements store.JobStore.
func (s *Store) ListJobs(ctx context.Context, tenantID, assetID string) ([]*store.Job, error) {
	return s.rd().ListJobs(ctx, tenantID, assetID)
}

// ClaimJob implements store.JobStore.
func (s *Store) ClaimJob(ctx context.Context, owner string, now time.Time, lease time.Duration) (*store.Job, error) {
	return write1RowLock(ctx, s, func(t *Tx) (*store.Job, error) { return t.ClaimJob(ctx, owner, now, lease) })
}

// HeartbeatJob implements store.JobStore.
func (s *Store) HeartbeatJob(ctx context.Context, id, owner string, progress float64, now time.Time, lease time.Duration) error {
	return s.write(ctx, func(t *Tx) error { return t.HeartbeatJob(ctx, id, owner, progress, now, lease) })
}

// CompleteJob implements store.JobStore.
func (s *Store) CompleteJob(ctx context.Context, id, owner string, r *store.Rendition, now time.Time) (*store.Job, error) {
	return write1(ctx, s, func(t *Tx) (*store.Job, error) { return t.CompleteJob(ctx, id, owner, r, now) })
}

// FailJob implements store.JobStore.
func (s *Store) FailJob(ctx context.Context, id, owner, message string, now time.Time) (*store.Job, error) {
	return write1(ctx, s, func(t *Tx) (*store.Job, error) { return t.FailJob(ctx, id, owner, message, now) })
}

// ReleaseJob implements store.JobStore.
func (s *Store) ReleaseJob(ctx context.Context, id, owner string, now time.Time) error {
	return s.write(ctx, func(t *Tx) error { return t.ReleaseJob(ctx, id, owner, now) })
}

// CountJobs implements store.JobStore.
func (s *Store) CountJobs(ctx context.Context, status store.JobStatus) (int, error) {
	return s.rd().CountJobs(ctx, status)
}

// ListRecentJobs implements store.JobStore.
func (s *Store) ListRecentJobs(ctx context.Context, format string, limit int) ([]*store.Job, error) {
	return s.rd().ListRecentJobs(ctx, format, limit)
}

// CreateExport implements store.ExportStore.
func (s *Store) CreateExport(ctx context.Context, e *store.Export, items []store.ExportItem) error {
	return s.write(ctx, func(t *Tx) error { return t.CreateExport(ctx, e, items) })
}

// GetExport implements store.ExportStore.
func (s *Store) GetExport(ctx context.Context, tenantID, id string) (*store.Export, error) {
	return s.rd().GetExport(ctx, tenantID, id)
}

// ListExports implements store.ExportStore.
func (s *Store) ListExports(ctx context.Context, tenantID string, p store.Page) ([]*store.Export, string, error) {
	return s.rd().ListExports(ctx, tenantID, p)
}

// ListExportEntries implements store.ExportStore.
func (s *Store) ListExportEntries(ctx context.Context, tenantID, exportID string) ([]store.ExportEntry, error) {
	return s.rd().ListExportEntries(ctx, tenantID, exportID)
}

// UpdateExportItem implements store.ExportStore.
func (s *Store) UpdateExportItem(ctx context.Context, tenantID, exportID string, position int, status store.ItemStatus, jobID, message string, now time.Time) error {
	return s.write(ctx, func(t *Tx) error {
		return t.UpdateExportItem(ctx, tenantID, exportID, position, status, jobID, message, now)
	})
}

// UpdateExportItemsByJob implements store.ExportStore.
func (s *Store) UpdateExportItemsByJob(ctx context.Context, jobID string, status store.ItemStatus, message string, now time.Time) ([]string, error) {
	return write1(ctx, s, func(t *Tx) ([]string, error) { return t.UpdateExportItemsByJob(ctx, jobID, status, message, now) })
}

// CompleteExport implements store.ExportStore.
func (s *Store) CompleteExport(ctx context.Context, tenantID, id string, now time.Time) (bool, error) {
	return write1(ctx, s, func(t *Tx) (bool, error) { return t.CompleteExport(ctx, tenantID, id, now) })
}

// CreateGrant implements store.GrantStore.
func (s *Store) CreateGrant(ctx context.Context, g *store.Grant) error {
	return s.write(ctx, func(t *Tx) error { return t.CreateGrant(ctx, g) })
}

// GetGrant implements store.GrantStore.
func (s *Store) GetGrant(ctx context.Context, tenantID, id string) (*store.Grant, error) {
	return s.rd().GetGrant(ctx, tenantID, id)
}

// GetGrantByTokenHash implements store.GrantStore.
func (s *Store) GetGrantByTokenHash(ctx context.Context, tokenHash string) (*store.Grant, error) {
	return s.rd().GetGrantByTokenHash(ctx, tokenHash)
}

// ListGrants implements store.GrantStore.
func (s *Store) ListGrants(ctx context.Context, tenantID string, f store.GrantFilter) ([]*store.Grant, string, error) {
	return s.rd().ListGrants(ctx, tenantID, f)
}

// RedeemGrant implements store.GrantStore. The grant comes back with a
// grant-state error too, so the caller cannot use write1 (which drops it).
func (s *Store) RedeemGrant(ctx context.Context, tokenHash string, now time.Time) (*store.Grant, error) {
	var g *store.Grant
	var redeemErr error
	err := s.writeRowLock(ctx, func(t *Tx) error {
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
func (s *Store) RevokeGrant(ctx context.Context, tenantID, id string, now time.Time) (*store.Grant, bool, error) {
	return write2(ctx, s, func(t *Tx) (*store.Grant, bool, error) { return t.RevokeGrant(ctx, tenantID, id, now) })
}

// RenewGrant implements store.GrantStore.
func (s *Store) RenewGrant(ctx context.Context, tenantID, id string, expiresAt, now time.Time) (*store.Grant, error) {
	return write1(ctx, s, func(t *Tx) (*store.Grant, error) { return t.RenewGrant(ctx, tenantID, id, expiresAt, now) })
}

// ExpireGrants implements store.GrantStore.
func (s *Store) ExpireGrants(ctx context.Context, now time.Time, limit int) ([]*store.Grant, error) {
	return write1(ctx, s, func(t *Tx) ([]*store.Grant, error) { return t.ExpireGrants(ctx, now, limit) })
}

// AppendEvent implements store.EventStore. Prefer calling it on the Tx of
// the change that caused the event.
func (s *Store) AppendEvent(ctx context.Context, e *store.Event) error {
	return s.write(ctx, func(t *Tx) error { return t.AppendEvent(ctx, e) })
}

// GetEvent implements store.EventStore.
func (s *Store) GetEvent(ctx context.Context, tenantID, id string) (*store.Event, error) {
	return s.rd().GetEvent(ctx, tenantID, id)
}

// ListEvents implements store.EventStore.
func (s *Store) ListEvents(ctx context.Context, tenantID string, f store.EventFilter) ([]*store.Event, string, error) {
	return s.rd().ListEvents(ctx, tenantID, f)
}

// CreateWebhook implements store.WebhookStore.
func (s *Store) CreateWebhook(ctx context.Context, w *store.WebhookEndpoint) error {
	return s.write(ctx, func(t *Tx) error { return t.CreateWebhook(ctx, w) })
}

// GetWebhook implements store.WebhookStore.
func (s *Store) GetWebhook(ctx context.Context, tenantID, id string) (*store.WebhookEndpoint, error) {
	return s.rd().GetWebhook(ctx, tenantID, id)
}

// ListWebhooks implements store.WebhookStore.
func (s *Store) ListWebhooks(ctx context.Context, tenantID string, p store.Page) ([]*store.WebhookEndpoint, string, error) {
	return s.rd().ListWebhooks(ctx, tenantID, p)
}

// DeleteWebhook implements store.WebhookStore.
func (s *Store) DeleteWebhook(ctx context.Context, tenantID, id string) error {
	return s.write(ctx, func(t *Tx) error { return t.DeleteWebhook(ctx, tenantID, id) })
}

// SetWebhookDisabled implements store.WebhookStore.
func (s *Store) SetWebhookDisabled(ctx context.Context, tenantID, id string, disabled bool, reason string, now time.Time) (*store.WebhookEndpoint, error) {
	return write1(ctx, s, func(t *Tx) (*store.WebhookEndpoint, error) {
		return t.SetWebhookDisabled(ctx, tenantID, id, disabled, reason, now)
	})
}

// ClaimDeliveries implements store.WebhookStore.
func (s *Store) ClaimDeliveries(ctx context.Context, c store.DeliveryClaim) ([]store.ClaimedDelivery, error) {
	return write1(ctx, s, func(t *Tx) ([]store.ClaimedDelivery, error) { return t.ClaimDeliveries(ctx, c) })
}

// FinishDelivery implements store.WebhookStore.
func (s *Store) FinishDelivery(ctx context.Context, r store.DeliveryResult) (*store.WebhookEndpoint, error) {
	return write1(ctx, s, func(t *Tx) (*store.WebhookEndpoint, error) { return t.FinishDelivery(ctx, r) })
}

// ListDeliveryAttempts implements store.WebhookStore.
func (s *Store) ListDeliveryAttempts(ctx context.Context, tenantID, endpointID string, p store.Page) ([]*store.DeliveryAttempt, string, error) {
	return s.rd().ListDeliveryAttempts(ctx, tenantID, endpointID, p)
}

// ReplayWebhook implements store.WebhookStore.
func (s *Store) ReplayWebhook(ctx context.Context, tenantID, endpointID string, since, now time.Time) (int, error) {
	return write1(ctx, s, func(t *Tx) (int, error) { return t.ReplayWebhook(ctx, tenantID, endpointID, since, now) })
}

// CountDeliveries implements store.WebhookStore.
func (s *Store) CountDeliveries(ctx context.Context, status store.DeliveryStatus) (int, error) {
	return s.rd().CountDeliveries(ctx, status)
}

// BeginIdempotency implements store.IdempotencyStore.
func (s *Store) BeginIdempotency(ctx context.Context, rec *store.IdempotencyRecord, staleAfter time.Duration) (*store.IdempotencyRecord, bool, error) {
	return write2(ctx, s, func(t *Tx) (*store.IdempotencyRecord, bool, error) { return t.BeginIdempotency(ctx, rec, staleAfter) })
}

// CompleteIdempotency implements store.IdempotencyStore.
func (s *Store) CompleteIdempotency(ctx context.Context, tenantID, key string, status int, headers map[string][]string, body []byte, now time.Time) error {
	return s.write(ctx, func(t *Tx) error { return t.CompleteIdempotency(ctx, tenantID, key, status, headers, body, now) })
}

// DeleteIdempotency implements store.IdempotencyStore.
func (s *Store) DeleteIdempotency(ctx context.Context, tenantID, key string) error {
	return s.write(ctx, func(t *Tx) error { return t.DeleteIdempotency(ctx, tenantID, key) })
}

// ExpireIdempotency implements store.IdempotencyStore.
func (s *Store) ExpireIdempotency(ctx context.Context, now time.Time) (int, error) {
	return write1(ctx, s, func(t *Tx) (int, error) { return t.ExpireIdempotency(ctx, now) })
}

// AcquireLease implements store.CoordStore.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration, now time.Time) (bool, error) {
	return write1RowLock(ctx, s, func(t *Tx) (bool, error) { return t.AcquireLease(ctx, name, owner, ttl, now) })
}

// ReleaseLease implements store.CoordStore.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	return s.writeRowLock(ctx, func(t *Tx) error { return t.ReleaseLease(ctx, name, owner) })
}

// TakeToken implements store.CoordStore.
func (s *Store) TakeToken(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (store.RateResult, error) {
	return write1RowLock(ctx, s, func(t *Tx) (store.RateResult, error) { return t.TakeToken(ctx, key, limit, window, now) })
}
