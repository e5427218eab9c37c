package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haulhq/haul/internal/e2e"
)

// runCLI runs the haul binary in dir with HAUL_SERVER/HAUL_TOKEN set (as a
// tester's shell would have them) and stdin, and returns stdout, stderr
// and the exit code.
func runCLI(t *testing.T, dir, server, token, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e2e.Binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(e2e.Env(t), "HAUL_SERVER="+server, "HAUL_TOKEN="+token)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	code := 0
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("run haul %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errOut.String(), code
}

// TestSpecCLIBlackBox pins SPEC section 4 statements the third audit
// found broken, with the real binary and a real server, as a tester's shell
// sees them (HAUL_SERVER and HAUL_TOKEN exported, a scratch directory as
// the working directory).
func TestSpecCLIBlackBox(t *testing.T) {
	srv := e2e.StartServer(t)
	admin := srv.AdminKey
	work := t.TempDir()

	// `haul admin tenant create` / `haul admin key create --tenant T
	// --scopes …` reach the running server (through its API), not a new
	// store in ./haul-data.
	if out, errOut, code := runCLI(t, work, srv.URL, admin, "", "admin", "tenant", "create", "acme"); code != 0 {
		t.Fatalf("admin tenant create: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := runCLI(t, work, srv.URL, admin, "", "admin", "key", "create", "--tenant", "acme", "--scopes", "write,export")
	key := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(key, "haul_") {
		t.Fatalf("admin key create: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(work, "haul-data")); !os.IsNotExist(err) {
		t.Fatalf("haul admin made ./haul-data although a server is configured (stat: %v)", err)
	}
	do(t, srv, "GET", "/v1/assets", key, nil).status(200)

	// Upload as acme; --json prints the API object with every SPEC field.
	file := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(file, []byte("hello, acme\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLI(t, work, srv.URL, key, "", "upload", "--wait", "--json", file)
	var asset map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &asset) != nil {
		t.Fatalf("upload --json: exit %d\n%s%s", code, out, errOut)
	}
	id, _ := asset["id"].(string)
	for _, k := range []string{"id", "state", "size", "checksum", "content_type", "media", "created_at", "tags", "rights", "legal_hold", "retention_expires_at"} {
		if _, ok := asset[k]; !ok {
			t.Errorf("haul upload --json lacks %q: %s", k, out)
		}
	}
	out, _, _ = runCLI(t, work, srv.URL, key, "", "assets", "show", id, "--json")
	var shown map[string]any
	if json.Unmarshal([]byte(out), &shown) != nil || len(shown) != len(asset) {
		t.Errorf("haul assets show --json differs in members from the API object:\n%s", out)
	}

	// PATCH rights is a merge: one member changes, the others stay.
	do(t, srv, "PATCH", "/v1/assets/"+id, key, `{"rights":{"downloadable":false}}`).status(200)
	r := do(t, srv, "PATCH", "/v1/assets/"+id, key, `{"rights":{"redistribution":"partner"}}`).status(200).obj()["rights"].(map[string]any)
	if r["downloadable"] != false || r["redistribution"] != "partner" {
		t.Fatalf("rights after two partial PATCHes: %v", r)
	}
	do(t, srv, "POST", "/v1/assets/"+id+"/downloads", key, `{"format":"original"}`).status(403, "rights_denied")
	do(t, srv, "PATCH", "/v1/assets/"+id, key, `{"rights":{"downloadable":true}}`).status(200)

	// --expires-in takes whole seconds, like the API's expires_in.
	out, errOut, code = runCLI(t, work, srv.URL, key, "", "grant", "create", id, "--expires-in", "3600", "--json")
	var grant map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &grant) != nil {
		t.Fatalf("grant create --expires-in 3600: exit %d\n%s%s", code, out, errOut)
	}
	if exp, err := time.Parse(time.RFC3339, grant["access_expires_at"].(string)); err != nil || time.Until(exp) < 55*time.Minute || time.Until(exp) > 65*time.Minute {
		t.Errorf("access_expires_at %v, want about an hour from now", grant["access_expires_at"])
	}

	// haul fetch URL, then haul verify URL (and -) against the same manifest.
	exp := do(t, srv, "POST", "/v1/exports", key, `{"format":"original","items":[{"asset_id":"`+id+`"}]}`).status(202).obj()
	manifestURL, _ := exp["manifest_url"].(string)
	dir := filepath.Join(work, "out")
	if out, errOut, code := runCLI(t, work, srv.URL, key, "", "fetch", manifestURL+"?wait=10s", "-o", dir, "--no-progress"); code != 0 {
		t.Fatalf("fetch: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, work, srv.URL, key, "", "verify", manifestURL, "--dir", dir); code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("verify URL: exit %d\n%s%s", code, out, errOut)
	}
	m := do(t, srv, "GET", strings.TrimPrefix(manifestURL, srv.URL), key, nil).status(200)
	names, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	if len(names) != 1 {
		t.Fatalf("fetched files: %v", names)
	}
	if err := os.WriteFile(names[0], []byte("tampered!!!\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _, code := runCLI(t, work, srv.URL, key, string(m.body), "verify", "-", "--dir", dir); code != 3 || !strings.Contains(out, "MISMATCH") {
		t.Errorf("verify - after tampering: exit %d, want 3\n%s", code, out)
	}
}
