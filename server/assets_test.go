package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haulhq/haul/blob"
	"github.com/haulhq/haul/store"
)

func TestAssetLifecycle(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/v1/assets", e.admin, map[string]any{"title": "Episode 1", "filename": "ep01.mp4", "content_type": "video/mp4", "tags": []string{"show", "s1"}})
	e.want(r, http.StatusCreated)
	a := r.obj()
	id := a["id"].(string)
	if !strings.HasPrefix(id, "ast_") || a["state"] != "created" || a["upload_url"] != e.ts.URL+"/v1/assets/"+id+"/content" {
		t.Fatalf("created asset: %s", r.body)
	}
	if a["rights"].(map[string]any)["downloadable"] != true {
		t.Fatalf("rights default: %v", a["rights"])
	}
	content := []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + strings.Repeat("x", 4000))
	sum := sha256.Sum256(content)

	// A wrong Repr-Digest stores nothing.
	bad := sha256.Sum256([]byte("other"))
	r = e.do("PUT", "/v1/assets/"+id+"/content", e.admin, content, "Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(bad[:])+":")
	e.want(r, http.StatusUnprocessableEntity, CodeDigestMismatch)
	r = e.do("GET", "/v1/assets/"+id, e.admin, nil)
	if got := r.obj(); got["state"] != "created" || got["checksum"] != nil {
		t.Fatalf("after mismatch: %s", r.body)
	}

	r = e.do("PUT", "/v1/assets/"+id+"/content", e.admin, content, "Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
	e.want(r, http.StatusOK)
	got := e.waitState(e.admin, id)
	if got["state"] != "available" || got["size"] != float64(len(content)) || got["checksum"] != "sha256:"+hexOf(sum[:]) {
		t.Fatalf("available asset: %v", got)
	}
	// Content cannot be replaced.
	e.want(e.do("PUT", "/v1/assets/"+id+"/content", e.admin, content), http.StatusConflict, CodeConflict)

	// List with ?tag=.
	e.upload(e.admin, map[string]any{"title": "Other", "filename": "o.txt", "tags": []string{"misc"}}, []byte("hello"))
	var list struct {
		Data       []map[string]any `json:"data"`
		NextCursor *string          `json:"next_cursor"`
	}
	e.do("GET", "/v1/assets?tag=show", e.admin, nil).json(&list)
	if len(list.Data) != 1 || list.Data[0]["id"] != id || list.NextCursor != nil {
		t.Fatalf("tag list: %+v", list)
	}
	e.do("GET", "/v1/assets?limit=1", e.admin, nil).json(&list)
	if len(list.Data) != 1 || list.NextCursor == nil {
		t.Fatalf("page 1: %+v", list)
	}
	e.do("GET", "/v1/assets?limit=1&cursor="+*list.NextCursor, e.admin, nil).json(&list)
	if len(list.Data) != 1 || list.Data[0]["id"] == id {
		t.Fatalf("page 2: %+v", list)
	}
	e.want(e.do("GET", "/v1/assets?limit=0", e.admin, nil), http.StatusUnprocessableEntity, CodeValidationFailed)

	// PATCH.
	r = e.do("PATCH", "/v1/assets/"+id, e.admin, map[string]any{"title": "Episode One", "tags": []string{"show"}, "legal_hold": true, "retention_expires_at": "2030-01-01T00:00:00Z", "rights": map[string]any{"allowed_formats": []string{"original"}}})
	e.want(r, http.StatusOK)
	p := r.obj()
	if p["title"] != "Episode One" || p["legal_hold"] != true || p["retention_expires_at"] != "2030-01-01T00:00:00Z" {
		t.Fatalf("patched: %s", r.body)
	}
	e.want(e.do("PATCH", "/v1/assets/"+id, e.admin, map[string]any{"state": "available"}), http.StatusUnprocessableEntity, CodeValidationFailed)
	e.want(e.do("PATCH", "/v1/assets/"+id, e.admin, map[string]any{"legal_hold": "yes"}), http.StatusUnprocessableEntity, CodeValidationFailed)

	e.want(e.do("PATCH", "/v1/assets/"+id, e.admin, map[string]any{"retention_expires_at": nil}), http.StatusOK)
	if got := e.do("GET", "/v1/assets/"+id, e.admin, nil).obj(); got["retention_expires_at"] != nil {
		t.Fatalf("retention not cleared: %v", got)
	}
	// Soft delete works on legal hold too (the hold keeps the bytes).
	e.want(e.do("DELETE", "/v1/assets/"+id, e.admin, nil), http.StatusNoContent)
	e.want(e.do("DELETE", "/v1/assets/"+id, e.admin, nil), http.StatusNoContent)
	r = e.do("GET", "/v1/assets/"+id, e.admin, nil)
	if r.obj()["state"] != "deleted" || r.obj()["legal_hold"] != true {
		t.Fatalf("deleted: %s", r.body)
	}
	e.do("GET", "/v1/assets?tag=show", e.admin, nil).json(&list)
	if len(list.Data) != 0 {
		t.Fatalf("deleted asset listed: %+v", list)
	}
	e.want(e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "original"}), http.StatusNotFound, CodeNotFound)

	// Events recorded with the changes.
	ctx := t.Context()
	tenant := tenantIDOf(t, e)
	evs, _, err := e.st.ListEvents(ctx, tenant, storeEventFilter())
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	joined := strings.Join(types, ",")
	for _, want := range []string{"asset.created", "asset.available", "asset.deleted"} {
		if !strings.Contains(joined, want) {
			t.Errorf("events %v lack %s", types, want)
		}
	}
}

func TestAssetValidation(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		body any
		code string
	}{
		{map[string]any{"title": "x"}, CodeValidationFailed},
		{map[string]any{"filename": "../x"}, CodeValidationFailed},
		{map[string]any{"filename": "a", "rights": map[string]any{"redistribution": "world"}}, CodeValidationFailed},
		{map[string]any{"filename": "a", "rights": map[string]any{"allowed_formats": []string{"nope"}}}, CodeValidationFailed},
		{map[string]any{"filename": 3}, CodeValidationFailed},
		{map[string]any{"filename": "a", "rights": map[string]any{"available_until": "tomorrow"}}, CodeValidationFailed},
		{"{", CodeBadRequest},
	}
	for _, c := range cases {
		r := e.do("POST", "/v1/assets", e.admin, c.body, "Content-Type", "application/json")
		if r.StatusCode/100 != 4 || r.obj()["code"] != c.code {
			t.Errorf("%v: %d %s, want code %s", c.body, r.StatusCode, r.body, c.code)
		}
	}
	e.want(e.do("POST", "/v1/assets", e.admin, `{"filename":"a"}`, "Content-Type", "text/plain"), http.StatusUnsupportedMediaType, CodeUnsupportedMedia)
	// `curl -d '{...}'` without -H sends application/x-www-form-urlencoded.
	if r := e.do("POST", "/v1/assets", e.admin, `{"filename":"a"}`, "Content-Type", "application/x-www-form-urlencoded"); r.StatusCode != http.StatusCreated {
		t.Errorf("curl -d style body: %d %s, want 201", r.StatusCode, r.body)
	}
	big := `{"filename":"a","title":"` + strings.Repeat("x", 5<<20) + `"}`
	e.want(e.do("POST", "/v1/assets", e.admin, big, "Content-Type", "application/json"), http.StatusRequestEntityTooLarge, CodeTooLarge)
}

func TestUploadSizeLimit(t *testing.T) {
	e := newEnv(t, func(d *Deps) { d.Config.MaxUploadSize = 100 })
	r := e.do("POST", "/v1/assets", e.admin, map[string]any{"filename": "a.bin"})
	id := r.obj()["id"].(string)
	e.want(e.do("PUT", "/v1/assets/"+id+"/content", e.admin, strings.Repeat("x", 101)), http.StatusRequestEntityTooLarge, CodeTooLarge)
	if s := e.do("GET", "/v1/assets/"+id, e.admin, nil).obj()["state"]; s != "created" {
		t.Fatalf("state after oversized upload: %v", s)
	}
	e.want(e.do("PUT", "/v1/assets/"+id+"/content", e.admin, strings.Repeat("x", 100)), http.StatusOK)
}

func TestScanQuarantines(t *testing.T) {
	e := newEnv(t, func(d *Deps) { d.Config.ScanCommand = `if grep -q EICAR; then echo "found EICAR-Test" >&2; exit 1; fi` })
	a := e.upload(e.admin, map[string]any{"filename": "clean.txt"}, []byte("harmless"))
	if a["state"] != "available" {
		t.Fatalf("clean: %v", a)
	}
	a = e.upload(e.admin, map[string]any{"filename": "v.txt"}, []byte("X5O EICAR payload"))
	if a["state"] != "quarantined" || !strings.Contains(a["state_reason"].(string), "EICAR-Test") {
		t.Fatalf("infected: %v", a)
	}
	e.want(e.do("POST", "/v1/assets/"+a["id"].(string)+"/downloads", e.admin, map[string]any{"format": "original"}), http.StatusConflict, CodeConflict)
	// Declared video, actually HTML.
	a = e.upload(e.admin, map[string]any{"filename": "x.mp4", "content_type": "video/mp4"}, []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"))
	if a["state"] != "quarantined" || !strings.Contains(a["state_reason"].(string), "text/html") {
		t.Fatalf("disguised: %v", a)
	}
}

func TestTypeMismatch(t *testing.T) {
	cases := []struct {
		declared, detected string
		bad                bool
	}{
		{"video/mp4", "video/mp4", false},
		{"video/mp4", "application/octet-stream", false},
		{"video/mp4", "text/html; charset=utf-8", true},
		{"audio/mpeg", "audio/mpeg", false},
		{"audio/mp4", "video/mp4", false},
		{"video/mp4", "image/png", true},
		{"image/png", "image/jpeg", false},
		{"application/pdf", "application/pdf", false},
		{"", "text/html", false},
		{"text/plain", "text/plain; charset=utf-8", false},
		{"video/mp4", "application/pdf", false},
		{"video/mp4", "text/xml; charset=utf-8", true},
	}
	for _, c := range cases {
		if got := typeMismatch(c.declared, c.detected) != ""; got != c.bad {
			t.Errorf("typeMismatch(%q, %q) = %v, want %v", c.declared, c.detected, got, c.bad)
		}
	}
}

func TestUploadStallIsCutOff(t *testing.T) {
	e := newEnv(t, func(d *Deps) { d.Config.UploadIdleTimeout = 300 * time.Millisecond })
	id := e.do("POST", "/v1/assets", e.admin, map[string]any{"filename": "slow.bin"}).obj()["id"].(string)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", e.ts.URL+"/v1/assets/"+id+"/content", pr)
	req.ContentLength = 1000
	req.Header.Set("Authorization", "Bearer "+e.admin)
	done := make(chan int, 1)
	go func() {
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pw.Write([]byte("only a little"))
	select {
	case status := <-done:
		if status != http.StatusRequestTimeout {
			t.Fatalf("stalled upload: status %d, want 408", status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a stalled upload was not cut off")
	}
	pw.Close()
	if st := e.do("GET", "/v1/assets/"+id, e.admin, nil).obj()["state"]; st != "created" {
		t.Fatalf("state after a stalled upload: %v", st)
	}
}

// TestAssetPatchRightsMerge: PATCH /v1/assets/{id} {"rights": {…}} is a
// merge patch of the rights (RFC 7396): members left out keep their value,
// so changing redistribution does not silently re-enable downloads; null
// resets a member; "rights": null resets them all. A bad value is 422 and
// changes nothing.
func TestAssetPatchRightsMerge(t *testing.T) {
	e := newEnv(t)
	a := e.upload(e.admin, map[string]any{"title": "R", "filename": "r.txt"}, []byte("rights"))
	id := a["id"].(string)
	path := "/v1/assets/" + id
	rights := func(r *response) map[string]any {
		t.Helper()
		e.want(r, http.StatusOK)
		return r.obj()["rights"].(map[string]any)
	}

	got := rights(e.do("PATCH", path, e.admin, map[string]any{"rights": map[string]any{"allowed_formats": []string{"original"}, "redistribution": "partner"}}))
	if got["downloadable"] != true || got["redistribution"] != "partner" || len(got["allowed_formats"].([]any)) != 1 {
		t.Fatalf("first patch: %v", got)
	}
	got = rights(e.do("PATCH", path, e.admin, map[string]any{"rights": map[string]any{"downloadable": false}}))
	if got["downloadable"] != false || got["redistribution"] != "partner" || got["allowed_formats"] == nil {
		t.Fatalf("downloadable:false dropped the other rights: %v", got)
	}
	got = rights(e.do("PATCH", path, e.admin, map[string]any{"rights": map[string]any{"redistribution": "public"}}))
	if got["downloadable"] != false || got["redistribution"] != "public" {
		t.Fatalf("redistribution patch changed downloadable: %v", got)
	}
	e.want(e.do("POST", path+"/downloads", e.admin, map[string]any{"format": "original"}), http.StatusForbidden, CodeRightsDenied)

	// A bad member is 422 and leaves the rights alone.
	e.want(e.do("PATCH", path, e.admin, map[string]any{"rights": map[string]any{"downloadable": true, "redistribution": "world"}}), http.StatusUnprocessableEntity, CodeValidationFailed)
	e.want(e.do("PATCH", path, e.admin, map[string]any{"rights": map[string]any{"allowed_formats": []string{"mp4_9000p"}}}), http.StatusUnprocessableEntity, CodeValidationFailed)
	e.want(e.do("PATCH", path, e.admin, map[string]any{"rights": map[string]any{"downloadable": "no"}}), http.StatusUnprocessableEntity, CodeValidationFailed)
	e.want(e.do("PATCH", path, e.admin, map[string]any{"rights": []string{"x"}}), http.StatusUnprocessableEntity, CodeValidationFailed)
	if got := e.do("GET", path, e.admin, nil).obj()["rights"].(map[string]any); got["downloadable"] != false || got["redistribution"] != "public" {
		t.Fatalf("a refused patch changed the rights: %v", got)
	}

	// null resets one member; "rights": null resets all.
	got = rights(e.do("PATCH", path, e.admin, map[string]any{"rights": map[string]any{"allowed_formats": nil, "downloadable": true}}))
	if got["allowed_formats"] != nil || got["downloadable"] != true || got["redistribution"] != "public" {
		t.Fatalf("null member: %v", got)
	}
	e.want(e.do("POST", path+"/downloads", e.admin, map[string]any{"format": "original"}), http.StatusOK)
	got = rights(e.do("PATCH", path, e.admin, map[string]any{"rights": nil}))
	if got["downloadable"] != true || got["redistribution"] != "internal" || got["allowed_formats"] != nil || got["available_until"] != nil {
		t.Fatalf("rights: null: %v", got)
	}
}

// recordingProber stands in for the ffprobe seam and records which assets
// it was asked to probe.
type recordingProber struct {
	mu  sync.Mutex
	ids []string
}

func (p *recordingProber) Probe(_ context.Context, a *store.Asset, _ blob.Object) (json.RawMessage, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ids = append(p.ids, a.ID)
	return nil, errors.New("not media")
}

// TestScanProbesOnlyWhatMayBeMedia: documents, text and archives are not
// handed to the media prober (an ffprobe process each); media and unknown
// binary content are.
func TestScanProbesOnlyWhatMayBeMedia(t *testing.T) {
	prober := &recordingProber{}
	e := newEnv(t, func(d *Deps) { d.Prober = prober })
	probed := map[string]bool{}
	for _, tc := range []struct {
		name    string
		content []byte
		probe   bool
	}{
		{"report.pdf", []byte("%PDF-1.7\n%âãÏÓ\n1 0 obj\n"), false},
		{"notes.txt", []byte("plain words, nothing else\n"), false},
		{"bundle.zip", []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00rest of a zip"), false},
		{"clip.mp4", append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), make([]byte, 64)...), true},
		{"stream.ts", append([]byte{0x47, 0x40, 0x00, 0x10}, make([]byte, 184)...), true},
	} {
		a := e.upload(e.admin, map[string]any{"filename": tc.name}, tc.content)
		e.waitState(e.admin, a["id"].(string))
		probed[a["id"].(string)] = tc.probe
	}
	prober.mu.Lock()
	defer prober.mu.Unlock()
	got := map[string]bool{}
	for _, id := range prober.ids {
		got[id] = true
	}
	for id, want := range probed {
		if got[id] != want {
			t.Errorf("asset %s probed = %v, want %v", id, got[id], want)
		}
	}
}
