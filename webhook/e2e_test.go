package webhook_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/haulhq/haul/internal/e2e"
	"github.com/haulhq/haul/webhook"
)

func TestMain(m *testing.M) { e2e.Main(m) }

// api calls the server with its admin key.
func api(t *testing.T, srv *e2e.Server, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+srv.AdminKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode
}

// TestOutboxSurvivesSIGKILL: a delivery that failed is retried by the
// restarted server after a SIGKILL, with the same webhook-id.
func TestOutboxSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs haul serve")
	}
	var up atomic.Bool
	var mu sync.Mutex
	var got []http.Header
	var bodies [][]byte
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r.Header.Clone()), append(bodies, b)
		mu.Unlock()
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer rcv.Close()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}
	waitFor := func(n int, within time.Duration) {
		t.Helper()
		for deadline := time.Now().Add(within); count() < n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("receiver got %d requests, want %d", count(), n)
			}
		}
	}

	srv := e2e.StartServer(t, "--webhook-allow-private")
	var hook struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if st := api(t, srv, "POST", "/v1/webhooks", map[string]any{"url": rcv.URL + "/hook", "events": []string{"asset.created"}}, &hook); st != 201 {
		t.Fatalf("create webhook: %d", st)
	}
	if st := api(t, srv, "POST", "/v1/assets", map[string]any{"filename": "a.txt"}, nil); st != 201 {
		t.Fatalf("create asset: %d", st)
	}
	waitFor(1, 10*time.Second) // attempt 1 fails; retry due in about 5 s
	// Kill once the failure is recorded. (Killed before that, the claim's
	// lease has to lapse first: two minutes, also at-least-once.)
	var atts struct {
		Data []struct {
			Attempt    int  `json:"attempt"`
			Success    bool `json:"success"`
			StatusCode int  `json:"status_code"`
		} `json:"data"`
	}
	for deadline := time.Now().Add(10 * time.Second); len(atts.Data) == 0; time.Sleep(10 * time.Millisecond) {
		api(t, srv, "GET", "/v1/webhooks/"+hook.ID+"/deliveries", nil, &atts)
		if time.Now().After(deadline) {
			t.Fatal("the failed attempt was never recorded")
		}
	}
	srv.KillAndRestart()
	up.Store(true)
	waitFor(2, 20*time.Second)

	mu.Lock()
	first, second := got[0], got[1]
	body := bodies[1]
	mu.Unlock()
	if first.Get(webhook.HeaderID) == "" || first.Get(webhook.HeaderID) != second.Get(webhook.HeaderID) {
		t.Fatalf("webhook-id changed across the restart: %q then %q", first.Get(webhook.HeaderID), second.Get(webhook.HeaderID))
	}
	wh, _ := standardwebhooks.NewWebhook(hook.Secret)
	if err := wh.Verify(body, second); err != nil {
		t.Fatalf("official library rejects the retried webhook: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		api(t, srv, "GET", "/v1/webhooks/"+hook.ID+"/deliveries", nil, &atts)
		if len(atts.Data) == 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(atts.Data) != 2 || atts.Data[0].Success || atts.Data[0].StatusCode != 503 || !atts.Data[1].Success || atts.Data[1].Attempt != 2 {
		t.Fatalf("attempts after restart: %+v", atts.Data)
	}
}

// TestShareWithOneTimeLinkAndListen is the docs walk-through: upload, share
// with a one-time link, and watch the webhooks arrive in
// `haul webhook listen`.
func TestShareWithOneTimeLinkAndListen(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs haul serve")
	}
	srv := e2e.StartServer(t, "--webhook-allow-private")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env := append(e2e.Env(t), "HAUL_SERVER="+srv.URL, "HAUL_TOKEN="+srv.AdminKey)
	haul := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, e2e.Binary(t), args...)
		cmd.Env = env
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("haul %v: %v\n%s%s", args, err, out.String(), errOut.String())
		}
		return out.String()
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	out := haul("webhook", "add", "http://"+addr+"/", "--events", "grant.created,grant.accessed,grant.consumed", "--json")
	var hook struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(out), &hook); err != nil || hook.Secret == "" {
		t.Fatalf("webhook add --json: %s", out)
	}
	listen := exec.CommandContext(ctx, e2e.Binary(t), "webhook", "listen", "--addr", addr)
	listen.Env = append(env, "HAUL_WEBHOOK_SECRET="+hook.Secret)
	stdout, _ := listen.StdoutPipe()
	stderr := &lockedBuffer{}
	listen.Stderr = stderr
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = listen.Process.Kill(); _ = listen.Wait() }()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), "Listening"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("listen did not start: %s", stderr.String())
		}
	}

	dir := t.TempDir()
	if err := os.WriteFile(dir+"/report.txt", []byte("quarterly numbers\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out = haul("upload", dir+"/report.txt", "--json")
	asset := regexp.MustCompile(`ast_[0-9A-Z]{26}`).FindString(out)
	if asset == "" {
		t.Fatalf("upload output: %s", out)
	}
	var g struct {
		URL string `json:"url"`
		ID  string `json:"id"`
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		cmd := exec.CommandContext(ctx, e2e.Binary(t), "grant", "create", asset, "--expires-in", "1h", "--json")
		cmd.Env = env
		b, err := cmd.Output()
		if err == nil && json.Unmarshal(b, &g) == nil && g.URL != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("grant create: %v %s", err, b)
		}
	}
	resp, err := http.Get(srv.URL + g.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "quarterly numbers\n" {
		t.Fatalf("one-time link: %d %q", resp.StatusCode, b)
	}
	resp, err = http.Get(srv.URL + g.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Fatalf("second use of the one-time link: %d", resp.StatusCode)
	}

	want := map[string]bool{"grant.created": false, "grant.accessed": false, "grant.consumed": false}
	timeout := time.After(20 * time.Second)
	for missing := 3; missing > 0; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("listen ended: %s", stderr.String())
			}
			for typ, seen := range want {
				if !seen && strings.Contains(line, typ+" ") && strings.HasSuffix(line, "verified") {
					want[typ] = true
					missing--
				}
			}
		case <-timeout:
			t.Fatalf("webhooks seen by listen: %v\n%s", want, stderr.String())
		}
	}
}

// lockedBuffer is a bytes.Buffer safe to read while a process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
