package store

import (
	"context"
	"time"
)

// JobStatus is where a rendition job is: queued → processing → succeeded |
// failed. A processing job whose lease expired is claimable again.
type JobStatus string

// Job statuses.
const (
	JobQueued     JobStatus = "queued"
	JobProcessing JobStatus = "processing"
	JobSucceeded  JobStatus = "succeeded"
	JobFailed     JobStatus = "failed"
)

// Job makes one rendition: an asset in a format and preset version. Jobs
// are the durable queue: a worker claims one with a lease, heartbeats while
// it works, and completes or fails it; a worker that dies lets the lease
// run out and another claims the job.
type Job struct {
	// ID is "job_…".
	ID            string
	TenantID      string
	AssetID       string
	Format        string
	PresetVersion int
	Status        JobStatus
	// Progress goes from 0 to 1.
	Progress float64
	// Error says why the job failed.
	Error string
	// Attempts counts claims, the current one included.
	Attempts int
	// LeaseOwner and LeaseExpiresAt are set while a worker holds the job.
	LeaseOwner     string
	LeaseExpiresAt time.Time
	HeartbeatAt    time.Time
	// RenditionID is set when the job succeeded.
	RenditionID string
	CreatedAt   time.Time
	StartedAt   time.Time // first claim
	FinishedAt  time.Time
	UpdatedAt   time.Time
}

// Terminal reports whether the job is finished (succeeded or failed).
func (j *Job) Terminal() bool { return j.Status == JobSucceeded || j.Status == JobFailed }

// JobStore is the durable rendition queue.
type JobStore interface {
	// CreateJob queues j unless a job for the same tenant, asset, format and
	// preset version is queued, processing, or succeeded with its rendition
	// still present; then it returns that job and created=false. It is atomic:
	// concurrent callers get one job. Fills ID, Status (queued) and times.
	CreateJob(ctx context.Context, j *Job) (job *Job, created bool, err error)
	// GetJob returns one of the tenant's jobs; ENOTFOUND otherwise.
	GetJob(ctx context.Context, tenantID, id string) (*Job, error)
	// ListJobs returns the jobs of an asset, by ID.
	ListJobs(ctx context.Context, tenantID, assetID string) ([]*Job, error)
	// ClaimJob takes the oldest claimable job of any tenant (queued, or
	// processing with an expired lease) for owner until now+lease, sets it
	// processing and counts an attempt. Exclusive under concurrency. It
	// returns nil and no error when no job is claimable.
	ClaimJob(ctx context.Context, owner string, now time.Time, lease time.Duration) (*Job, error)
	// HeartbeatJob extends owner's lease to now+lease and records progress
	// (a negative progress leaves it unchanged). ECONFLICT when owner no
	// longer holds the job (lease expired and taken, or job finished).
	HeartbeatJob(ctx context.Context, id, owner string, progress float64, now time.Time, lease time.Duration) error
	// CompleteJob stores the rendition (as PutRendition) and marks the job
	// succeeded, progress 1, in one transaction. ECONFLICT when owner no
	// longer holds the job.
	CompleteJob(ctx context.Context, id, owner string, r *Rendition, now time.Time) (*Job, error)
	// FailJob marks the job failed with the message. ECONFLICT when owner
	// no longer holds the job. A later CreateJob for the same rendition
	// queues a new job.
	FailJob(ctx context.Context, id, owner, message string, now time.Time) (*Job, error)
	// ReleaseJob puts a job owner holds back in the queue at once (graceful
	// shutdown), keeping its attempt count. ECONFLICT when not held.
	ReleaseJob(ctx context.Context, id, owner string, now time.Time) error
	// CountJobs returns how many jobs of all tenants have the status (the
	// queue-depth metric).
	CountJobs(ctx context.Context, status JobStatus) (int, error)
	// ListRecentJobs returns up to limit succeeded jobs of any tenant in the
	// format, most recently finished first (for estimated_seconds).
	ListRecentJobs(ctx context.Context, format string, limit int) ([]*Job, error)
}
