package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/haulhq/haul/store"
)

func testAssetsCreateGet(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	until := t0.Add(30 * 24 * time.Hour)
	a := &store.Asset{
		TenantID: tn.ID, Title: "Launch video", Filename: "launch.mp4", ContentType: "video/mp4",
		Tags: []string{"launch", "2026", "launch"},
		Rights: store.Rights{Downloadable: true, AllowedFormats: []string{"original", "mp4_720p"},
			AvailableUntil: &until, Redistribution: store.RedistributionPartner},
		RetentionExpiresAt: t0.Add(365 * 24 * time.Hour),
	}
	must(t, s.CreateAsset(ctx(t), a))
	if !store.HasPrefix(a.ID, store.PrefixAsset) || a.State != store.AssetCreated || a.CreatedAt.IsZero() || a.UpdatedAt.IsZero() {
		t.Fatalf("CreateAsset filled %+v", a)
	}
	if !slices.Equal(a.Tags, []string{"launch", "2026"}) {
		t.Fatalf("tags not deduplicated: %v", a.Tags)
	}
	got, err := s.GetAsset(ctx(t), tn.ID, a.ID)
	must(t, err)
	if got.Title != a.Title || got.Filename != a.Filename || got.ContentType != a.ContentType ||
		!slices.Equal(got.Tags, a.Tags) || got.State != store.AssetCreated || got.TenantID != tn.ID {
		t.Fatalf("GetAsset = %+v", got)
	}
	if got.Rights.Downloadable != true || !slices.Equal(got.Rights.AllowedFormats, a.Rights.AllowedFormats) ||
		got.Rights.AvailableUntil == nil || !got.Rights.AvailableUntil.Equal(until) || got.Rights.Redistribution != "partner" {
		t.Fatalf("rights = %+v", got.Rights)
	}
	sameTime(t, "RetentionExpiresAt", got.RetentionExpiresAt, a.RetentionExpiresAt)
	sameTime(t, "CreatedAt", got.CreatedAt, a.CreatedAt)
	if !got.DeletedAt.IsZero() || !got.PurgedAt.IsZero() || got.LegalHold || got.Media != nil {
		t.Fatalf("unset fields came back set: %+v", got)
	}
	if got.Tags == nil {
		t.Fatal("Tags is nil, want empty or values")
	}
	noTags := &store.Asset{TenantID: tn.ID, Title: "x", Filename: "x"}
	must(t, s.CreateAsset(ctx(t), noTags))
	got, err = s.GetAsset(ctx(t), tn.ID, noTags.ID)
	must(t, err)
	if got.Tags == nil || len(got.Tags) != 0 {
		t.Fatalf("no tags came back as %#v", got.Tags)
	}

	_, err = s.GetAsset(ctx(t), tn.ID, "ast_missing")
	wantCode(t, err, store.ENOTFOUND)
	wantCode(t, s.CreateAsset(ctx(t), &store.Asset{TenantID: "ten_missing", Title: "x"}), store.ENOTFOUND)
	wantCode(t, s.CreateAsset(ctx(t), &store.Asset{ID: a.ID, TenantID: tn.ID, Title: "dup"}), store.ECONFLICT)
}

func testAssetsUpdate(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	a := &store.Asset{TenantID: tn.ID, Title: "raw", Filename: "raw.mov", Tags: []string{"a"}}
	must(t, s.CreateAsset(ctx(t), a))
	media := json.RawMessage(`{"duration":12.5,"width":1280,"height":720}`)
	t1 := t0.Add(time.Minute)
	got, err := s.UpdateAsset(ctx(t), tn.ID, a.ID, t1, func(x *store.Asset) error {
		if x.State != store.AssetCreated {
			return fmt.Errorf("state %s", x.State)
		}
		x.State = store.AssetAvailable
		x.Size, x.Checksum, x.BlobKey = 1234, "sha256:"+hex64('b'), hex64('b')
		x.Media = media
		x.Tags = []string{"b", "c"}
		x.LegalHold = true
		x.ID, x.TenantID, x.CreatedAt = "ast_hijack", "ten_hijack", time.Time{} // ignored
		return nil
	})
	must(t, err)
	if got.ID != a.ID || got.TenantID != tn.ID || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("immutable fields changed: %+v", got)
	}
	sameTime(t, "UpdatedAt", got.UpdatedAt, t1)
	re, err := s.GetAsset(ctx(t), tn.ID, a.ID)
	must(t, err)
	if re.State != store.AssetAvailable || re.Size != 1234 || re.BlobKey != hex64('b') || !re.LegalHold ||
		!slices.Equal(re.Tags, []string{"b", "c"}) {
		t.Fatalf("update not stored: %+v", re)
	}
	var m map[string]any
	must(t, json.Unmarshal(re.Media, &m))
	if m["width"] != float64(1280) {
		t.Fatalf("media = %s", re.Media)
	}
	// The tag index follows the update.
	for tag, want := range map[string]int{"a": 0, "b": 1, "c": 1} {
		list, _, err := s.ListAssets(ctx(t), tn.ID, store.AssetFilter{Tag: tag})
		must(t, err)
		if len(list) != want {
			t.Fatalf("tag %q lists %d assets, want %d", tag, len(list), want)
		}
	}
	// fn's error aborts and is returned as is; nothing changes.
	boom := errors.New("boom")
	_, err = s.UpdateAsset(ctx(t), tn.ID, a.ID, t1, func(x *store.Asset) error { x.Title = "changed"; return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("fn error = %v", err)
	}
	re, err = s.GetAsset(ctx(t), tn.ID, a.ID)
	must(t, err)
	if re.Title != "raw" {
		t.Fatal("aborted update was stored")
	}
	_, err = s.UpdateAsset(ctx(t), tn.ID, "ast_missing", t1, func(*store.Asset) error { return nil })
	wantCode(t, err, store.ENOTFOUND)
	// Clearing optional times.
	_, err = s.UpdateAsset(ctx(t), tn.ID, a.ID, t1, func(x *store.Asset) error {
		x.RetentionExpiresAt = t0
		return nil
	})
	must(t, err)
	re, err = s.UpdateAsset(ctx(t), tn.ID, a.ID, t1, func(x *store.Asset) error {
		x.RetentionExpiresAt = time.Time{}
		x.Media = nil
		return nil
	})
	must(t, err)
	re, err = s.GetAsset(ctx(t), tn.ID, a.ID)
	must(t, err)
	if !re.RetentionExpiresAt.IsZero() || re.Media != nil {
		t.Fatalf("cleared fields = %v, %s", re.RetentionExpiresAt, re.Media)
	}
}

func testAssetsListPagination(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	other := tenant(t, s, "other")
	var ids []string
	for i := range 25 {
		ids = append(ids, asset(t, s, tn.ID, fmt.Sprint("a", i)).ID)
		asset(t, s, other.ID, fmt.Sprint("o", i))
	}
	if !slices.IsSorted(ids) {
		t.Fatal("asset IDs are not increasing in creation order")
	}
	var got []string
	cursor := ""
	pages := 0
	for {
		list, next, err := s.ListAssets(ctx(t), tn.ID, store.AssetFilter{Page: store.Page{After: cursor, Limit: 10}})
		must(t, err)
		pages++
		for _, a := range list {
			got = append(got, a.ID)
		}
		// Create an asset between pages: it sorts last and shows up at the end.
		if pages == 1 {
			ids = append(ids, asset(t, s, tn.ID, "late").ID)
		}
		if next == "" {
			break
		}
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		cursor = next
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("paged ids = %v\nwant %v", got, ids)
	}
	if pages != 3 {
		t.Fatalf("%d pages, want 3", pages)
	}
	// A page that ends exactly at the last item has no next cursor.
	list, next, err := s.ListAssets(ctx(t), tn.ID, store.AssetFilter{Page: store.Page{Limit: 26}})
	must(t, err)
	if len(list) != 26 || next != "" {
		t.Fatalf("exact page: %d items, next %q", len(list), next)
	}
	list, _, err = s.ListAssets(ctx(t), tn.ID, store.AssetFilter{})
	must(t, err)
	if len(list) != 26 {
		t.Fatalf("default limit listed %d", len(list))
	}
}

func testAssetsListTagAndState(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	other := tenant(t, s, "other")
	a := asset(t, s, tn.ID, "a", "red", "blue")
	b := asset(t, s, tn.ID, "b", "red")
	c := asset(t, s, tn.ID, "c")
	asset(t, s, other.ID, "o", "red")
	_, err := s.UpdateAsset(ctx(t), tn.ID, b.ID, t0, func(x *store.Asset) error {
		x.State, x.DeletedAt = store.AssetDeleted, t0
		return nil
	})
	must(t, err)

	ids := func(list []*store.Asset) []string {
		var out []string
		for _, a := range list {
			out = append(out, a.ID)
		}
		return out
	}
	tests := []struct {
		name string
		f    store.AssetFilter
		want []string
	}{
		{"all but deleted", store.AssetFilter{}, []string{a.ID, c.ID}},
		{"tag red", store.AssetFilter{Tag: "red"}, []string{a.ID}},
		{"tag blue", store.AssetFilter{Tag: "blue"}, []string{a.ID}},
		{"tag none", store.AssetFilter{Tag: "green"}, nil},
		{"deleted", store.AssetFilter{States: []store.AssetState{store.AssetDeleted}}, []string{b.ID}},
		{"deleted red", store.AssetFilter{Tag: "red", States: []store.AssetState{store.AssetDeleted, store.AssetAvailable}}, []string{a.ID, b.ID}},
	}
	for _, tt := range tests {
		list, next, err := s.ListAssets(ctx(t), tn.ID, tt.f)
		must(t, err)
		if !slices.Equal(ids(list), tt.want) || next != "" {
			t.Errorf("%s: got %v next %q, want %v", tt.name, ids(list), next, tt.want)
		}
	}
}

func testAssetsGetMany(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	other := tenant(t, s, "other")
	a := asset(t, s, tn.ID, "a")
	b := asset(t, s, tn.ID, "b")
	o := asset(t, s, other.ID, "o")
	got, err := s.GetAssets(ctx(t), tn.ID, []string{b.ID, "ast_missing", o.ID, a.ID, b.ID})
	must(t, err)
	if len(got) != 2 || got[0].ID != b.ID || got[1].ID != a.ID {
		t.Fatalf("GetAssets = %v", got)
	}
	got, err = s.GetAssets(ctx(t), tn.ID, nil)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("GetAssets(nil) = %v", got)
	}
	// More ids than fit one SQL statement's parameters.
	many := make([]string, 0, 2100)
	for i := range 2099 {
		many = append(many, fmt.Sprintf("ast_%026d", i))
	}
	many = append(many, a.ID)
	got, err = s.GetAssets(ctx(t), tn.ID, many)
	must(t, err)
	if len(got) != 1 || got[0].ID != a.ID {
		t.Fatalf("GetAssets(2100 ids) = %d assets", len(got))
	}
}

func testAssetsLifecycleQueries(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	other := tenant(t, s, "other")
	set := func(a *store.Asset, fn func(*store.Asset)) {
		t.Helper()
		_, err := s.UpdateAsset(ctx(t), a.TenantID, a.ID, t0, func(x *store.Asset) error { fn(x); return nil })
		must(t, err)
	}
	due := asset(t, s, tn.ID, "due")
	set(due, func(x *store.Asset) { x.RetentionExpiresAt = t0.Add(-time.Hour) })
	dueOther := asset(t, s, other.ID, "due-other")
	set(dueOther, func(x *store.Asset) { x.RetentionExpiresAt = t0.Add(-2 * time.Hour) })
	held := asset(t, s, tn.ID, "held")
	set(held, func(x *store.Asset) { x.RetentionExpiresAt = t0.Add(-time.Hour); x.LegalHold = true })
	future := asset(t, s, tn.ID, "future")
	set(future, func(x *store.Asset) { x.RetentionExpiresAt = t0.Add(time.Hour) })
	already := asset(t, s, tn.ID, "already")
	set(already, func(x *store.Asset) {
		x.RetentionExpiresAt = t0.Add(-time.Hour)
		x.State, x.DeletedAt = store.AssetDeleted, t0.Add(-10*24*time.Hour)
	})
	asset(t, s, tn.ID, "forever")

	list, err := s.ListRetentionDue(ctx(t), t0, 10)
	must(t, err)
	if len(list) != 2 || list[0].ID != dueOther.ID || list[1].ID != due.ID {
		t.Fatalf("ListRetentionDue = %v", assetIDs(list))
	}
	list, err = s.ListRetentionDue(ctx(t), t0, 1)
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("limit ignored: %d", len(list))
	}

	deletedHeld := asset(t, s, tn.ID, "deleted-held")
	set(deletedHeld, func(x *store.Asset) {
		x.State, x.DeletedAt, x.LegalHold = store.AssetDeleted, t0.Add(-10*24*time.Hour), true
	})
	deletedRecent := asset(t, s, tn.ID, "deleted-recent")
	set(deletedRecent, func(x *store.Asset) { x.State, x.DeletedAt = store.AssetDeleted, t0.Add(-time.Hour) })
	purged := asset(t, s, tn.ID, "purged")
	set(purged, func(x *store.Asset) {
		x.State, x.DeletedAt, x.PurgedAt, x.BlobKey = store.AssetDeleted, t0.Add(-20*24*time.Hour), t0, hex64('c')
	})
	list, err = s.ListPurgeDue(ctx(t), t0.Add(-7*24*time.Hour), 10)
	must(t, err)
	if len(list) != 1 || list[0].ID != already.ID {
		t.Fatalf("ListPurgeDue = %v", assetIDs(list))
	}

	// Blob references: unpurged assets and renditions count, purged do not.
	ref, err := s.BlobReferenced(ctx(t), hex64('a'))
	must(t, err)
	if !ref {
		t.Fatal("asset blob not referenced")
	}
	ref, err = s.BlobReferenced(ctx(t), hex64('c'))
	must(t, err)
	if ref {
		t.Fatal("purged asset's blob still referenced")
	}
	must(t, s.PutRendition(ctx(t), &store.Rendition{TenantID: tn.ID, AssetID: due.ID, Format: "mp4_720p", PresetVersion: 1,
		BlobKey: hex64('d'), Size: 1, Checksum: "sha256:" + hex64('d'), ContentType: "video/mp4"}))
	ref, err = s.BlobReferenced(ctx(t), hex64('d'))
	must(t, err)
	if !ref {
		t.Fatal("rendition blob not referenced")
	}
	ref, err = s.BlobReferenced(ctx(t), hex64('e'))
	must(t, err)
	if ref {
		t.Fatal("unknown blob referenced")
	}
}

func assetIDs(list []*store.Asset) []string {
	var out []string
	for _, a := range list {
		out = append(out, a.ID+"("+a.Title+")")
	}
	return out
}

func testRenditions(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	other := tenant(t, s, "other")
	a := asset(t, s, tn.ID, "a")
	r := &store.Rendition{TenantID: tn.ID, AssetID: a.ID, Format: "mp4_720p", PresetVersion: 2, BlobKey: hex64('1'),
		Size: 100, Checksum: "sha256:" + hex64('1'), ContentType: "video/mp4", Metadata: json.RawMessage(`{"width":1280}`),
		CreatedAt: t0}
	must(t, s.PutRendition(ctx(t), r))
	if !store.HasPrefix(r.ID, store.PrefixRendition) {
		t.Fatalf("rendition id %q", r.ID)
	}
	sameTime(t, "LastUsedAt defaults to CreatedAt", r.LastUsedAt, t0)
	got, err := s.GetRendition(ctx(t), tn.ID, a.ID, "mp4_720p", 2)
	must(t, err)
	if got.ID != r.ID || got.Size != 100 || got.BlobKey != hex64('1') || string(got.Metadata) != `{"width":1280}` {
		t.Fatalf("GetRendition = %+v", got)
	}
	_, err = s.GetRendition(ctx(t), tn.ID, a.ID, "mp4_720p", 1)
	wantCode(t, err, store.ENOTFOUND)
	_, err = s.GetRendition(ctx(t), other.ID, a.ID, "mp4_720p", 2)
	wantCode(t, err, store.ENOTFOUND)
	_, err = s.GetRenditionByID(ctx(t), other.ID, r.ID)
	wantCode(t, err, store.ENOTFOUND)
	byID, err := s.GetRenditionByID(ctx(t), tn.ID, r.ID)
	must(t, err)
	if byID.Format != "mp4_720p" {
		t.Fatalf("GetRenditionByID = %+v", byID)
	}
	// Replacing keeps the ID.
	r2 := &store.Rendition{TenantID: tn.ID, AssetID: a.ID, Format: "mp4_720p", PresetVersion: 2, BlobKey: hex64('2'),
		Size: 200, Checksum: "sha256:" + hex64('2'), ContentType: "video/mp4"}
	must(t, s.PutRendition(ctx(t), r2))
	if r2.ID != r.ID {
		t.Fatalf("replacement got a new id %s (was %s)", r2.ID, r.ID)
	}
	thumb := &store.Rendition{TenantID: tn.ID, AssetID: a.ID, Format: "thumbnail_jpg", PresetVersion: 1, BlobKey: hex64('3'),
		Size: 3, Checksum: "sha256:" + hex64('3'), ContentType: "image/jpeg", CreatedAt: t0}
	must(t, s.PutRendition(ctx(t), thumb))
	list, err := s.ListRenditions(ctx(t), tn.ID, a.ID)
	must(t, err)
	if len(list) != 2 || list[0].BlobKey != hex64('2') {
		t.Fatalf("ListRenditions = %+v", list)
	}
	wantCode(t, s.PutRendition(ctx(t), &store.Rendition{TenantID: other.ID, AssetID: a.ID, Format: "x", BlobKey: hex64('4')}), store.ENOTFOUND)

	// Unused renditions: touch one, the other stays old.
	must(t, s.TouchRendition(ctx(t), r.ID, t0.Add(10*24*time.Hour)))
	unused, err := s.ListRenditionsUnusedSince(ctx(t), t0.Add(5*24*time.Hour), 10)
	must(t, err)
	if len(unused) != 1 || unused[0].ID != thumb.ID {
		t.Fatalf("ListRenditionsUnusedSince = %+v", unused)
	}
	wantCode(t, s.DeleteRendition(ctx(t), other.ID, thumb.ID), store.ENOTFOUND)
	must(t, s.DeleteRendition(ctx(t), tn.ID, thumb.ID))
	_, err = s.GetRenditionByID(ctx(t), tn.ID, thumb.ID)
	wantCode(t, err, store.ENOTFOUND)
	wantCode(t, s.DeleteRendition(ctx(t), tn.ID, thumb.ID), store.ENOTFOUND)
}
