package main

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// isFileResponse reports whether a response to what was given as a
// manifest URL is a file instead (a grant link, a signed download URL, any
// direct link). JSON is read as a manifest, even as an attachment (a
// manifest.json download); otherwise an attachment is a file, and so is
// any type but text (a URL list).
func isFileResponse(resp *http.Response) bool {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	known := err == nil
	if known && (mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "application/x-ndjson") {
		return false
	}
	if disp, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil &&
		(disp == "attachment" || params["filename"] != "") {
		return true
	}
	return known && !strings.HasPrefix(mt, "text/")
}

// looksLikeManifest reports whether the first bytes of a body could be a
// manifest after all, whatever its headers say (a static server without a
// type for the file's extension answers application/octet-stream): a JSON
// object, or a first line (past blank and # lines) that is an http(s) URL.
func looksLikeManifest(head []byte) bool {
	text := strings.TrimPrefix(string(head), "\ufeff")
	text = strings.TrimLeft(text, " \t\r\n")
	if text == "" || text[0] == '{' {
		return true
	}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		return strings.HasPrefix(line, "http://") || strings.HasPrefix(line, "https://")
	}
	return true // only comments and blank lines so far: let the parser judge
}

// fileManifest is a one-item manifest for a file URL: the URL the request
// ended at (after redirects, so a one-time grant link is not redeemed
// again), the name the server offers in Content-Disposition (its last path
// element only) or else the URL's last path element, and the length.
func fileManifest(resp *http.Response) []byte {
	final := resp.Request.URL
	name := dispositionName(resp.Header.Get("Content-Disposition"))
	if name == "" {
		name = urlName(final)
	}
	item := map[string]any{"filename": name, "url": final.String()}
	if resp.StatusCode == http.StatusOK && resp.ContentLength > 0 {
		item["size"] = resp.ContentLength
	}
	out, _ := json.Marshal(map[string]any{"version": 1, "status": "ready", "items": []any{item}})
	return out
}

// dispositionName is the file name of an RFC 6266 Content-Disposition
// (filename* preferred; mime decodes it), reduced to its last path element.
func dispositionName(v string) string {
	_, params, err := mime.ParseMediaType(v)
	if err != nil {
		return ""
	}
	return baseName(params["filename"])
}

// urlName is the last element of u's path, unescaped, or "download".
func urlName(u *url.URL) string {
	if n := baseName(u.Path); n != "" {
		return n
	}
	return "download"
}

// baseName keeps the last element of a slash- or backslash-separated path;
// "", "." and ".." give "".
func baseName(p string) string {
	p = path.Base(strings.ReplaceAll(p, `\`, "/"))
	if p == "." || p == ".." || p == "/" {
		return ""
	}
	return p
}
