package client

import (
	"context"
	"iter"
	"net/url"
	"time"
)

// Tenant is an isolated namespace of assets, keys and everything else.
type Tenant struct {
	// ID is the tenant id.
	ID string `json:"id"`
	// Name is the tenant's unique name ("default" for the first one).
	Name string `json:"name"`
	// CreatedAt is when it was created.
	CreatedAt *time.Time `json:"created_at,omitempty"`
}

// CreateTenantRequest is the body of POST /v1/tenants.
type CreateTenantRequest struct {
	// Name is the tenant's unique name.
	Name string `json:"name"`
}

// APIKey is an API key's metadata; the secret itself is only returned when
// the key is created.
type APIKey struct {
	// ID is the key id.
	ID string `json:"id"`
	// TenantID is the id of the tenant the key belongs to.
	TenantID string `json:"tenant_id,omitempty"`
	// Name labels the key.
	Name string `json:"name,omitempty"`
	// Scopes are admin, write, export, read.
	Scopes []string `json:"scopes"`
	// Key is the secret, shown once at creation.
	Key string `json:"key,omitempty"`
	// Prefix is a short public part of the key, to recognise it.
	Prefix string `json:"prefix,omitempty"`
	// CreatedAt, LastUsedAt and RevokedAt are the key's milestones.
	CreatedAt  *time.Time `json:"created_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// CreateKeyRequest is the body of POST /v1/keys.
type CreateKeyRequest struct {
	// Tenant is the tenant's name or id; the caller's tenant when empty.
	Tenant string `json:"tenant,omitempty"`
	// Name labels the key.
	Name string `json:"name,omitempty"`
	// Scopes to grant (admin, write, export, read).
	Scopes []string `json:"scopes"`
}

// KeyListOptions filter GET /v1/keys.
type KeyListOptions struct {
	ListOptions
	// Tenant keeps the keys of one tenant.
	Tenant string
}

// CreateTenant creates a tenant (admin scope).
func (c *Client) CreateTenant(ctx context.Context, req CreateTenantRequest, opts ...CallOption) (*Tenant, error) {
	var t Tenant
	if _, err := c.call(ctx, &request{method: "POST", path: "/v1/tenants", body: req, call: applyOptions(opts)}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ListTenants iterates over the tenants (admin scope).
func (c *Client) ListTenants(ctx context.Context, opts ListOptions) iter.Seq2[Tenant, error] {
	return listAll[Tenant](ctx, c, "/v1/tenants", opts.values())
}

// CreateKey makes an API key (admin scope); the returned Key is shown once.
func (c *Client) CreateKey(ctx context.Context, req CreateKeyRequest, opts ...CallOption) (*APIKey, error) {
	var k APIKey
	if _, err := c.call(ctx, &request{method: "POST", path: "/v1/keys", body: req, call: applyOptions(opts)}, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// ListKeys iterates over API keys (admin scope).
func (c *Client) ListKeys(ctx context.Context, opts KeyListOptions) iter.Seq2[APIKey, error] {
	q := opts.values()
	if opts.Tenant != "" {
		q.Set("tenant", opts.Tenant)
	}
	return listAll[APIKey](ctx, c, "/v1/keys", q)
}

// RevokeKey revokes an API key (admin scope). tenant names the key's
// tenant (name or id); the caller's own tenant when empty.
func (c *Client) RevokeKey(ctx context.Context, id, tenant string) error {
	q := url.Values{}
	if tenant != "" {
		q.Set("tenant", tenant)
	}
	_, err := c.call(ctx, &request{method: "DELETE", path: "/v1/keys/" + url.PathEscape(id), query: q}, nil)
	return err
}
