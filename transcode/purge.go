package transcode

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/haulhq/haul/store"
)

// purgeBatch is how many renditions one purge pass reads at a time.
const purgeBatch = 100

// PurgeUnused deletes renditions not used for Config.RenditionTTL (and
// their bytes, unless something else uses the same blob). Renditions are
// derived data: the next request rebuilds them. Originals are never
// touched. It returns how many renditions were purged.
func (s *Service) PurgeUnused(ctx context.Context) (int, error) {
	if s.cfg.RenditionTTL <= 0 {
		return 0, nil
	}
	before := s.now().Add(-s.cfg.RenditionTTL)
	n := 0
	for {
		rs, err := s.store.ListRenditionsUnusedSince(ctx, before, purgeBatch)
		if err != nil {
			return n, fmt.Errorf("list unused renditions: %w", err)
		}
		for _, r := range rs {
			if err := s.purge(ctx, r); err != nil {
				return n, err
			}
			n++
		}
		if len(rs) < purgeBatch {
			return n, nil
		}
	}
}

// PurgeForSpace deletes the least recently used renditions while the disk
// holding Config.TempDir has less than Config.MinFreeBytes free, and
// returns how many it purged. It stops when no rendition is left.
func (s *Service) PurgeForSpace(ctx context.Context) (int, error) {
	if s.cfg.MinFreeBytes <= 0 {
		return 0, nil
	}
	n := 0
	for round := 0; round < 1000; round++ {
		free, ok := freeBytes(s.cfg.TempDir)
		if !ok || free >= s.cfg.MinFreeBytes {
			return n, nil
		}
		// Oldest use first; renditions in use right now are the last to go.
		rs, err := s.store.ListRenditionsUnusedSince(ctx, s.now().Add(time.Second), 10)
		if err != nil {
			return n, fmt.Errorf("list renditions: %w", err)
		}
		if len(rs) == 0 {
			s.log.Warn("disk nearly full and no rendition left to purge", "free_bytes", free, "min_free_bytes", s.cfg.MinFreeBytes)
			return n, nil
		}
		for _, r := range rs {
			if err := s.purge(ctx, r); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// purge deletes one rendition and its bytes unless something else uses them.
func (s *Service) purge(ctx context.Context, r *store.Rendition) error {
	if err := s.store.DeleteRendition(ctx, r.TenantID, r.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("purge rendition %s: %w", r.ID, err)
	}
	used, err := s.store.BlobReferenced(ctx, r.BlobKey)
	if err != nil {
		return fmt.Errorf("purge rendition %s: %w", r.ID, err)
	}
	if !used {
		if err := s.blobs.Delete(ctx, r.BlobKey); err != nil {
			return fmt.Errorf("purge rendition %s bytes: %w", r.ID, err)
		}
	}
	s.log.Info("rendition purged", "rendition", r.ID, "asset", r.AssetID, "format", r.Format, "last_used", r.LastUsedAt)
	return nil
}

// purgeLoop runs PurgeUnused and PurgeForSpace now and then until ctx ends.
func (s *Service) purgeLoop(ctx context.Context) {
	every := time.Minute
	if s.cfg.RenditionTTL > 0 {
		every = min(max(s.cfg.RenditionTTL/24, time.Minute), time.Hour)
	}
	if s.cfg.MinFreeBytes > 0 {
		every = time.Minute
	}
	wait := 10 * time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if n, err := s.PurgeUnused(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("purge unused renditions", "err", err)
		} else if n > 0 {
			s.log.Info("purged unused renditions", "count", n)
		}
		if n, err := s.PurgeForSpace(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("purge renditions for disk space", "err", err)
		} else if n > 0 {
			s.log.Info("purged renditions for disk space", "count", n)
		}
		wait = every
	}
}
