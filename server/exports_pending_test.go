package server

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// An export made right after an upload, while the asset is still being
// scanned, waits for the scan instead of failing the item: the item is
// queued, and turns ready (or failed, when quarantined) once the scan ends.
func TestExportWaitsForScan(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "open")
	e := newEnv(t, func(d *Deps) {
		// The scanner holds every asset in "scanning" until the gate opens,
		// and quarantines content containing BAD.
		d.Config.ScanCommand = `while [ ! -e ` + gate + ` ]; do sleep 0.05; done; if grep -q BAD; then exit 1; fi`
	})
	upload := func(title, body string) string {
		r := e.do("POST", "/v1/assets", e.admin, map[string]any{"title": title, "filename": title + ".txt", "tags": []string{"fresh"}})
		e.want(r, http.StatusCreated)
		a := r.obj()
		e.want(e.do("PUT", a["upload_url"].(string), e.admin, []byte(body)), http.StatusOK)
		return a["id"].(string)
	}
	good, bad := upload("good", "fine bytes"), upload("bad", "BAD bytes")

	r := e.do("POST", "/v1/exports", e.admin, map[string]any{"format": "original", "tag": "fresh"})
	e.want(r, http.StatusAccepted)
	exp := r.obj()
	if exp["status"] != "processing" {
		t.Fatalf("export of scanning assets: %s", r.body)
	}
	id := exp["id"].(string)

	var m struct {
		Status string `json:"status"`
		Items  []struct {
			AssetID string `json:"asset_id"`
			Status  string `json:"status"`
			URL     string `json:"url"`
			Error   *struct {
				Code string `json:"code"`
			} `json:"error"`
		} `json:"items"`
	}
	r = e.do("GET", "/v1/exports/"+id+"/manifest", e.admin, nil)
	e.want(r, http.StatusOK)
	r.json(&m)
	for _, it := range m.Items {
		if it.Status != "queued" || it.URL != "" {
			t.Fatalf("item before the scan ended: %s", r.body)
		}
	}

	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.waitState(e.admin, good)
	e.waitState(e.admin, bad)
	r = e.do("GET", "/v1/exports/"+id+"/manifest?wait=10s", e.admin, nil)
	e.want(r, http.StatusOK)
	r.json(&m)
	if m.Status != "partial" || len(m.Items) != 2 {
		t.Fatalf("manifest after the scan: %s", r.body)
	}
	for _, it := range m.Items {
		switch it.AssetID {
		case good:
			if it.Status != "ready" || it.URL == "" {
				t.Errorf("clean asset's item: %+v", it)
			}
		case bad:
			if it.Status != "failed" || it.Error == nil || it.Error.Code != CodeConflict {
				t.Errorf("quarantined asset's item: %+v", it)
			}
		}
	}
}

// A download asked for while the asset is being scanned is 409 not_ready
// with Retry-After (worth retrying); one never uploaded has no Retry-After.
func TestDownloadWhileScanningSaysRetryAfter(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "open")
	e := newEnv(t, func(d *Deps) {
		d.Config.ScanCommand = `while [ ! -e ` + gate + ` ]; do sleep 0.05; done`
	})
	r := e.do("POST", "/v1/assets", e.admin, map[string]any{"filename": "a.txt"})
	e.want(r, http.StatusCreated)
	a := r.obj()
	id := a["id"].(string)
	r = e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "original"})
	e.want(r, http.StatusConflict, CodeNotReady)
	if r.Header.Get("Retry-After") != "" || r.obj()["state"] != "created" {
		t.Fatalf("never uploaded: %v %s", r.Header, r.body)
	}
	e.want(e.do("PUT", a["upload_url"].(string), e.admin, []byte("bytes")), http.StatusOK)
	r = e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "original"})
	e.want(r, http.StatusConflict, CodeNotReady)
	if st := r.obj()["state"]; r.Header.Get("Retry-After") != "2" || (st != "uploaded" && st != "scanning") {
		t.Fatalf("scanning: %v %s", r.Header, r.body)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.waitState(e.admin, id)
	e.want(e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "original"}), http.StatusOK)
}

// A rendition asked for while the asset is still scanned is "not ready,
// retry" (which formats apply is known once the media is probed), not
// 422 unsupported_format; a format the server has no preset for stays 422.
func TestRenditionWhileScanningIsNotReady(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "open")
	e := newEnv(t, func(d *Deps) {
		d.Renditions = thumbRenditions{st: d.Store}
		d.Config.ScanCommand = `while [ ! -e ` + gate + ` ]; do sleep 0.05; done`
	})
	r := e.do("POST", "/v1/assets", e.admin, map[string]any{"title": "Clip", "filename": "clip.txt"})
	e.want(r, http.StatusCreated)
	a := r.obj()
	id := a["id"].(string)
	e.want(e.do("PUT", a["upload_url"].(string), e.admin, []byte("source")), http.StatusOK)

	r = e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "thumbnail_jpg"})
	e.want(r, http.StatusConflict, CodeNotReady)
	if r.Header.Get("Retry-After") == "" {
		t.Fatalf("no Retry-After while scanning: %v", r.Header)
	}
	e.want(e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "no_such_preset"}), http.StatusUnprocessableEntity, CodeUnsupportedFormat)

	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.waitState(e.admin, id)
	e.want(e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "thumbnail_jpg"}), http.StatusAccepted)
}
