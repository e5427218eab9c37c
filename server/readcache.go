package server

import (
	"context"
	"sync"
	"time"

	"github.com/haulhq/haul/store"
)

// readCache keeps values read from the store (API keys by hash, assets for
// POST …/downloads) for as long as the store reports that nothing has been
// committed since they were read (store.Changes: for SQLite, the WAL-index
// header every committing connection of every process updates), and never
// longer than ttl. A revocation or change made by any process, this one,
// `haul admin` or another replica, is therefore seen by the next request,
// exactly as without the cache. Stores without store.Changes get no cache.
type readCache[V any] struct {
	changes store.Changes
	ttl     time.Duration
	max     int

	mu sync.Mutex
	m  map[string]readEntry[V]
}

type readEntry[V any] struct {
	v   V
	tok store.ChangeToken
	at  time.Time
}

func newReadCache[V any](st store.Store, ttl time.Duration, max int) *readCache[V] {
	c := &readCache[V]{ttl: ttl, max: max, m: map[string]readEntry[V]{}}
	c.changes, _ = st.(store.Changes)
	return c
}

// token returns the store's current change token; ok is false when the
// cache must not be used (no support, or no token right now).
func (c *readCache[V]) token() (store.ChangeToken, bool) {
	if c == nil || c.changes == nil {
		return store.ChangeToken{}, false
	}
	return c.changes.ChangeToken()
}

// requestToken is the change token of the request in ctx, taken once per
// request (the first lookup takes it; later ones reuse it, so a request
// reads a consistent view as of that moment).
func (s *Server) requestToken(ctx context.Context) (store.ChangeToken, bool) {
	ri := info(ctx)
	if !ri.tokTaken {
		ri.tok, ri.tokOK = s.keyReads.token()
		ri.tokTaken = true
	}
	return ri.tok, ri.tokOK
}

// get returns the value stored under key if it was read under tok and is
// younger than ttl.
func (c *readCache[V]) get(key string, tok store.ChangeToken, now time.Time) (V, bool) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if !ok || e.tok != tok || now.Sub(e.at) >= c.ttl || now.Before(e.at) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put stores v, read after tok was taken.
func (c *readCache[V]) put(key string, v V, tok store.ChangeToken, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[key] = readEntry[V]{v: v, tok: tok, at: now}
}
