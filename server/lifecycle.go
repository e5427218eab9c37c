package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/haulhq/haul/blob"
	"github.com/haulhq/haul/store"
)

// LifecycleLease names the lease that keeps the lifecycle worker to one
// replica at a time.
const LifecycleLease = "lifecycle"

// LifecycleOptions configure the lifecycle worker.
type LifecycleOptions struct {
	// Store and Blobs are what the worker tidies (required).
	Store store.Store
	Blobs blob.Store
	// Logger receives a line per pass that changed something.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Interval is the time between passes (default 1 min).
	Interval time.Duration
	// PurgeAfter is the grace period between soft delete and removal of
	// the bytes (default 7 days).
	PurgeAfter time.Duration
	// BlobGrace spares blobs younger than this from garbage collection:
	// an upload stores its blob before the asset names it (default 1 h).
	BlobGrace time.Duration
	// Owner names this replica in the lease; random when empty.
	Owner string
	// Batch caps the objects handled per step and pass (default 500).
	Batch int
	// GCInterval is the time between blob garbage collections, which list
	// the whole blob store (default 1 h); the other steps run every pass.
	GCInterval time.Duration
}

// Lifecycle is the background worker of SPEC "Lifecycle": it expires
// grants, soft-deletes assets past retention, purges the bytes of assets
// deleted longer ago than the grace period (never those on legal hold),
// and removes blobs nothing references, recording each in the audit log.
type Lifecycle struct {
	o      LifecycleOptions
	lastGC time.Time // of Run's passes; only Run's goroutine uses it
}

// LifecycleReport counts what one pass did.
type LifecycleReport struct {
	GrantsExpired  int
	AssetsDeleted  int
	AssetsPurged   int
	BlobsCollected int
}

// NewLifecycle returns a worker with defaults filled in.
func NewLifecycle(o LifecycleOptions) *Lifecycle {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.PurgeAfter <= 0 {
		o.PurgeAfter = 7 * 24 * time.Hour
	}
	if o.BlobGrace <= 0 {
		o.BlobGrace = time.Hour
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.GCInterval <= 0 {
		o.GCInterval = time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Owner == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		o.Owner = "lifecycle-" + hex.EncodeToString(b)
	}
	return &Lifecycle{o: o}
}

// Run makes a pass every Interval while this replica holds the lifecycle
// lease, until ctx ends; then it gives the lease up.
func (l *Lifecycle) Run(ctx context.Context) error {
	ttl := max(3*l.o.Interval, 30*time.Second)
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = l.o.Store.ReleaseLease(rctx, LifecycleLease, l.o.Owner)
	}()
	t := time.NewTicker(l.o.Interval)
	defer t.Stop()
	for {
		held, err := l.o.Store.AcquireLease(ctx, LifecycleLease, l.o.Owner, ttl, l.o.Now())
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			l.o.Logger.Warn("lifecycle: lease", "err", err)
		case held:
			gc := l.o.Now().Sub(l.lastGC) >= l.o.GCInterval
			if gc {
				l.lastGC = l.o.Now()
			}
			rep, err := l.pass(ctx, gc)
			if err != nil && ctx.Err() == nil {
				l.o.Logger.Warn("lifecycle pass failed", "err", err)
			}
			if rep != (LifecycleReport{}) {
				l.o.Logger.Info("lifecycle pass", "grants_expired", rep.GrantsExpired, "assets_deleted", rep.AssetsDeleted,
					"assets_purged", rep.AssetsPurged, "blobs_collected", rep.BlobsCollected)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunOnce makes one pass, blob collection included, regardless of the
// lease (tests, admin tools). Each step runs even when an earlier one
// failed; the errors are joined.
func (l *Lifecycle) RunOnce(ctx context.Context) (LifecycleReport, error) {
	return l.pass(ctx, true)
}

func (l *Lifecycle) pass(ctx context.Context, gc bool) (LifecycleReport, error) {
	var rep LifecycleReport
	var errs []error
	var err error
	if rep.GrantsExpired, err = l.expireGrants(ctx); err != nil {
		errs = append(errs, err)
	}
	if rep.AssetsDeleted, err = l.deleteRetained(ctx); err != nil {
		errs = append(errs, err)
	}
	if rep.AssetsPurged, err = l.purgeDeleted(ctx); err != nil {
		errs = append(errs, err)
	}
	if gc {
		if rep.BlobsCollected, err = l.collectBlobs(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return rep, errors.Join(errs...)
}

// expireGrants marks active grants past their expiry expired, with a
// grant.expired event each, in one transaction per batch.
func (l *Lifecycle) expireGrants(ctx context.Context) (int, error) {
	total := 0
	for {
		now := l.o.Now()
		var n int
		err := l.o.Store.WithTx(ctx, func(tx store.Tx) error {
			gs, err := tx.ExpireGrants(ctx, now, l.o.Batch)
			if err != nil {
				return err
			}
			n = len(gs)
			for _, g := range gs {
				if err := appendEvent(ctx, tx, g.TenantID, store.EventGrantExpired, grantEvent{grantJSON: viewGrant(g, now)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("expire grants: %w", err)
		}
		total += n
		if n < l.o.Batch || ctx.Err() != nil {
			return total, nil
		}
	}
}

// retentionEvent is the data of an asset.deleted event the worker emits.
type retentionEvent struct {
	assetJSON
	Reason string `json:"reason"`
}

// deleteRetained soft-deletes assets whose retention ended.
func (l *Lifecycle) deleteRetained(ctx context.Context) (int, error) {
	now := l.o.Now()
	as, err := l.o.Store.ListRetentionDue(ctx, now, l.o.Batch)
	if err != nil {
		return 0, fmt.Errorf("list assets past retention: %w", err)
	}
	n := 0
	for _, a := range as {
		err := l.o.Store.WithTx(ctx, func(tx store.Tx) error {
			a, err := tx.UpdateAsset(ctx, a.TenantID, a.ID, now, func(a *store.Asset) error {
				if a.State == store.AssetDeleted || a.LegalHold || a.RetentionExpiresAt.IsZero() || a.RetentionExpiresAt.After(now) {
					return errAlreadyDeleted // changed since listed: leave it
				}
				a.State, a.DeletedAt = store.AssetDeleted, now.UTC()
				a.StateReason = "retention ended " + a.RetentionExpiresAt.UTC().Format(time.RFC3339)
				return nil
			})
			if err != nil {
				return err
			}
			return appendEvent(ctx, tx, a.TenantID, store.EventAssetDeleted, retentionEvent{viewAsset(a, ""), "retention_expired"})
		})
		if errors.Is(err, errAlreadyDeleted) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("delete asset %s past retention: %w", a.ID, err)
		}
		n++
	}
	return n, nil
}

// purgeRecord is the data of an asset.purged audit entry: what was removed.
type purgeRecord struct {
	AssetID    string          `json:"asset_id"`
	Filename   string          `json:"filename"`
	Checksum   string          `json:"checksum,omitempty"`
	Size       int64           `json:"size"`
	DeletedAt  time.Time       `json:"deleted_at"`
	Renditions []purgedVariant `json:"renditions"`
}

type purgedVariant struct {
	Format   string `json:"format"`
	Checksum string `json:"checksum"`
	Size     int64  `json:"size"`
}

// purgeDeleted removes renditions and bytes of assets deleted longer ago
// than PurgeAfter and not on legal hold. The store forgets the references
// first; a blob is deleted only when nothing else (another asset with the
// same content) still references it, and a crash in between leaves an
// orphan for collectBlobs.
func (l *Lifecycle) purgeDeleted(ctx context.Context) (int, error) {
	now := l.o.Now()
	as, err := l.o.Store.ListPurgeDue(ctx, now.Add(-l.o.PurgeAfter), l.o.Batch)
	if err != nil {
		return 0, fmt.Errorf("list assets to purge: %w", err)
	}
	n := 0
	for _, a := range as {
		rends, err := l.o.Store.ListRenditions(ctx, a.TenantID, a.ID)
		if err != nil {
			return n, fmt.Errorf("list renditions of %s: %w", a.ID, err)
		}
		rec := purgeRecord{AssetID: a.ID, Filename: a.Filename, Checksum: a.Checksum, Size: a.Size, DeletedAt: a.DeletedAt.UTC(), Renditions: []purgedVariant{}}
		keys := []string{a.BlobKey}
		for _, r := range rends {
			rec.Renditions = append(rec.Renditions, purgedVariant{Format: r.Format, Checksum: r.Checksum, Size: r.Size})
			keys = append(keys, r.BlobKey)
		}
		err = l.o.Store.WithTx(ctx, func(tx store.Tx) error {
			for _, r := range rends {
				if err := tx.DeleteRendition(ctx, a.TenantID, r.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			if _, err := tx.UpdateAsset(ctx, a.TenantID, a.ID, now, func(a *store.Asset) error {
				if a.LegalHold || a.State != store.AssetDeleted || !a.PurgedAt.IsZero() {
					return errAlreadyDeleted
				}
				a.PurgedAt = now.UTC()
				return nil
			}); err != nil {
				return err
			}
			raw, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			return tx.AppendEvent(ctx, &store.Event{TenantID: a.TenantID, Type: EventAssetPurged, Data: raw})
		})
		if errors.Is(err, errAlreadyDeleted) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("purge asset %s: %w", a.ID, err)
		}
		for _, k := range keys {
			if err := l.deleteIfUnreferenced(ctx, k); err != nil {
				l.o.Logger.Warn("lifecycle: delete blob", "asset", a.ID, "err", err)
			}
		}
		n++
	}
	return n, nil
}

func (l *Lifecycle) deleteIfUnreferenced(ctx context.Context, key string) error {
	if key == "" {
		return nil
	}
	used, err := l.o.Store.BlobReferenced(ctx, key)
	if err != nil || used {
		return err
	}
	return l.o.Blobs.Delete(ctx, key)
}

// collectBlobs deletes blobs older than BlobGrace that no asset or
// rendition references (orphans of failed uploads, interrupted purges).
func (l *Lifecycle) collectBlobs(ctx context.Context) (int, error) {
	if l.o.Blobs == nil {
		return 0, nil
	}
	cutoff := l.o.Now().Add(-l.o.BlobGrace)
	var orphans []blob.Info
	err := l.o.Blobs.List(ctx, func(in blob.Info) error {
		if in.ModTime.After(cutoff) {
			return nil
		}
		used, err := l.o.Store.BlobReferenced(ctx, in.Key)
		if err != nil {
			return err
		}
		if !used {
			orphans = append(orphans, in)
		}
		if len(orphans) >= l.o.Batch {
			return errBatchFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errBatchFull) {
		return 0, fmt.Errorf("list blobs: %w", err)
	}
	n := 0
	for _, in := range orphans {
		// Check again: an upload may have named the blob meanwhile.
		if used, err := l.o.Store.BlobReferenced(ctx, in.Key); err != nil || used {
			continue
		}
		if err := l.o.Blobs.Delete(ctx, in.Key); err != nil {
			return n, fmt.Errorf("delete blob %s: %w", in.Key, err)
		}
		l.o.Logger.Info("lifecycle: removed unreferenced blob", "key", in.Key, "size", in.Size)
		n++
	}
	return n, nil
}

var errBatchFull = errors.New("batch full")
