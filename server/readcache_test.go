package server

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/haulhq/haul/store"
	"github.com/haulhq/haul/store/sqlite"
)

// TestReadCacheSeesOtherProcesses: API keys and assets the signing path
// keeps in memory are dropped as soon as anything is committed to the
// store, also through another handle on the same database file (as `haul
// admin key revoke` or another replica would): a revoked key is refused
// and changed rights are applied by the very next request.
func TestReadCacheSeesOtherProcesses(t *testing.T) {
	e := newEnv(t)
	if _, ok := e.st.(store.Changes); !ok {
		t.Fatal("the SQLite store does not implement store.Changes")
	}
	ctx := context.Background()
	other, err := sqlite.Open(ctx, filepath.Join(e.dir, "haul.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	key := e.newKey("acme", store.ScopeWrite, store.ScopeExport)
	a := e.upload(key, map[string]any{"filename": "c.txt"}, []byte("cached"))
	id := a["id"].(string)
	sign := func() *response { return e.do("POST", "/v1/assets/"+id+"/downloads", key, map[string]any{}) }
	for range 3 { // warm the caches
		e.want(sign(), http.StatusOK)
	}

	tn, err := other.GetTenantByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.UpdateAsset(ctx, tn.ID, id, e.clock.now(), func(a *store.Asset) error {
		a.Rights.Downloadable = false
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.want(sign(), http.StatusForbidden, CodeRightsDenied)
	if _, err := other.UpdateAsset(ctx, tn.ID, id, e.clock.now(), func(a *store.Asset) error {
		a.Rights.Downloadable = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.want(sign(), http.StatusOK)

	keys, err := other.ListAPIKeys(ctx, tn.ID)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	if _, err := other.RevokeAPIKey(ctx, tn.ID, keys[0].ID, e.clock.now()); err != nil {
		t.Fatal(err)
	}
	e.want(sign(), http.StatusUnauthorized, CodeUnauthorized)
}
