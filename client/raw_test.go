package client

import (
	"encoding/json"
	"testing"
)

// TestAPIObjectsEncodeAsSent: SPEC §4 "--json prints the API objects". An
// asset, grant, export, job, webhook or delivery attempt decoded from the server encodes back to
// the server's object: members the client models as zero values (tags [],
// media null, legal_hold false, max_downloads null, error "") and members it does not model
// stay as sent. Objects built in code encode from their fields.
func TestAPIObjectsEncodeAsSent(t *testing.T) {
	tests := []struct {
		name string
		in   string
		v    any
	}{
		{"asset", `{"id":"ast_1","title":"t","filename":"f.txt","content_type":"text/plain","tags":[],"rights":{"downloadable":true,"redistribution":"internal"},"state":"created","size":null,"checksum":null,"media":null,"legal_hold":false,"retention_expires_at":null,"created_at":"2026-11-29T23:30:43.692194Z","updated_at":"2026-11-29T23:30:43.692194Z","upload_url":"http://h/v1/assets/ast_1/content","new_member":{"x":1}}`, &Asset{}},
		{"webhook", `{"id":"whk_1","url":"http://h/x","events":["*"],"disabled":false,"consecutive_failures":0,"created_at":"2026-11-29T23:32:31.887942Z","updated_at":"2026-11-29T23:32:31.887942Z"}`, &Webhook{}},
		{"grant", `{"id":"grt_1","asset_id":"ast_1","policy":"renewable","status":"active","max_downloads":null,"downloads_used":0,"downloads_remaining":null,"access_expires_at":"2026-12-06T23:32:23Z","format":"original","created_at":"2026-11-29T23:32:23.290236Z","updated_at":"2026-11-29T23:32:23.290236Z"}`, &Grant{}},
		{"export", `{"id":"exp_1","format":"original","status":"processing","counts":{"total":1,"queued":1,"processing":0,"ready":0,"failed":0},"manifest_url":"http://h/v1/exports/exp_1/manifest","created_at":"2026-11-29T23:31:04.15228Z"}`, &Export{}},
		{"job", `{"id":"job_1","status":"failed","progress":0,"asset_id":"ast_1","format":"mp4_720p","error":"ffmpeg exited 1","created_at":"2026-11-29T23:32:49.301203Z"}`, &Job{}},
		{"delivery", `{"id":"att_1","delivery_id":"dlv_1","event_id":"evt_1","event_type":"asset.created","attempt":1,"status_code":204,"success":true,"latency_ms":2,"error":"","created_at":"2026-11-29T23:32:34.763438Z"}`, &Delivery{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := json.Unmarshal([]byte(tt.in), tt.v); err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.in {
				t.Errorf("re-encoded\n got %s\nwant %s", out, tt.in)
			}
		})
	}

	var a Asset
	if err := json.Unmarshal([]byte(`{"id":"ast_1","title":"t","state":"available","size":6,"tags":["x"]}`), &a); err != nil {
		t.Fatal(err)
	}
	if a.ID != "ast_1" || a.Size != 6 || len(a.Tags) != 1 {
		t.Errorf("fields not decoded: %+v", a)
	}
	var list []Asset
	if err := json.Unmarshal([]byte(`[{"id":"a","title":"","state":"created","tags":[]},{"id":"b","title":"","state":"created","media":null}]`), &list); err != nil {
		t.Fatal(err)
	}
	if out, _ := json.Marshal(list); string(out) != `[{"id":"a","title":"","state":"created","tags":[]},{"id":"b","title":"","state":"created","media":null}]` {
		t.Errorf("list re-encoded as %s", out)
	}
	// Built in code: encoded from the fields.
	if out, _ := json.Marshal(Asset{ID: "ast_2", State: "created"}); string(out) != `{"id":"ast_2","title":"","state":"created","created_at":"0001-01-01T00:00:00Z"}` {
		t.Errorf("asset built in code encoded as %s", out)
	}
}
