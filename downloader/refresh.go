package downloader

import (
	"context"
	"errors"
	"fmt"

	"github.com/haulhq/haul/manifest"
)

// refreshItem fetches a fresh manifest after t's URL expired and takes the
// item's new URL. Concurrent expiries share one refresh: a manifest fetched
// after this call began is reused.
func (e *Engine) refreshItem(ctx context.Context, t *task) error {
	asked := e.opts.Now()
	e.refreshMu.Lock()
	m := e.refreshed
	if m == nil || e.refreshedAt.Before(asked) {
		var err error
		m, err = e.opts.Refresh(ctx, RefreshExpired)
		if err != nil {
			e.refreshMu.Unlock()
			if errors.Is(err, ErrNoRefresh) {
				return err
			}
			return fmt.Errorf("refresh manifest: %w", err)
		}
		e.refreshed, e.refreshedAt = m, e.opts.Now()
	}
	e.refreshMu.Unlock()
	for i := range m.Items {
		it := &m.Items[i]
		if it.Key() != t.key {
			continue
		}
		if it.EffectiveStatus() != manifest.ItemReady || it.URL == "" {
			return fmt.Errorf("item %s is %s in the refreshed manifest", t.key, it.EffectiveStatus())
		}
		if it.URL == t.item.URL {
			return errors.New("the refreshed manifest has the same URL")
		}
		e.updateItem(t, *it)
		return nil
	}
	return fmt.Errorf("item %s is missing from the refreshed manifest", t.key)
}

// updateItem takes a refreshed copy of an item: a new URL and expiry;
// identity, target and checksum stay those of the first copy unless the
// first copy had none.
func (e *Engine) updateItem(t *task, fresh manifest.Item) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.updateItemLocked(t, fresh)
}

func (e *Engine) updateItemLocked(t *task, fresh manifest.Item) {
	old := t.item
	t.item.URL = fresh.URL
	t.item.ExpiresAt = fresh.ExpiresAt
	t.item.Status = fresh.Status
	if old.Checksum == "" {
		t.item.Checksum = fresh.Checksum
	}
	if old.Size == 0 && fresh.Size != 0 {
		t.item.Size = fresh.Size
		e.bytesTotal.Add(fresh.Size)
	}
	t.result.Item = t.item
}

// poller re-reads the manifest while items are queued or processing, and
// hands each item to the workers as soon as it turns ready.
func (e *Engine) poller() error {
	ctx := e.ctx
	failures := 0
	for {
		e.mu.Lock()
		n, closed := len(e.pending), e.closed
		e.mu.Unlock()
		if n == 0 {
			if closed {
				e.wakeWorkers()
				return nil
			}
			select {
			case <-e.pollWake:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		began := e.opts.Now()
		m, err := e.opts.Refresh(ctx, RefreshPending)
		if ctx.Err() != nil {
			return nil
		}
		delay := e.opts.PollInterval
		if errors.Is(err, ErrNoRefresh) {
			e.failPending(ErrNotReady)
			continue
		}
		if err != nil {
			failures++
			var ra *RetryAfterError
			if errors.As(err, &ra) {
				delay = ra.Delay
			} else if failures > e.opts.Retries {
				e.failPending(fmt.Errorf("waiting for items to become ready: %w", err))
				continue
			} else {
				delay = e.backoff(failures)
			}
			e.opts.Logger.Debug("manifest poll failed", "err", err, "retry_in", delay)
		} else {
			failures = 0
			e.refreshMu.Lock()
			e.refreshed, e.refreshedAt = m, e.opts.Now()
			e.refreshMu.Unlock()
			e.applyPending(m)
			// A long poll that waited already paced us.
			delay -= e.opts.Now().Sub(began)
		}
		if err := sleep(ctx, delay); err != nil {
			return nil
		}
	}
}

// applyPending moves pending items that became ready to the queue and
// finishes those that failed.
func (e *Engine) applyPending(m *manifest.Manifest) {
	var failed []*task
	var failErrs []error
	e.mu.Lock()
	for i := range m.Items {
		it := m.Items[i]
		t, ok := e.pending[it.Key()]
		if !ok {
			continue
		}
		switch it.EffectiveStatus() {
		case manifest.ItemReady:
			if it.URL == "" {
				continue
			}
			delete(e.pending, t.key)
			e.updateItemLocked(t, it)
			e.queue = append(e.queue, t)
			e.cond.Signal()
		case manifest.ItemFailed:
			delete(e.pending, t.key)
			ie := it.Error
			if ie == nil {
				ie = &manifest.ItemError{Code: "failed", Detail: "the server reports the item as failed"}
			}
			failed = append(failed, t)
			failErrs = append(failErrs, fmt.Errorf("item failed on the server: %w", ie))
		}
	}
	if m.Status == manifest.StatusFailed {
		for _, t := range e.pending {
			delete(e.pending, t.key)
			failed = append(failed, t)
			failErrs = append(failErrs, errors.New("the export failed before this item was ready"))
		}
	}
	e.cond.Broadcast()
	e.mu.Unlock()
	for i, t := range failed {
		e.finish(t, failErrs[i])
	}
}

func (e *Engine) failPending(err error) {
	e.mu.Lock()
	var ts []*task
	for k, t := range e.pending {
		delete(e.pending, k)
		ts = append(ts, t)
	}
	e.cond.Broadcast()
	e.mu.Unlock()
	for _, t := range ts {
		e.finish(t, err)
	}
}

func (e *Engine) wakeWorkers() {
	e.mu.Lock()
	e.cond.Broadcast()
	e.mu.Unlock()
}
