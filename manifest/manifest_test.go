package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const hexA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestParseJSON(t *testing.T) {
	in := `{
	  "version": 1, "id": "exp_1", "status": "partial", "self": "https://h/v1/exports/exp_1/manifest",
	  "expires_at": "2026-11-24T12:00:00Z", "future_field": {"x": 1},
	  "items": [
	    {"id": "itm_1", "asset_id": "ast_1", "format": "mp4_720p", "filename": "Show/ep01.mp4",
	     "url": "https://h/dl/1?sig=x", "size": 10, "checksum": "sha256:` + strings.ToUpper(hexA) + `",
	     "media": {"duration": 3.5}, "metadata": {"k": "v"}, "unknown": true},
	    {"id": "itm_2", "status": "processing"},
	    {"id": "itm_3", "status": "failed", "error": {"code": "unsupported_format", "detail": "pdf"}}
	  ]
	}`
	m, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "exp_1" || m.Status != StatusPartial || m.Self == "" || m.ExpiresAt == nil || len(m.Items) != 3 {
		t.Fatalf("manifest = %+v", m)
	}
	it := m.Items[0]
	if it.SHA256() != hexA || it.Size != 10 || it.Filename != "Show/ep01.mp4" || string(it.Media) != `{"duration": 3.5}` {
		t.Errorf("item = %+v", it)
	}
	for i := range m.Items {
		if err := m.Items[i].Validate(); err != nil {
			t.Errorf("item %d: %v", i, err)
		}
	}
	if m.Items[2].Error.Code != "unsupported_format" {
		t.Errorf("error = %+v", m.Items[2].Error)
	}
}

func TestParseErrors(t *testing.T) {
	for name, in := range map[string]string{
		"version 2":      `{"version": 2, "items": []}`,
		"no version":     `{"items": []}`,
		"bad json":       `{"version": 1, "items": [}`,
		"bad status":     `{"version": 1, "status": "weird", "items": []}`,
		"bad list url":   "ftp://x/y\n",
		"bad list sum":   "https://x/y md5:abc\n",
		"too many field": "https://x/y sha256:" + hexA + " extra\n",
		"bad self":       `{"version": 1, "self": "file:///etc/passwd", "items": []}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(in))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	_, err := Parse(strings.NewReader(`{"version": 2, "items": []}`))
	if !strings.Contains(err.Error(), "version 2") {
		t.Errorf("error does not name the version: %v", err)
	}
}

func TestParsePlainList(t *testing.T) {
	in := "\ufeff# comment\n\nhttps://h/a.mp4\n  http://h/dir/b%20c.bin   sha256:" + strings.ToUpper(hexA) + "  \r\n# end\n"
	m, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Items) != 2 || m.Items[0].URL != "https://h/a.mp4" || m.Items[1].SHA256() != hexA {
		t.Fatalf("items = %+v", m.Items)
	}
	name, _ := Name(&m.Items[1])
	if name != "b c.bin" {
		t.Errorf("derived name = %q", name)
	}
	if m, err := Parse(strings.NewReader("# only comments\n\n")); err != nil || len(m.Items) != 0 {
		t.Errorf("comments only: %v %v", m, err)
	}
}

func TestItemValidate(t *testing.T) {
	for name, it := range map[string]Item{
		"ready without url": {Filename: "x"},
		"bad checksum":      {URL: "https://h/x", Checksum: "sha256:abc"},
		"no prefix":         {URL: "https://h/x", Checksum: hexA},
		"md5":               {URL: "https://h/x", Checksum: "md5:" + hexA},
		"bad status":        {URL: "https://h/x", Status: "lost"},
		"negative size":     {URL: "https://h/x", Size: -1},
		"bad scheme":        {URL: "javascript:alert(1)"},
	} {
		if err := it.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCleanName(t *testing.T) {
	ok := map[string]string{
		"a.mp4":            "a.mp4",
		"Show/ep01.mp4":    "Show/ep01.mp4",
		"./a//b.txt":       "a/b.txt",
		"ünïcødé/名前.mkv":   "ünïcødé/名前.mkv",
		"con-tent.txt":     "con-tent.txt",
		"COM10":            "COM10",
		".hidden":          ".hidden",
		"dir/.haulx/a.bin": "dir/.haulx/a.bin",
	}
	for in, want := range ok {
		got, err := CleanName(in)
		if err != nil || got != want {
			t.Errorf("CleanName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"", "/etc/passwd", "../x", "a/../../x", "a/..", "C:/x", "c:x", "a\\b", "a\x00b", "a\nb", "a\x7fb",
		"CON", "con.txt", "dir/NUL.tar.gz", "LPT1", "COM9.log", "aux", "a/b.", "a/b ", "x:stream",
		".", "./", ".haul", ".haul/state.json", "\xff\xfe", strings.Repeat("a", 256),
	}
	for _, in := range bad {
		if _, err := CleanName(in); !errors.Is(err, ErrUnsafeName) {
			t.Errorf("CleanName(%q): err = %v, want ErrUnsafeName", in, err)
		}
	}
}

func TestSafePathSymlinks(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "out")); err != nil {
		t.Skip("symlinks not supported: ", err)
	}
	os.MkdirAll(filepath.Join(dir, "real"), 0o755)
	os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "in"))
	os.Symlink("/etc/passwd", filepath.Join(dir, "file-link"))
	os.WriteFile(filepath.Join(dir, "plain"), nil, 0o644)

	if _, err := SafePath(dir, "out/x"); !errors.Is(err, ErrUnsafeName) {
		t.Errorf("out/x: %v", err)
	}
	if _, err := SafePath(dir, "file-link"); !errors.Is(err, ErrUnsafeName) {
		t.Errorf("file-link: %v", err)
	}
	if _, err := SafePath(dir, "plain/x"); !errors.Is(err, ErrUnsafeName) {
		t.Errorf("plain/x: %v", err)
	}
	if _, err := SafePath(dir, "real"); !errors.Is(err, ErrUnsafeName) {
		t.Errorf("directory target: %v", err)
	}
	p, err := SafePath(dir, "in/x")
	if err != nil || p != filepath.Join(dir, "in", "x") {
		t.Errorf("in/x = %q, %v", p, err)
	}
	if p, err := SafePath(dir, "new/dir/file"); err != nil || p != filepath.Join(dir, "new", "dir", "file") {
		t.Errorf("new path = %q, %v", p, err)
	}
}

func TestTargetsDuplicates(t *testing.T) {
	tg := NewTargets(t.TempDir())
	if _, _, err := tg.Claim(&Item{ID: "1", URL: "https://h/a", Filename: "A.mp4"}); err != nil {
		t.Fatal(err)
	}
	for _, it := range []Item{
		{ID: "2", URL: "https://h/b", Filename: "a.mp4"},   // case-folded duplicate
		{ID: "3", URL: "https://h/dir/A.mp4"},              // derived duplicate
		{ID: "1", URL: "https://h/c", Filename: "c.mp4"},   // duplicate id
		{ID: "4", URL: "https://h/c", Filename: "./A.mp4"}, // cleaned duplicate
	} {
		if _, _, err := tg.Claim(&it); !errors.Is(err, ErrDuplicate) {
			t.Errorf("%+v: err = %v, want ErrDuplicate", it, err)
		}
	}
	if _, _, err := tg.Claim(&Item{ID: "5", URL: "https://h/c", Filename: "c.mp4"}); err != nil {
		t.Errorf("c.mp4: %v", err)
	}
}

func TestDeriveName(t *testing.T) {
	for in, want := range map[string]string{
		"https://h/a/b.mp4?x=1":      "b.mp4",
		"https://h/":                 "download",
		"https://h":                  "download",
		"https://h/a%2F..%2Fb":       "a_.._b",
		"https://h/..":               "download",
		"https://h/CON":              "_CON",
		"https://h/x%00y":            "x_y",
		"https://h/trailing.":        "trailing",
		"https://h/" + "%E2%9C%93ok": "✓ok",
	} {
		if got := DeriveName(in); got != want {
			t.Errorf("DeriveName(%q) = %q, want %q", in, got, want)
		}
		if _, err := CleanName(DeriveName(in)); err != nil {
			t.Errorf("DeriveName(%q) is not clean: %v", in, err)
		}
	}
}

func TestWriteRoundTrip(t *testing.T) {
	m := &Manifest{Version: 1, Status: StatusReady, Items: []Item{{Filename: "a", URL: "https://h/a?x=1&y=2", Checksum: "sha256:" + hexA}}}
	var buf bytes.Buffer
	if err := Write(&buf, m); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), `\u0026`) {
		t.Error("Write escapes & in URLs")
	}
	back, err := Parse(&buf)
	if err != nil || back.Items[0].URL != m.Items[0].URL {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}

func TestSHA256SumsCompatible(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"a.txt": "hello\n", "sub/b c.bin": "x", "weird\\name": "y"}
	var sums []Sum
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
		out, err := exec.Command("sha256sum", p).Output()
		if err != nil {
			t.Skip("sha256sum not installed: ", err)
		}
		h := strings.TrimPrefix(strings.Fields(string(out))[0], "\\")
		sums = append(sums, Sum{SHA256: h, Name: name})
	}
	var buf bytes.Buffer
	if err := WriteSHA256Sums(&buf, sums); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "SHA256SUMS"), buf.Bytes(), 0o644)
	cmd := exec.Command("sha256sum", "-c", "SHA256SUMS")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
	back, err := ParseSHA256Sums(bytes.NewReader(buf.Bytes()))
	if err != nil || len(back) != len(sums) {
		t.Fatalf("parse back: %v %v", back, err)
	}
	for i := range sums {
		if back[i] != sums[i] {
			t.Errorf("line %d: %+v, want %+v", i, back[i], sums[i])
		}
	}
}

func manifestOf(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"version":1,"status":"ready","self":"https://h/v1/exports/exp_1/manifest","items":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"itm_%06d","asset_id":"ast_%06d","format":"mp4_720p","status":"ready","filename":"clip-%06d_ast_%06d_mp4_720p.mp4","url":"https://media.example.com/dl/ast_%06d/mp4_720p?exp=1764417600&sig=abcdefabcdefabcdefabcdef","size":%d,"checksum":"sha256:%s","expires_at":"2026-11-24T12:00:00Z"}`, i, i, i, i, i, 1000+i, hexA)
	}
	b.WriteString("]}")
	return b.Bytes()
}

func BenchmarkParse10000(b *testing.B) {
	data := manifestOf(10000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClaim10000(b *testing.B) {
	m, _ := Parse(bytes.NewReader(manifestOf(10000)))
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		tg := NewTargets(dir)
		for i := range m.Items {
			if _, _, err := tg.Claim(&m.Items[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestTargetsFreshDirectory: in a directory holding nothing but .haul,
// flat names are claimed without looking at the disk (one system call
// less per file); anywhere else every claim is still walked, so a symlink
// at a target is refused.
func TestTargetsFreshDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, ".haul"), 0o755); err != nil {
		t.Fatal(err)
	}
	tg := NewTargets(dir)
	if !tg.fresh {
		t.Fatal("a directory with only .haul is not seen as fresh")
	}
	name, abs, existing, err := tg.ClaimInfo(&Item{Filename: "a.bin", URL: "http://h/a"})
	if err != nil || name != "a.bin" || abs != filepath.Join(dir, "a.bin") || existing != nil {
		t.Fatalf("ClaimInfo = %q %q %v %v", name, abs, existing, err)
	}
	if _, _, _, err := tg.ClaimInfo(&Item{Filename: "../x", URL: "http://h/x"}); err == nil {
		t.Error("../x claimed in a fresh directory")
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
		t.Skip("no symlinks here:", err)
	}
	tg = NewTargets(dir)
	if tg.fresh {
		t.Fatal("a directory with a file is seen as fresh")
	}
	if _, _, _, err := tg.ClaimInfo(&Item{Filename: "link", URL: "http://h/l"}); err == nil {
		t.Error("a symlink target was claimed")
	}
}
