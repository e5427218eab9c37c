package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haulhq/haul/store"
)

// redeem GETs /g/{token} without following the redirect.
func (e *gwEnv) redeem(token string) (int, []byte, http.Header) {
	e.t.Helper()
	return e.do("GET", "/g/"+token, nil, "Authorization", "-")
}

func TestGrantOneTime(t *testing.T) {
	e := newGWEnv(t, nil)
	content := []byte("the report, version 7\n")
	id := e.upload("report.pdf", content, nil)
	g := e.grant(id, map[string]any{"policy": "one_time", "expires_in": 3600, "recipient": "alice@example.com"})
	if g.URL != "/g/"+g.Token || len(g.Token) != 43 || !strings.HasPrefix(g.ID, "grt_") || g.Status != "active" {
		t.Fatalf("grant %+v", g)
	}
	if g.DownloadsRemaining == nil || *g.DownloadsRemaining != 1 || !strings.HasSuffix(g.ShareURL, g.URL) {
		t.Fatalf("grant %+v", g)
	}
	if want := e.clock.Now().Add(time.Hour); !g.AccessExpiresAt.Equal(want) {
		t.Fatalf("access_expires_at %v, want %v", g.AccessExpiresAt, want)
	}

	status, body, h := e.redeem(g.Token)
	if status != http.StatusFound {
		t.Fatalf("first redemption: %d %s", status, body)
	}
	loc := h.Get("Location")
	if !strings.Contains(loc, "/dl/") || !strings.Contains(loc, "g="+g.ID) || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("Location %q, headers %v", loc, h)
	}
	// The signed URL serves the file, and Range keeps working after the
	// grant is consumed so an interrupted transfer resumes.
	status, got, _ := e.do("GET", loc, nil, "Authorization", "-")
	if status != http.StatusOK || !bytes.Equal(got, content) {
		t.Fatalf("signed URL: %d %q", status, got)
	}
	status, got, h = e.do("GET", loc, nil, "Authorization", "-", "Range", "bytes=4-9")
	if status != http.StatusPartialContent || string(got) != "report" || h.Get("Content-Range") != fmt.Sprintf("bytes 4-9/%d", len(content)) {
		t.Fatalf("range on consumed grant's URL: %d %q %v", status, got, h)
	}

	status, body, _ = e.redeem(g.Token)
	if status != http.StatusGone || gwProblemCode(body) != CodeGrantConsumed {
		t.Fatalf("second redemption: %d %s", status, body)
	}
	var v grantJSON
	e.must(http.StatusOK, "GET", "/v1/grants/"+g.ID, nil, &v)
	if v.Status != "consumed" || v.DownloadsUsed != 1 || *v.DownloadsRemaining != 0 || v.Token != "" || v.URL != "" || v.LastAccessedAt == nil {
		t.Fatalf("consumed grant %+v", v)
	}
	if n := len(e.events(store.EventGrantCreated)); n != 1 {
		t.Fatalf("%d grant.created events", n)
	}
	acc := e.events(store.EventGrantAccessed)
	if len(acc) != 1 || !strings.Contains(string(acc[0].Data), `"client_ip":"127.0.0.1"`) {
		t.Fatalf("grant.accessed events %+v", acc)
	}
	if n := len(e.events(store.EventGrantConsumed)); n != 1 {
		t.Fatalf("%d grant.consumed events", n)
	}
	// The token itself is stored nowhere but in the creator's response.
	gs, err := e.db.GetGrant(context.Background(), e.tenantID(), g.ID)
	if err != nil || gs.TokenHash == g.Token || gs.TokenHash != hashGrantToken(g.Token) {
		t.Fatalf("stored token hash %q (err %v)", gs.TokenHash, err)
	}
}

func TestGrantLimitedExhausts(t *testing.T) {
	e := newGWEnv(t, nil)
	id := e.upload("a.txt", []byte("abc"), nil)
	g := e.grant(id, map[string]any{"policy": "limited", "max_downloads": 3})
	for i := range 3 {
		if status, body, _ := e.redeem(g.Token); status != http.StatusFound {
			t.Fatalf("redemption %d: %d %s", i+1, status, body)
		}
	}
	status, body, _ := e.redeem(g.Token)
	if status != http.StatusGone || gwProblemCode(body) != CodeGrantConsumed {
		t.Fatalf("4th redemption: %d %s", status, body)
	}
	if n := len(e.events(store.EventGrantAccessed)); n != 3 {
		t.Fatalf("%d grant.accessed events, want 3", n)
	}
}

func TestGrantExpiryIsEnforcedAtRequestTime(t *testing.T) {
	e := newGWEnv(t, nil)
	id := e.upload("a.txt", []byte("abc"), nil)
	g := e.grant(id, map[string]any{"policy": "limited", "max_downloads": 5, "expires_in": 60})
	if status, _, _ := e.redeem(g.Token); status != http.StatusFound {
		t.Fatalf("redemption before expiry: %d", status)
	}
	e.clock.Add(60 * time.Second)
	status, body, _ := e.redeem(g.Token)
	if status != http.StatusGone || gwProblemCode(body) != CodeGrantExpired {
		t.Fatalf("redemption at expiry: %d %s", status, body)
	}
	var v grantJSON
	e.must(http.StatusOK, "GET", "/v1/grants/"+g.ID, nil, &v)
	if v.Status != "expired" {
		t.Fatalf("status %q before the worker ran, want expired", v.Status)
	}
	// The worker records it, once.
	lc := NewLifecycle(LifecycleOptions{Store: e.db, Blobs: e.blobs, Now: e.clock.Now})
	for range 2 {
		if _, err := lc.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	evs := e.events(store.EventGrantExpired)
	if len(evs) != 1 || !strings.Contains(string(evs[0].Data), g.ID) {
		t.Fatalf("grant.expired events %+v", evs)
	}
}

func TestGrantRenewable(t *testing.T) {
	e := newGWEnv(t, nil)
	id := e.upload("a.txt", []byte("abc"), nil)
	g := e.grant(id, map[string]any{"policy": "renewable", "expires_in": 600})
	if g.DownloadsRemaining != nil {
		t.Fatalf("unlimited renewable grant shows %d remaining", *g.DownloadsRemaining)
	}
	for range 5 {
		if status, _, _ := e.redeem(g.Token); status != http.StatusFound {
			t.Fatalf("redemption: %d", status)
		}
	}
	e.clock.Add(11 * time.Minute)
	if status, body, _ := e.redeem(g.Token); gwProblemCode(body) != CodeGrantExpired {
		t.Fatalf("after expiry: %d %s", status, body)
	}
	var v grantJSON
	e.must(http.StatusOK, "POST", "/v1/grants/"+g.ID+"/renew", map[string]any{"expires_in": 3600}, &v)
	if v.Status != "active" || !v.AccessExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
		t.Fatalf("renewed %+v", v)
	}
	if status, body, _ := e.redeem(g.Token); status != http.StatusFound {
		t.Fatalf("after renewal: %d %s", status, body)
	}
	// Only renewable grants renew; a read-only key cannot.
	one := e.grant(id, map[string]any{"policy": "one_time"})
	if status, body, _ := e.do("POST", "/v1/grants/"+one.ID+"/renew", map[string]any{"expires_in": 60}); status != http.StatusConflict {
		t.Fatalf("renew one_time: %d %s", status, body)
	}
	ro := e.newKey(e.tenantID(), store.ScopeRead)
	if status, _, _ := e.do("POST", "/v1/grants/"+g.ID+"/renew", map[string]any{"expires_in": 60}, "Authorization", "Bearer "+ro); status != http.StatusForbidden {
		t.Fatalf("renew with read scope: %d", status)
	}
	// A revoked grant stays revoked.
	e.must(http.StatusOK, "DELETE", "/v1/grants/"+g.ID, nil, nil)
	if status, _, _ := e.do("POST", "/v1/grants/"+g.ID+"/renew", nil); status != http.StatusConflict {
		t.Fatalf("renew revoked: %d", status)
	}
}

// TestGrantConcurrentOneTimeRedemption: of many simultaneous redemptions
// of a one-time link exactly one gets the file.
func TestGrantConcurrentOneTimeRedemption(t *testing.T) {
	e := newGWEnv(t, func(c *Config) { c.RateLimits = nil })
	id := e.upload("a.txt", []byte("abc"), nil)
	for round := range 3 {
		g := e.grant(id, map[string]any{"policy": "one_time"})
		const n = 16
		var wg sync.WaitGroup
		codes := make(chan string, n)
		start := make(chan struct{})
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				resp, err := gwNoRedirect.Get(e.ts.URL + "/g/" + g.Token)
				if err != nil {
					codes <- err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusFound {
					codes <- "won"
					return
				}
				codes <- fmt.Sprintf("%d %s", resp.StatusCode, gwProblemCode(b))
			}()
		}
		close(start)
		wg.Wait()
		close(codes)
		won := 0
		for c := range codes {
			switch c {
			case "won":
				won++
			case "410 grant_consumed":
			default:
				t.Fatalf("round %d: unexpected answer %q", round, c)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d redemptions won, want exactly 1", round, won)
		}
	}
}

func TestGrantRevocationInvalidatesIssuedURLs(t *testing.T) {
	e := newGWEnv(t, nil)
	id := e.upload("a.txt", []byte("abcdef"), nil)
	g := e.grant(id, map[string]any{"policy": "limited", "max_downloads": 2})
	_, _, h := e.redeem(g.Token)
	loc := h.Get("Location")
	if status, _, _ := e.do("GET", loc, nil, "Authorization", "-"); status != http.StatusOK {
		t.Fatalf("before revocation: %d", status)
	}
	var v grantJSON
	e.must(http.StatusOK, "DELETE", "/v1/grants/"+g.ID, nil, &v)
	if v.Status != "revoked" || v.RevokedAt == nil {
		t.Fatalf("revoked grant %+v", v)
	}
	e.must(http.StatusOK, "DELETE", "/v1/grants/"+g.ID, nil, nil) // idempotent
	if n := len(e.events(store.EventGrantRevoked)); n != 1 {
		t.Fatalf("%d grant.revoked events, want 1", n)
	}
	status, body, _ := e.do("GET", loc, nil, "Authorization", "-", "Range", "bytes=0-1")
	if status != http.StatusGone || gwProblemCode(body) != CodeGrantRevoked {
		t.Fatalf("issued URL after revocation: %d %s", status, body)
	}
	status, body, _ = e.redeem(g.Token)
	if status != http.StatusGone || gwProblemCode(body) != CodeGrantRevoked {
		t.Fatalf("redemption after revocation: %d %s", status, body)
	}
	// Another tenant cannot see or revoke it.
	other := e.otherTenant()
	if status, _, _ := e.do("DELETE", "/v1/grants/"+g.ID, nil, "Authorization", "Bearer "+other); status != http.StatusNotFound {
		t.Fatalf("other tenant revoke: %d", status)
	}
}

func TestRevokeConsumedGrantKeepsItsStatus(t *testing.T) {
	e := newGWEnv(t, nil)
	id := e.upload("a.txt", []byte("abcdef"), nil)
	g := e.grant(id, map[string]any{"policy": "one_time"})
	_, _, h := e.redeem(g.Token)
	loc := h.Get("Location")
	if status, _, _ := e.do("GET", loc, nil, "Authorization", "-", "Range", "bytes=0-1"); status != http.StatusPartialContent {
		t.Fatalf("before revocation: %d", status)
	}
	for range 2 { // idempotent: 200 with the grant both times
		var v grantJSON
		e.must(http.StatusOK, "DELETE", "/v1/grants/"+g.ID, nil, &v)
		if v.Status != "consumed" || v.RevokedAt == nil {
			t.Fatalf("revoked consumed grant %+v", v)
		}
	}
	if n := len(e.events(store.EventGrantRevoked)); n != 1 {
		t.Fatalf("%d grant.revoked events, want 1", n)
	}
	// Its issued URL stops working; the link still says why it is over.
	status, body, _ := e.do("GET", loc, nil, "Authorization", "-", "Range", "bytes=2-3")
	if status != http.StatusGone || gwProblemCode(body) != CodeGrantRevoked {
		t.Fatalf("issued URL after revocation: %d %s", status, body)
	}
	status, body, _ = e.redeem(g.Token)
	if status != http.StatusGone || gwProblemCode(body) != CodeGrantConsumed {
		t.Fatalf("redemption after revocation: %d %s", status, body)
	}
	var in grantInfoJSON
	e.must(http.StatusOK, "GET", "/g/"+g.Token+"/info", nil, &in)
	if in.Status != "consumed" {
		t.Fatalf("info %+v", in)
	}
}

func TestGrantSignedURLLifetime(t *testing.T) {
	e := newGWEnv(t, func(c *Config) { c.Grants.URLTTL = 2 * time.Minute })
	id := e.upload("a.txt", []byte("abc"), nil)
	g := e.grant(id, map[string]any{"policy": "one_time"})
	_, _, h := e.redeem(g.Token)
	loc := h.Get("Location")
	e.clock.Add(2*time.Minute - time.Second)
	if status, _, _ := e.do("GET", loc, nil, "Authorization", "-"); status != http.StatusOK {
		t.Fatalf("URL inside its life: %d", status)
	}
	e.clock.Add(time.Second)
	if status, _, _ := e.do("GET", loc, nil, "Authorization", "-"); status != http.StatusGone {
		t.Fatalf("URL after its life: %d", status)
	}
	// Cut short by the grant's own expiry.
	g = e.grant(id, map[string]any{"policy": "one_time", "expires_in": 30})
	_, _, h = e.redeem(g.Token)
	e.clock.Add(30 * time.Second)
	if status, _, _ := e.do("GET", h.Get("Location"), nil, "Authorization", "-"); status != http.StatusGone {
		t.Fatalf("URL past the grant's expiry: %d", status)
	}
}

func TestGrantUnknownTokensAreRateLimited(t *testing.T) {
	e := newGWEnv(t, func(c *Config) { c.Grants.MissLimit = Limit{N: 5, Window: time.Minute} })
	id := e.upload("a.txt", []byte("abc"), nil)
	g := e.grant(id, map[string]any{"policy": "renewable"})
	wrong := strings.Repeat("A", 43)
	for i := range 5 {
		if status, body, _ := e.redeem(wrong); status != http.StatusNotFound || gwProblemCode(body) != CodeNotFound {
			t.Fatalf("miss %d: %d %s", i+1, status, body)
		}
	}
	if status, _, _ := e.do("GET", "/g/short", nil); status != http.StatusTooManyRequests {
		t.Fatalf("6th miss: %d", status)
	}
	// Once blocked, even a right token is refused: guesses learn nothing.
	status, body, h := e.redeem(g.Token)
	if status != http.StatusTooManyRequests || gwProblemCode(body) != CodeRateLimited || h.Get("Retry-After") == "" {
		t.Fatalf("valid token while blocked: %d %s %v", status, body, h)
	}
	var p map[string]any
	_ = json.Unmarshal(body, &p)
	if p["scope"] != ClassRedeem || p["retry_after"] == nil {
		t.Fatalf("problem %v", p)
	}
	e.clock.Add(time.Minute)
	if status, _, _ := e.redeem(g.Token); status != http.StatusFound {
		t.Fatalf("after the window: %d", status)
	}
}

func TestGrantInfo(t *testing.T) {
	e := newGWEnv(t, nil)
	id := e.upload("Holiday film.mp4", []byte("not really a film"), nil)
	g := e.grant(id, map[string]any{"policy": "limited", "max_downloads": 2, "expires_in": 7200})
	var in grantInfoJSON
	e.must(http.StatusOK, "GET", "/g/"+g.Token+"/info", nil, &in)
	if in.Status != "active" || *in.DownloadsRemaining != 2 || in.Filename != "Holiday film.mp4" || in.Size == nil || *in.Size != 17 {
		t.Fatalf("info %+v", in)
	}
	e.redeem(g.Token)
	e.redeem(g.Token)
	status, body, _ := e.do("GET", "/g/"+g.Token+"/info", nil, "Authorization", "-")
	if status != http.StatusOK {
		t.Fatalf("info of consumed grant: %d", status)
	}
	_ = json.Unmarshal(body, &in)
	if in.Status != "consumed" || *in.DownloadsRemaining != 0 {
		t.Fatalf("consumed info %+v", in)
	}
	for _, secret := range []string{g.Token, g.ID, "token_hash", "recipient"} {
		if strings.Contains(string(body), secret) {
			t.Fatalf("info leaks %q: %s", secret, body)
		}
	}
	status, page, h := e.do("GET", "/g/"+g.Token+"/info", nil, "Authorization", "-", "Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("html info: %d %v", status, h)
	}
	for _, want := range []string{"Holiday film.mp4", "Used up", "Downloads remaining</dt><dd>0"} {
		if !strings.Contains(string(page), want) {
			t.Fatalf("html page lacks %q:\n%s", want, page)
		}
	}
	e.clock.Add(3 * time.Hour)
	e.must(http.StatusOK, "GET", "/g/"+g.Token+"/info", nil, &in) // 200 in every status
	if status, _, _ := e.do("GET", "/g/"+strings.Repeat("B", 43)+"/info", nil); status != http.StatusNotFound {
		t.Fatalf("unknown token info: %d", status)
	}
}

func TestGrantCreateValidation(t *testing.T) {
	e := newGWEnv(t, func(c *Config) { c.Grants.MaxTTL = 48 * time.Hour })
	id := e.upload("a.txt", []byte("abc"), nil)
	until := e.clock.Now().Add(2 * time.Hour)
	limitedRights := e.upload("b.txt", []byte("abcd"), map[string]any{"downloadable": true, "available_until": until})
	locked := e.upload("c.txt", []byte("abcde"), map[string]any{"downloadable": false})
	tests := []struct {
		name  string
		asset string
		body  map[string]any
		code  string
	}{
		{"unknown policy", id, map[string]any{"policy": "forever"}, CodeValidationFailed},
		{"limited without max", id, map[string]any{"policy": "limited"}, CodeValidationFailed},
		{"one_time with max 3", id, map[string]any{"policy": "one_time", "max_downloads": 3}, CodeValidationFailed},
		{"both expiries", id, map[string]any{"policy": "one_time", "expires_in": 60, "access_expires_at": until}, CodeValidationFailed},
		{"negative expiry", id, map[string]any{"policy": "one_time", "expires_in": -5}, CodeValidationFailed},
		{"past expiry", id, map[string]any{"policy": "one_time", "access_expires_at": e.clock.Now().Add(-time.Hour)}, CodeValidationFailed},
		{"unknown format", id, map[string]any{"policy": "one_time", "format": "mp4_4k"}, CodeUnsupportedFormat},
		{"not downloadable", locked, map[string]any{"policy": "one_time"}, CodeRightsDenied},
		{"unknown asset", "ast_nope", map[string]any{"policy": "one_time"}, CodeNotFound},
	}
	for _, tt := range tests {
		status, body, _ := e.do("POST", "/v1/assets/"+tt.asset+"/grants", tt.body)
		if gwProblemCode(body) != tt.code || status < 400 {
			t.Errorf("%s: %d %s, want %s", tt.name, status, body, tt.code)
		}
	}
	// Expiry is capped by the server maximum and by the asset's rights.
	g := e.grant(id, map[string]any{"policy": "one_time", "expires_in": 365 * 24 * 3600})
	if want := e.clock.Now().Add(48 * time.Hour); !g.AccessExpiresAt.Equal(want) {
		t.Fatalf("expiry %v, want capped to %v", g.AccessExpiresAt, want)
	}
	g = e.grant(limitedRights, map[string]any{"policy": "one_time", "expires_in": 24 * 3600})
	if !g.AccessExpiresAt.Equal(until) {
		t.Fatalf("expiry %v, want capped to available_until %v", g.AccessExpiresAt, until)
	}
	// Listing by asset.
	var l struct {
		Data []grantJSON `json:"data"`
	}
	e.must(http.StatusOK, "GET", "/v1/grants?asset_id="+limitedRights, nil, &l)
	if len(l.Data) != 1 || l.Data[0].ID != g.ID {
		t.Fatalf("list by asset: %+v", l.Data)
	}
	// Rights are checked again at redemption time.
	e.must(http.StatusOK, "PATCH", "/v1/assets/"+limitedRights, map[string]any{"rights": map[string]any{"downloadable": false}}, nil)
	if status, body, _ := e.redeem(g.Token); status != http.StatusForbidden || gwProblemCode(body) != CodeRightsDenied {
		t.Fatalf("redeem after rights change: %d %s", status, body)
	}
	var v grantJSON
	e.must(http.StatusOK, "GET", "/v1/grants/"+g.ID, nil, &v)
	if v.DownloadsUsed != 0 {
		t.Fatal("a refused redemption was counted")
	}
}

// gwRenditions offers one made-up format over the real store; the test
// stores the rendition itself, playing the worker.
type gwRenditions struct{ st store.Store }

func (gwRenditions) Formats() []FormatInfo {
	return []FormatInfo{{Name: "preview_jpg", Description: "test preview", Extension: "jpg", ContentType: "image/jpeg", AppliesTo: "any"}}
}
func (gwRenditions) Allowed(*store.Asset) []string { return []string{"preview_jpg"} }
func (gwRenditions) PresetVersion(string) int      { return 1 }
func (r gwRenditions) Ensure(ctx context.Context, a *store.Asset, format string) (*store.Rendition, *store.Job, error) {
	if rend, err := r.st.GetRendition(ctx, a.TenantID, a.ID, format, 1); err == nil {
		return rend, nil, nil
	}
	job, _, err := r.st.CreateJob(ctx, &store.Job{TenantID: a.TenantID, AssetID: a.ID, Format: format, PresetVersion: 1})
	return nil, job, err
}
func (gwRenditions) EstimateSeconds(context.Context, *store.Job) int { return 4 }

func TestGrantOfARenditionAndHEAD(t *testing.T) {
	e := newGWEnv(t, nil, func(d *Deps) { d.Renditions = gwRenditions{st: d.Store} })
	ctx := context.Background()
	id := e.upload("photo.png", []byte("png bytes"), nil)
	g := e.grant(id, map[string]any{"policy": "limited", "max_downloads": 2, "format": "preview_jpg"})

	// Before the rendition exists: 409 with Retry-After, not counted.
	status, body, h := e.do("GET", "/g/"+g.Token, nil, "Authorization", "-")
	if status != http.StatusConflict || gwProblemCode(body) != CodeNotReady || h.Get("Retry-After") != "4" {
		t.Fatalf("rendition not ready: %d %s %v", status, body, h)
	}
	info, err := e.blobs.Put(ctx, strings.NewReader("jpeg bytes"), gwBlobPutOpts())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.PutRendition(ctx, &store.Rendition{TenantID: e.tenantID(), AssetID: id, Format: "preview_jpg", PresetVersion: 1,
		BlobKey: info.Key, Size: info.Size, Checksum: "sha256:" + info.Key, ContentType: "image/jpeg"}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("HEAD", e.ts.URL+"/g/"+g.Token, nil)
	resp, err := gwNoRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
		t.Fatalf("HEAD: %d %v", resp.StatusCode, resp.Header)
	}
	status, _, h = e.redeem(g.Token)
	if status != http.StatusFound || !strings.Contains(h.Get("Location"), "/preview_jpg/photo_preview_jpg.jpg?") {
		t.Fatalf("redeem: %d %v", status, h)
	}
	status, got, _ := e.do("GET", h.Get("Location"), nil, "Authorization", "-")
	if status != http.StatusOK || string(got) != "jpeg bytes" {
		t.Fatalf("rendition download: %d %q", status, got)
	}
	var in grantInfoJSON
	e.must(http.StatusOK, "GET", "/g/"+g.Token+"/info", nil, &in)
	if in.Filename != "photo_preview_jpg.jpg" || in.Size == nil || *in.Size != 10 || *in.DownloadsRemaining != 1 {
		t.Fatalf("info %+v (HEAD and the not-ready try must not count)", in)
	}
}

func TestPrefersHTML(t *testing.T) {
	for accept, want := range map[string]bool{
		"": false, "*/*": false, "application/json": false,
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": true,
		"application/json, text/html;q=0.5":                               false,
		"text/html;q=0.9, application/json;q=0.8":                         true,
		"text/html;q=0": false,
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set("Accept", accept)
		if got := prefersHTML(r); got != want {
			t.Errorf("prefersHTML(%q) = %v, want %v", accept, got, want)
		}
	}
}

func TestGrantTokensStayOutOfTheAccessLog(t *testing.T) {
	var logs gwSyncLog
	e := newGWEnv(t, nil, func(d *Deps) { d.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	id := e.upload("a.txt", []byte("abc"), nil)
	g := e.grant(id, map[string]any{"policy": "limited", "max_downloads": 3})
	e.redeem(g.Token)
	e.do("GET", "/g/"+g.Token+"/info", nil)
	if strings.Contains(logs.String(), g.Token) || !strings.Contains(logs.String(), "/g/"+g.Token[:4]+"…/info") {
		t.Fatalf("access log:\n%s", logs.String())
	}
	for in, want := range map[string]string{"/g/": "/g/", "/g/abc": "/g/abc", "/g/abcdefgh": "/g/abcd…", "/g/abcdefgh/info": "/g/abcd…/info", "/v1/x": "/v1/x"} {
		if got := redactGrantToken(in); got != want {
			t.Errorf("redactGrantToken(%q) = %q, want %q", in, got, want)
		}
	}
}

// gwSyncLog collects log output from the server's goroutines.
type gwSyncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *gwSyncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *gwSyncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
