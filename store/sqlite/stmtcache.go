package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"sync"
)

// maxCachedStmts bounds a stmtCache; the store's fixed queries fit well
// within it.
const maxCachedStmts = 256

// stmtCache keeps prepared statements of the read pool by query text, so
// hot queries are parsed once per connection instead of on every call
// (SQLite's parser dominated the profile of a plain GetAsset). Queries whose
// text varies with the input (IN lists) are not cached. Writes do not use
// it: preparing on the one writer connection while a transaction holds it
// would deadlock, and their cost is the commit anyway.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: make(map[string]*sql.Stmt)}
}

// get returns the cached statement for query, preparing it on first use;
// nil when the query is not to be cached or cannot be prepared (the caller
// then runs it unprepared and gets the error there).
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if strings.Contains(query, "IN (") {
		return nil
	}
	c.mu.Lock()
	s, ok := c.m[query]
	c.mu.Unlock()
	if ok {
		return s
	}
	s, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		s.Close()
		return prev
	}
	if len(c.m) >= maxCachedStmts {
		s.Close()
		return nil
	}
	c.m[query] = s
	return s
}

// close closes every cached statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.m {
		s.Close()
		delete(c.m, q)
	}
}

// poolQuerier runs queries on a pool through the cache.
type poolQuerier struct{ c *stmtCache }

func (p poolQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := p.c.get(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return p.c.db.ExecContext(ctx, query, args...)
}

func (p poolQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := p.c.get(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return p.c.db.QueryContext(ctx, query, args...)
}

func (p poolQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := p.c.get(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.c.db.QueryRowContext(ctx, query, args...)
}
