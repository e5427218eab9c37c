package server

import (
	"sync"
	"time"

	"github.com/haulhq/haul/store"
)

// assetCache keeps available assets for the delivery path for a second,
// so a burst of range requests does not hit the store for each one. Only
// available assets are cached; local deletes forget their entry at once,
// and a change made by another replica shows within the TTL.
type assetCache struct {
	ttl time.Duration
	max int

	mu sync.Mutex
	m  map[assetKey]cachedAsset
}

// assetKey is a tenant's asset (a struct, not a joined string: no
// allocation per lookup).
type assetKey struct{ tenantID, id string }

type cachedAsset struct {
	a  *store.Asset
	at time.Time
}

func newAssetCache(ttl time.Duration, max int) *assetCache {
	return &assetCache{ttl: ttl, max: max, m: map[assetKey]cachedAsset{}}
}

func (c *assetCache) get(tenantID, id string, now time.Time) *store.Asset {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[assetKey{tenantID, id}]
	if !ok || now.Sub(e.at) >= c.ttl || now.Before(e.at) {
		return nil
	}
	return e.a
}

func (c *assetCache) put(a *store.Asset, now time.Time) {
	if a.State != store.AssetAvailable {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[assetKey{a.TenantID, a.ID}] = cachedAsset{a: a, at: now}
}

func (c *assetCache) forget(tenantID, id string) {
	c.mu.Lock()
	delete(c.m, assetKey{tenantID, id})
	c.mu.Unlock()
}
