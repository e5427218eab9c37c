package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/haulhq/haul/store"
)

// TestChangeToken: the token stays put across reads and changes with every
// commit, including commits made through another handle on the same file
// (as haul admin or another replica would).
func TestChangeToken(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "haul.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	tok := func() store.ChangeToken {
		t.Helper()
		tk, ok := db.ChangeToken()
		if !ok {
			t.Fatal("ChangeToken: not ok")
		}
		return tk
	}
	tn := &store.Tenant{Name: "acme"}
	if err := db.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	t0 := tok()
	if _, err := db.GetTenant(ctx, tn.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := other.ListTenants(ctx); err != nil {
		t.Fatal(err)
	}
	if t1 := tok(); t1 != t0 {
		t.Fatal("token changed without a commit")
	}
	_, k, err := newKey(tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	t2 := tok()
	if t2 == t0 {
		t.Fatal("token unchanged after another handle's commit")
	}
	if _, err := other.RevokeAPIKey(ctx, tn.ID, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if t3 := tok(); t3 == t2 {
		t.Fatal("token unchanged after a revocation by another handle")
	}
	db.Close()
	if _, ok := db.ChangeToken(); ok {
		t.Fatal("token after Close")
	}
}

func newKey(tenantID string) (string, *store.APIKey, error) {
	return "secret", &store.APIKey{TenantID: tenantID, Name: "k", Scopes: []string{store.ScopeRead}, Hash: "h-" + tenantID, Prefix: "haul_x"}, nil
}
