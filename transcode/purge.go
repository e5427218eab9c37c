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
			if err := s.store.DeleteRendition(ctx, r.TenantID, r.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return n, fmt.Errorf("purge rendition %s: %w", r.ID, err)
			}
			n++
			used, err := s.store.BlobReferenced(ctx, r.BlobKey)
			if err != nil {
				return n, fmt.Errorf("purge rendition %s: %w", r.ID, err)
			}
			if !used {
				if err := s.blobs.Delete(ctx, r.BlobKey); err != nil {
					return n, fmt.Errorf("purge rendition %s bytes: %w", r.ID, err)
				}
			}
			s.log.Info("rendition purged", "rendition", r.ID, "asset", r.AssetID, "format", r.Format, "last_used", r.LastUsedAt)
		}
		if len(rs) < purgeBatch {
			return n, nil
		}
	}
}

// purgeLoop runs PurgeUnused now and then until ctx ends.
func (s *Service) purgeLoop(ctx context.Context) {
	every := min(max(s.cfg.RenditionTTL/24, time.Minute), time.Hour)
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
		wait = every
	}
}
