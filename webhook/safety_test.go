package webhook

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestIsPublicAddr(t *testing.T) {
	tests := []struct {
		ip   string
		want bool
	}{
		{"93.184.216.34", true},
		{"8.8.8.8", true},
		{"2606:4700:4700::1111", true},
		{"127.0.0.1", false},
		{"127.8.9.10", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"fe80::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"224.0.0.1", false},
		{"ff02::1", false},
		{"100.64.0.1", false},
		{"255.255.255.255", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:8.8.8.8", true},
		{"64:ff9b::a00:1", false},
		{"2002:a00:1::", false},
	}
	for _, tt := range tests {
		if got := IsPublicAddr(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("IsPublicAddr(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
}

func TestURLPolicyValidate(t *testing.T) {
	tests := []struct {
		url          string
		allowPrivate bool
		wantErr      error
	}{
		{"https://93.184.216.34/hook", false, nil},
		{"http://8.8.8.8:8080/x?token=1", false, nil},
		{"ftp://93.184.216.34/", false, ErrInvalidURL},
		{"file:///etc/passwd", false, ErrInvalidURL},
		{"/relative", false, ErrInvalidURL},
		{"https://", false, ErrInvalidURL},
		{"mailto:a@example.com", false, ErrInvalidURL},
		{"http://127.0.0.1:9000/", false, ErrPrivateTarget},
		{"http://[::1]/", false, ErrPrivateTarget},
		{"http://10.0.0.5/", false, ErrPrivateTarget},
		{"http://169.254.169.254/latest/meta-data", false, ErrPrivateTarget},
		{"http://[fe80::1%25eth0]/", false, ErrPrivateTarget},
		{"http://localhost:8080/", false, ErrPrivateTarget},
		{"http://api.localhost/", false, ErrPrivateTarget},
		{"http://intranet/", false, ErrPrivateTarget},
		{"http://0.0.0.0/", false, ErrPrivateTarget},
		{"http://127.0.0.1:9000/", true, nil},
		{"http://localhost:8080/", true, nil},
		{"ftp://127.0.0.1/", true, ErrInvalidURL},
	}
	for _, tt := range tests {
		_, err := URLPolicy{AllowPrivate: tt.allowPrivate}.Validate(context.Background(), tt.url)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("Validate(%q, allowPrivate=%v) = %v, want %v", tt.url, tt.allowPrivate, err, tt.wantErr)
		}
	}
}

// TestClientRefusesPrivateAtDialTime proves the check runs on the address
// actually dialled: "localhost" is not an IP literal, so only the dialer
// can refuse it — the same path a DNS-rebinding name takes.
func TestClientRefusesPrivateAtDialTime(t *testing.T) {
	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit = true }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	for _, u := range []string{srv.URL, "http://localhost" + port} {
		resp, err := NewClient(ClientOptions{}).Post(u, "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("POST %s succeeded; want refusal", u)
		}
		if !errors.Is(err, ErrPrivateTarget) {
			t.Fatalf("POST %s: %v, want ErrPrivateTarget", u, err)
		}
	}
	if hit {
		t.Fatal("the private receiver was reached")
	}
	resp, err := NewClient(ClientOptions{AllowPrivate: true}).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("allow-private client: %v", err)
	}
	resp.Body.Close()
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	followed := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed = true
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	resp, err := NewClient(ClientOptions{AllowPrivate: true}).Post(srv.URL+"/hook", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || followed {
		t.Fatalf("status %d, followed %v; want 307 and not followed", resp.StatusCode, followed)
	}
}
