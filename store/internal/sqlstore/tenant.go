package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/haulhq/haul/store"
)

// CreateTenant stores a tenant.
func (t *Tx) CreateTenant(ctx context.Context, tn *store.Tenant) error {
	if tn.Name == "" {
		return store.Errorf(store.EINVALID, "tenant name is required")
	}
	if tn.ID == "" {
		tn.ID = store.NewID(store.PrefixTenant)
	}
	if tn.CreatedAt.IsZero() {
		tn.CreatedAt = t.now()
	}
	tn.CreatedAt = tm(tn.CreatedAt)
	_, err := t.q.ExecContext(ctx, "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)", tn.ID, tn.Name, ts(tn.CreatedAt))
	if t.d.IsUnique(err) {
		return store.Errorf(store.ECONFLICT, "tenant %q exists", tn.Name)
	}
	return t.dbErr("create tenant", err)
}

func (t *Tx) getTenant(ctx context.Context, where string, arg any) (*store.Tenant, error) {
	var tn store.Tenant
	err := t.q.QueryRowContext(ctx, "SELECT id, name, created_at FROM tenants WHERE "+where, arg).
		Scan(&tn.ID, &tn.Name, timeCol{&tn.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("tenant", arg.(string))
	}
	if err != nil {
		return nil, t.dbErr("get tenant", err)
	}
	return &tn, nil
}

// GetTenant returns a tenant by ID.
func (t *Tx) GetTenant(ctx context.Context, id string) (*store.Tenant, error) {
	return t.getTenant(ctx, "id = ?", id)
}

// GetTenantByName returns a tenant by name.
func (t *Tx) GetTenantByName(ctx context.Context, name string) (*store.Tenant, error) {
	return t.getTenant(ctx, "name = ?", name)
}

// ListTenants returns all tenants, oldest first.
func (t *Tx) ListTenants(ctx context.Context) ([]*store.Tenant, error) {
	rows, err := t.q.QueryContext(ctx, "SELECT id, name, created_at FROM tenants ORDER BY id")
	if err != nil {
		return nil, t.dbErr("list tenants", err)
	}
	defer rows.Close()
	var out []*store.Tenant
	for rows.Next() {
		var tn store.Tenant
		if err := rows.Scan(&tn.ID, &tn.Name, timeCol{&tn.CreatedAt}); err != nil {
			return nil, t.dbErr("list tenants", err)
		}
		out = append(out, &tn)
	}
	return out, t.dbErr("list tenants", rows.Err())
}

// tenantExists returns ENOTFOUND unless the tenant exists.
func (t *Tx) tenantExists(ctx context.Context, id string) error {
	var n int
	if err := t.q.QueryRowContext(ctx, "SELECT count(*) FROM tenants WHERE id = ?", id).Scan(&n); err != nil {
		return t.dbErr("check tenant", err)
	}
	if n == 0 {
		return notFound("tenant", id)
	}
	return nil
}

const keyCols = "id, tenant_id, name, scopes, hash, prefix, created_at, last_used_at, revoked_at"

func scanKey(s interface{ Scan(...any) error }) (*store.APIKey, error) {
	var k store.APIKey
	err := s.Scan(&k.ID, &k.TenantID, &k.Name, jsonCol{&k.Scopes}, &k.Hash, &k.Prefix,
		timeCol{&k.CreatedAt}, timeCol{&k.LastUsedAt}, timeCol{&k.RevokedAt})
	return &k, err
}

// CreateAPIKey stores a key.
func (t *Tx) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	if k.Hash == "" {
		return store.Errorf(store.EINVALID, "key hash is required")
	}
	for _, s := range k.Scopes {
		if !store.ValidScope(s) {
			return store.Errorf(store.EINVALID, "unknown scope %q", s)
		}
	}
	if err := t.tenantExists(ctx, k.TenantID); err != nil {
		return err
	}
	if k.ID == "" {
		k.ID = store.NewID(store.PrefixAPIKey)
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = t.now()
	}
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = tm(k.CreatedAt), tm(k.LastUsedAt), tm(k.RevokedAt)
	k.Scopes = strs(k.Scopes)
	scopes, err := jsonVal(k.Scopes)
	if err != nil {
		return err
	}
	_, err = t.q.ExecContext(ctx, "INSERT INTO api_keys ("+keyCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		k.ID, k.TenantID, k.Name, scopes, k.Hash, k.Prefix, ts(k.CreatedAt), ts(k.LastUsedAt), ts(k.RevokedAt))
	if t.d.IsUnique(err) {
		return store.Errorf(store.ECONFLICT, "key exists")
	}
	return t.dbErr("create key", err)
}

// GetAPIKeyByHash finds a key by its secret's hash.
func (t *Tx) GetAPIKeyByHash(ctx context.Context, hash string) (*store.APIKey, error) {
	k, err := scanKey(t.q.QueryRowContext(ctx, "SELECT "+keyCols+" FROM api_keys WHERE hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "key not found")
	}
	return k, t.dbErr("get key", err)
}

// ListAPIKeys returns a tenant's keys.
func (t *Tx) ListAPIKeys(ctx context.Context, tenantID string) ([]*store.APIKey, error) {
	rows, err := t.q.QueryContext(ctx, "SELECT "+keyCols+" FROM api_keys WHERE tenant_id = ? ORDER BY id", tenantID)
	if err != nil {
		return nil, t.dbErr("list keys", err)
	}
	defer rows.Close()
	var out []*store.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, t.dbErr("list keys", err)
		}
		out = append(out, k)
	}
	return out, t.dbErr("list keys", rows.Err())
}

// RevokeAPIKey marks a key revoked.
func (t *Tx) RevokeAPIKey(ctx context.Context, tenantID, id string, now time.Time) (*store.APIKey, error) {
	if _, err := t.q.ExecContext(ctx, "UPDATE api_keys SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL",
		ts(tm(now)), tenantID, id); err != nil {
		return nil, t.dbErr("revoke key", err)
	}
	k, err := scanKey(t.q.QueryRowContext(ctx, "SELECT "+keyCols+" FROM api_keys WHERE tenant_id = ? AND id = ?", tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("key", id)
	}
	return k, t.dbErr("revoke key", err)
}

// TouchAPIKey records a use.
func (t *Tx) TouchAPIKey(ctx context.Context, id string, now time.Time) error {
	_, err := t.q.ExecContext(ctx, "UPDATE api_keys SET last_used_at = ? WHERE id = ?", ts(tm(now)), id)
	return t.dbErr("touch key", err)
}
