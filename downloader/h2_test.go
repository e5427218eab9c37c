package downloader

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haulhq/haul/manifest"
)

// TestHTTP2 downloads over TLS with HTTP/2, where the client writes a
// request and reads its response on different goroutines (the request
// timing the engine traces must not race: run with -race).
func TestHTTP2(t *testing.T) {
	d := randomData(3<<20+11, 81)
	var proto atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(r.Proto)
		w.Header().Set("ETag", `"h2"`)
		http.ServeContent(w, r, "", time.Unix(1e9, 0), bytes.NewReader(d))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := NewHTTPClient(4)
	client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	it := manifest.Item{Filename: "h2.bin", URL: srv.URL + "/h2.bin", Size: int64(len(d)), Checksum: "sha256:" + sha(d)}
	dir := t.TempDir()
	sum, _ := runEngine(t, dir, Options{Client: client, Connections: 2}, it)
	assertOK(t, sum)
	assertFile(t, dir, "h2.bin", d)
	if p, _ := proto.Load().(string); p != "HTTP/2.0" {
		t.Errorf("served over %s, want HTTP/2.0", p)
	}
}
