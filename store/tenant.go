package store

import (
	"context"
	"slices"
	"time"
)

// Tenant is an isolated customer: every other object belongs to one.
type Tenant struct {
	// ID is "ten_…".
	ID string
	// Name is unique, e.g. "default".
	Name      string
	CreatedAt time.Time
}

// API key scopes. ScopeAdmin implies every other scope.
const (
	ScopeAdmin  = "admin"
	ScopeWrite  = "write"
	ScopeExport = "export"
	ScopeRead   = "read"
)

// ValidScope reports whether s is a known scope.
func ValidScope(s string) bool {
	switch s {
	case ScopeAdmin, ScopeWrite, ScopeExport, ScopeRead:
		return true
	}
	return false
}

// APIKey is a bearer credential of one tenant. Only a hash of the secret
// is stored; the secret itself is shown once when the key is made.
type APIKey struct {
	// ID is "key_…".
	ID       string
	TenantID string
	// Name is a label chosen by the admin.
	Name string
	// Scopes are some of ScopeAdmin, ScopeWrite, ScopeExport, ScopeRead.
	Scopes []string
	// Hash identifies the secret (the server's choice, e.g. hex sha256);
	// unique across all tenants.
	Hash string
	// Prefix is the first characters of the secret, shown in listings.
	Prefix     string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: active
}

// HasScope reports whether the key grants scope (admin grants all).
func (k *APIKey) HasScope(scope string) bool {
	return slices.Contains(k.Scopes, ScopeAdmin) || slices.Contains(k.Scopes, scope)
}

// Revoked reports whether the key was revoked.
func (k *APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// TenantStore keeps tenants.
type TenantStore interface {
	// CreateTenant stores t, filling ID and CreatedAt when empty.
	// ECONFLICT when the name is taken.
	CreateTenant(ctx context.Context, t *Tenant) error
	// GetTenant returns a tenant by ID; ENOTFOUND when absent.
	GetTenant(ctx context.Context, id string) (*Tenant, error)
	// GetTenantByName returns a tenant by name; ENOTFOUND when absent.
	GetTenantByName(ctx context.Context, name string) (*Tenant, error)
	// ListTenants returns every tenant, oldest first.
	ListTenants(ctx context.Context) ([]*Tenant, error)
}

// KeyStore keeps API keys.
type KeyStore interface {
	// CreateAPIKey stores k, filling ID and CreatedAt when empty. The tenant
	// must exist (ENOTFOUND otherwise); ECONFLICT when the hash is taken.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// GetAPIKeyByHash finds a key by the hash of its secret, across all
	// tenants, revoked or not (callers check Revoked); ENOTFOUND when absent.
	GetAPIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
	// ListAPIKeys returns a tenant's keys, oldest first, revoked included.
	ListAPIKeys(ctx context.Context, tenantID string) ([]*APIKey, error)
	// RevokeAPIKey marks a key revoked at now (idempotent: a revoked key
	// keeps its first RevokedAt); ENOTFOUND when not the tenant's.
	RevokeAPIKey(ctx context.Context, tenantID, id string, now time.Time) (*APIKey, error)
	// TouchAPIKey records a use of the key. Callers may throttle it.
	TouchAPIKey(ctx context.Context, id string, now time.Time) error
}
