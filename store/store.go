// Package store owns haul's metadata: tenants and API keys, assets and
// renditions, the rendition job queue, exports, grants, the audit log, the
// webhook outbox, idempotency keys, rate-limit buckets and leases. It holds
// the domain types, the Store interface and the error codes, and imports
// nothing else of haul. Implementations: store/sqlite (embedded default)
// and store/postgres (scale-out); store/storetest is the contract suite
// both pass.
//
// Conventions every backend follows:
//   - Every object belongs to a tenant; methods taking a tenantID never
//     return or change another tenant's object (ENOTFOUND instead).
//   - Zero time.Time means "not set" and is stored as NULL. Times come back
//     in UTC, truncated to the microsecond.
//   - Create methods fill an empty ID with NewID and zero CreatedAt /
//     UpdatedAt with the store's clock; methods that compare against time
//     take now from the caller, so tests control it.
//   - Lists are ordered by ID (IDs sort by creation time) and paged with
//     Page; the returned cursor is "" after the last page.
package store

import "context"

// Tx is every data operation. Store runs each call in its own transaction;
// inside WithTx the calls share one, so a state change and the events it
// causes commit together.
type Tx interface {
	TenantStore
	KeyStore
	SettingStore
	AssetStore
	RenditionStore
	JobStore
	ExportStore
	GrantStore
	EventStore
	WebhookStore
	IdempotencyStore
	CoordStore
}

// Store is a metadata store.
type Store interface {
	Tx
	// WithTx runs fn in one read-write transaction, committed when fn
	// returns nil and rolled back otherwise (fn's error is returned as is).
	// A backend may run fn again after a serialization conflict, so fn must
	// have no effects outside tx. Do not call Store methods inside fn: use
	// tx, or the calls deadlock (SQLite has one writer).
	WithTx(ctx context.Context, fn func(tx Tx) error) error
	// WithRowLockTx is WithTx for functions whose changes are conditional
	// single-row updates (RedeemGrant) and appends (AppendEvent): they are
	// correct at READ COMMITTED, where concurrent callers wait for the row
	// lock instead of failing serialization and retrying. Backends without
	// isolation levels (SQLite, one writer) run it as WithTx.
	WithRowLockTx(ctx context.Context, fn func(tx Tx) error) error
	// Ready reports whether the store answers queries.
	Ready(ctx context.Context) error
	// Close releases the store's connections.
	Close() error
}

// ChangeToken identifies the committed state of a store: see Changes.
type ChangeToken [48]byte

// Changes is implemented by stores that can tell cheaply whether anything
// has been committed since an earlier moment, by any process. Callers may
// keep what they read for as long as the token they took before reading is
// still the current one. ok is false when no token can be taken right now;
// callers must then read the store.
type Changes interface {
	ChangeToken() (tok ChangeToken, ok bool)
}
