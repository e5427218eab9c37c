package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haulhq/haul/downloader"
	"github.com/haulhq/haul/manifest"
)

func TestReadAssetIDs(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		err      string
	}{
		{"lines", "ast_1\n\n# comment\n  ast_2  \nast_3\n", []string{"ast_1", "ast_2", "ast_3"}, ""},
		{"csv", "title,asset_id,notes\nA,ast_1,x\nB, ast_2 ,\"y, z\"\n", []string{"ast_1", "ast_2"}, ""},
		{"csv one column", "asset_id\nast_1\nast_2\n", []string{"ast_1", "ast_2"}, ""},
		{"csv bom and crlf", "\xef\xbb\xbfAsset_ID,title\r\nast_1,A\r\n", []string{"ast_1"}, ""},
		{"tsv", "asset_id\ttitle\nast_9\tNine\n", []string{"ast_9"}, ""},
		{"csv without column", "id,title\nast_1,A\n", nil, "no asset_id column"},
		{"space in id", "ast 1\n", nil, "not an asset id"},
		{"empty", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAssetIDs(strings.NewReader(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExportIdempotencyKey(t *testing.T) {
	k1 := exportIdempotencyKey("http://h", "original", "", "", []string{"b", "a", "b"})
	k2 := exportIdempotencyKey("http://h", "original", "", "", []string{"a", "b"})
	if k1 != k2 || !strings.HasPrefix(k1, "haul-export-") {
		t.Errorf("order or duplicates changed the key: %s %s", k1, k2)
	}
	for _, other := range []string{
		exportIdempotencyKey("http://h", "mp4_720p", "", "", []string{"a", "b"}),
		exportIdempotencyKey("http://h", "original", "", "n", []string{"a", "b"}),
		exportIdempotencyKey("http://h", "original", "", "", []string{"a"}),
		exportIdempotencyKey("http://h2", "original", "", "", []string{"a", "b"}),
		exportIdempotencyKey("http://h", "original", "t", "", nil),
	} {
		if other == k1 {
			t.Errorf("different request, same key %s", k1)
		}
	}
}

func TestExportFlags(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "ids.csv")
	_ = os.WriteFile(csvPath, []byte("asset_id\nast_2\nast_1\n"), 0o644)
	app := &App{IO: &IOStreams{In: strings.NewReader("")}, Getenv: func(k string) string {
		return map[string]string{"HAUL_SERVER": "http://h.example", "HAUL_JOBS": "3", "XDG_CONFIG_HOME": dir}[k]
	}}
	parse := func(args ...string) (*exportOptions, error) {
		var got *exportOptions
		root := newRootCmd(app)
		for _, c := range root.Commands() {
			if c.Name() == "export" {
				root.RemoveCommand(c)
			}
		}
		root.AddCommand(newExportCmd(app, func(_ context.Context, o *exportOptions) error { got = o; return nil }))
		root.SetArgs(append([]string{"export"}, args...))
		err := root.Execute()
		return got, err
	}
	o, err := parse("ast_9", "--from-file", csvPath, "-F", "mp4_720p", "-o", "out", "-c", "2", "--limit-rate", "1M", "--retries", "4", "--name", "n")
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := o.assetIDs()
	if o.Format != "mp4_720p" || o.Dir != "out" || o.Connections != "2" || o.LimitRate != "1M" || o.Retries != 4 ||
		o.Jobs != 3 || strings.Join(ids, ",") != "ast_9,ast_2,ast_1" || o.Server != "http://h.example" || o.Name != "n" {
		t.Errorf("options = %+v ids %v", o, ids)
	}
	eo, err := o.engineOptions(o.Dir)
	if err != nil || eo.Jobs != 3 || eo.Connections != 2 || eo.LimitRate != 1<<20 || eo.Retries != 4 {
		t.Errorf("engine options = %+v, %v", eo, err)
	}
	for _, args := range [][]string{
		{"ast_1"},
		{"--format", "original"},
		{"ast_1", "--tag", "x", "--format", "original"},
		{"ast_1", "--format", "original", "-c", "many"},
		{"ast_1", "--format", "original", "-j", "0"},
		{"ast_1", "--format", "original", "--limit-rate", "fast"},
		{"ast_1", "--format", "original", "--retries", "-2"},
		{"bad id", "--format", "original"},
	} {
		if _, err := parse(args...); exitCodeOf(err) != exitUsage {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
}

// exportFixture is a fake server with three assets and an export options
// value aimed at it.
func exportFixture(t *testing.T, tok string) (*fakeAPI, *exportOptions, *strings.Builder, *strings.Builder, []string) {
	t.Helper()
	f := newFakeAPI(t)
	ids := []string{
		f.uploadAsset("Opening", []byte(strings.Repeat("opening-", 20000)), "s1"),
		f.uploadAsset("Episode 1", []byte(strings.Repeat("episode-one-", 30000)), "s1"),
		f.uploadAsset("Poster", []byte("not a video"), "s1"),
	}
	base, out, errOut := f.options(t, tok)
	opts := &exportOptions{apiOptions: base, Format: "mp4_720p", Dir: t.TempDir(), Server: f.srv.URL, ManifestWait: time.Second,
		transferFlags: transferFlags{Jobs: 4, Connections: "auto", Retries: 3},
		engine: func(o *downloader.Options) {
			o.PollInterval = 20 * time.Millisecond
			o.BackoffBase, o.BackoffMax = 5*time.Millisecond, 20*time.Millisecond
			o.ProgressInterval = 10 * time.Millisecond
		},
	}
	return f, opts, out, errOut, ids
}

// checkSHA256Sums verifies dir/SHA256SUMS like sha256sum -c, with the real
// tool when it is installed.
func checkSHA256Sums(t *testing.T, dir string, wantFiles int) {
	t.Helper()
	fh, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sums, err := manifest.ParseSHA256Sums(fh)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != wantFiles {
		t.Errorf("SHA256SUMS has %d lines, want %d", len(sums), wantFiles)
	}
	for _, s := range sums {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(s.Name)))
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(data)); got != s.SHA256 {
			t.Errorf("%s: sha256 %s, SHA256SUMS says %s", s.Name, got, s.SHA256)
		}
	}
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "-c", "--strict", "SHA256SUMS")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c: %v\n%s", err, out)
		}
	}
}

func TestExportDownloadsAsItemsBecomeReady(t *testing.T) {
	f, opts, _, errOut, ids := exportFixture(t, "tok-export")
	f.readyAfter[ids[1]] = 2 // ready after two long polls…
	f.gate[ids[1]] = ids[0]  // …and once the opening is being downloaded
	f.failAssets[ids[2]] = "no video stream"
	opts.IDs = []string{ids[2], ids[0], ids[1], ids[0]}
	err := runExport(context.Background(), opts)
	if exitCodeOf(err) != exitPartial {
		t.Fatalf("err = %v (exit %d), want exit 3\n%s", err, exitCodeOf(err), errOut)
	}
	checkSHA256Sums(t, opts.Dir, 2)
	for _, id := range ids[:2] {
		if f.downloads[id] != 1 {
			t.Errorf("%s downloaded %d times", id, f.downloads[id])
		}
	}
	log := errOut.String()
	for _, want := range []string{
		"export exp_04 created; downloading into " + opts.Dir,
		"prepared 1/3 items (1 processing, 0 queued, 1 failed)",
		"prepared 2/3 items (0 processing, 0 queued, 1 failed)",
		"done  opening_" + ids[0] + "_mp4_720p.bin  156.2 KiB  sha256:",
		"failed: poster_" + ids[2] + "_mp4_720p.bin: item failed on the server: transcode_failed: no video stream",
		"2 files, 507.8 KiB in",
		"; 1 failed",
		"wrote " + filepath.Join(opts.Dir, "manifest.json") + " and " + filepath.Join(opts.Dir, "SHA256SUMS"),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("stderr lacks %q:\n%s", want, log)
		}
	}
	raw, err := os.ReadFile(filepath.Join(opts.Dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "sig=") {
		t.Errorf("manifest.json keeps signed URLs:\n%s", raw)
	}
	m, err := manifest.Parse(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != "partial" || len(m.Items) != 3 || m.Items[1].Status != "ready" || m.Items[2].Error == nil {
		t.Errorf("final manifest = %+v", m)
	}

	// Running the same command again attaches to the same export and
	// downloads nothing.
	errOut.Reset()
	err = runExport(context.Background(), opts)
	if exitCodeOf(err) != exitPartial {
		t.Fatalf("re-run: %v", err)
	}
	if !strings.Contains(errOut.String(), "continuing export exp_04") || !strings.Contains(errOut.String(), "2 already complete") {
		t.Errorf("re-run output:\n%s", errOut)
	}
	for _, id := range ids[:2] {
		if f.downloads[id] != 1 {
			t.Errorf("re-run downloaded %s again (%d requests)", id, f.downloads[id])
		}
	}
	checkSHA256Sums(t, opts.Dir, 2)
}

func TestExportRefreshesExpiredURL(t *testing.T) {
	f, opts, _, errOut, ids := exportFixture(t, "tok-export")
	f.expireOnce[ids[0]] = true
	opts.Tag = "s1"
	delete(f.content, ids[2])
	f.failAssets[ids[2]] = "gone"
	err := runExport(context.Background(), opts)
	if exitCodeOf(err) != exitPartial {
		t.Fatalf("err = %v\n%s", err, errOut)
	}
	if f.downloads[ids[0]] != 2 || f.generation[ids[0]] != 1 {
		t.Errorf("expired URL: %d requests, generation %d", f.downloads[ids[0]], f.generation[ids[0]])
	}
	checkSHA256Sums(t, opts.Dir, 2)
}

func TestExportJSONEvents(t *testing.T) {
	_, opts, out, _, ids := exportFixture(t, "tok-export")
	opts.JSON = true
	opts.IDs = ids[:2]
	if err := runExport(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	var last map[string]any
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		types[ev["type"].(string)]++
		last = ev
	}
	for _, typ := range []string{"export", "prepare", "start", "done", "summary", "finish"} {
		if types[typ] == 0 {
			t.Errorf("no %q event in\n%s", typ, out)
		}
	}
	if last["type"] != "finish" || last["sha256sums"] != filepath.Join(opts.Dir, "SHA256SUMS") {
		t.Errorf("last event = %v", last)
	}
}

func TestExportExitCodes(t *testing.T) {
	f := newFakeAPI(t)
	id := f.uploadAsset("Clip", []byte("clip bytes"))
	dir := t.TempDir()

	code, _, errOut := runAPICmd(t, f.srv.URL, "tok-read", "export", id, "--format", "original", "-o", dir)
	if code != exitAuth || !strings.Contains(errOut, "lacks the export scope") {
		t.Errorf("read-only key: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runAPICmd(t, f.srv.URL, "nope", "export", id, "--format", "original", "-o", dir)
	if code != exitAuth || !strings.Contains(errOut, "authentication failed") {
		t.Errorf("bad key: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runAPICmd(t, f.srv.URL, "tok-export", "export", id, "ast_zz", "--format", "original", "-o", dir)
	if code != exitUsage || !strings.Contains(errOut, "unknown assets: ast_zz") {
		t.Errorf("unknown asset: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runAPICmd(t, "", "tok-export", "export", id, "--format", "original", "-o", dir)
	if code != exitUsage || !strings.Contains(errOut, "HAUL_SERVER") {
		t.Errorf("no server: exit %d, stderr %q", code, errOut)
	}

	// A rate-limited creation is waited out as the server says.
	f.rateLimitCreates = 1
	start := time.Now()
	code, _, errOut = runAPICmd(t, f.srv.URL, "tok-export", "export", id, "--format", "original", "-o", dir)
	if code != 0 {
		t.Fatalf("rate limited: exit %d\n%s", code, errOut)
	}
	if time.Since(start) < time.Second || !strings.Contains(errOut, "rate limited (export limit); waiting 1s as the server asked") {
		t.Errorf("did not wait as told (%v):\n%s", time.Since(start), errOut)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "clip_"+id+"_original.bin")); string(got) != "clip bytes" {
		t.Errorf("file = %q", got)
	}
	checkSHA256Sums(t, dir, 1)
}

// FuzzReadAssetIDs: any --from-file content is refused or yields ids
// without spaces or control characters; never a panic.
func FuzzReadAssetIDs(f *testing.F) {
	for _, s := range []string{"ast_1\nast_2\n", "asset_id\nast_1\n", "title,asset_id\n\"a,b\",ast_1\n", "a;asset_id\nx;ast_9\n",
		"\xef\xbb\xbfasset_id\r\nast_1\r\n", "# only a comment\n", "asset_id\n\"unterminated\n", "id\tasset_id\n1\t\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := readAssetIDs(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, id := range ids {
			if id == "" || checkAssetID(id) != nil {
				t.Fatalf("bad id %q from %q", id, s)
			}
		}
	})
}

func TestExportInvalidManifestExitsUsage(t *testing.T) {
	f, opts, _, _, ids := exportFixture(t, "tok-export")
	opts.IDs = ids[:1]
	f.mu.Lock()
	f.manifestOverride = `{"version":2,"items":[]}`
	f.mu.Unlock()
	err := runExport(context.Background(), opts)
	if exitCodeOf(err) != exitUsage || !strings.Contains(err.Error(), "unsupported version 2") {
		t.Errorf("err = %v (exit %d), want a manifest error exiting 2", err, exitCodeOf(err))
	}
}
