package server

import (
	"net/http"
	"strings"
	"testing"
)

// TestTenantIsolationMatrix drives every authenticated route: without a
// key (401), with a key lacking the scope (403), and with another tenant's
// admin key on this tenant's objects (404, as if they did not exist).
func TestTenantIsolationMatrix(t *testing.T) {
	e := newEnv(t)
	a := e.upload(e.admin, map[string]any{"filename": "a.txt", "tags": []string{"t"}}, []byte("a"))
	fresh := e.do("POST", "/v1/assets", e.admin, map[string]any{"filename": "b.txt"}).obj()
	exp := e.do("POST", "/v1/exports", e.admin, map[string]any{"tag": "t"}).obj()
	key := e.do("POST", "/v1/keys", e.admin, map[string]any{"scopes": []string{"read"}}).obj()
	job := "job_00000000000000000000000000"
	grant := e.do("POST", "/v1/assets/"+a["id"].(string)+"/grants", e.admin, map[string]any{"policy": "renewable"}).obj()
	hook := e.do("POST", "/v1/webhooks", e.admin, map[string]any{"url": "https://93.184.216.34/hook", "events": []string{"*"}}).obj()
	var evs struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	e.do("GET", "/v1/events?limit=1", e.admin, nil).json(&evs)
	ids := map[string]string{"asset": a["id"].(string), "fresh": fresh["id"].(string), "export": exp["id"].(string), "key": key["id"].(string), "job": job,
		"grant": grant["id"].(string), "webhook": hook["id"].(string), "event": evs.Data[0].ID}
	other := e.newKey("acme", "admin")
	readOnly := e.newKey(DefaultTenant, "read")
	writeOnly := e.newKey(DefaultTenant, "write")

	type route struct {
		method, path string
		scope        string
		body         any
		// foreign is the status with another tenant's admin key (0: skip).
		foreign int
	}
	routes := []route{
		{"POST", "/v1/assets", "write", map[string]any{"filename": "x"}, 0},
		{"GET", "/v1/assets", "read", nil, 0},
		{"GET", "/v1/assets/{asset}", "read", nil, 404},
		{"PATCH", "/v1/assets/{asset}", "write", map[string]any{"title": "x"}, 404},
		{"DELETE", "/v1/assets/{asset}", "write", nil, 404},
		{"PUT", "/v1/assets/{fresh}/content", "write", "bytes", 404},
		{"GET", "/v1/formats", "read", nil, 0},
		{"POST", "/v1/assets/{asset}/downloads", "export", map[string]any{"format": "original"}, 404},
		{"GET", "/v1/jobs/{job}", "read", nil, 404},
		{"POST", "/v1/exports", "export", map[string]any{"items": []map[string]any{{"asset_id": "{asset}"}}}, 422},
		{"GET", "/v1/exports", "read", nil, 0},
		{"GET", "/v1/exports/{export}", "read", nil, 404},
		{"GET", "/v1/exports/{export}/manifest", "export", nil, 404},
		{"GET", "/v1/tenants", "admin", nil, 0},
		{"POST", "/v1/tenants", "admin", map[string]any{"name": "zzz"}, 0},
		{"GET", "/v1/keys", "admin", nil, 0},
		{"POST", "/v1/keys", "admin", map[string]any{"scopes": []string{"read"}}, 0},
		{"DELETE", "/v1/keys/{key}", "admin", nil, 404},
		{"POST", "/v1/assets/{asset}/grants", "export", map[string]any{"policy": "one_time"}, 404},
		{"GET", "/v1/grants", "read", nil, 0},
		{"GET", "/v1/grants/{grant}", "read", nil, 404},
		{"DELETE", "/v1/grants/{grant}", "export", nil, 404},
		{"POST", "/v1/grants/{grant}/renew", "export", map[string]any{"expires_in": 60}, 404},
		{"POST", "/v1/webhooks", "export", map[string]any{"url": "https://93.184.216.34/hook", "events": []string{"*"}}, 0},
		{"GET", "/v1/webhooks", "read", nil, 0},
		{"GET", "/v1/webhooks/{webhook}", "read", nil, 404},
		{"DELETE", "/v1/webhooks/{webhook}", "export", nil, 404},
		{"GET", "/v1/webhooks/{webhook}/deliveries", "read", nil, 404},
		{"POST", "/v1/webhooks/{webhook}/replay", "export", map[string]any{"since": "2020-01-01T00:00:00Z"}, 404},
		{"GET", "/v1/events", "read", nil, 0},
		{"GET", "/v1/events/{event}", "read", nil, 404},
	}
	expand := func(s string) string {
		for k, v := range ids {
			s = strings.ReplaceAll(s, "{"+k+"}", v)
		}
		return s
	}
	covered := map[string]bool{}
	for _, rt := range routes {
		path := expand(rt.path)
		body := rt.body
		if m, ok := body.(map[string]any); ok {
			if items, ok := m["items"].([]map[string]any); ok {
				items[0]["asset_id"] = ids["asset"]
			}
		}
		name := rt.method + " " + rt.path
		covered[rt.method+" "+templatePattern(rt.path)] = true
		if r := e.do(rt.method, path, "", body); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without key: %d", name, r.StatusCode)
		}
		var lacking string
		switch rt.scope {
		case "write", "export", "admin":
			lacking = readOnly
			if rt.scope == "export" || rt.scope == "admin" {
				lacking = writeOnly
			}
		}
		if lacking != "" {
			if r := e.do(rt.method, path, lacking, body); r.StatusCode != http.StatusForbidden {
				t.Errorf("%s without scope %s: %d %s", name, rt.scope, r.StatusCode, r.body)
			}
		}
		if rt.foreign != 0 {
			r := e.do(rt.method, path, other, body)
			if r.StatusCode != rt.foreign {
				t.Errorf("%s with another tenant's key: %d %s, want %d", name, r.StatusCode, r.body, rt.foreign)
			}
			if rt.foreign == 404 && strings.Contains(string(r.body), `"state"`) {
				t.Errorf("%s leaks state: %s", name, r.body)
			}
		}
	}
	for _, p := range e.srv.Patterns() {
		if strings.Contains(p, " /v1/") && !covered[p] {
			t.Errorf("route %s is missing from the isolation matrix", p)
		}
	}
	// The asset is untouched by the foreign calls.
	if got := e.do("GET", "/v1/assets/"+ids["asset"], e.admin, nil).obj(); got["state"] != "available" || got["title"] == "x" {
		t.Fatalf("foreign calls changed the asset: %v", got)
	}
}

// templatePattern turns /v1/assets/{asset} into the route's /v1/assets/{id}.
func templatePattern(p string) string {
	for _, k := range []string{"{asset}", "{fresh}", "{export}", "{key}", "{job}", "{grant}", "{webhook}", "{event}"} {
		p = strings.ReplaceAll(p, k, "{id}")
	}
	return p
}
