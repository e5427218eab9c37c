package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/haulhq/haul/blob"
	"github.com/haulhq/haul/store"
)

// thumbRenditions is a small Renditions over the real store: it queues
// real jobs; the test plays the worker. It exercises the seam the
// transcode package implements.
type thumbRenditions struct{ st store.Store }

func (thumbRenditions) Formats() []FormatInfo {
	return []FormatInfo{{Name: "thumbnail_jpg", Description: "test thumbnail", Extension: "jpg", ContentType: "image/jpeg", AppliesTo: "any"}}
}
func (thumbRenditions) Allowed(a *store.Asset) []string { return []string{"thumbnail_jpg"} }
func (thumbRenditions) PresetVersion(string) int        { return 1 }
func (r thumbRenditions) Ensure(ctx context.Context, a *store.Asset, format string) (*store.Rendition, *store.Job, error) {
	rend, err := r.st.GetRendition(ctx, a.TenantID, a.ID, format, 1)
	if err == nil {
		return rend, nil, nil
	}
	job, _, err := r.st.CreateJob(ctx, &store.Job{TenantID: a.TenantID, AssetID: a.ID, Format: format, PresetVersion: 1})
	return nil, job, err
}
func (thumbRenditions) EstimateSeconds(context.Context, *store.Job) int { return 3 }

func TestRenditionSeam(t *testing.T) {
	var bs blob.Store
	e := newEnv(t, func(d *Deps) {
		d.Renditions = thumbRenditions{st: d.Store}
		bs = d.Blobs
	})
	a := e.upload(e.admin, map[string]any{"title": "Clip", "filename": "clip.txt"}, []byte("source"))
	id := a["id"].(string)

	r := e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "thumbnail_jpg"})
	e.want(r, http.StatusAccepted)
	acc := r.obj()
	jobID, _ := acc["job_id"].(string)
	if !strings.HasPrefix(jobID, "job_") || acc["status"] != "queued" || acc["estimated_seconds"] != float64(3) ||
		r.Header.Get("Location") != "/v1/jobs/"+jobID || r.Header.Get("Retry-After") != "3" {
		t.Fatalf("202: %s %v", r.body, r.Header)
	}
	if again := e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "thumbnail_jpg"}).obj(); again["job_id"] != jobID {
		t.Fatalf("second request made job %v, want %s", again["job_id"], jobID)
	}
	e.want(e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "mp4_720p"}), http.StatusUnprocessableEntity, CodeUnsupportedFormat)
	if got := e.do("GET", "/v1/jobs/"+jobID, e.admin, nil).obj(); got["status"] != "queued" || got["result"] != nil {
		t.Fatalf("job: %v", got)
	}

	r = e.do("POST", "/v1/exports", e.admin, map[string]any{"format": "thumbnail_jpg", "items": []map[string]any{{"asset_id": id}, {"asset_id": id, "format": "original"}}})
	e.want(r, http.StatusAccepted)
	exp := r.obj()
	if exp["status"] != "processing" {
		t.Fatalf("export: %s", r.body)
	}
	expID := exp["id"].(string)

	type manifest struct {
		Status string `json:"status"`
		Items  []struct {
			Status, URL, Filename string
		} `json:"items"`
	}
	var m manifest
	e.do("GET", "/v1/exports/"+expID+"/manifest", e.admin, nil).json(&m)
	if m.Status != "processing" || m.Items[0].Status != "queued" || m.Items[0].URL != "" || m.Items[1].Status != "ready" {
		t.Fatalf("manifest before: %+v", m)
	}
	if want := "clip_" + id + "_thumbnail_jpg.jpg"; m.Items[0].Filename != want {
		t.Fatalf("filename %q, want %q", m.Items[0].Filename, want)
	}

	// A long-poll wakes when the worker finishes the job.
	polled := make(chan *response, 1)
	go func() { polled <- e.do("GET", "/v1/exports/"+expID+"/manifest?wait=20s", e.admin, nil) }()
	time.Sleep(200 * time.Millisecond)
	ctx := t.Context()
	job, err := e.st.ClaimJob(ctx, "worker-1", time.Now(), time.Minute)
	if err != nil || job == nil || job.ID != jobID {
		t.Fatalf("claim: %v %v", job, err)
	}
	info, err := bs.Put(ctx, strings.NewReader("thumb"), blob.PutOptions{SizeHint: -1})
	if err != nil {
		t.Fatal(err)
	}
	done, err := e.st.CompleteJob(ctx, jobID, "worker-1", &store.Rendition{TenantID: job.TenantID, AssetID: id, Format: "thumbnail_jpg", PresetVersion: 1, BlobKey: info.Key, Size: info.Size, Checksum: "sha256:" + info.Key, ContentType: "image/jpeg"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := e.srv.JobFinished(ctx, done); err != nil {
		t.Fatal(err)
	}
	got := <-polled
	if time.Since(start) > 5*time.Second {
		t.Fatal("long-poll did not wake on JobFinished")
	}
	got.json(&m)
	if m.Status != "ready" || m.Items[0].Status != "ready" || m.Items[0].URL == "" {
		t.Fatalf("manifest after: %s", got.body)
	}
	if body := e.do("GET", m.Items[0].URL, "", nil).body; string(body) != "thumb" {
		t.Fatalf("rendition download %q", body)
	}

	j := e.do("GET", "/v1/jobs/"+jobID, e.admin, nil).obj()
	res, _ := j["result"].(map[string]any)
	if j["status"] != "succeeded" || j["progress"] != float64(1) || res == nil || !strings.Contains(res["download_url"].(string), "/thumbnail_jpg/") {
		t.Fatalf("job after: %v", j)
	}
	r = e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "thumbnail_jpg"})
	e.want(r, http.StatusOK)
	if d := r.obj(); d["content_type"] != "image/jpeg" || d["size"] != float64(5) || d["filename"] != "clip_thumbnail_jpg.jpg" {
		t.Fatalf("200: %s", r.body)
	}
	// The rendition's name differs from the original's; a caller's name wins.
	if d := e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "original"}).obj(); d["filename"] != "clip.txt" {
		t.Fatalf("original filename %v", d["filename"])
	}
	if d := e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "thumbnail_jpg", "filename": "poster.jpg"}).obj(); d["filename"] != "poster.jpg" {
		t.Fatalf("filename override %v", d["filename"])
	}
	var l struct{ Data []FormatInfo }
	e.do("GET", "/v1/formats", e.admin, nil).json(&l)
	if len(l.Data) != 2 || l.Data[1].Name != "thumbnail_jpg" {
		t.Fatalf("formats: %+v", l)
	}
}
