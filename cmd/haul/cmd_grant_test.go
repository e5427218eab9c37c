package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	blobfs "github.com/haulhq/haul/blob/fs"
	"github.com/haulhq/haul/client"
	"github.com/haulhq/haul/server"
	"github.com/haulhq/haul/store/sqlite"
	"github.com/haulhq/haul/webhook"
)

// grantAPI is a real in-process haul server for the grant, webhook and
// events commands.
type grantAPI struct {
	t   *testing.T
	url string
	key string
	db  *sqlite.DB
}

func startGrantAPI(t *testing.T) *grantAPI {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "haul.db"))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blobfs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := server.Bootstrap(ctx, db, dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.NewServer(ctx, server.Deps{Store: db, Blobs: blobs, Logger: slog.New(slog.DiscardHandler),
		Config: server.Config{Webhooks: server.WebhookConfig{AllowPrivate: true}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); srv.Close(); blobs.Close(); db.Close() })
	return &grantAPI{t: t, url: ts.URL, key: key, db: db}
}

// haul runs the command line against the server and returns stdout,
// stderr and the exit code.
func (g *grantAPI) haul(args ...string) (string, string, int) {
	g.t.Helper()
	ios, out, errOut := testIO()
	env := map[string]string{"HAUL_SERVER": g.url, "HAUL_TOKEN": g.key, "XDG_CONFIG_HOME": g.t.TempDir()}
	code := run(context.Background(), args, func(k string) string { return env[k] }, ios)
	return out.String(), errOut.String(), code
}

// upload makes an available asset through the SDK.
func (g *grantAPI) upload(name, content string) string {
	g.t.Helper()
	c, err := client.New(client.Options{BaseURL: g.url, Token: g.key})
	if err != nil {
		g.t.Fatal(err)
	}
	path := filepath.Join(g.t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		g.t.Fatal(err)
	}
	a, err := c.Upload(context.Background(), path, client.CreateAssetRequest{Filename: name}, client.UploadOptions{})
	if err != nil {
		g.t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, err := c.GetAsset(context.Background(), a.ID)
		if err != nil {
			g.t.Fatal(err)
		}
		if got.State == client.AssetAvailable {
			return a.ID
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("asset %s stuck in %s", a.ID, got.State)
		}
	}
}

var grantLinkRE = regexp.MustCompile(`Link:\s+(\S+/g/[A-Za-z0-9_-]{43})`)

func TestGrantCommands(t *testing.T) {
	api := startGrantAPI(t)
	asset := api.upload("contract.pdf", "signed contract")

	out, errOut, code := api.haul("grant", "create", asset, "--expires-in", "2d", "--recipient", "Acme legal")
	if code != 0 {
		t.Fatalf("grant create: exit %d: %s", code, errOut)
	}
	m := grantLinkRE.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "one-time") || !strings.Contains(out, "Acme legal") || !strings.Contains(errOut, "only once") {
		t.Fatalf("grant create output:\n%s\n%s", out, errOut)
	}
	link := m[1]
	id := regexp.MustCompile(`grt_[0-9A-Z]{26}`).FindString(out)

	// The printed link works once.
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "signed contract" {
		t.Fatalf("link: %d %q", resp.StatusCode, body)
	}

	out, _, code = api.haul("grant", "list", "--asset", asset)
	if code != 0 || !strings.Contains(out, id) || !regexp.MustCompile(`one-time\s+consumed\s+0`).MatchString(out) {
		t.Fatalf("grant list (%d):\n%s", code, out)
	}
	out, _, code = api.haul("grant", "show", id, "--json")
	var g client.Grant
	if code != 0 || json.Unmarshal([]byte(out), &g) != nil || g.Status != "consumed" || g.Recipient != "Acme legal" {
		t.Fatalf("grant show --json (%d): %s", code, out)
	}
	if _, errOut, code := api.haul("grant", "renew", id, "--expires-in", "1h"); code != exitError || !strings.Contains(errOut, "renewable") {
		t.Fatalf("renew one-time: exit %d: %s", code, errOut)
	}

	out, _, code = api.haul("grant", "create", asset, "--policy", "renewable", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &g) != nil || g.Token == "" || g.URL != "/g/"+g.Token {
		t.Fatalf("grant create --json (%d): %s", code, out)
	}
	out, _, code = api.haul("grant", "renew", g.ID, "--expires-in", "30d")
	if code != 0 || !strings.Contains(out, "active") || !strings.Contains(out, "unlimited") {
		t.Fatalf("grant renew (%d):\n%s", code, out)
	}
	out, _, code = api.haul("grant", "revoke", g.ID)
	if code != 0 || strings.TrimSpace(out) != "revoked "+g.ID {
		t.Fatalf("grant revoke (%d): %q", code, out)
	}

	// Usage errors exit 2 before any request.
	for _, args := range [][]string{
		{"grant", "create", asset, "--policy", "forever"},
		{"grant", "create", asset, "--policy", "limited"},
		{"grant", "create", asset, "--expires-in", "soon"},
		{"grant", "create", asset, "--expires-in", "1h", "--expires-at", "2030-01-01T00:00:00Z"},
	} {
		if _, _, code := api.haul(args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
	if _, _, code := api.haul("grant", "revoke", "grt_nope", id); code != exitPartial {
		t.Errorf("revoke with one unknown id: exit %d, want %d", code, exitPartial)
	}
}

func TestWebhookAndEventsCommands(t *testing.T) {
	api := startGrantAPI(t)
	var got [][]byte
	var hdrs []http.Header
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, hdrs = append(got, b), append(hdrs, r.Header.Clone())
	}))
	defer rcv.Close()

	out, errOut, code := api.haul("webhook", "add", rcv.URL+"/hook", "--events", "grant.created,grant.revoked")
	if code != 0 {
		t.Fatalf("webhook add: %d %s", code, errOut)
	}
	secret := regexp.MustCompile(`whsec_[A-Za-z0-9+/=]+`).FindString(out)
	hookID := regexp.MustCompile(`whk_[0-9A-Z]{26}`).FindString(out)
	if secret == "" || hookID == "" || !strings.Contains(errOut, "haul webhook listen --secret") {
		t.Fatalf("webhook add output:\n%s\n%s", out, errOut)
	}
	if _, errOut, code := api.haul("webhook", "add", "ftp://example.com/", "--events", "*"); code != exitUsage {
		t.Fatalf("ftp webhook: exit %d %s", code, errOut)
	}

	asset := api.upload("a.txt", "abc")
	if _, errOut, code := api.haul("grant", "create", asset); code != 0 {
		t.Fatal(errOut)
	}
	d := server.NewWebhookDispatcher(api.db, webhook.Options{Client: webhook.NewClient(webhook.ClientOptions{AllowPrivate: true})})
	if n, err := d.RunOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("dispatch: %d %v", n, err)
	}
	signer, _ := webhook.NewSigner(secret)
	if len(got) != 1 {
		t.Fatalf("receiver got %d webhooks", len(got))
	}
	if _, _, err := signer.Verify(hdrs[0], got[0], time.Now()); err != nil || !bytes.Contains(got[0], []byte(`"type":"grant.created"`)) {
		t.Fatalf("webhook %s: %v", got[0], err)
	}

	out, _, code = api.haul("webhook", "list")
	if code != 0 || !strings.Contains(out, hookID) || !strings.Contains(out, "enabled") || !strings.Contains(out, "grant.created,grant.revoked") {
		t.Fatalf("webhook list (%d):\n%s", code, out)
	}
	out, _, code = api.haul("webhook", "deliveries", hookID)
	if code != 0 || !strings.Contains(out, "grant.created") || !regexp.MustCompile(`\b1\s+200\s+\S+\s+ok`).MatchString(out) {
		t.Fatalf("webhook deliveries (%d):\n%s", code, out)
	}
	out, _, code = api.haul("webhook", "replay", hookID, "--since", "1h")
	if code != 0 || !strings.Contains(out, "queued 1 events") {
		t.Fatalf("webhook replay (%d): %s", code, out)
	}
	if _, _, code := api.haul("webhook", "replay", hookID); code != exitUsage {
		t.Fatalf("replay without --since: exit %d", code)
	}
	if _, err := d.RunOnce(context.Background()); err != nil || len(got) != 2 || hdrs[1].Get(webhook.HeaderID) != hdrs[0].Get(webhook.HeaderID) {
		t.Fatalf("replay: %d webhooks, ids %q %q, err %v", len(got), hdrs[0].Get(webhook.HeaderID), hdrs[len(hdrs)-1].Get(webhook.HeaderID), err)
	}

	out, _, code = api.haul("events")
	for _, want := range []string{"asset.created", "asset.available", "grant.created"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("events (%d) lack %s:\n%s", code, want, out)
		}
	}
	out, _, code = api.haul("events", "--type", "grant.created", "--json")
	var evs []client.Event
	if code != 0 || json.Unmarshal([]byte(out), &evs) != nil || len(evs) != 1 || evs[0].ID != hdrs[0].Get(webhook.HeaderID) || evs[0].Timestamp.IsZero() {
		t.Fatalf("events --json (%d): %s", code, out)
	}
	// --after the last event: nothing more.
	_, errOut, code = api.haul("events", "--type", "grant.created", "--after", evs[0].ID)
	if code != 0 || !strings.Contains(errOut, "no events") {
		t.Fatalf("events --after (%d): %s", code, errOut)
	}

	out, _, code = api.haul("webhook", "rm", hookID)
	if code != 0 || strings.TrimSpace(out) != "removed "+hookID {
		t.Fatalf("webhook rm (%d): %s", code, out)
	}
	if _, _, code := api.haul("webhook", "rm", hookID); code != exitError {
		t.Fatalf("rm again: exit %d", code)
	}
}

func TestEventsFollow(t *testing.T) {
	api := startGrantAPI(t)
	api.upload("a.txt", "abc")
	ios, out, _ := testIO()
	c, err := client.New(client.Options{BaseURL: api.url, Token: api.key})
	if err != nil {
		t.Fatal(err)
	}
	opts := &eventsOptions{apiOptions: apiOptions{IO: ios, Client: func() (*client.Client, error) { return c, nil }, Now: time.Now}, Follow: true, Interval: 20 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := runEvents(ctx, opts); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "asset.created") || !strings.Contains(lines[1], "asset.available") {
		t.Fatalf("follow output:\n%s", out.String())
	}
}

// TestParseSpan: --expires-in takes what the API's expires_in takes (whole
// seconds, SPEC §3 Grants) as well as durations and days.
func TestParseSpan(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3600", time.Hour, true},
		{" 90 ", 90 * time.Second, true},
		{"90m", 90 * time.Minute, true},
		{"24h", 24 * time.Hour, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"0", 0, false},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSpan(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSpan(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestGrantCreateExpiresInSeconds: `haul grant create --expires-in 3600`
// makes a grant whose access ends in an hour.
func TestGrantCreateExpiresInSeconds(t *testing.T) {
	url, _, admin := realServer(t)
	env := map[string]string{"HAUL_SERVER": url, "HAUL_TOKEN": admin}
	dir := t.TempDir()
	file := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(file, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runIn(t, env, "upload", file)
	if code != 0 {
		t.Fatalf("upload: exit %d: %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	before := time.Now()
	code, out, errOut = runIn(t, env, "grant", "create", id, "--expires-in", "3600", "--json")
	if code != 0 {
		t.Fatalf("grant create --expires-in 3600: exit %d: %s", code, errOut)
	}
	var g client.Grant
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		t.Fatalf("grant JSON %q: %v", out, err)
	}
	if d := g.AccessExpiresAt.Sub(before); d < time.Hour-5*time.Second || d > time.Hour+5*time.Second {
		t.Errorf("access_expires_at %s is %v after the request, want about 1h", g.AccessExpiresAt, d)
	}
}
