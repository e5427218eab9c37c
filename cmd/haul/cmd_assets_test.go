package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haulhq/haul/client"
)

func seedAssets(f *fakeAPI) {
	until := fakeNow.Add(30 * 24 * time.Hour)
	f.addAsset(client.Asset{Title: "Opening titles", Filename: "opening.mp4", ContentType: "video/mp4", State: client.AssetAvailable,
		Size: 12_582_912, Checksum: "sha256:" + strings.Repeat("ab", 32), Tags: []string{"season-1", "intro"},
		Rights: &client.Rights{Downloadable: true, AllowedFormats: []string{"original", "mp4_720p"}, AvailableUntil: &until, Redistribution: "partner"},
		Media:  map[string]any{"duration": 12.5, "width": 1920, "height": 1080, "video_codec": "h264"}})
	f.addAsset(client.Asset{Title: "A very long title that certainly does not fit in the table column", Filename: "ep01.mov",
		State: client.AssetScanning, Size: 734003200, Checksum: "sha256:" + strings.Repeat("cd", 32), Tags: []string{"season-1"},
		CreatedAt: fakeNow.Add(-3 * 24 * time.Hour)})
	f.addAsset(client.Asset{Title: "Poster", Filename: "poster.pdf", State: client.AssetCreated, CreatedAt: fakeNow.Add(-20 * time.Second)})
}

func TestAssetsListFlags(t *testing.T) {
	app := &App{IO: &IOStreams{}, Getenv: func(string) string { return "" }}
	var got *assetsListOptions
	cmd := newAssetsListCmd(app, func(_ context.Context, o *assetsListOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--tag", "season-1", "-L", "5"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Tag != "season-1" || got.Limit != 5 {
		t.Errorf("options = %+v", got)
	}
	cmd = newAssetsListCmd(app, func(context.Context, *assetsListOptions) error { return nil })
	cmd.SetArgs([]string{"--limit", "-1"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); exitCodeOf(err) != exitUsage {
		t.Errorf("--limit -1: err = %v", err)
	}
}

func TestAssetsListGolden(t *testing.T) {
	f := newFakeAPI(t)
	seedAssets(f)
	base, out, _ := f.options(t, "tok-read")
	if err := runAssetsList(context.Background(), &assetsListOptions{apiOptions: base, Limit: 0}); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "assets_list.txt", []byte(out.String()))
	// Three assets in pages of two: the iterator followed the cursor.
	if n := strings.Count(strings.Join(f.requests, "\n"), "GET /v1/assets"); n != 2 {
		t.Errorf("%d list requests, want 2 pages: %v", n, f.requests)
	}
}

func TestAssetsListTagLimitJSON(t *testing.T) {
	f := newFakeAPI(t)
	seedAssets(f)
	base, out, _ := f.options(t, "tok-read")
	base.JSON = true
	if err := runAssetsList(context.Background(), &assetsListOptions{apiOptions: base, Tag: "season-1", Limit: 1}); err != nil {
		t.Fatal(err)
	}
	var got []client.Asset
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(got) != 1 || got[0].ID != "ast_01" {
		t.Errorf("got %+v", got)
	}
}

func TestAssetsListEmptyJSONIsArray(t *testing.T) {
	f := newFakeAPI(t)
	base, out, _ := f.options(t, "tok-read")
	base.JSON = true
	if err := runAssetsList(context.Background(), &assetsListOptions{apiOptions: base}); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out.String()) != "[]" {
		t.Errorf("empty list printed %q", out)
	}
}

func TestAssetsShowGolden(t *testing.T) {
	f := newFakeAPI(t)
	seedAssets(f)
	base, out, _ := f.options(t, "tok-read")
	if err := runAssetsShow(context.Background(), &assetsShowOptions{apiOptions: base, ID: "ast_01"}); err != nil {
		t.Fatal(err)
	}
	assertGolden(t, "assets_show.txt", []byte(out.String()))
}

func TestAssetsShowNotFound(t *testing.T) {
	f := newFakeAPI(t)
	code, _, errOut := runAPICmd(t, f.srv.URL, "tok-read", "assets", "show", "ast_nope")
	if code != exitError || !strings.Contains(errOut, "asset ast_nope: not found") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestAssetsUpdate(t *testing.T) {
	f := newFakeAPI(t)
	seedAssets(f)
	code, out, errOut := runAPICmd(t, f.srv.URL, "tok-admin", "assets", "update", "ast_01", "--json",
		"--title", "Opening", "--add-tag", "featured", "--remove-tag", "intro", "--downloadable=false",
		"--redistribution", "internal", "--legal-hold", "--retention-until", "2027-01-01T00:00:00Z")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var a client.Asset
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if a.Title != "Opening" || strings.Join(a.Tags, ",") != "season-1,featured" || !a.LegalHold ||
		a.Rights.Downloadable || a.Rights.Redistribution != "internal" || len(a.Rights.AllowedFormats) != 2 ||
		a.RetentionExpiresAt == nil || !a.RetentionExpiresAt.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("updated asset = %+v rights %+v", a, a.Rights)
	}
	code, _, errOut = runAPICmd(t, f.srv.URL, "tok-admin", "assets", "update", "ast_01", "--retention-until", "none")
	if code != 0 || f.find("ast_01").RetentionExpiresAt != nil {
		t.Errorf("clearing retention: exit %d %s", code, errOut)
	}
}

func TestAssetsUpdateUsage(t *testing.T) {
	f := newFakeAPI(t)
	seedAssets(f)
	for _, args := range [][]string{
		{"assets", "update", "ast_01"},
		{"assets", "update", "ast_01", "--tags", "a", "--add-tag", "b"},
		{"assets", "update", "ast_01", "--redistribution", "world"},
		{"assets", "update", "ast_01", "--available-until", "tomorrow"},
	} {
		code, _, errOut := runAPICmd(t, f.srv.URL, "tok-admin", args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}

func TestAssetsRm(t *testing.T) {
	f := newFakeAPI(t)
	seedAssets(f)
	code, out, errOut := runAPICmd(t, f.srv.URL, "tok-admin", "assets", "rm", "ast_01", "ast_missing", "ast_03")
	if code != exitPartial {
		t.Errorf("exit %d, want 3", code)
	}
	if out != "deleted ast_01\ndeleted ast_03\n" || !strings.Contains(errOut, "delete ast_missing: not found") {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
	code, _, errOut = runAPICmd(t, f.srv.URL, "tok-read", "assets", "rm", "ast_02")
	if code != exitAuth || !strings.Contains(errOut, "lacks the write scope") {
		t.Errorf("read-only key: exit %d, stderr %q", code, errOut)
	}
}

func TestMissingServerIsUsageError(t *testing.T) {
	code, _, errOut := runAPICmd(t, "", "tok", "assets", "list")
	if code != exitUsage || !strings.Contains(errOut, "--server") || !strings.Contains(errOut, "HAUL_SERVER") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestBadTokenExitsAuth(t *testing.T) {
	f := newFakeAPI(t)
	code, _, errOut := runAPICmd(t, f.srv.URL, "wrong", "assets", "list")
	if code != exitAuth || !strings.Contains(errOut, "authentication failed") || !strings.Contains(errOut, "HAUL_TOKEN") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if strings.Contains(errOut, "wrong") {
		t.Errorf("token echoed: %q", errOut)
	}
}

func TestUploadCommand(t *testing.T) {
	f := newFakeAPI(t)
	dir := t.TempDir()
	a := filepath.Join(dir, "a.mp4")
	b := filepath.Join(dir, "b.txt")
	if err := os.WriteFile(a, []byte(strings.Repeat("video", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("notes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runAPICmd(t, f.srv.URL, "tok-admin", "upload", "--tag", "s1,drama", a, b)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != "ast_01\nast_02\n" {
		t.Errorf("stdout %q, want the ids", out)
	}
	if !strings.Contains(errOut, "uploaded "+a+" as ast_01 (4.9 KiB, available)") {
		t.Errorf("stderr %q", errOut)
	}
	got := f.find("ast_01")
	if string(f.content["ast_01"]) != strings.Repeat("video", 1000) || got.Title != "a.mp4" || got.ContentType != "video/mp4" ||
		strings.Join(got.Tags, ",") != "s1,drama" {
		t.Errorf("stored %+v", got)
	}

	code, out, _ = runAPICmd(t, f.srv.URL, "tok-admin", "upload", "--json", "--title", "Notes", b)
	var asset client.Asset
	if code != 0 || json.Unmarshal([]byte(out), &asset) != nil || asset.Title != "Notes" || asset.Size != 6 {
		t.Errorf("--json: exit %d, %q", code, out)
	}
}

func TestUploadUsageAndAuth(t *testing.T) {
	f := newFakeAPI(t)
	dir := t.TempDir()
	a := filepath.Join(dir, "a.bin")
	_ = os.WriteFile(a, []byte("x"), 0o644)
	for _, args := range [][]string{
		{"upload", filepath.Join(dir, "missing.bin")},
		{"upload", dir},
		{"upload", "--title", "T", a, a},
		{"upload"},
	} {
		if code, _, errOut := runAPICmd(t, f.srv.URL, "tok-admin", args...); code != exitUsage {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
	code, out, errOut := runAPICmd(t, f.srv.URL, "tok-read", "upload", a)
	if code != exitAuth || out != "" || !strings.Contains(errOut, "lacks the write scope") {
		t.Errorf("read-only key: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestAssetsUpdateClearsRights: `haul assets update --available-until none`
// and `--allowed-formats ""` clear those rights on a server that merges
// PATCH rights (the client sends cleared members as null), and changing one
// right keeps the others.
func TestAssetsUpdateClearsRights(t *testing.T) {
	url, _, admin := realServer(t)
	env := map[string]string{"HAUL_SERVER": url, "HAUL_TOKEN": admin}
	file := filepath.Join(t.TempDir(), "r.txt")
	if err := os.WriteFile(file, []byte("rights"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runIn(t, env, "upload", file)
	if code != 0 {
		t.Fatalf("upload: exit %d: %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	rights := func(args ...string) map[string]any {
		t.Helper()
		code, out, errOut := runIn(t, env, append([]string{"assets", "update", id, "--json"}, args...)...)
		var a map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &a) != nil {
			t.Fatalf("assets update %v: exit %d\n%s%s", args, code, out, errOut)
		}
		return a["rights"].(map[string]any)
	}
	r := rights("--allowed-formats", "original", "--available-until", "2099-01-01T00:00:00Z", "--redistribution", "partner")
	if r["allowed_formats"] == nil || r["available_until"] == nil || r["redistribution"] != "partner" {
		t.Fatalf("set: %v", r)
	}
	r = rights("--downloadable=false")
	if r["downloadable"] != false || r["allowed_formats"] == nil || r["available_until"] == nil || r["redistribution"] != "partner" {
		t.Fatalf("--downloadable=false changed other rights: %v", r)
	}
	r = rights("--available-until", "none", "--allowed-formats", "")
	if r["available_until"] != nil || r["allowed_formats"] != nil || r["downloadable"] != false || r["redistribution"] != "partner" {
		t.Fatalf("clearing: %v", r)
	}
}
