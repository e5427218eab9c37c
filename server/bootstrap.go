package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/haulhq/haul/store"
)

// DefaultTenant is the tenant made on first start.
const DefaultTenant = "default"

// bootstrapSetting marks a store whose first admin key was made.
const bootstrapSetting = "bootstrap.admin_key"

// Bootstrap prepares an empty store: tenant "default" and an admin key
// written to dataDir/admin.key (mode 0600, the key alone on one line). It
// returns the new key, or "" when the store was bootstrapped before (by
// this or another replica). Replicas starting together agree through the
// store: only the one that claims the bootstrap writes a key.
func Bootstrap(ctx context.Context, st store.Store, dataDir string) (string, error) {
	if _, err := st.GetSetting(ctx, bootstrapSetting); err == nil {
		return "", nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("read bootstrap state: %w", err)
	}
	t, err := st.GetTenantByName(ctx, DefaultTenant)
	if errors.Is(err, store.ErrNotFound) {
		t = &store.Tenant{Name: DefaultTenant}
		if err = st.CreateTenant(ctx, t); errors.Is(err, store.ErrConflict) {
			t, err = st.GetTenantByName(ctx, DefaultTenant)
		}
	}
	if err != nil {
		return "", fmt.Errorf("create tenant %q: %w", DefaultTenant, err)
	}
	secret, k, err := NewAPIKey(t.ID, "bootstrap admin", []string{store.ScopeAdmin})
	if err != nil {
		return "", err
	}
	_, created, err := st.PutSettingIfAbsent(ctx, bootstrapSetting, []byte(k.Hash))
	if err != nil {
		return "", fmt.Errorf("claim bootstrap: %w", err)
	}
	if !created {
		return "", nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dataDir, "admin.key")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := st.CreateAPIKey(ctx, k); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("store admin key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return secret, nil
}
