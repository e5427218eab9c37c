package store

import (
	"context"
	"time"
)

// IdempotencyState is where a request with an Idempotency-Key is.
type IdempotencyState string

// Idempotency states.
const (
	IdempotencyInFlight IdempotencyState = "in_flight"
	IdempotencyDone     IdempotencyState = "done"
)

// IdempotencyRecord remembers a POST made with an Idempotency-Key, so a
// retry gets the stored response.
type IdempotencyRecord struct {
	TenantID string
	Key      string
	// Fingerprint identifies the request (method, path, body hash); a retry
	// with another fingerprint is a misuse of the key.
	Fingerprint string
	State       IdempotencyState
	// The stored response, set by CompleteIdempotency.
	ResponseStatus  int
	ResponseHeaders map[string][]string
	ResponseBody    []byte
	CreatedAt       time.Time
	UpdatedAt       time.Time
	// ExpiresAt is when the key may be forgotten (at least 24 h on).
	ExpiresAt time.Time
}

// IdempotencyStore keeps idempotency keys.
type IdempotencyStore interface {
	// BeginIdempotency inserts rec as in flight (CreatedAt and UpdatedAt are
	// the current time) unless the tenant has the key already, atomically.
	// When it has, it returns the stored record and created=false; an
	// expired record, or an in-flight one not updated for staleAfter (its
	// server died), is replaced by rec and created=true.
	BeginIdempotency(ctx context.Context, rec *IdempotencyRecord, staleAfter time.Duration) (existing *IdempotencyRecord, created bool, err error)
	// CompleteIdempotency stores the response and marks the key done.
	// ENOTFOUND when the key is absent.
	CompleteIdempotency(ctx context.Context, tenantID, key string, status int, headers map[string][]string, body []byte, now time.Time) error
	// DeleteIdempotency forgets a key (the request failed in a way a retry
	// should redo).
	DeleteIdempotency(ctx context.Context, tenantID, key string) error
	// ExpireIdempotency deletes keys whose ExpiresAt is at or before now and
	// returns how many.
	ExpireIdempotency(ctx context.Context, now time.Time) (int, error)
}
