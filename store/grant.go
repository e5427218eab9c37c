package store

import (
	"context"
	"time"
)

// GrantPolicy decides how many times and how long a grant can be used.
type GrantPolicy string

// Grant policies.
const (
	// GrantOneTime allows one download.
	GrantOneTime GrantPolicy = "one_time"
	// GrantLimited allows MaxDownloads downloads.
	GrantLimited GrantPolicy = "limited"
	// GrantRenewable allows MaxDownloads downloads (0: unlimited) and its
	// expiry can be extended.
	GrantRenewable GrantPolicy = "renewable"
)

// GrantStatus is where a grant is.
type GrantStatus string

// Grant statuses.
const (
	GrantActive   GrantStatus = "active"
	GrantConsumed GrantStatus = "consumed"
	GrantExpired  GrantStatus = "expired"
	GrantRevoked  GrantStatus = "revoked"
)

// Grant is access to one asset through a secret token, separate from the
// file: it can be limited, expired and revoked.
type Grant struct {
	// ID is "grt_…".
	ID       string
	TenantID string
	AssetID  string
	Policy   GrantPolicy
	// MaxDownloads is 1 for one_time; 0 means unlimited (renewable only).
	MaxDownloads  int
	DownloadsUsed int
	// TokenHash identifies the token (the token itself is never stored);
	// unique across all tenants.
	TokenHash       string
	AccessExpiresAt time.Time
	// Format is the format downloads use ("" : original).
	Format    string
	Recipient string
	// Status as stored; use EffectiveStatus to account for time.
	Status         GrantStatus
	CreatedAt      time.Time
	UpdatedAt      time.Time
	LastAccessedAt time.Time
	RevokedAt      time.Time
}

// EffectiveStatus is Status, with an active grant past its expiry reported
// as expired even before the lifecycle worker records it.
func (g *Grant) EffectiveStatus(now time.Time) GrantStatus {
	if g.Status == GrantActive && !now.Before(g.AccessExpiresAt) {
		return GrantExpired
	}
	return g.Status
}

// Remaining returns the downloads left, or -1 when unlimited.
func (g *Grant) Remaining() int {
	if g.MaxDownloads <= 0 {
		return -1
	}
	return max(g.MaxDownloads-g.DownloadsUsed, 0)
}

// GrantFilter narrows ListGrants.
type GrantFilter struct {
	// AssetID, when set, keeps grants of this asset.
	AssetID string
	Page
}

// GrantStore keeps grants.
type GrantStore interface {
	// CreateGrant stores g, filling ID, Status (active) and times; MaxDownloads
	// is forced to 1 for one_time. The tenant's asset must exist (ENOTFOUND);
	// ECONFLICT when the token hash is taken.
	CreateGrant(ctx context.Context, g *Grant) error
	// GetGrant returns one of the tenant's grants; ENOTFOUND otherwise.
	GetGrant(ctx context.Context, tenantID, id string) (*Grant, error)
	// GetGrantByTokenHash finds a grant by token hash across tenants (the
	// public /g/ side); ENOTFOUND when absent.
	GetGrantByTokenHash(ctx context.Context, tokenHash string) (*Grant, error)
	// ListGrants returns one page of the tenant's grants.
	ListGrants(ctx context.Context, tenantID string, f GrantFilter) ([]*Grant, string, error)
	// RedeemGrant counts one download of the grant with the token hash, in
	// one atomic step: of concurrent redemptions of a one-time grant exactly
	// one succeeds. When the last download is used the grant becomes
	// consumed. It returns the grant after the change. When the grant cannot
	// be redeemed it returns the grant as it is and EGRANTCONSUMED,
	// EGRANTEXPIRED (past AccessExpiresAt at now, whatever the stored
	// status) or EGRANTREVOKED; ENOTFOUND (and a nil grant) for an unknown
	// token.
	RedeemGrant(ctx context.Context, tokenHash string, now time.Time) (*Grant, error)
	// RevokeGrant revokes a grant; changed is false when it was revoked
	// already. An active grant's status becomes revoked. A consumed or
	// expired grant (also an active one past AccessExpiresAt) keeps its
	// status, and only RevokedAt is set: signed URLs issued through it stop
	// working too, and it can no longer be renewed.
	RevokeGrant(ctx context.Context, tenantID, id string, now time.Time) (g *Grant, changed bool, err error)
	// RenewGrant moves a renewable grant's expiry to expiresAt and makes an
	// expired one active again. ECONFLICT when the grant is not renewable,
	// is revoked or consumed.
	RenewGrant(ctx context.Context, tenantID, id string, expiresAt, now time.Time) (*Grant, error)
	// ExpireGrants marks up to limit active grants of any tenant whose
	// expiry is at or before now as expired and returns them (for the
	// grant.expired events).
	ExpireGrants(ctx context.Context, now time.Time, limit int) ([]*Grant, error)
}
