package client

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestEveryRoute calls every method once against a server that records
// what arrives, so each SPEC section 3 route is covered with its method,
// path, query and whether it is authenticated.
func TestEveryRoute(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		line := r.Method + " " + r.URL.RequestURI()
		if r.Header.Get("Authorization") == "" {
			line += " (public)"
		}
		if r.Method == "POST" && r.Header.Get("Idempotency-Key") == "" {
			line += " (no key)"
		}
		mu.Lock()
		got = append(got, line)
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "DELETE":
			w.WriteHeader(204)
		case r.URL.Path == "/v1/formats":
			_, _ = io.WriteString(w, `{"data":[{"name":"original"},{"name":"mp4_720p"}]}`)
		case r.URL.Path == "/v1/exports/exp_1/manifest":
			_, _ = io.WriteString(w, `{"version":1,"status":"ready","items":[]}`)
		case r.URL.Path == "/openapi.json", r.URL.Path == "/healthz", r.URL.Path == "/readyz":
			_, _ = io.WriteString(w, `{"ok":true}`)
		case r.Method == "GET" && (r.URL.Path == "/v1/assets" || r.URL.Path == "/v1/exports" || r.URL.Path == "/v1/grants" ||
			r.URL.Path == "/v1/webhooks" || r.URL.Path == "/v1/webhooks/whk_1/deliveries" || r.URL.Path == "/v1/events" ||
			r.URL.Path == "/v1/tenants" || r.URL.Path == "/v1/keys"):
			_, _ = io.WriteString(w, `{"data":[],"next_cursor":null}`)
		case r.URL.Path == "/v1/assets/ast_1/downloads":
			_, _ = io.WriteString(w, `{"download_url":"http://x/dl/1","expires_at":"2026-11-24T12:00:00Z"}`)
		default:
			_, _ = io.WriteString(w, `{"id":"x_1","status":"ok"}`)
		}
	}))
	defer srv.Close()
	c := newTestClient(t, srv)
	ctx := context.Background()
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

	_, err := c.CreateAsset(ctx, CreateAssetRequest{Title: "t", Filename: "f"})
	check(err)
	_, err = c.UploadContent(ctx, "ast_1", nil, 0, UploadOptions{})
	check(err)
	for _, err := range c.ListAssets(ctx, AssetListOptions{Tag: "news", ListOptions: ListOptions{Limit: 5}}) {
		check(err)
	}
	_, err = c.GetAsset(ctx, "ast_1")
	check(err)
	_, err = c.UpdateAsset(ctx, "ast_1", UpdateAssetRequest{LegalHold: new(bool)})
	check(err)
	check(c.DeleteAsset(ctx, "ast_1"))
	_, err = c.ListFormats(ctx)
	check(err)
	_, err = c.CreateDownload(ctx, "ast_1", DownloadRequest{Format: "mp4_720p"})
	check(err)
	_, err = c.GetJob(ctx, "job_1")
	check(err)
	_, err = c.CreateExport(ctx, CreateExportRequest{Format: "original", Tag: "news"})
	check(err)
	for _, err := range c.ListExports(ctx, ListOptions{}) {
		check(err)
	}
	_, err = c.GetExport(ctx, "exp_1")
	check(err)
	_, err = c.GetManifest(ctx, "exp_1", ManifestOptions{Wait: 30 * time.Second})
	check(err)
	_, err = c.CreateGrant(ctx, "ast_1", CreateGrantRequest{Policy: GrantOneTime, ExpiresIn: 3600})
	check(err)
	_, err = c.GetGrant(ctx, "grt_1")
	check(err)
	for _, err := range c.ListGrants(ctx, GrantListOptions{AssetID: "ast_1"}) {
		check(err)
	}
	check(c.RevokeGrant(ctx, "grt_1"))
	_, err = c.RenewGrant(ctx, "grt_1", RenewGrantRequest{ExpiresIn: 60})
	check(err)
	_, err = c.GrantInfo(ctx, "tok")
	check(err)
	_, err = c.CreateWebhook(ctx, CreateWebhookRequest{URL: "https://example.com/hook", Events: []string{"*"}})
	check(err)
	_, err = c.GetWebhook(ctx, "whk_1")
	check(err)
	for _, err := range c.ListWebhooks(ctx, ListOptions{}) {
		check(err)
	}
	check(c.DeleteWebhook(ctx, "whk_1"))
	for _, err := range c.ListDeliveries(ctx, "whk_1", ListOptions{}) {
		check(err)
	}
	_, err = c.ReplayWebhook(ctx, "whk_1", ReplayRequest{Since: since})
	check(err)
	for _, err := range c.ListEvents(ctx, EventListOptions{After: "evt_1", Type: "grant.accessed"}) {
		check(err)
	}
	_, err = c.GetEvent(ctx, "evt_1")
	check(err)
	_, err = c.CreateTenant(ctx, CreateTenantRequest{Name: "acme"})
	check(err)
	for _, err := range c.ListTenants(ctx, ListOptions{}) {
		check(err)
	}
	_, err = c.CreateKey(ctx, CreateKeyRequest{Tenant: "acme", Scopes: []string{"read"}})
	check(err)
	for _, err := range c.ListKeys(ctx, KeyListOptions{Tenant: "acme"}) {
		check(err)
	}
	check(c.RevokeKey(ctx, "key_1", "acme"))
	_, err = c.Healthz(ctx)
	check(err)
	_, err = c.Readyz(ctx)
	check(err)
	_, err = c.OpenAPI(ctx)
	check(err)

	want := []string{
		"POST /v1/assets",
		"PUT /v1/assets/ast_1/content",
		"GET /v1/assets?limit=5&tag=news",
		"GET /v1/assets/ast_1",
		"PATCH /v1/assets/ast_1",
		"DELETE /v1/assets/ast_1",
		"GET /v1/formats",
		"POST /v1/assets/ast_1/downloads",
		"GET /v1/jobs/job_1",
		"POST /v1/exports",
		"GET /v1/exports",
		"GET /v1/exports/exp_1",
		"GET /v1/exports/exp_1/manifest?wait=30s",
		"POST /v1/assets/ast_1/grants",
		"GET /v1/grants/grt_1",
		"GET /v1/grants?asset_id=ast_1",
		"DELETE /v1/grants/grt_1",
		"POST /v1/grants/grt_1/renew",
		"GET /g/tok/info (public)",
		"POST /v1/webhooks",
		"GET /v1/webhooks/whk_1",
		"GET /v1/webhooks",
		"DELETE /v1/webhooks/whk_1",
		"GET /v1/webhooks/whk_1/deliveries",
		"POST /v1/webhooks/whk_1/replay",
		"GET /v1/events?after=evt_1&type=grant.accessed",
		"GET /v1/events/evt_1",
		"POST /v1/tenants",
		"GET /v1/tenants",
		"POST /v1/keys",
		"GET /v1/keys?tenant=acme",
		"DELETE /v1/keys/key_1?tenant=acme",
		"GET /healthz",
		"GET /readyz",
		"GET /openapi.json",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d requests, want %d:\n%q", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d = %q, want %q", i, got[i], want[i])
		}
	}
}
