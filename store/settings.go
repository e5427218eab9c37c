package store

import (
	"context"
	"time"
)

// SigningKey is one URL-signing secret. The newest one signs; older ones
// are still accepted until their ExpiresAt, so URLs issued just before a
// rotation keep working for a grace period.
type SigningKey struct {
	// ID is "sig_…"; signed URLs may name it so verification picks the key
	// without trying each.
	ID     string
	Secret []byte
	// CreatedAt orders keys: the newest is the current one.
	CreatedAt time.Time
	// ExpiresAt is zero for the current key, and for a retired key the end
	// of its grace period.
	ExpiresAt time.Time
}

// SettingStore keeps small server-wide values shared by all replicas.
type SettingStore interface {
	// GetSetting returns the value stored under name; ENOTFOUND when absent.
	GetSetting(ctx context.Context, name string) ([]byte, error)
	// PutSetting stores value under name, replacing any previous value.
	PutSetting(ctx context.Context, name string, value []byte) error
	// PutSettingIfAbsent stores value under name unless a value is there
	// already; it returns the value now stored and whether it was this one.
	// Replicas bootstrapping together agree on one value with it.
	PutSettingIfAbsent(ctx context.Context, name string, value []byte) (stored []byte, created bool, err error)

	// SigningKeys returns the keys valid at now: the current key first, then
	// retired keys still in their grace period, newest first. Empty when
	// none was ever made.
	SigningKeys(ctx context.Context, now time.Time) ([]SigningKey, error)
	// EnsureSigningKey makes secret the current key if there is no key at
	// all, and returns the current key either way (the bootstrap step;
	// concurrent callers agree on one key).
	EnsureSigningKey(ctx context.Context, secret []byte, now time.Time) (SigningKey, error)
	// RotateSigningKey makes secret the current key; the previous current
	// key stays valid until now+grace. Keys whose grace ended are dropped.
	RotateSigningKey(ctx context.Context, secret []byte, grace time.Duration, now time.Time) (SigningKey, error)
}

// RateResult is the outcome of one TakeToken call.
type RateResult struct {
	// Allowed is true when the request may proceed.
	Allowed bool
	// Limit is the quota per window (the q of RateLimit-Policy).
	Limit int
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// Reset is how long until the quota is whole again (the t of RateLimit).
	Reset time.Duration
	// RetryAfter is how long until one request is allowed; zero if Allowed.
	RetryAfter time.Duration
}

// CoordStore holds what replicas coordinate through: leases for singleton
// duties and shared rate-limit buckets.
type CoordStore interface {
	// AcquireLease takes or renews the named lease for owner until now+ttl.
	// It returns true when owner holds the lease afterwards: it was free,
	// expired, or already owner's.
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration, now time.Time) (bool, error)
	// ReleaseLease gives the lease up if owner holds it.
	ReleaseLease(ctx context.Context, name, owner string) error

	// TakeToken counts one request against the bucket key, which allows
	// limit requests per window with bursts up to limit (GCRA, the
	// token-bucket equivalent). A denied request is not counted.
	TakeToken(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (RateResult, error)
}
