package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/haulhq/haul/client"
)

func TestJobsShowGolden(t *testing.T) {
	f := newFakeAPI(t)
	created := fakeNow.Add(-90 * time.Second)
	started := fakeNow.Add(-60 * time.Second)
	f.jobs["job_01"] = []client.Job{{ID: "job_01", Status: client.JobProcessing, Progress: 0.42, AssetID: "ast_01", Format: "mp4_720p",
		EstimatedSeconds: 75, CreatedAt: &created, StartedAt: &started}}
	base, out, _ := f.options(t, "tok-read")
	if err := runJobsShow(context.Background(), &jobsShowOptions{apiOptions: base, ID: "job_01"}); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "jobs_show.txt", []byte(out.String()))
}

func TestJobsShowWait(t *testing.T) {
	f := newFakeAPI(t)
	fin := fakeNow
	f.jobs["job_01"] = []client.Job{
		{ID: "job_01", Status: client.JobQueued},
		{ID: "job_01", Status: client.JobProcessing, Progress: 0.3},
		{ID: "job_01", Status: client.JobProcessing, Progress: 0.6},
		{ID: "job_01", Status: client.JobSucceeded, Progress: 1, FinishedAt: &fin, Result: &client.Download{
			DownloadURL: "http://h/dl/x?sig=1", Filename: "x_ast_01_mp4_720p.mp4", Size: 2048, Checksum: "sha256:" + strings.Repeat("0", 64)}},
	}
	base, out, errOut := f.options(t, "tok-read")
	if err := runJobsShow(context.Background(), &jobsShowOptions{apiOptions: base, ID: "job_01", Wait: true}); err != nil {
		t.Fatal(err)
	}
	wantLines := "job job_01: queued 0%\njob job_01: processing 30%\njob job_01: processing 60%\njob job_01: succeeded 100%\n"
	if errOut.String() != wantLines {
		t.Errorf("progress lines:\n%s\nwant\n%s", errOut, wantLines)
	}
	if !strings.Contains(out.String(), "Status:       succeeded") || !strings.Contains(out.String(), "Filename:     x_ast_01_mp4_720p.mp4") {
		t.Errorf("output:\n%s", out)
	}
}

func TestJobsShowWaitFailed(t *testing.T) {
	f := newFakeAPI(t)
	f.jobs["job_02"] = []client.Job{{ID: "job_02", Status: client.JobFailed, Progress: 0.1, Error: &client.JobError{Code: "transcode_failed", Detail: "no video stream"}}}
	code, out, errOut := runAPICmd(t, f.srv.URL, "tok-read", "jobs", "show", "--wait", "--json", "job_02")
	if code != exitError || !strings.Contains(errOut, "job job_02 failed: no video stream (transcode_failed)") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	var j client.Job
	if err := json.Unmarshal([]byte(out), &j); err != nil || j.Status != client.JobFailed {
		t.Errorf("stdout %q", out)
	}
}

func seedExports(f *fakeAPI) {
	created := fakeNow.Add(-5 * time.Minute)
	done := fakeNow.Add(-time.Minute)
	f.exports = append(f.exports,
		&client.Export{ID: "exp_01", Name: "Season 1 for partner", Format: "mp4_720p", Status: "processing", ManifestURL: "/v1/exports/exp_01/manifest",
			Counts: &client.ExportCounts{Total: 12, Queued: 4, Processing: 2, Ready: 5, Failed: 1}, CreatedAt: &created},
		&client.Export{ID: "exp_02", Format: "original", Status: "ready", ManifestURL: "/v1/exports/exp_02/manifest",
			Counts: &client.ExportCounts{Total: 3, Ready: 3}, CreatedAt: &created, CompletedAt: &done},
	)
	f.manifests["exp_01"] = []string{`{"version":1,"id":"exp_01","status":"processing","self":"http://{{host}}/v1/exports/exp_01/manifest","items":[
		{"id":"itm_1","asset_id":"ast_01","format":"mp4_720p","status":"ready","filename":"opening-titles_ast_01_mp4_720p.mp4","url":"http://{{host}}/dl/a?exp=1&sig=abc","size":1048576,"checksum":"sha256:` + strings.Repeat("ab", 32) + `"},
		{"id":"itm_2","asset_id":"ast_02","format":"mp4_720p","status":"processing","filename":"ep01_ast_02_mp4_720p.mp4"},
		{"id":"itm_3","asset_id":"ast_03","format":"mp4_720p","status":"failed","filename":"poster_ast_03_mp4_720p.mp4","error":{"code":"unsupported_format","detail":"not a video"}}]}`}
}

func TestExportsListGolden(t *testing.T) {
	f := newFakeAPI(t)
	seedExports(f)
	base, out, _ := f.options(t, "tok-read")
	if err := runExportsList(context.Background(), &exportsListOptions{apiOptions: base, Limit: 100}); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "exports_list.txt", []byte(out.String()))
}

func TestExportsShowGolden(t *testing.T) {
	f := newFakeAPI(t)
	seedExports(f)
	base, out, _ := f.options(t, "tok-read")
	if err := runExportsShow(context.Background(), &exportsShowOptions{apiOptions: base, ID: "exp_01", Items: true}); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "exports_show.txt", []byte(out.String()))
}

func TestExportsShowJSONStripsSignatures(t *testing.T) {
	f := newFakeAPI(t)
	seedExports(f)
	code, out, errOut := runAPICmd(t, f.srv.URL, "tok-read", "exports", "show", "exp_01", "--items", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, "sig=") {
		t.Errorf("signed URL printed: %s", out)
	}
	var got struct {
		Export   client.Export `json:"export"`
		Manifest struct {
			Items []struct {
				URL string `json:"url"`
			} `json:"items"`
		} `json:"manifest"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Export.ID != "exp_01" || !strings.HasSuffix(got.Manifest.Items[0].URL, "/dl/a") {
		t.Errorf("json %v: %s", err, out)
	}
}
