package main

import (
	"context"
	"fmt"
	"time"

	"github.com/haulhq/haul/client"
)

// The tenant and key commands of `haul admin` through the server's API
// (POST/GET /v1/tenants, POST/GET /v1/keys, DELETE /v1/keys/{id}), for when
// there is no store at hand: the server runs elsewhere, or on PostgreSQL
// whose URL the operator does not have. Output is the same as on the store.

func apiAdminTenantCreate(ctx context.Context, app *App, opts adminOptions, name string) error {
	c, err := opts.API()
	if err != nil {
		return err
	}
	t, err := c.CreateTenant(ctx, client.CreateTenantRequest{Name: name})
	if client.IsConflict(err) {
		return fmt.Errorf("tenant %q exists already", name)
	}
	if err != nil {
		return apiFailure(fmt.Errorf("create tenant: %w", err), "")
	}
	if opts.JSON {
		return printJSON(app, tenantFromAPI(*t))
	}
	fmt.Fprintf(app.IO.Out, "created tenant %s (%s)\n", t.Name, t.ID)
	return nil
}

func apiAdminTenantList(ctx context.Context, opts adminOptions) ([]tenantOut, error) {
	c, err := opts.API()
	if err != nil {
		return nil, err
	}
	out := []tenantOut{}
	for t, err := range c.ListTenants(ctx, client.ListOptions{}) {
		if err != nil {
			return nil, apiFailure(fmt.Errorf("list tenants: %w", err), "")
		}
		out = append(out, tenantFromAPI(t))
	}
	return out, nil
}

func apiAdminKeyCreate(ctx context.Context, app *App, opts adminOptions, tenant, name string, scopes []string) error {
	c, err := opts.API()
	if err != nil {
		return err
	}
	k, err := c.CreateKey(ctx, client.CreateKeyRequest{Tenant: tenant, Name: name, Scopes: scopes})
	if err != nil {
		return apiFailure(fmt.Errorf("create key for tenant %s: %w", tenant, err), "")
	}
	return printNewKey(app, opts, keyFromAPI(*k), tenant)
}

func apiAdminKeyList(ctx context.Context, opts adminOptions, tenant string) ([]keyOut, error) {
	c, err := opts.API()
	if err != nil {
		return nil, err
	}
	out := []keyOut{}
	for k, err := range c.ListKeys(ctx, client.KeyListOptions{Tenant: tenant}) {
		if err != nil {
			return nil, apiFailure(fmt.Errorf("list keys of tenant %s: %w", tenant, err), "")
		}
		out = append(out, keyFromAPI(k))
	}
	return out, nil
}

func apiAdminKeyRevoke(ctx context.Context, app *App, opts adminOptions, tenant, id string) error {
	c, err := opts.API()
	if err != nil {
		return err
	}
	if err := c.RevokeKey(ctx, id, tenant); err != nil {
		return apiFailure(fmt.Errorf("revoke key %s: %w", id, err), "")
	}
	if opts.JSON {
		// The revoked key, as the store path prints it.
		for k, err := range c.ListKeys(ctx, client.KeyListOptions{Tenant: tenant}) {
			if err != nil {
				return apiFailure(fmt.Errorf("list keys of tenant %s: %w", tenant, err), "")
			}
			if k.ID == id {
				return printJSON(app, keyFromAPI(k))
			}
		}
		return fmt.Errorf("revoked key %s is not listed for tenant %s", id, tenant)
	}
	fmt.Fprintf(app.IO.Out, "revoked key %s of tenant %s\n", id, tenant)
	return nil
}

func tenantFromAPI(t client.Tenant) tenantOut {
	return tenantOut{ID: t.ID, Name: t.Name, CreatedAt: derefTime(t.CreatedAt)}
}

func keyFromAPI(k client.APIKey) keyOut {
	return keyOut{ID: k.ID, TenantID: k.TenantID, Name: k.Name, Scopes: k.Scopes, Prefix: k.Prefix, Key: k.Key,
		CreatedAt: derefTime(k.CreatedAt), LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
