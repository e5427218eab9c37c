package e2e_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/haulhq/haul/internal/e2e"
)

// TestSpecServerBlackBox pins SPEC section 3 statements as a tester using
// curl sees them: plain `curl -d` bodies, fixed status codes, problem codes
// and members, headers, id prefixes, RFC 3339 UTC times.
func TestSpecServerBlackBox(t *testing.T) {
	srv := e2e.StartServer(t, "--rate-limit", "export=2/1m")
	key := srv.AdminKey
	rfc3339UTC := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)

	// Auth: missing key → 401 with a Bearer challenge.
	c := do(t, srv, "GET", "/v1/assets", "", nil).status(401, "unauthorized")
	if !strings.HasPrefix(c.resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate: Bearer: %v", c.resp.Header)
	}

	// `curl -d '{...}'` without -H sends x-www-form-urlencoded; it is JSON here.
	a := do(t, srv, "POST", "/v1/assets", key, `{"title":"My Show: Ep 1!","filename":"a.txt","tags":["t1"]}`,
		"Content-Type", "application/x-www-form-urlencoded").status(201).obj()
	id, _ := a["id"].(string)
	if !strings.HasPrefix(id, "ast_") || !strings.HasPrefix(a["upload_url"].(string), srv.URL+"/v1/assets/"+id+"/content") ||
		!rfc3339UTC.MatchString(a["created_at"].(string)) || a["state"] != "created" {
		t.Fatalf("asset %v", a)
	}
	content := []byte("hello, spec\n")
	sum := sha256.Sum256(content)
	do(t, srv, "PUT", "/v1/assets/"+id+"/content", key, []byte("other"), "Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":").status(422, "digest_mismatch")
	do(t, srv, "PUT", "/v1/assets/"+id+"/content", key, content, "Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":").status(200)
	deadline := time.Now().Add(20 * time.Second)
	for do(t, srv, "GET", "/v1/assets/"+id, key, nil).status(200).obj()["state"] != "available" {
		if time.Now().After(deadline) {
			t.Fatal("asset never available")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Unknown format → 422 unsupported_format with allowed_formats.
	p := do(t, srv, "POST", "/v1/assets/"+id+"/downloads", key, map[string]any{"format": "bogus"}).status(422, "unsupported_format").obj()
	for _, m := range []string{"type", "title", "status", "detail", "allowed_formats"} {
		if _, ok := p[m]; !ok {
			t.Errorf("problem lacks %q: %v", m, p)
		}
	}

	// Ready rendition → 200 with an absolute signed URL.
	dl := do(t, srv, "POST", "/v1/assets/"+id+"/downloads", key, map[string]any{"format": "original"}).status(200).obj()
	url, _ := dl["download_url"].(string)
	if !strings.HasPrefix(url, srv.URL+"/dl/") || dl["checksum"] != "sha256:"+hex.EncodeToString(sum[:]) || dl["size"] != float64(len(content)) ||
		!rfc3339UTC.MatchString(dl["expires_at"].(string)) || dl["filename"] == nil || dl["content_type"] == nil {
		t.Fatalf("download %v", dl)
	}
	r := do(t, srv, "GET", url, "", nil, "Range", "bytes=0-4").status(206)
	h := r.resp.Header
	if string(r.body) != "hello" || h.Get("Content-Range") != "bytes 0-4/12" || h.Get("Accept-Ranges") != "bytes" ||
		h.Get("ETag") != `"`+hex.EncodeToString(sum[:])+`"` || h.Get("Repr-Digest") != "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":" ||
		!strings.Contains(h.Get("Content-Disposition"), "filename*=UTF-8''") || h.Get("Last-Modified") == "" {
		t.Fatalf("delivery headers %v body %q", h, r.body)
	}
	do(t, srv, "GET", url, "", nil, "Range", "bytes=100-").status(416)
	do(t, srv, "GET", strings.Replace(url, "sig=", "sig=x", 1), "", nil).status(403)

	// Grants: 201 fields; /g 302, then 410 with the reason; /info 200 always.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	redeem := func(token string) int {
		resp, err := noRedirect.Get(srv.URL + "/g/" + token)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	info := func(token, want string) {
		t.Helper()
		m := do(t, srv, "GET", "/g/"+token+"/info", "", nil).status(200).obj()
		for _, f := range []string{"status", "access_expires_at", "downloads_remaining", "filename", "size"} {
			if _, ok := m[f]; !ok {
				t.Errorf("info lacks %q: %v", f, m)
			}
		}
		if m["status"] != want {
			t.Errorf("info status %v, want %s", m["status"], want)
		}
	}
	g := do(t, srv, "POST", "/v1/assets/"+id+"/grants", key, map[string]any{"policy": "one_time", "expires_in": 600}).status(201).obj()
	tok, _ := g["token"].(string)
	if !strings.HasPrefix(g["id"].(string), "grt_") || g["url"] != "/g/"+tok || g["status"] != "active" || g["downloads_remaining"] != float64(1) {
		t.Fatalf("grant %v", g)
	}
	if s := redeem(tok); s != http.StatusFound {
		t.Fatalf("first redemption %d", s)
	}
	do(t, srv, "GET", "/g/"+tok, "", nil).status(410, "grant_consumed")
	info(tok, "consumed")
	g = do(t, srv, "POST", "/v1/assets/"+id+"/grants", key, map[string]any{"policy": "limited", "max_downloads": 3, "expires_in": 600}).status(201).obj()
	do(t, srv, "DELETE", "/v1/grants/"+g["id"].(string), key, nil)
	do(t, srv, "GET", "/g/"+g["token"].(string), "", nil).status(410, "grant_revoked")
	info(g["token"].(string), "revoked")
	g = do(t, srv, "POST", "/v1/assets/"+id+"/grants", key, map[string]any{"policy": "limited", "max_downloads": 3, "expires_in": 1}).status(201).obj()
	time.Sleep(1100 * time.Millisecond)
	do(t, srv, "GET", "/g/"+g["token"].(string), "", nil).status(410, "grant_expired")
	info(g["token"].(string), "expired")

	// Idempotency-Key: quoted and bare forms are one key; a new body is 422.
	body := map[string]any{"title": "idem", "filename": "i.txt"}
	first := do(t, srv, "POST", "/v1/assets", key, body, "Idempotency-Key", `"k-1"`).status(201).obj()
	again := do(t, srv, "POST", "/v1/assets", key, body, "Idempotency-Key", "k-1").status(201)
	if again.resp.Header.Get("Idempotent-Replayed") != "true" || again.obj()["id"] != first["id"] {
		t.Fatalf("replay: %v %s", again.resp.Header, again.body)
	}
	do(t, srv, "POST", "/v1/assets", key, map[string]any{"title": "other", "filename": "i.txt"}, "Idempotency-Key", "k-1").status(422, "idempotency_key_reused")

	// Exports: unknown ids → 422 validation_failed with unknown_assets;
	// always 202; then the export class limit (2/1m) answers 429.
	p = do(t, srv, "POST", "/v1/exports", key, map[string]any{"format": "original", "items": []any{map[string]any{"asset_id": "ast_nope"}}}).status(422, "validation_failed").obj()
	if u, _ := p["unknown_assets"].([]any); len(u) != 1 || u[0] != "ast_nope" {
		t.Fatalf("unknown_assets %v", p)
	}
	e := do(t, srv, "POST", "/v1/exports", key, map[string]any{"format": "original", "items": []any{map[string]any{"asset_id": id}}}).status(202)
	if m := e.obj(); !strings.HasPrefix(m["id"].(string), "exp_") || m["manifest_url"] == nil || m["status"] == nil {
		t.Fatalf("export %s", e.body)
	}
	if got := e.resp.Header.Get("RateLimit-Policy"); got != `"export";q=2;w=60` {
		t.Errorf("RateLimit-Policy %q", got)
	}
	lim := do(t, srv, "POST", "/v1/exports", key, map[string]any{"format": "original", "items": []any{map[string]any{"asset_id": id}}}).status(429, "rate_limited")
	if lim.resp.Header.Get("Retry-After") == "" || !regexp.MustCompile(`^"export";r=0;t=\d+$`).MatchString(lim.resp.Header.Get("RateLimit")) {
		t.Errorf("429 headers %v", lim.resp.Header)
	}
	if m := lim.obj(); m["scope"] != "export" || m["retry_after"] == nil {
		t.Errorf("429 problem %v", m)
	}
	for range 5 {
		do(t, srv, "GET", "/healthz", "", nil).status(200)
	}

	// Manifest: version 1, deterministic file names.
	man := do(t, srv, "GET", "/v1/exports/"+e.obj()["id"].(string)+"/manifest?wait=5s", key, nil).status(200).obj()
	items, _ := man["items"].([]any)
	if man["version"] != float64(1) || len(items) != 1 || items[0].(map[string]any)["filename"] != "my-show-ep-1_"+id+"_original.txt" {
		t.Fatalf("manifest %v", man)
	}

	// Events: after= takes an event id or an RFC 3339 time.
	do(t, srv, "GET", "/v1/events?after="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), key, nil).status(200)
	do(t, srv, "GET", "/v1/events?after=yesterday", key, nil).status(422, "validation_failed")

	// Webhooks to loopback are refused without --webhook-allow-private.
	do(t, srv, "POST", "/v1/webhooks", key, map[string]any{"url": "http://127.0.0.1:9/x", "events": []string{"*"}}).status(422, "validation_failed")
}
