package transcode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/haulhq/haul/store"
)

// progressEvery throttles progress writes to the job row.
const progressEvery = time.Second

// maxErrorLen caps the failure reason stored on a job.
const maxErrorLen = 2000

// Run runs the worker pool until ctx is done: while fewer than
// Config.Workers jobs are running it claims the next one from the store
// (queued, or processing with an expired lease) and makes its rendition.
// Jobs running when ctx ends are put back in the queue for the next start
// or another replica. Run also purges renditions when Config.RenditionTTL
// or Config.MinFreeBytes is set. It returns nil after a clean shutdown;
// without ffmpeg it only purges.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if s.available == nil {
		wg.Go(func() { s.dispatch(ctx) })
		wg.Go(func() {
			if n, err := s.Backfill(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("probe uploads made without ffmpeg", "err", err)
			} else if n > 0 {
				s.log.Info("probed uploads made without ffmpeg", "assets", n)
			}
		})
	} else {
		s.log.Warn("renditions disabled", "reason", s.available)
	}
	if s.cfg.RenditionTTL > 0 || s.cfg.MinFreeBytes > 0 {
		wg.Go(func() { s.purgeLoop(ctx) })
	}
	wg.Wait()
	return nil
}

// dispatch claims jobs while a worker slot is free and runs each in its
// own goroutine; one claimer keeps an idle server to one store query per
// poll interval.
func (s *Service) dispatch(ctx context.Context) {
	slots := make(chan struct{}, s.cfg.Workers)
	var running sync.WaitGroup
	defer running.Wait()
	backoff := s.cfg.PollInterval
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		job := s.claim(ctx, &backoff)
		if job == nil { // ctx done
			return
		}
		running.Go(func() {
			defer func() { <-slots }()
			s.process(ctx, s.owner, job)
		})
	}
}

// claim waits for a claimable job and claims it; nil once ctx is done.
func (s *Service) claim(ctx context.Context, backoff *time.Duration) *store.Job {
	for ctx.Err() == nil {
		job, err := s.store.ClaimJob(ctx, s.owner, s.now(), s.cfg.Lease)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			s.log.Error("claim job", "owner", s.owner, "err", err)
			s.sleep(ctx, *backoff, false)
			*backoff = min(*backoff*2, 30*time.Second)
		case job == nil:
			*backoff = s.cfg.PollInterval
			s.sleep(ctx, s.cfg.PollInterval, true)
		default:
			*backoff = s.cfg.PollInterval
			return job
		}
	}
	return nil
}

// sleep waits for d, ctx, or (when wakeable) a Wake.
func (s *Service) sleep(ctx context.Context, d time.Duration, wakeable bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	var wake <-chan struct{}
	if wakeable {
		wake = s.wake
	}
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-wake:
	}
}

// errLeaseLost stops a run whose job another worker may now hold.
var errLeaseLost = errors.New("lease lost")

// process makes one claimed job's rendition and completes or fails it.
func (s *Service) process(ctx context.Context, owner string, job *store.Job) {
	log := s.log.With("job", job.ID, "asset", job.AssetID, "format", job.Format, "owner", owner, "attempt", job.Attempts)
	log.Info("job claimed")
	if job.Attempts > s.cfg.MaxAttempts {
		// Claimed again and again without finishing: each attempt ended with
		// its worker (a crash, a kill). Stop before it takes the server down again.
		s.fail(ctx, log, owner, job, fmt.Sprintf("gave up after %d attempts that did not finish (worker or server stopped during the job each time)", job.Attempts-1))
		return
	}
	s.notify(ctx, job)

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var progress atomic.Uint64 // math.Float64bits of the fraction done
	progress.Store(math.Float64bits(job.Progress))
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		s.heartbeat(runCtx, cancel, owner, job, &progress)
	}()
	rend, err := s.render(runCtx, job, func(f float64) { progress.Store(math.Float64bits(f)) })
	cancel(nil)
	<-hbDone

	switch {
	case err == nil:
		// Done, even if shutdown began meanwhile: record it rather than redo it.
	case ctx.Err() != nil:
		// Shutting down: hand the job back at once instead of waiting for the lease.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		if err := s.store.ReleaseJob(rctx, job.ID, owner, s.now()); err != nil {
			log.Warn("release job at shutdown", "err", err)
		} else {
			log.Info("job released at shutdown")
		}
		return
	case errors.Is(context.Cause(runCtx), errLeaseLost):
		log.Warn("job abandoned: lease lost to another worker")
		return
	default:
		s.fail(ctx, log, owner, job, err.Error())
		return
	}
	var done *store.Job
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer ccancel()
	err = s.store.WithTx(cctx, func(tx store.Tx) error {
		j, err := tx.CompleteJob(cctx, job.ID, owner, rend, s.now())
		if err != nil {
			return err
		}
		done = j
		return appendJobEvent(cctx, tx, store.EventJobSucceeded, j, rend)
	})
	if err != nil {
		log.Error("complete job", "err", err)
		return
	}
	if speed, ok := measuredSpeed(rend.Metadata); ok {
		s.speeds.record(job.Format, speed)
	}
	log.Info("job succeeded", "blob", rend.BlobKey, "size", rend.Size)
	s.notify(ctx, done)
}

// fail marks the job failed with the reason and records job.failed.
func (s *Service) fail(ctx context.Context, log *slog.Logger, owner string, job *store.Job, reason string) {
	if len(reason) > maxErrorLen {
		reason = reason[:maxErrorLen] + "…"
	}
	var failed *store.Job
	err := s.store.WithTx(ctx, func(tx store.Tx) error {
		j, err := tx.FailJob(ctx, job.ID, owner, reason, s.now())
		if err != nil {
			return err
		}
		failed = j
		return appendJobEvent(ctx, tx, store.EventJobFailed, j, nil)
	})
	if err != nil {
		log.Error("fail job", "reason", reason, "err", err)
		return
	}
	log.Info("job failed", "reason", reason)
	s.notify(ctx, failed)
}

// notify calls the JobFinished hook, logging its error.
func (s *Service) notify(ctx context.Context, job *store.Job) {
	s.finishedMu.RLock()
	fn := s.finished
	s.finishedMu.RUnlock()
	if fn == nil {
		return
	}
	if err := fn(context.WithoutCancel(ctx), job); err != nil {
		s.log.Error("job finished hook", "job", job.ID, "status", job.Status, "err", err)
	}
}

// heartbeat extends the job's lease every Lease/3 and writes progress at
// most every progressEvery, until ctx ends. When the lease is lost (taken
// by another worker, or not renewed for most of its length because the
// store is unreachable) it cancels the run with errLeaseLost, so one job
// never has two ffmpeg runs.
func (s *Service) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, owner string, job *store.Job, progress *atomic.Uint64) {
	tick := time.NewTicker(min(progressEvery, s.cfg.Lease/3))
	defer tick.Stop()
	lastBeat, lastOK := time.Now(), time.Now()
	written := job.Progress
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p := math.Float64frombits(progress.Load())
		if p-written < 0.01 && time.Since(lastBeat) < s.cfg.Lease/3 {
			continue
		}
		err := s.store.HeartbeatJob(ctx, job.ID, owner, p, s.now(), s.cfg.Lease)
		lastBeat = time.Now()
		switch {
		case err == nil:
			lastOK, written = lastBeat, p
		case errors.Is(err, store.ErrConflict):
			cancel(errLeaseLost)
			return
		case ctx.Err() != nil:
			return
		default:
			s.log.Warn("heartbeat", "job", job.ID, "err", err)
			if time.Since(lastOK) > s.cfg.Lease*2/3 {
				cancel(errLeaseLost)
				return
			}
		}
	}
}

// appendJobEvent records job.succeeded or job.failed in tx.
func appendJobEvent(ctx context.Context, tx store.Tx, typ string, j *store.Job, r *store.Rendition) error {
	type rendition struct {
		ID          string `json:"id"`
		Checksum    string `json:"checksum"`
		Size        int64  `json:"size"`
		ContentType string `json:"content_type"`
	}
	type errorJSON struct {
		Code   string `json:"code"`
		Detail string `json:"detail,omitempty"`
	}
	data := struct {
		ID         string     `json:"id"`
		Status     string     `json:"status"`
		AssetID    string     `json:"asset_id"`
		Format     string     `json:"format"`
		Progress   float64    `json:"progress"`
		Attempts   int        `json:"attempts"`
		Rendition  *rendition `json:"rendition,omitempty"`
		Error      *errorJSON `json:"error,omitempty"`
		CreatedAt  time.Time  `json:"created_at"`
		FinishedAt time.Time  `json:"finished_at"`
	}{ID: j.ID, Status: string(j.Status), AssetID: j.AssetID, Format: j.Format, Progress: j.Progress, Attempts: j.Attempts,
		CreatedAt: j.CreatedAt.UTC(), FinishedAt: j.FinishedAt.UTC()}
	if r != nil {
		data.Rendition = &rendition{ID: r.ID, Checksum: r.Checksum, Size: r.Size, ContentType: r.ContentType}
	}
	if j.Status == store.JobFailed {
		data.Error = &errorJSON{Code: "job_failed", Detail: j.Error}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", typ, err)
	}
	return tx.AppendEvent(ctx, &store.Event{TenantID: j.TenantID, Type: typ, Data: b})
}

// removeQuietly deletes a temporary file, ignoring a missing one.
func removeQuietly(path string) {
	if path != "" {
		_ = os.Remove(path)
	}
}
