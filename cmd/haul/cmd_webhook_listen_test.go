package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haulhq/haul/webhook"
)

// listenBuffer is a bytes.Buffer safe for the listener's goroutines.
type listenBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *listenBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *listenBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startListen(t *testing.T, opts *webhookListenOptions) (addr string, out *listenBuffer) {
	t.Helper()
	out = &listenBuffer{}
	app := &App{IO: &IOStreams{In: &bytes.Buffer{}, Out: out, ErrOut: io.Discard}, Getenv: func(string) string { return "" }}
	ready := make(chan string, 1)
	opts.ready = func(a string) { ready <- a }
	opts.Addr = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runWebhookListen(ctx, app, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("listen returned %v", err)
		}
	})
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("listen ended early: %v", err)
	}
	return addr, out
}

func postSigned(t *testing.T, url, secret, id string, body []byte, at time.Time) *http.Response {
	t.Helper()
	s, err := webhook.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	s.SetHeaders(req.Header, id, at, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestWebhookListenVerifiesAndPrints(t *testing.T) {
	secret, _ := webhook.NewSecret()
	other, _ := webhook.NewSecret()
	addr, out := startListen(t, &webhookListenOptions{Secret: secret})
	body, _ := webhook.EncodePayload("grant.consumed", time.Now(), []byte(`{"id":"grt_1"}`))

	if resp := postSigned(t, "http://"+addr+"/", secret, "evt_good", body, time.Now()); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("good webhook answered %d", resp.StatusCode)
	}
	if resp := postSigned(t, "http://"+addr+"/", other, "evt_forged", body, time.Now()); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged webhook answered %d", resp.StatusCode)
	}
	if resp := postSigned(t, "http://"+addr+"/", secret, "evt_stale", body, time.Now().Add(-time.Hour)); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("stale webhook answered %d", resp.StatusCode)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("output:\n%s", out.String())
	}
	if !strings.Contains(lines[0], "grant.consumed") || !strings.Contains(lines[0], "evt_good") || !strings.HasSuffix(lines[0], "verified") {
		t.Errorf("line 1: %q", lines[0])
	}
	if !strings.Contains(lines[1], "evt_forged  REJECTED: no matching webhook signature") {
		t.Errorf("line 2: %q", lines[1])
	}
	if !strings.Contains(lines[2], "REJECTED: webhook timestamp too old") {
		t.Errorf("line 3: %q", lines[2])
	}
}

func TestWebhookListenForwardsJSON(t *testing.T) {
	secret, _ := webhook.NewSecret()
	var got http.Header
	var gotBody []byte
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		gotBody, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer app.Close()
	addr, out := startListen(t, &webhookListenOptions{Secret: secret, ForwardTo: app.URL + "/hooks", JSON: true})
	body, _ := webhook.EncodePayload("asset.created", time.Now(), []byte(`{"id":"ast_1"}`))
	resp := postSigned(t, "http://"+addr+"/", secret, "evt_fwd", body, time.Now())
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("the app's 503 was not relayed: %d", resp.StatusCode)
	}
	if got.Get(webhook.HeaderID) != "evt_fwd" || !bytes.Equal(gotBody, body) {
		t.Fatalf("forwarded headers %v body %s", got, gotBody)
	}
	// The forwarded request still verifies at the app.
	s, _ := webhook.NewSigner(secret)
	if _, _, err := s.Verify(got, gotBody, time.Now()); err != nil {
		t.Fatalf("forwarded webhook does not verify: %v", err)
	}
	var ev listenEvent
	if err := json.Unmarshal([]byte(strings.TrimSpace(out.String())), &ev); err != nil {
		t.Fatalf("json line %q: %v", out.String(), err)
	}
	if ev.MessageType != "event" || ev.ID != "evt_fwd" || ev.Type != "asset.created" || !ev.Verified || ev.ForwardStatus != 503 || string(ev.Data) != `{"id":"ast_1"}` {
		t.Fatalf("json event %+v", ev)
	}
}

func TestWebhookListenNeedsSecret(t *testing.T) {
	ios, _, _ := testIO()
	code := run(context.Background(), []string{"webhook", "listen"}, func(string) string { return "" }, ios)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	code = run(context.Background(), []string{"webhook", "listen", "--secret", "nope"}, func(string) string { return "" }, ios)
	if code != exitUsage {
		t.Fatalf("malformed secret: exit %d, want %d", code, exitUsage)
	}
}
