package transcode

import (
	"context"
	"errors"
	"fmt"

	"github.com/haulhq/haul/store"
)

// backfillSetting records that uploads were scanned while ffmpeg was
// missing, so their media is unknown: "needed" until a server with ffmpeg
// has probed them ("done").
const backfillSetting = "transcode.media_backfill"

// markBackfill notes that an upload went unprobed.
func (s *Service) markBackfill(ctx context.Context) {
	if err := s.store.PutSetting(ctx, backfillSetting, []byte("needed")); err != nil {
		s.log.WarnContext(ctx, "note unprobed upload", "err", err)
	}
}

// Backfill probes the available assets that have no media because they
// were uploaded while ffmpeg was missing, so media formats apply to them
// once it is installed. It runs only when such uploads were noted, and
// returns how many assets got media.
func (s *Service) Backfill(ctx context.Context) (int, error) {
	if s.available != nil {
		return 0, nil
	}
	v, err := s.store.GetSetting(ctx, backfillSetting)
	if errors.Is(err, store.ErrNotFound) || (err == nil && string(v) != "needed") {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("backfill media: %w", err)
	}
	tenants, err := s.store.ListTenants(ctx)
	if err != nil {
		return 0, fmt.Errorf("backfill media: %w", err)
	}
	n := 0
	for _, t := range tenants {
		page := store.Page{Limit: store.MaxPageLimit}
		for {
			assets, next, err := s.store.ListAssets(ctx, t.ID, store.AssetFilter{States: []store.AssetState{store.AssetAvailable}, Page: page})
			if err != nil {
				return n, fmt.Errorf("backfill media: %w", err)
			}
			for _, a := range assets {
				if len(a.Media) > 0 || a.BlobKey == "" {
					continue
				}
				ok, err := s.backfillAsset(ctx, a)
				if err != nil {
					return n, err
				}
				if ok {
					n++
				}
			}
			if next == "" {
				break
			}
			page.After = next
		}
	}
	if err := s.store.PutSetting(ctx, backfillSetting, []byte("done")); err != nil {
		return n, fmt.Errorf("backfill media: %w", err)
	}
	return n, nil
}

// backfillAsset probes one asset and stores its media; false for non-media.
func (s *Service) backfillAsset(ctx context.Context, a *store.Asset) (bool, error) {
	obj, err := s.blobs.Open(ctx, a.BlobKey)
	if err != nil {
		s.log.WarnContext(ctx, "backfill media: open content", "asset", a.ID, "err", err)
		return false, nil
	}
	media, err := s.Probe(ctx, a, obj)
	obj.Close()
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		s.log.WarnContext(ctx, "backfill media: probe", "asset", a.ID, "err", err)
		return false, nil
	}
	if media == nil {
		return false, nil
	}
	_, err = s.store.UpdateAsset(ctx, a.TenantID, a.ID, s.now(), func(a *store.Asset) error {
		if len(a.Media) == 0 {
			a.Media = media
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("backfill media of %s: %w", a.ID, err)
	}
	return true, nil
}
