package server

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestDownloadAndDelivery(t *testing.T) {
	e := newEnv(t)
	content := []byte(strings.Repeat("0123456789", 1000))
	a := e.upload(e.admin, map[string]any{"title": "Report", "filename": "Résumé.txt", "content_type": "text/plain"}, content)
	id := a["id"].(string)

	r := e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "original"})
	e.want(r, http.StatusOK)
	var d struct {
		DownloadURL string    `json:"download_url"`
		ExpiresAt   time.Time `json:"expires_at"`
		Checksum    string    `json:"checksum"`
		Size        int64     `json:"size"`
		Filename    string    `json:"filename"`
		ContentType string    `json:"content_type"`
	}
	r.json(&d)
	sum := sha256.Sum256(content)
	if !strings.HasPrefix(d.DownloadURL, e.ts.URL+"/dl/") || d.Size != int64(len(content)) || d.Checksum != "sha256:"+hexOf(sum[:]) || d.Filename != "Résumé.txt" || d.ContentType != "text/plain" {
		t.Fatalf("download: %s", r.body)
	}
	if time.Until(d.ExpiresAt) < 50*time.Minute {
		t.Fatalf("expires_at %v too soon", d.ExpiresAt)
	}

	// Full GET.
	r = e.do("GET", d.DownloadURL, "", nil)
	e.want(r, http.StatusOK)
	if string(r.body) != string(content) {
		t.Fatal("body differs")
	}
	etag := r.Header.Get("ETag")
	if etag != `"`+hexOf(sum[:])+`"` || r.Header.Get("Accept-Ranges") != "bytes" || r.Header.Get("Last-Modified") == "" ||
		r.Header.Get("Repr-Digest") != "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":" {
		t.Fatalf("headers: %v", r.Header)
	}
	if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="R_sum_.txt"; filename*=UTF-8''R%C3%A9sum%C3%A9.txt` {
		t.Fatalf("Content-Disposition: %s", cd)
	}

	// HEAD.
	r = e.do("HEAD", d.DownloadURL, "", nil)
	e.want(r, http.StatusOK)
	if r.ContentLength != int64(len(content)) || len(r.body) != 0 || r.Header.Get("ETag") != etag {
		t.Fatalf("HEAD: %v", r.Header)
	}

	// Single range.
	r = e.do("GET", d.DownloadURL, "", nil, "Range", "bytes=10-19")
	e.want(r, http.StatusPartialContent)
	if string(r.body) != "0123456789" || r.Header.Get("Content-Range") != "bytes 10-19/10000" {
		t.Fatalf("range: %q %v", r.body, r.Header)
	}
	// Suffix range.
	r = e.do("GET", d.DownloadURL, "", nil, "Range", "bytes=-5")
	e.want(r, http.StatusPartialContent)
	if string(r.body) != "56789" {
		t.Fatalf("suffix: %q", r.body)
	}
	// Multi range.
	r = e.do("GET", d.DownloadURL, "", nil, "Range", "bytes=0-1,5-6")
	e.want(r, http.StatusPartialContent)
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/byteranges" {
		t.Fatalf("multi range type %s", mt)
	}
	mr := multipart.NewReader(strings.NewReader(string(r.body)), params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, string(b))
	}
	if strings.Join(parts, "|") != "01|56" {
		t.Fatalf("parts %v", parts)
	}
	// Unsatisfiable.
	r = e.do("GET", d.DownloadURL, "", nil, "Range", "bytes=20000-")
	e.want(r, http.StatusRequestedRangeNotSatisfiable)
	if r.Header.Get("Content-Range") != "bytes */10000" {
		t.Fatalf("416 Content-Range: %v", r.Header)
	}
	// If-Range with the right validator gives 206; a stale one the full body.
	e.want(e.do("GET", d.DownloadURL, "", nil, "Range", "bytes=0-0", "If-Range", etag), http.StatusPartialContent)
	r = e.do("GET", d.DownloadURL, "", nil, "Range", "bytes=0-0", "If-Range", `"stale"`)
	e.want(r, http.StatusOK)
	if len(r.body) != len(content) {
		t.Fatalf("If-Range stale: %d bytes", len(r.body))
	}
	e.want(e.do("GET", d.DownloadURL, "", nil, "If-None-Match", etag), http.StatusNotModified)

	// Tampering is 403, expiry 410.
	u, _ := url.Parse(d.DownloadURL)
	q := u.Query()
	q.Set("exp", "9999999999")
	u.RawQuery = q.Encode()
	e.want(e.do("GET", u.String(), "", nil), http.StatusForbidden, CodeBadSignature)
	other := strings.Replace(d.DownloadURL, "/original/", "/mp4_720p/", 1)
	e.want(e.do("GET", other, "", nil), http.StatusForbidden, CodeBadSignature)
	e.clock.advance(2 * time.Hour)
	e.want(e.do("GET", d.DownloadURL, "", nil), http.StatusGone, CodeURLExpired)
	e.want(e.do("HEAD", d.DownloadURL, "", nil), http.StatusGone)
}

func TestDownloadRightsAndFormats(t *testing.T) {
	e := newEnv(t)
	mk := func(rights map[string]any) string {
		a := e.upload(e.admin, map[string]any{"filename": "a.txt", "rights": rights}, []byte("data"))
		return a["id"].(string)
	}
	id := mk(map[string]any{"downloadable": false})
	e.want(e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "original"}), http.StatusForbidden, CodeRightsDenied)
	id = mk(map[string]any{"available_until": "2001-01-01T00:00:00Z"})
	e.want(e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "original"}), http.StatusForbidden, CodeRightsDenied)
	id = mk(nil)
	r := e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "mp4_720p"})
	e.want(r, http.StatusUnprocessableEntity, CodeUnsupportedFormat)
	if af, _ := r.obj()["allowed_formats"].([]any); len(af) != 1 || af[0] != "original" {
		t.Fatalf("allowed_formats: %s", r.body)
	}
	// Custom filename; default format is original.
	r = e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"filename": "custom.txt"})
	e.want(r, http.StatusOK)
	if r.obj()["filename"] != "custom.txt" {
		t.Fatalf("filename: %s", r.body)
	}
	// Not yet uploaded.
	r = e.do("POST", "/v1/assets", e.admin, map[string]any{"filename": "b.txt"})
	e.want(e.do("POST", "/v1/assets/"+r.obj()["id"].(string)+"/downloads", e.admin, map[string]any{"format": "original"}), http.StatusConflict, CodeNotReady)
}

// TestDeliveryRechecksRights: a URL signed while the rights allowed it is
// refused with 403 rights_denied once they no longer do.
func TestDeliveryRechecksRights(t *testing.T) {
	e := newEnv(t)
	a := e.upload(e.admin, map[string]any{"filename": "r.txt"}, []byte("rights"))
	id := a["id"].(string)
	r := e.do("POST", "/v1/assets/"+id+"/downloads", e.admin, map[string]any{"format": "original"})
	e.want(r, http.StatusOK)
	url := r.obj()["download_url"].(string)
	e.want(e.do("GET", url, "", nil), http.StatusOK)
	e.want(e.do("PATCH", "/v1/assets/"+id, e.admin, map[string]any{"rights": map[string]any{"downloadable": false}}), http.StatusOK)
	e.want(e.do("GET", url, "", nil), http.StatusForbidden, CodeRightsDenied)
	e.want(e.do("PATCH", "/v1/assets/"+id, e.admin, map[string]any{"rights": map[string]any{"downloadable": true, "available_until": "2001-01-01T00:00:00Z"}}), http.StatusOK)
	e.want(e.do("GET", url, "", nil), http.StatusForbidden, CodeRightsDenied)
	e.want(e.do("PATCH", "/v1/assets/"+id, e.admin, map[string]any{"rights": map[string]any{"available_until": nil}}), http.StatusOK)
	e.want(e.do("GET", url, "", nil), http.StatusOK)
}

func TestFormats(t *testing.T) {
	e := newEnv(t)
	var l struct {
		Data []FormatInfo `json:"data"`
	}
	e.do("GET", "/v1/formats", e.admin, nil).json(&l)
	if len(l.Data) != 1 || l.Data[0].Name != "original" {
		t.Fatalf("formats: %+v", l)
	}
}

func TestSigningKeyRotationAcrossReplicas(t *testing.T) {
	e := newEnv(t)
	a := e.upload(e.admin, map[string]any{"filename": "a.txt"}, []byte("abc"))
	old := e.do("POST", "/v1/assets/"+a["id"].(string)+"/downloads", e.admin, map[string]any{}).obj()["download_url"].(string)

	// A second replica on the same store rotates the secret.
	replica, err := NewServer(t.Context(), Deps{Store: e.st, Blobs: e.srv.blobs, Now: e.clock.now, Logger: e.srv.log})
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	if err := replica.RotateSigningKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(old)
	target, err := replica.signer.Verify("GET", u.EscapedPath(), u.RawQuery)
	if err != nil {
		t.Fatalf("old URL on the rotating replica: %v", err)
	}
	fresh := replica.signer.Sign(target)
	if strings.Contains(old, strings.SplitN(fresh, "sig=", 2)[1]) {
		t.Fatal("rotation did not change signatures")
	}
	// The first replica accepts URLs signed with the new secret (it reloads
	// the keys on an unknown signature) and still the old ones (grace).
	e.clock.advance(6 * time.Second)
	e.want(e.do("GET", e.ts.URL+fresh, "", nil), http.StatusOK)
	e.want(e.do("GET", old, "", nil), http.StatusOK)
	// After the grace period the old secret is gone.
	e.clock.advance(25 * time.Hour)
	e.want(e.do("GET", old, "", nil), http.StatusForbidden, CodeBadSignature)
}
