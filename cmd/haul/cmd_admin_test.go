package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminThroughAPI: SPEC §4 `haul admin tenant create`, `haul admin key
// create --tenant T --scopes …`. Where no store is at hand (no --data, no
// --db, nothing in ./haul-data) and a server is configured, the commands go
// through the server's API; they no longer create a fresh store in
// ./haul-data whose tenants and keys the configured server never sees.
func TestAdminThroughAPI(t *testing.T) {
	url, dataDir, admin := realServer(t)
	work := t.TempDir()
	t.Chdir(work)
	env := map[string]string{"HAUL_SERVER": url, "HAUL_TOKEN": admin}

	code, out, errOut := runIn(t, env, "admin", "tenant", "create", "acme")
	if code != 0 || !strings.Contains(out, "created tenant acme") {
		t.Fatalf("tenant create: exit %d, out %q, err %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(work, "haul-data")); !os.IsNotExist(err) {
		t.Fatalf("admin through the API made ./haul-data (stat: %v)", err)
	}
	if code, _, _ := runIn(t, env, "admin", "tenant", "create", "acme"); code != 1 {
		t.Errorf("duplicate tenant: exit %d, want 1", code)
	}
	code, out, _ = runIn(t, env, "admin", "tenant", "list", "--json")
	var tenants []tenantOut
	if code != 0 || json.Unmarshal([]byte(out), &tenants) != nil || len(tenants) != 2 {
		t.Fatalf("tenant list: exit %d, out %q", code, out)
	}

	code, out, errOut = runIn(t, env, "admin", "key", "create", "--tenant", "acme", "--scopes", "read,export")
	key := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(key, "haul_") || strings.Contains(key, "\n") || !strings.Contains(errOut, "shown only once") {
		t.Fatalf("key create: exit %d, out %q, err %q", code, out, errOut)
	}
	// The new key works on the server, in tenant acme.
	code, out, errOut = runIn(t, map[string]string{"HAUL_SERVER": url, "HAUL_TOKEN": key}, "assets", "list", "--json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("assets list with the new key: exit %d, out %q, err %q", code, out, errOut)
	}
	// A key without the admin scope is refused (exit 4).
	if code, _, errOut := runIn(t, map[string]string{"HAUL_SERVER": url, "HAUL_TOKEN": key}, "admin", "tenant", "create", "other"); code != 4 {
		t.Errorf("tenant create with a read key: exit %d, want 4 (%s)", code, errOut)
	}

	code, out, _ = runIn(t, env, "admin", "key", "list", "--tenant", "acme", "--json")
	var keys []keyOut
	if code != 0 || json.Unmarshal([]byte(out), &keys) != nil || len(keys) != 1 || keys[0].RevokedAt != nil {
		t.Fatalf("key list: exit %d, out %q", code, out)
	}
	if code, _, errOut := runIn(t, env, "admin", "key", "revoke", keys[0].ID, "--tenant", "acme"); code != 0 {
		t.Fatalf("key revoke: exit %d: %s", code, errOut)
	}
	if code, _, _ := runIn(t, map[string]string{"HAUL_SERVER": url, "HAUL_TOKEN": key}, "assets", "list"); code != 4 {
		t.Errorf("revoked key still accepted: exit %d", code)
	}

	// --data still works on the store directly, while the server runs.
	code, out, errOut = runIn(t, env, "admin", "tenant", "list", "--data", dataDir)
	if code != 0 || !strings.Contains(out, "acme") {
		t.Errorf("tenant list --data: exit %d, out %q, err %q", code, out, errOut)
	}
	// Neither a store nor a server: the store is made in ./haul-data (for a
	// server started there later), with a notice on stderr.
	code, out, errOut = runIn(t, nil, "admin", "tenant", "create", "early")
	if code != 0 || !strings.Contains(out, "created tenant early") || !strings.Contains(errOut, "creating one") {
		t.Errorf("no store, no server: exit %d, out %q, err %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(work, "haul-data", "haul.db")); err != nil {
		t.Errorf("no store made in ./haul-data: %v", err)
	}
	// Now that ./haul-data holds a store, it is used even with a server set.
	code, out, _ = runIn(t, env, "admin", "tenant", "list")
	if code != 0 || !strings.Contains(out, "early") || strings.Contains(out, "acme") {
		t.Errorf("tenant list with ./haul-data present: exit %d, out %q", code, out)
	}
	// signing-key rotate works on a store only.
	if err := os.RemoveAll(filepath.Join(work, "haul-data")); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runIn(t, env, "admin", "signing-key", "rotate"); code != 2 || !strings.Contains(errOut, "--data") {
		t.Errorf("signing-key rotate without a store: exit %d, err %q", code, errOut)
	}
}
