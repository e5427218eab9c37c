package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Format is a rendition preset listed by GET /v1/formats.
type Format struct {
	// Name is the preset name used in requests ("original", "mp4_720p", …).
	Name string `json:"name"`
	// Description says what the preset produces.
	Description string `json:"description,omitempty"`
	// Container is the file type ("mp4", "m4a", "jpg").
	Container string `json:"container,omitempty"`
	// Extension is the file extension of its outputs, without the dot
	// ("" for original: the asset's own).
	Extension string `json:"extension,omitempty"`
	// VideoCodec and AudioCodec are the codecs of its outputs.
	VideoCodec string `json:"video_codec,omitempty"`
	AudioCodec string `json:"audio_codec,omitempty"`
	// MaxWidth and MaxHeight bound the output size (never upscaled).
	MaxWidth  int `json:"max_width,omitempty"`
	MaxHeight int `json:"max_height,omitempty"`
	// AppliesTo says which assets it applies to: "any", "video", "audio",
	// "audio/video".
	AppliesTo string `json:"applies_to,omitempty"`
	// ContentType is the media type of its outputs.
	ContentType string `json:"content_type,omitempty"`
}

// ListFormats returns the presets the server offers.
func (c *Client) ListFormats(ctx context.Context) ([]Format, error) {
	var raw json.RawMessage
	if _, err := c.call(ctx, &request{method: "GET", path: "/v1/formats"}, &raw); err != nil {
		return nil, err
	}
	return decodeList[Format](raw, "formats")
}

// decodeList accepts either a bare JSON array or a {"data": [...]} object.
func decodeList[T any](raw json.RawMessage, what string) ([]T, error) {
	raw = bytes.TrimSpace(raw)
	var out []T
	if len(raw) > 0 && raw[0] == '[' {
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, fmt.Errorf("decode %s: %w", what, err)
		}
		return out, nil
	}
	var p Page[T]
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("decode %s: %w", what, err)
	}
	return p.Data, nil
}

// DownloadRequest is the body of POST /v1/assets/{id}/downloads.
type DownloadRequest struct {
	// Format is the preset; "original" when empty.
	Format string `json:"format"`
	// Filename overrides the name the download is saved under.
	Filename string `json:"filename,omitempty"`
}

// Download is a ready rendition: a short-lived signed URL and what it serves.
type Download struct {
	// DownloadURL is the absolute signed URL.
	DownloadURL string `json:"download_url"`
	// ExpiresAt is when the URL stops working.
	ExpiresAt time.Time `json:"expires_at"`
	// Checksum is "sha256:<hex>" of the bytes.
	Checksum string `json:"checksum,omitempty"`
	// Size is the length in bytes.
	Size int64 `json:"size,omitempty"`
	// Filename is the suggested file name.
	Filename string `json:"filename,omitempty"`
	// ContentType is the media type.
	ContentType string `json:"content_type,omitempty"`
	// Format is the preset, when the server reports it.
	Format string `json:"format,omitempty"`
}

// JobRef is the 202 answer to a download whose rendition is not ready.
type JobRef struct {
	// JobID identifies the job making the rendition.
	JobID string `json:"job_id"`
	// Status is queued or processing.
	Status string `json:"status"`
	// EstimatedSeconds is the server's estimate of the time left.
	EstimatedSeconds float64 `json:"estimated_seconds,omitempty"`
	// Location is the job's URL (the Location header).
	Location string `json:"-"`
	// RetryAfter is when to poll first (the Retry-After header).
	RetryAfter time.Duration `json:"-"`
}

// DownloadResult is the answer of CreateDownload: exactly one of Ready (200)
// and Pending (202) is set.
type DownloadResult struct {
	// Ready is set when the rendition exists (200).
	Ready *Download
	// Pending is set when a job is making it (202); wait with WaitJob.
	Pending *JobRef
}

// CreateDownload asks for a download of asset id in req.Format: a signed URL
// at once (200) or a job to wait for (202).
func (c *Client) CreateDownload(ctx context.Context, id string, req DownloadRequest, opts ...CallOption) (*DownloadResult, error) {
	if req.Format == "" {
		req.Format = "original"
	}
	var raw json.RawMessage
	resp, err := c.call(ctx, &request{method: "POST", path: "/v1/assets/" + pathEscape(id) + "/downloads", body: req, call: applyOptions(opts)}, &raw)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusAccepted {
		var j JobRef
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, fmt.Errorf("decode download job: %w", err)
		}
		j.Location = resp.Header.Get("Location")
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
			j.RetryAfter = d
		}
		if j.JobID == "" {
			return nil, fmt.Errorf("download of %s: 202 without job_id", id)
		}
		return &DownloadResult{Pending: &j}, nil
	}
	var d Download
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("decode download: %w", err)
	}
	return &DownloadResult{Ready: &d}, nil
}

// Job states.
const (
	JobQueued     = "queued"
	JobProcessing = "processing"
	JobSucceeded  = "succeeded"
	JobFailed     = "failed"
)

// Job is an asynchronous rendition job.
type Job struct {
	// ID is the job id ("job_…").
	ID string `json:"id"`
	// Status is queued, processing, succeeded or failed.
	Status string `json:"status"`
	// Progress is between 0 and 1.
	Progress float64 `json:"progress"`
	// AssetID and Format say what it renders, when reported.
	AssetID string `json:"asset_id,omitempty"`
	Format  string `json:"format,omitempty"`
	// Result is the download once succeeded.
	Result *Download `json:"result,omitempty"`
	// Error says why it failed.
	Error *JobError `json:"error,omitempty"`
	// EstimatedSeconds is the time left, when the server estimates it.
	EstimatedSeconds float64 `json:"estimated_seconds,omitempty"`
	// CreatedAt, StartedAt, FinishedAt are the job's milestones.
	CreatedAt  *time.Time `json:"created_at,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`

	raw json.RawMessage // the server's JSON, see raw.go
}

// Done reports whether the job reached a final state.
func (j *Job) Done() bool { return j.Status == JobSucceeded || j.Status == JobFailed }

// JobError is why a job (or an export item) failed. It decodes from an
// object {code, detail} or a bare string.
type JobError struct {
	// Code is a stable machine code.
	Code string `json:"code,omitempty"`
	// Detail is the human explanation.
	Detail string `json:"detail,omitempty"`
}

// UnmarshalJSON accepts a string as well as an object.
func (e *JobError) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*e = JobError{Detail: s}
		return nil
	}
	type plain JobError
	var p struct {
		plain
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*e = JobError(p.plain)
	if e.Detail == "" {
		e.Detail = p.Message
	}
	return nil
}

// String formats the error as "detail (code)".
func (e *JobError) String() string {
	if e == nil {
		return ""
	}
	switch {
	case e.Code != "" && e.Detail != "":
		return e.Detail + " (" + e.Code + ")"
	case e.Detail != "":
		return e.Detail
	}
	return e.Code
}

// JobFailedError is returned by WaitJob when the job failed.
type JobFailedError struct {
	// Job is the failed job.
	Job *Job
}

func (e *JobFailedError) Error() string {
	msg := e.Job.Error.String()
	if msg == "" {
		msg = "no reason given"
	}
	return fmt.Sprintf("job %s failed: %s", e.Job.ID, msg)
}

// GetJob returns a job.
func (c *Client) GetJob(ctx context.Context, id string) (*Job, error) {
	j, _, err := c.getJob(ctx, id)
	return j, err
}

func (c *Client) getJob(ctx context.Context, id string) (*Job, time.Duration, error) {
	var j Job
	resp, err := c.call(ctx, &request{method: "GET", path: "/v1/jobs/" + pathEscape(id)}, &j)
	if err != nil {
		return nil, 0, err
	}
	d, _ := parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	return &j, d, nil
}

// WaitJob polls job id until it succeeds or fails, with a growing interval
// (Options.PollIntervalMin to PollIntervalMax, or the server's Retry-After
// when it gives one). progress, when set, sees every state the job passes
// through. A failed job returns the job and a *JobFailedError.
func (c *Client) WaitJob(ctx context.Context, id string, progress func(*Job)) (*Job, error) {
	interval := c.opts.PollIntervalMin
	for {
		j, retryAfter, err := c.getJob(ctx, id)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(j)
		}
		switch j.Status {
		case JobSucceeded:
			return j, nil
		case JobFailed:
			return j, &JobFailedError{Job: j}
		}
		wait := interval
		if retryAfter > 0 {
			wait = min(retryAfter, c.opts.PollIntervalMax)
		}
		if err := sleepCtx(ctx, wait); err != nil {
			return j, err
		}
		interval = min(interval*3/2, c.opts.PollIntervalMax)
	}
}

// DownloadWhenReady asks for a download and, on a 202, waits for its job;
// it returns the ready download. progress sees the job's states.
func (c *Client) DownloadWhenReady(ctx context.Context, id string, req DownloadRequest, progress func(*Job)) (*Download, error) {
	res, err := c.CreateDownload(ctx, id, req)
	if err != nil {
		return nil, err
	}
	if res.Ready != nil {
		return res.Ready, nil
	}
	if res.Pending.RetryAfter > 0 {
		if err := sleepCtx(ctx, min(res.Pending.RetryAfter, c.opts.PollIntervalMax)); err != nil {
			return nil, err
		}
	}
	j, err := c.WaitJob(ctx, res.Pending.JobID, progress)
	if err != nil {
		return nil, err
	}
	if j.Result != nil && j.Result.DownloadURL != "" {
		return j.Result, nil
	}
	// Older servers may not inline the result: the rendition exists now.
	res, err = c.CreateDownload(ctx, id, req)
	if err != nil {
		return nil, err
	}
	if res.Ready == nil {
		return nil, fmt.Errorf("download of %s: job %s succeeded but the rendition is still not ready", id, j.ID)
	}
	return res.Ready, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
