package main

import (
	"encoding/json"
	"net/http"
	"net/url"
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
