package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/haulhq/haul/store"
)

func testExports(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	other := tenant(t, s, "other")
	a := asset(t, s, tn.ID, "a")
	b := asset(t, s, tn.ID, "b")
	o := asset(t, s, other.ID, "o")
	must(t, s.PutRendition(ctx(t), &store.Rendition{TenantID: tn.ID, AssetID: b.ID, Format: "mp4_720p", PresetVersion: 1,
		BlobKey: hex64('5'), Size: 5, Checksum: "sha256:" + hex64('5'), ContentType: "video/mp4"}))

	e := &store.Export{TenantID: tn.ID, Name: "batch", Format: "mp4_720p"}
	items := []store.ExportItem{
		{AssetID: a.ID, PresetVersion: 1, JobID: "job_x", Status: store.ItemProcessing},
		{AssetID: b.ID, PresetVersion: 1, Status: store.ItemReady},
		{AssetID: a.ID, Format: "original"},
	}
	must(t, s.CreateExport(ctx(t), e, items))
	if !store.HasPrefix(e.ID, store.PrefixExport) || e.Status != store.ExportProcessing {
		t.Fatalf("CreateExport filled %+v", e)
	}
	if items[2].Position != 2 || items[0].Format != "mp4_720p" || items[2].Status != store.ItemQueued {
		t.Fatalf("items filled %+v", items)
	}
	// Another tenant's asset is unknown; nothing is stored.
	bad := &store.Export{TenantID: tn.ID, Format: "original"}
	wantCode(t, s.CreateExport(ctx(t), bad, []store.ExportItem{{AssetID: a.ID}, {AssetID: o.ID}}), store.ENOTFOUND)
	if bad.ID != "" {
		if _, err := s.GetExport(ctx(t), tn.ID, bad.ID); store.ErrorCode(err) != store.ENOTFOUND {
			t.Fatalf("failed export was stored: %v", err)
		}
	}

	got, err := s.GetExport(ctx(t), tn.ID, e.ID)
	must(t, err)
	want := store.ItemCounts{Total: 3, Queued: 1, Processing: 1, Ready: 1}
	if got.Counts != want || got.Name != "batch" || got.Format != "mp4_720p" {
		t.Fatalf("GetExport = %+v", got)
	}
	_, err = s.GetExport(ctx(t), other.ID, e.ID)
	wantCode(t, err, store.ENOTFOUND)

	entries, err := s.ListExportEntries(ctx(t), tn.ID, e.ID)
	must(t, err)
	if len(entries) != 3 {
		t.Fatalf("%d entries", len(entries))
	}
	if entries[0].Asset.ID != a.ID || entries[0].Rendition != nil || entries[0].Item.JobID != "job_x" {
		t.Fatalf("entry 0 = %+v", entries[0])
	}
	if entries[1].Asset.ID != b.ID || entries[1].Rendition == nil || entries[1].Rendition.BlobKey != hex64('5') ||
		entries[1].Rendition.Size != 5 {
		t.Fatalf("entry 1 = %+v rendition %+v", entries[1], entries[1].Rendition)
	}
	if entries[2].Item.Format != "original" || entries[2].Rendition != nil || entries[2].Asset.Title != "a" {
		t.Fatalf("entry 2 = %+v", entries[2])
	}
	_, err = s.ListExportEntries(ctx(t), other.ID, e.ID)
	wantCode(t, err, store.ENOTFOUND)

	// Items follow their job.
	touched, err := s.UpdateExportItemsByJob(ctx(t), "job_x", store.ItemReady, "", t0)
	must(t, err)
	if !slices.Equal(touched, []string{e.ID}) {
		t.Fatalf("UpdateExportItemsByJob touched %v", touched)
	}
	touched, err = s.UpdateExportItemsByJob(ctx(t), "job_none", store.ItemReady, "", t0)
	must(t, err)
	if len(touched) != 0 {
		t.Fatalf("unknown job touched %v", touched)
	}
	wantCode(t, s.UpdateExportItem(ctx(t), other.ID, e.ID, 2, store.ItemReady, "", "", t0), store.ENOTFOUND)
	wantCode(t, s.UpdateExportItem(ctx(t), tn.ID, e.ID, 9, store.ItemReady, "", "", t0), store.ENOTFOUND)
	must(t, s.UpdateExportItem(ctx(t), tn.ID, e.ID, 2, store.ItemFailed, "job_y", "asset quarantined", t0))
	entries, err = s.ListExportEntries(ctx(t), tn.ID, e.ID)
	must(t, err)
	if entries[2].Item.Status != store.ItemFailed || entries[2].Item.Error != "asset quarantined" || entries[2].Item.JobID != "job_y" {
		t.Fatalf("item 2 = %+v", entries[2].Item)
	}
	got, err = s.GetExport(ctx(t), tn.ID, e.ID)
	must(t, err)
	if got.Counts != (store.ItemCounts{Total: 3, Ready: 2, Failed: 1}) {
		t.Fatalf("counts = %+v", got.Counts)
	}

	// Listing with pagination.
	e2 := &store.Export{TenantID: tn.ID, Format: "original"}
	must(t, s.CreateExport(ctx(t), e2, []store.ExportItem{{AssetID: b.ID}}))
	must(t, s.CreateExport(ctx(t), &store.Export{TenantID: other.ID, Format: "original"}, []store.ExportItem{{AssetID: o.ID}}))
	list, next, err := s.ListExports(ctx(t), tn.ID, store.Page{Limit: 1})
	must(t, err)
	if len(list) != 1 || list[0].ID != e.ID || next == "" || list[0].Counts.Total != 3 {
		t.Fatalf("first page = %+v next %q", list, next)
	}
	list, next, err = s.ListExports(ctx(t), tn.ID, store.Page{After: next, Limit: 1})
	must(t, err)
	if len(list) != 1 || list[0].ID != e2.ID || next != "" {
		t.Fatalf("second page = %+v next %q", list, next)
	}
}

func testExportsCompleteOnce(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	a := asset(t, s, tn.ID, "a")
	e := &store.Export{TenantID: tn.ID, Format: "original"}
	must(t, s.CreateExport(ctx(t), e, []store.ExportItem{{AssetID: a.ID}, {AssetID: a.ID, Format: "mp4_720p", JobID: "job_1"}}))
	done, err := s.CompleteExport(ctx(t), tn.ID, e.ID, t0)
	must(t, err)
	if done {
		t.Fatal("export with queued items completed")
	}
	must(t, s.UpdateExportItem(ctx(t), tn.ID, e.ID, 0, store.ItemReady, "", "", t0))
	_, err = s.UpdateExportItemsByJob(ctx(t), "job_1", store.ItemFailed, "ffmpeg failed", t0)
	must(t, err)
	results := make([]bool, 10)
	must(t, firstErr(parallel(10, func(i int) error {
		d, err := s.CompleteExport(ctx(t), tn.ID, e.ID, t0.Add(time.Minute))
		results[i] = d
		return err
	})))
	n := 0
	for _, d := range results {
		if d {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d callers completed the export, want 1", n)
	}
	got, err := s.GetExport(ctx(t), tn.ID, e.ID)
	must(t, err)
	if got.Status != store.ExportCompleted {
		t.Fatalf("status = %s", got.Status)
	}
	sameTime(t, "CompletedAt", got.CompletedAt, t0.Add(time.Minute))
	_, err = s.CompleteExport(ctx(t), "ten_other", e.ID, t0)
	wantCode(t, err, store.ENOTFOUND)
}
