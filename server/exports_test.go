package server

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/haulhq/haul/store"
)

func TestExportFlow(t *testing.T) {
	e := newEnv(t)
	a1 := e.upload(e.admin, map[string]any{"title": "Épisode 1: The Start!", "filename": "ep1.MP4", "tags": []string{"s1"}}, []byte("one"))
	a2 := e.upload(e.admin, map[string]any{"title": "", "filename": "ep2.txt", "tags": []string{"s1"}}, []byte("two"))
	other := e.newKey("acme", "admin")
	foreign := e.upload(other, map[string]any{"filename": "f.txt"}, []byte("foreign"))

	// Unknown ids and other tenants' ids are the same 422.
	r := e.do("POST", "/v1/exports", e.admin, map[string]any{"format": "original", "items": []map[string]any{{"asset_id": a1["id"]}, {"asset_id": "ast_nope"}, {"asset_id": foreign["id"]}}})
	e.want(r, http.StatusUnprocessableEntity, CodeValidationFailed)
	unknown, _ := r.obj()["unknown_assets"].([]any)
	if len(unknown) != 2 || unknown[0] != "ast_nope" || unknown[1] != foreign["id"] {
		t.Fatalf("unknown_assets: %s", r.body)
	}
	e.want(e.do("POST", "/v1/exports", e.admin, map[string]any{"format": "nope", "tag": "s1"}), http.StatusUnprocessableEntity, CodeUnsupportedFormat)
	e.want(e.do("POST", "/v1/exports", e.admin, map[string]any{"format": "original"}), http.StatusUnprocessableEntity, CodeValidationFailed)

	r = e.do("POST", "/v1/exports", e.admin, map[string]any{"name": "season 1", "format": "original", "tag": "s1"})
	e.want(r, http.StatusAccepted)
	exp := r.obj()
	id := exp["id"].(string)
	if !strings.HasPrefix(id, "exp_") || exp["status"] != "ready" || exp["manifest_url"] != e.ts.URL+"/v1/exports/"+id+"/manifest" {
		t.Fatalf("export: %s", r.body)
	}
	r = e.do("GET", "/v1/exports/"+id, e.admin, nil)
	e.want(r, http.StatusOK)
	counts := r.obj()["counts"].(map[string]any)
	if counts["total"] != float64(2) || counts["ready"] != float64(2) {
		t.Fatalf("counts: %s", r.body)
	}

	var m struct {
		Version int    `json:"version"`
		Status  string `json:"status"`
		Self    string `json:"self"`
		Items   []struct {
			AssetID  string `json:"asset_id"`
			Status   string `json:"status"`
			Filename string `json:"filename"`
			URL      string `json:"url"`
			Size     int64  `json:"size"`
			Checksum string `json:"checksum"`
		} `json:"items"`
	}
	r = e.do("GET", "/v1/exports/"+id+"/manifest", e.admin, nil)
	e.want(r, http.StatusOK)
	r.json(&m)
	if m.Version != 1 || m.Status != "ready" || m.Self != exp["manifest_url"] || len(m.Items) != 2 {
		t.Fatalf("manifest: %s", r.body)
	}
	want1 := "episode-1-the-start_" + a1["id"].(string) + "_original.mp4"
	want2 := "ep2_" + a2["id"].(string) + "_original.txt"
	if m.Items[0].Filename != want1 || m.Items[1].Filename != want2 {
		t.Fatalf("filenames %q %q, want %q %q", m.Items[0].Filename, m.Items[1].Filename, want1, want2)
	}
	got := e.do("GET", m.Items[1].URL, "", nil)
	e.want(got, http.StatusOK)
	sum := sha256.Sum256(got.body)
	if string(got.body) != "two" || m.Items[1].Checksum != "sha256:"+hexOf(sum[:]) || m.Items[1].Size != 3 {
		t.Fatalf("item download: %q %+v", got.body, m.Items[1])
	}
	// ?wait= on a finished export answers at once.
	start := time.Now()
	e.want(e.do("GET", "/v1/exports/"+id+"/manifest?wait=30s", e.admin, nil), http.StatusOK)
	if time.Since(start) > 5*time.Second {
		t.Fatal("wait on a finished export blocked")
	}
	e.want(e.do("GET", "/v1/exports/"+id+"/manifest?wait=soon", e.admin, nil), http.StatusUnprocessableEntity, CodeValidationFailed)

	// Another tenant sees nothing.
	e.want(e.do("GET", "/v1/exports/"+id, other, nil), http.StatusNotFound, CodeNotFound)
	e.want(e.do("GET", "/v1/exports/"+id+"/manifest", other, nil), http.StatusNotFound, CodeNotFound)

	// export.completed recorded once.
	evs, _, err := e.st.ListEvents(t.Context(), tenantIDOf(t, e), storeEventFilter())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Type == "export.completed" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d export.completed events", n)
	}

	var list struct {
		Data []map[string]any `json:"data"`
	}
	e.do("GET", "/v1/exports", e.admin, nil).json(&list)
	if len(list.Data) != 1 || list.Data[0]["id"] != id {
		t.Fatalf("list: %+v", list)
	}
}

func TestExportItemFailures(t *testing.T) {
	e := newEnv(t)
	ok := e.upload(e.admin, map[string]any{"filename": "a.txt"}, []byte("a"))
	denied := e.upload(e.admin, map[string]any{"filename": "b.txt", "rights": map[string]any{"downloadable": false}}, []byte("b"))
	r := e.do("POST", "/v1/exports", e.admin, map[string]any{"items": []map[string]any{{"asset_id": ok["id"]}, {"asset_id": denied["id"]}}})
	e.want(r, http.StatusAccepted)
	if r.obj()["status"] != "partial" {
		t.Fatalf("export: %s", r.body)
	}
	var m struct {
		Status string `json:"status"`
		Items  []struct {
			Status string `json:"status"`
			URL    string `json:"url"`
			Error  *struct {
				Code string `json:"code"`
			} `json:"error"`
		} `json:"items"`
	}
	e.do("GET", "/v1/exports/"+r.obj()["id"].(string)+"/manifest", e.admin, nil).json(&m)
	if m.Status != "partial" || m.Items[0].Status != "ready" || m.Items[1].Status != "failed" || m.Items[1].Error == nil || m.Items[1].Error.Code != CodeRightsDenied || m.Items[1].URL != "" {
		t.Fatalf("manifest: %+v", m)
	}
}

func TestExportBatchCap(t *testing.T) {
	e := newEnv(t, func(d *Deps) { d.Config.MaxBatchItems = 3 })
	items := []map[string]any{}
	for i := 0; i < 4; i++ {
		items = append(items, map[string]any{"asset_id": "ast_x"})
	}
	r := e.do("POST", "/v1/exports", e.admin, map[string]any{"items": items})
	e.want(r, http.StatusRequestEntityTooLarge, CodeTooManyItems)
	if !strings.Contains(r.obj()["detail"].(string), "at most 3") {
		t.Fatalf("detail: %s", r.body)
	}
}

func TestSlug(t *testing.T) {
	cases := map[string]string{
		"Épisode 1: The Start!":   "episode-1-the-start",
		"":                        "asset",
		"---":                     "asset",
		"日本語":                     "asset",
		strings.Repeat("ab ", 50): strings.TrimRight(strings.Repeat("ab-", 27)[:80], "-"),
	}
	for in, want := range cases {
		if got := slug(in); got != want || len(got) > 80 {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExportDuplicateItemsAreOne(t *testing.T) {
	e := newEnv(t)
	a := e.upload(e.admin, map[string]any{"filename": "a.txt"}, []byte("a"))
	r := e.do("POST", "/v1/exports", e.admin, map[string]any{"format": "original", "items": []map[string]any{
		{"asset_id": a["id"]}, {"asset_id": a["id"], "format": "original"}, {"asset_id": a["id"]},
	}})
	e.want(r, http.StatusAccepted)
	var m struct {
		Items []struct {
			Filename string `json:"filename"`
		} `json:"items"`
	}
	e.do("GET", "/v1/exports/"+r.obj()["id"].(string)+"/manifest", e.admin, nil).json(&m)
	if len(m.Items) != 1 {
		t.Fatalf("manifest has %d items for one asset and format: %+v", len(m.Items), m.Items)
	}
}

func TestExportCompletedEventURL(t *testing.T) {
	// Webhook consumers get an absolute manifest_url when --public-url is set.
	e := newEnv(t, func(d *Deps) { d.Config.PublicURL = "https://media.example.com" })
	cr := e.do("POST", "/v1/assets", e.admin, map[string]any{"filename": "a.txt"})
	e.want(cr, http.StatusCreated)
	a := cr.obj()
	e.want(e.do("PUT", "/v1/assets/"+a["id"].(string)+"/content", e.admin, []byte("a")), http.StatusOK)
	e.waitState(e.admin, a["id"].(string))
	r := e.do("POST", "/v1/exports", e.admin, map[string]any{"format": "original", "items": []map[string]any{{"asset_id": a["id"]}}})
	e.want(r, http.StatusAccepted)
	id := r.obj()["id"].(string)
	evs, _, err := e.st.ListEvents(t.Context(), tenantIDOf(t, e), storeEventFilter())
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Type != "export.completed" {
			continue
		}
		var d struct {
			ManifestURL string `json:"manifest_url"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil || d.ManifestURL != "https://media.example.com/v1/exports/"+id+"/manifest" {
			t.Fatalf("export.completed manifest_url %q (%v)", d.ManifestURL, err)
		}
		return
	}
	t.Fatal("no export.completed event")
}

// pickyRenditions offers thumbnail_jpg for .mp4 files and audio_m4a for
// .mp4 and .mp3 files: formats that apply to some assets only.
type pickyRenditions struct{ thumbRenditions }

func (pickyRenditions) Formats() []FormatInfo {
	return []FormatInfo{
		{Name: "thumbnail_jpg", Extension: "jpg", ContentType: "image/jpeg", AppliesTo: "video"},
		{Name: "audio_m4a", Extension: "m4a", ContentType: "audio/mp4", AppliesTo: "audio, video"},
	}
}

func (pickyRenditions) Allowed(a *store.Asset) []string {
	switch {
	case strings.HasSuffix(a.Filename, ".mp4"):
		return []string{"thumbnail_jpg", "audio_m4a"}
	case strings.HasSuffix(a.Filename, ".mp3"):
		return []string{"audio_m4a"}
	}
	return nil
}

func TestExportFormatNoItemCanTake(t *testing.T) {
	e := newEnv(t, func(d *Deps) { d.Renditions = pickyRenditions{thumbRenditions{st: d.Store}} })
	id := func(a map[string]any) string { return a["id"].(string) }
	doc := id(e.upload(e.admin, map[string]any{"filename": "a.pdf", "tags": []string{"docs", "mixed"}}, []byte("pdf")))
	song := id(e.upload(e.admin, map[string]any{"filename": "b.mp3", "tags": []string{"docs"}}, []byte("mp3")))
	e.upload(e.admin, map[string]any{"filename": "c.mp4", "tags": []string{"mixed"}}, []byte("mp4"))
	items := func(ids ...string) []map[string]any {
		var out []map[string]any
		for _, id := range ids {
			out = append(out, map[string]any{"asset_id": id})
		}
		return out
	}

	refused := []struct {
		name    string
		body    map[string]any
		allowed []any
	}{
		{"one item", map[string]any{"format": "thumbnail_jpg", "items": items(song)}, []any{"original", "audio_m4a"}},
		{"no item", map[string]any{"format": "thumbnail_jpg", "items": items(song, doc)}, []any{"original"}},
		{"tag", map[string]any{"format": "thumbnail_jpg", "tag": "docs"}, []any{"original"}},
		{"per-item formats", map[string]any{"format": "thumbnail_jpg", "items": []map[string]any{{"asset_id": doc, "format": "audio_m4a"}, {"asset_id": song}}}, []any{"original"}},
	}
	for _, tt := range refused {
		r := e.do("POST", "/v1/exports", e.admin, tt.body)
		e.want(r, http.StatusUnprocessableEntity, CodeUnsupportedFormat)
		if got := r.obj()["allowed_formats"]; !reflect.DeepEqual(got, tt.allowed) {
			t.Errorf("%s: allowed_formats %v, want %v", tt.name, got, tt.allowed)
		}
	}
	var list struct{ Data []any }
	e.do("GET", "/v1/exports", e.admin, nil).json(&list)
	if len(list.Data) != 0 {
		t.Fatalf("a refused export was created: %+v", list.Data)
	}

	// Mixed: the items that can take the format are prepared, the others
	// fail one by one.
	for _, body := range []map[string]any{
		{"format": "thumbnail_jpg", "tag": "mixed"},
		{"format": "audio_m4a", "items": items(doc, song)},
		{"format": "thumbnail_jpg", "items": []map[string]any{{"asset_id": song}, {"asset_id": doc, "format": "original"}}},
	} {
		r := e.do("POST", "/v1/exports", e.admin, body)
		e.want(r, http.StatusAccepted)
		var m struct {
			Items []struct {
				AssetID string `json:"asset_id"`
				Status  string `json:"status"`
				Error   *struct{ Code string }
			} `json:"items"`
		}
		e.do("GET", "/v1/exports/"+r.obj()["id"].(string)+"/manifest", e.admin, nil).json(&m)
		failed := 0
		for _, it := range m.Items {
			if it.Status == "failed" {
				failed++
				if it.Error == nil || it.Error.Code != CodeUnsupportedFormat {
					t.Errorf("%v: failed item %+v", body, it)
				}
			}
		}
		if len(m.Items) != 2 || failed != 1 {
			t.Errorf("%v: manifest %+v, want 2 items, 1 failed", body, m)
		}
	}
}

func TestManifestFilenameExtensionFromType(t *testing.T) {
	e := newEnv(t)
	cases := []struct{ filename, contentType, ext string }{
		{"z", "video/mp4", ".mp4"},
		{"z", "application/octet-stream", ".bin"},
		{"notes", "text/plain; charset=utf-8", ".txt"},
		{"z.", "image/png", ".png"},
		{"z", "application/x-unheard-of", ".bin"},
		{"Clip.MOV", "video/mp4", ".mov"},
	}
	var items []map[string]any
	want := map[string]string{}
	for _, c := range cases {
		a := e.upload(e.admin, map[string]any{"title": "Ab", "filename": c.filename, "content_type": c.contentType}, []byte("bytes"))
		id := a["id"].(string)
		items = append(items, map[string]any{"asset_id": id})
		want[id] = "ab_" + id + "_original" + c.ext
	}
	r := e.do("POST", "/v1/exports", e.admin, map[string]any{"items": items})
	e.want(r, http.StatusAccepted)
	var m struct {
		Items []struct {
			AssetID  string `json:"asset_id"`
			Filename string `json:"filename"`
		} `json:"items"`
	}
	e.do("GET", "/v1/exports/"+r.obj()["id"].(string)+"/manifest", e.admin, nil).json(&m)
	if len(m.Items) != len(cases) {
		t.Fatalf("manifest: %+v", m)
	}
	for _, it := range m.Items {
		if it.Filename != want[it.AssetID] {
			t.Errorf("filename %q, want %q", it.Filename, want[it.AssetID])
		}
	}
}

// TestManifestStatusFollowsItems: an item that fails when the manifest is
// read (rights changed, asset deleted after the export completed) makes the
// manifest's status partial or failed, never "ready" with failed items
// (SPEC §1: status processing | ready | partial | failed).
func TestManifestStatusFollowsItems(t *testing.T) {
	e := newEnv(t)
	a := e.upload(e.admin, map[string]any{"title": "A", "filename": "a.txt"}, []byte("aaa"))
	b := e.upload(e.admin, map[string]any{"title": "B", "filename": "b.txt"}, []byte("bbb"))
	r := e.do("POST", "/v1/exports", e.admin, map[string]any{"format": "original", "items": []map[string]any{{"asset_id": a["id"]}, {"asset_id": b["id"]}}})
	e.want(r, http.StatusAccepted)
	id := r.obj()["id"].(string)
	manifest := func() map[string]any {
		t.Helper()
		r := e.do("GET", "/v1/exports/"+id+"/manifest?wait=5s", e.admin, nil)
		e.want(r, http.StatusOK)
		return r.obj()
	}
	if m := manifest(); m["status"] != "ready" {
		t.Fatalf("manifest before: %v", m["status"])
	}
	e.want(e.do("PATCH", "/v1/assets/"+a["id"].(string), e.admin, map[string]any{"rights": map[string]any{"downloadable": false}}), http.StatusOK)
	m := manifest()
	items := m["items"].([]any)
	if m["status"] != "partial" || items[0].(map[string]any)["status"] != "failed" || items[1].(map[string]any)["status"] != "ready" {
		t.Fatalf("one item denied: status %v, items %v", m["status"], items)
	}
	e.want(e.do("DELETE", "/v1/assets/"+b["id"].(string), e.admin, nil), http.StatusNoContent)
	if m := manifest(); m["status"] != "failed" {
		t.Fatalf("every item failed: status %v, items %v", m["status"], m["items"])
	}
}
