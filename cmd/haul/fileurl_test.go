package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

func TestIsFileResponse(t *testing.T) {
	for _, tc := range []struct {
		ct, disp string
		file     bool
	}{
		{"application/json", "", false},
		{"application/json; charset=utf-8", "", false},
		{"application/vnd.haul.manifest+json", "", false},
		{"text/plain", "", false},
		{"text/html; charset=utf-8", "", false},
		{"", "", false},
		{"application/octet-stream", "", true},
		{"video/mp4", "", true},
		{"text/plain", `attachment; filename="notes.txt"`, true},
		{"application/json", `attachment; filename="manifest.json"`, false},
		{"", `attachment; filename="clip.mp4"`, true},
		{"", "inline", false},
	} {
		resp := &http.Response{Header: http.Header{}}
		if tc.ct != "" {
			resp.Header.Set("Content-Type", tc.ct)
		}
		if tc.disp != "" {
			resp.Header.Set("Content-Disposition", tc.disp)
		}
		if got := isFileResponse(resp); got != tc.file {
			t.Errorf("Content-Type %q, Content-Disposition %q: file = %v, want %v", tc.ct, tc.disp, got, tc.file)
		}
	}
}

func TestFileManifest(t *testing.T) {
	for _, tc := range []struct {
		url, disp, want string
	}{
		{"https://h/dl/a/b/original/x?sig=1", `attachment; filename="R_sum_.txt"; filename*=UTF-8''R%C3%A9sum%C3%A9.txt`, "Résumé.txt"},
		{"https://h/dl/a/b/original/x", `attachment; filename="../../etc/passwd"`, "passwd"},
		{"https://h/files/clip%20one.mp4?x=1", "", "clip one.mp4"},
		{"https://h/", "", "download"},
		{"https://h/a/..", `attachment; filename=".."`, "download"},
	} {
		u, _ := url.Parse(tc.url)
		resp := &http.Response{StatusCode: 200, ContentLength: 42, Header: http.Header{}, Request: &http.Request{URL: u}}
		if tc.disp != "" {
			resp.Header.Set("Content-Disposition", tc.disp)
		}
		var m struct {
			Items []struct {
				Filename string `json:"filename"`
				URL      string `json:"url"`
				Size     int64  `json:"size"`
			} `json:"items"`
		}
		if err := json.Unmarshal(fileManifest(resp), &m); err != nil || len(m.Items) != 1 {
			t.Fatalf("%s: %v %+v", tc.url, err, m)
		}
		it := m.Items[0]
		if it.Filename != tc.want || it.URL != tc.url || it.Size != 42 {
			t.Errorf("%s (%s): item %+v, want filename %q", tc.url, tc.disp, it, tc.want)
		}
	}
}

func TestLooksLikeManifest(t *testing.T) {
	for _, tc := range []struct {
		head string
		want bool
	}{
		{`{"version": 1, "items": []}`, true},
		{"\ufeff  \n{\"version\":1}", true},
		{"# my list\n\nhttps://example.com/a.mp4 sha256:00\n", true},
		{"http://127.0.0.1:8080/x\n", true},
		{"", true},
		{"# only a comment\n", true},
		{"\x00\x00\x00\x18ftypmp42", false},
		{"%PDF-1.7\n", false},
		{"ID3\x04\x00", false},
		{"hello world\nhttps://x\n", false},
	} {
		if got := looksLikeManifest([]byte(tc.head)); got != tc.want {
			t.Errorf("looksLikeManifest(%q) = %v, want %v", tc.head, got, tc.want)
		}
	}
}

// TestFetchURLFileOrList: a URL list served as application/octet-stream
// (a static server with no type for the name) is still read as a list; a
// binary file at a URL is downloaded as that one file.
func TestFetchURLFileOrList(t *testing.T) {
	files := newFileServer(t)
	a := files.add("a.bin", []byte("first file"))
	clip := []byte("\x00\x00\x00\x18ftypmp42 not really a movie")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		switch r.URL.Path {
		case "/list":
			io.WriteString(w, "# served without a type\n"+a.URL+" "+a.Checksum+"\n")
		case "/clip":
			w.Write(clip)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)

	out := t.TempDir()
	if code, _, stderr := runHaulIn(t, nil, "", "fetch", srv.URL+"/list", "-o", out, "--no-progress"); code != 0 {
		t.Fatalf("list: exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "a.bin")); string(got) != "first file" {
		t.Errorf("a.bin = %q", got)
	}
	if code, _, stderr := runHaulIn(t, nil, "", "fetch", srv.URL+"/clip", "-o", out, "--no-progress"); code != 0 {
		t.Fatalf("file: exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "clip")); string(got) != string(clip) {
		t.Errorf("clip = %q", got)
	}
}
