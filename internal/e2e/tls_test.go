package e2e_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haulhq/haul/internal/e2e"
	"github.com/haulhq/haul/internal/testsvc"
)

// TestServeTLS: with --tls-cert and --tls-key haul serve speaks HTTPS,
// signs https download URLs, serves their bytes, and the haul client
// reaches it through the system's trust store (here SSL_CERT_FILE).
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := testsvc.SelfSignedCert(t, dir, "server")
	srv := e2e.StartServer(t, "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(srv.URL, "https://") {
		t.Fatalf("server URL %s", srv.URL)
	}
	content := bytes.Repeat([]byte("tls "), 5000)
	id := upload(t, srv, srv.AdminKey, map[string]any{"filename": "secure.txt"}, content)
	d := do(t, srv, "POST", "/v1/assets/"+id+"/downloads", srv.AdminKey, map[string]any{"format": "original"}).status(http.StatusOK).obj()
	url, _ := d["download_url"].(string)
	if !strings.HasPrefix(url, "https://"+srv.Addr+"/dl/") {
		t.Fatalf("download_url %q: want an https URL of this server", url)
	}
	got := do(t, srv, "GET", url, "", nil).status(http.StatusOK)
	if !bytes.Equal(got.body, content) {
		t.Fatalf("downloaded %d bytes, want %d", len(got.body), len(content))
	}
	// Plain HTTP to the TLS port is refused, not served.
	if resp, err := http.Get("http://" + srv.Addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS port: %d", resp.StatusCode)
		}
	}

	// The CLI, trusting the certificate through SSL_CERT_FILE.
	list := filepath.Join(dir, "urls.txt")
	if err := os.WriteFile(list, []byte(url+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cmd := exec.CommandContext(context.Background(), e2e.Binary(t), "fetch", list, "-o", out, "--no-progress")
	cmd.Env = append(e2e.Env(t), "SSL_CERT_FILE="+certFile)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("haul fetch over https: %v\n%s", err, msg)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var fetched []byte
	for _, e := range entries {
		if e.Type().IsRegular() {
			fetched, _ = os.ReadFile(filepath.Join(out, e.Name()))
		}
	}
	if !bytes.Equal(fetched, content) {
		t.Fatalf("haul fetch over https got %d bytes, want %d", len(fetched), len(content))
	}
}

// TestServeTLSFlagsGoTogether: one of the pair without the other is a
// usage error (exit 2), before anything listens.
func TestServeTLSFlagsGoTogether(t *testing.T) {
	_, errOut, code := e2e.Run(t, context.Background(), "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--tls-cert", "x.pem")
	if code != 2 || !strings.Contains(errOut, "--tls-key") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = e2e.Run(t, context.Background(), "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--tls-cert", "missing.crt", "--tls-key", "missing.key")
	if code != 2 || !strings.Contains(errOut, "missing.crt") {
		t.Fatalf("missing files: exit %d, stderr %q", code, errOut)
	}
}
