package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/haulhq/haul/store"
)

const jobCols = `id, tenant_id, asset_id, format, preset_version, status, progress, error, attempts, lease_owner,
	lease_expires_at, heartbeat_at, rendition_id, created_at, started_at, finished_at, updated_at`

func scanJob(s interface{ Scan(...any) error }) (*store.Job, error) {
	var j store.Job
	err := s.Scan(&j.ID, &j.TenantID, &j.AssetID, &j.Format, &j.PresetVersion, &j.Status, &j.Progress, &j.Error,
		&j.Attempts, &j.LeaseOwner, timeCol{&j.LeaseExpiresAt}, timeCol{&j.HeartbeatAt}, &j.RenditionID,
		timeCol{&j.CreatedAt}, timeCol{&j.StartedAt}, timeCol{&j.FinishedAt}, timeCol{&j.UpdatedAt})
	if err != nil {
		return nil, err
	}
	return &j, nil
}

func (t *Tx) queryJobs(ctx context.Context, what, query string, args ...any) ([]*store.Job, error) {
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, t.dbErr(what, err)
	}
	defer rows.Close()
	var out []*store.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, t.dbErr(what, err)
		}
		out = append(out, j)
	}
	return out, t.dbErr(what, rows.Err())
}

// dedupeKey names the rendition a job stands for.
func dedupeKey(j *store.Job) string {
	return fmt.Sprintf("%s/%s/%s/%d", j.TenantID, j.AssetID, j.Format, j.PresetVersion)
}

// CreateJob queues a job unless one stands for the same rendition.
func (t *Tx) CreateJob(ctx context.Context, j *store.Job) (*store.Job, bool, error) {
	if j.Format == "" {
		return nil, false, store.Errorf(store.EINVALID, "job format is required")
	}
	if _, err := t.GetAsset(ctx, j.TenantID, j.AssetID); err != nil {
		return nil, false, err
	}
	key := dedupeKey(j)
	if existing, err := scanJob(t.q.QueryRowContext(ctx, "SELECT "+jobCols+" FROM jobs WHERE dedupe_key = ?", key)); err == nil {
		return existing, false, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, t.dbErr("create job", err)
	}
	now := t.now()
	nj := &store.Job{
		ID: j.ID, TenantID: j.TenantID, AssetID: j.AssetID, Format: j.Format, PresetVersion: j.PresetVersion,
		Status: store.JobQueued, CreatedAt: tm(j.CreatedAt), UpdatedAt: tm(j.CreatedAt),
	}
	if nj.ID == "" {
		nj.ID = store.NewID(store.PrefixJob)
	}
	if nj.CreatedAt.IsZero() {
		nj.CreatedAt, nj.UpdatedAt = now, now
	}
	_, err := t.q.ExecContext(ctx, `INSERT INTO jobs (`+jobCols+`, dedupe_key)
		VALUES (?, ?, ?, ?, ?, ?, 0, '', 0, '', NULL, NULL, '', ?, NULL, NULL, ?, ?)`,
		nj.ID, nj.TenantID, nj.AssetID, nj.Format, nj.PresetVersion, string(nj.Status), ts(nj.CreatedAt), ts(nj.UpdatedAt), key)
	if err != nil {
		return nil, false, t.dbErr("create job", err)
	}
	*j = *nj
	return nj, true, nil
}

// GetJob returns one of the tenant's jobs.
func (t *Tx) GetJob(ctx context.Context, tenantID, id string) (*store.Job, error) {
	j, err := scanJob(t.q.QueryRowContext(ctx, "SELECT "+jobCols+" FROM jobs WHERE tenant_id = ? AND id = ?", tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("job", id)
	}
	return j, t.dbErr("get job", err)
}

// ListJobs returns an asset's jobs.
func (t *Tx) ListJobs(ctx context.Context, tenantID, assetID string) ([]*store.Job, error) {
	return t.queryJobs(ctx, "list jobs", "SELECT "+jobCols+" FROM jobs WHERE tenant_id = ? AND asset_id = ? ORDER BY id", tenantID, assetID)
}

// ClaimJob leases the oldest claimable job.
func (t *Tx) ClaimJob(ctx context.Context, owner string, now time.Time, lease time.Duration) (*store.Job, error) {
	if owner == "" {
		return nil, store.Errorf(store.EINVALID, "claim owner is required")
	}
	now = tm(now)
	skipLocked := ""
	if t.d.RowLocks {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	var id string
	err := t.q.QueryRowContext(ctx, `SELECT id FROM jobs
		WHERE status = 'queued' OR (status = 'processing' AND (lease_expires_at IS NULL OR lease_expires_at <= ?))
		ORDER BY id LIMIT 1`+skipLocked, ts(now)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, t.dbErr("claim job", err)
	}
	_, err = t.q.ExecContext(ctx, `UPDATE jobs SET status = 'processing', lease_owner = ?, lease_expires_at = ?,
		heartbeat_at = ?, attempts = attempts + 1, started_at = coalesce(started_at, ?), updated_at = ?
		WHERE id = ?`, owner, ts(tm(now.Add(lease))), ts(now), ts(now), ts(now), id)
	if err != nil {
		return nil, t.dbErr("claim job", err)
	}
	j, err := scanJob(t.q.QueryRowContext(ctx, "SELECT "+jobCols+" FROM jobs WHERE id = ?", id))
	return j, t.dbErr("claim job", err)
}

// heldJob returns the job if owner holds it (processing, owner's lease).
func (t *Tx) heldJob(ctx context.Context, id, owner string) (*store.Job, error) {
	j, err := scanJob(t.q.QueryRowContext(ctx, "SELECT "+jobCols+" FROM jobs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("job", id)
	}
	if err != nil {
		return nil, t.dbErr("get job", err)
	}
	if j.Status != store.JobProcessing || j.LeaseOwner != owner {
		return nil, store.Errorf(store.ECONFLICT, "job %s is not held by %s", id, owner)
	}
	return j, nil
}

// HeartbeatJob extends a lease and records progress.
func (t *Tx) HeartbeatJob(ctx context.Context, id, owner string, progress float64, now time.Time, lease time.Duration) error {
	if _, err := t.heldJob(ctx, id, owner); err != nil {
		return err
	}
	now = tm(now)
	_, err := t.q.ExecContext(ctx, `UPDATE jobs SET lease_expires_at = ?, heartbeat_at = ?, updated_at = ?,
		progress = CASE WHEN `+t.d.FloatParam+` < 0 THEN progress ELSE `+t.d.Least+`(`+t.d.FloatParam+`, 1.0) END WHERE id = ?`,
		ts(tm(now.Add(lease))), ts(now), ts(now), progress, progress, id)
	return t.dbErr("heartbeat job", err)
}

// CompleteJob stores the rendition and marks the job succeeded.
func (t *Tx) CompleteJob(ctx context.Context, id, owner string, r *store.Rendition, now time.Time) (*store.Job, error) {
	j, err := t.heldJob(ctx, id, owner)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, store.Errorf(store.EINVALID, "CompleteJob needs the rendition")
	}
	r.TenantID, r.AssetID, r.Format, r.PresetVersion = j.TenantID, j.AssetID, j.Format, j.PresetVersion
	if err := t.PutRendition(ctx, r); err != nil {
		return nil, err
	}
	now = tm(now)
	_, err = t.q.ExecContext(ctx, `UPDATE jobs SET status = 'succeeded', progress = 1, error = '', lease_owner = '',
		lease_expires_at = NULL, rendition_id = ?, finished_at = ?, updated_at = ? WHERE id = ?`,
		r.ID, ts(now), ts(now), id)
	if err != nil {
		return nil, t.dbErr("complete job", err)
	}
	return t.GetJob(ctx, j.TenantID, id)
}

// FailJob marks a job failed.
func (t *Tx) FailJob(ctx context.Context, id, owner, message string, now time.Time) (*store.Job, error) {
	j, err := t.heldJob(ctx, id, owner)
	if err != nil {
		return nil, err
	}
	now = tm(now)
	_, err = t.q.ExecContext(ctx, `UPDATE jobs SET status = 'failed', error = ?, lease_owner = '', lease_expires_at = NULL,
		dedupe_key = NULL, finished_at = ?, updated_at = ? WHERE id = ?`, message, ts(now), ts(now), id)
	if err != nil {
		return nil, t.dbErr("fail job", err)
	}
	return t.GetJob(ctx, j.TenantID, id)
}

// ReleaseJob puts a held job back in the queue.
func (t *Tx) ReleaseJob(ctx context.Context, id, owner string, now time.Time) error {
	if _, err := t.heldJob(ctx, id, owner); err != nil {
		return err
	}
	_, err := t.q.ExecContext(ctx, `UPDATE jobs SET status = 'queued', lease_owner = '', lease_expires_at = NULL,
		updated_at = ? WHERE id = ?`, ts(tm(now)), id)
	return t.dbErr("release job", err)
}

// CountJobs counts jobs with a status.
func (t *Tx) CountJobs(ctx context.Context, status store.JobStatus) (int, error) {
	var n int
	err := t.q.QueryRowContext(ctx, "SELECT count(*) FROM jobs WHERE status = ?", string(status)).Scan(&n)
	return n, t.dbErr("count jobs", err)
}

// ListRecentJobs returns recently succeeded jobs of a format.
func (t *Tx) ListRecentJobs(ctx context.Context, format string, limit int) ([]*store.Job, error) {
	return t.queryJobs(ctx, "list recent jobs", "SELECT "+jobCols+` FROM jobs
		WHERE status = 'succeeded' AND format = ? ORDER BY finished_at DESC, id DESC LIMIT ?`, format, limitOr(limit))
}

// RequeueProcessingJobs puts every job still processing back in the queue
// (attempts kept) and returns how many it requeued: for a process that
// knows no other one runs jobs on the database (store/sqlite's
// ReclaimOrphanJobs).
func (t *Tx) RequeueProcessingJobs(ctx context.Context, now time.Time) (int, error) {
	res, err := t.q.ExecContext(ctx, `UPDATE jobs SET status = 'queued', lease_owner = '', lease_expires_at = NULL,
		updated_at = ? WHERE status = 'processing'`, ts(tm(now)))
	if err != nil {
		return 0, t.dbErr("requeue jobs", err)
	}
	n, err := res.RowsAffected()
	return int(n), t.dbErr("requeue jobs", err)
}
