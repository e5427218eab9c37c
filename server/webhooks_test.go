package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/haulhq/haul/store"
	"github.com/haulhq/haul/webhook"
)

// hookReceiver records webhooks and fails the first n.
type hookReceiver struct {
	mu   sync.Mutex
	fail int
	got  []hookRequest
}

type hookRequest struct {
	header http.Header
	body   []byte
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.got = append(h.got, hookRequest{r.Header.Clone(), b})
	fail := len(h.got) <= h.fail
	h.mu.Unlock()
	if fail {
		http.Error(w, "receiver down", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *hookReceiver) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.got...)
}

type webhookResp struct {
	ID       string   `json:"id"`
	URL      string   `json:"url"`
	Events   []string `json:"events"`
	Secret   string   `json:"secret"`
	Disabled bool     `json:"disabled"`
}

func (e *gwEnv) dispatcher(o webhook.Options) *webhook.Dispatcher {
	o.Now = e.clock.Now
	o.Client = webhook.NewClient(webhook.ClientOptions{AllowPrivate: true, Timeout: 5 * time.Second})
	if o.Rand == nil {
		o.Rand = func() float64 { return 0.5 } // exact schedule
	}
	return NewWebhookDispatcher(e.db, o)
}

func TestWebhookEndpointsAPI(t *testing.T) {
	strict := newGWEnv(t, func(c *Config) { c.Webhooks.AllowPrivate = false })
	for _, u := range []string{"http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/", "http://169.254.169.254/latest", "http://[::1]:80/"} {
		status, body, _ := strict.do("POST", "/v1/webhooks", map[string]any{"url": u, "events": []string{"*"}})
		if status != http.StatusUnprocessableEntity || gwProblemCode(body) != CodeValidationFailed || !strings.Contains(string(body), "--webhook-allow-private") {
			t.Errorf("private %s: %d %s", u, status, body)
		}
	}
	var ok webhookResp
	strict.must(http.StatusCreated, "POST", "/v1/webhooks", map[string]any{"url": "https://93.184.216.34/hooks", "events": []string{"grant.created"}}, &ok)

	e := newGWEnv(t, nil)
	for name, body := range map[string]map[string]any{
		"ftp url":       {"url": "ftp://127.0.0.1/", "events": []string{"*"}},
		"no events":     {"url": "http://127.0.0.1/"},
		"unknown event": {"url": "http://127.0.0.1/", "events": []string{"grant.exploded"}},
		"audit type":    {"url": "http://127.0.0.1/", "events": []string{EventDelivery}},
	} {
		if status, b, _ := e.do("POST", "/v1/webhooks", body); status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s", name, status, b)
		}
	}
	var w webhookResp
	h := e.must(http.StatusCreated, "POST", "/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"grant.created", "*"}}, &w)
	if !strings.HasPrefix(w.ID, "whk_") || !strings.HasPrefix(w.Secret, "whsec_") || len(w.Events) != 1 || w.Events[0] != "*" || h.Get("Location") != "/v1/webhooks/"+w.ID {
		t.Fatalf("created %+v %v", w, h)
	}
	if _, err := webhook.NewSigner(w.Secret); err != nil {
		t.Fatalf("secret unusable: %v", err)
	}
	_, body, _ := e.do("GET", "/v1/webhooks/"+w.ID, nil)
	_, list, _ := e.do("GET", "/v1/webhooks", nil)
	if strings.Contains(string(body), w.Secret) || strings.Contains(string(list), w.Secret) || !strings.Contains(string(list), w.ID) {
		t.Fatalf("secret shown again or endpoint missing:\n%s\n%s", body, list)
	}
	other := e.otherTenant()
	if status, _, _ := e.do("GET", "/v1/webhooks/"+w.ID, nil, "Authorization", "Bearer "+other); status != http.StatusNotFound {
		t.Fatalf("other tenant sees the endpoint: %d", status)
	}
	e.must(http.StatusNoContent, "DELETE", "/v1/webhooks/"+w.ID, nil, nil)
	if status, _, _ := e.do("GET", "/v1/webhooks/"+w.ID, nil); status != http.StatusNotFound {
		t.Fatalf("after delete: %d", status)
	}
}

// TestWebhookRetriesRecordedAndReplayKeepsIDs drives the real dispatcher
// over the real store against a receiver that fails twice.
func TestWebhookRetriesRecordedAndReplayKeepsIDs(t *testing.T) {
	e := newGWEnv(t, nil)
	rcv := &hookReceiver{fail: 2}
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	var all, onlyRevoked webhookResp
	e.must(http.StatusCreated, "POST", "/v1/webhooks", map[string]any{"url": hs.URL + "/all", "events": []string{"*"}}, &all)
	e.must(http.StatusCreated, "POST", "/v1/webhooks", map[string]any{"url": hs.URL + "/revoked", "events": []string{"grant.revoked"}}, &onlyRevoked)
	t0 := e.clock.Now()
	id := e.upload("a.txt", []byte("abc"), nil)
	g := e.grant(id, map[string]any{"policy": "one_time"})
	d := e.dispatcher(webhook.Options{})
	ctx := context.Background()

	// asset.created, asset.available, grant.created are due now; each
	// attempt fails for the first two requests the receiver sees.
	drain := func() {
		t.Helper()
		for range 10 {
			n, err := d.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
		}
	}
	drain()
	e.clock.Add(5 * time.Second)
	drain()
	e.clock.Add(5 * time.Minute)
	drain()

	var atts struct {
		Data []attemptJSON `json:"data"`
	}
	e.must(http.StatusOK, "GET", "/v1/webhooks/"+all.ID+"/deliveries", nil, &atts)
	byEvent := map[string][]attemptJSON{}
	for _, a := range atts.Data {
		byEvent[a.EventID] = append(byEvent[a.EventID], a)
	}
	created := e.events(store.EventGrantCreated)
	if len(created) != 1 {
		t.Fatalf("grant.created events: %+v", created)
	}
	evID := created[0].ID
	if len(byEvent) != 3 {
		t.Fatalf("attempts for %d events, want 3 (asset.created, asset.available, grant.created): %+v", len(byEvent), atts.Data)
	}
	failed := 0
	for ev, as := range byEvent {
		last := as[len(as)-1]
		if !last.Success || last.StatusCode != 200 || last.Attempt != len(as) {
			t.Fatalf("event %s attempts %+v", ev, as)
		}
		for _, a := range as[:len(as)-1] {
			if a.Success || a.StatusCode != 503 || !strings.Contains(a.Error, "503") {
				t.Fatalf("failed attempt %+v", a)
			}
			failed++
		}
	}
	if failed != 2 {
		t.Fatalf("%d failed attempts recorded, want 2", failed)
	}

	official, _ := standardwebhooks.NewWebhook(all.Secret)
	var grantHooks []hookRequest
	for _, r := range rcv.requests() {
		if err := official.VerifyIgnoringTimestamp(r.body, r.header); err != nil {
			t.Fatalf("official library rejects a delivery: %v", err)
		}
		var p webhook.Payload
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		if p.Type == store.EventGrantCreated {
			grantHooks = append(grantHooks, r)
			if !strings.Contains(string(p.Data), g.ID) || strings.Contains(string(p.Data), g.Token) {
				t.Fatalf("grant.created data %s", p.Data)
			}
		}
		if p.Type == store.EventGrantRevoked {
			t.Fatal("grant.revoked sent though none happened")
		}
	}
	if len(grantHooks) == 0 || grantHooks[0].header.Get(webhook.HeaderID) != evID {
		t.Fatalf("grant.created webhook-id %v, want %s", grantHooks, evID)
	}
	before := len(rcv.requests())

	// Replay re-sends with the original id and a fresh timestamp.
	e.clock.Add(time.Hour)
	var rep struct {
		Queued int `json:"replayed"`
	}
	e.must(http.StatusAccepted, "POST", "/v1/webhooks/"+all.ID+"/replay", map[string]any{"since": t0}, &rep)
	if rep.Queued != 3 {
		t.Fatalf("replay queued %d, want 3", rep.Queued)
	}
	drain()
	after := rcv.requests()[before:]
	if len(after) != 3 {
		t.Fatalf("%d requests after replay, want 3", len(after))
	}
	ours, _ := webhook.NewSigner(all.Secret)
	found := false
	for _, r := range after {
		id, ts, err := ours.Verify(r.header, r.body, e.clock.Now())
		if err != nil || !ts.Equal(e.clock.Now().Truncate(time.Second)) {
			t.Fatalf("replayed delivery: ts %v, err %v", ts, err)
		}
		if id == evID {
			found = true
			if string(r.body) != string(grantHooks[0].body) {
				t.Fatalf("replayed body differs:\n%s\n%s", r.body, grantHooks[0].body)
			}
		}
	}
	if !found {
		t.Fatal("replay did not resend grant.created with its original id")
	}

	// The filtered endpoint gets only its type.
	e.must(http.StatusOK, "DELETE", "/v1/grants/"+g.ID, nil, nil)
	drain()
	var revokedHooks int
	for _, r := range rcv.requests() {
		if strings.Contains(string(r.body), `"type":"grant.revoked"`) {
			revokedHooks++
		}
	}
	if revokedHooks != 2 { // one for each endpoint
		t.Fatalf("grant.revoked sent %d times, want 2", revokedHooks)
	}
	var fa struct {
		Data []attemptJSON `json:"data"`
	}
	e.must(http.StatusOK, "GET", "/v1/webhooks/"+onlyRevoked.ID+"/deliveries", nil, &fa)
	if len(fa.Data) != 1 || fa.Data[0].EventType != store.EventGrantRevoked {
		t.Fatalf("filtered endpoint attempts %+v", fa.Data)
	}
}

func TestWebhookDeadEndpointIsDisabled(t *testing.T) {
	e := newGWEnv(t, nil)
	rcv := &hookReceiver{fail: 1 << 30}
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	var w webhookResp
	e.must(http.StatusCreated, "POST", "/v1/webhooks", map[string]any{"url": hs.URL, "events": []string{"grant.created"}}, &w)
	id := e.upload("a.txt", []byte("abc"), nil)
	e.grant(id, map[string]any{"policy": "one_time"})
	d := e.dispatcher(webhook.Options{Schedule: []time.Duration{0, time.Second, time.Minute}})
	for _, step := range []time.Duration{0, time.Second, time.Minute} {
		e.clock.Add(step)
		if _, err := d.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var got webhookJSON
	e.must(http.StatusOK, "GET", "/v1/webhooks/"+w.ID, nil, &got)
	if !got.Disabled || !strings.Contains(got.DisabledReason, "3 attempts") || got.ConsecutiveFailures != 3 {
		t.Fatalf("endpoint after a dead delivery: %+v", got)
	}
	// Nothing more is sent while disabled; replay enables it again.
	e.grant(id, map[string]any{"policy": "one_time"})
	n0 := len(rcv.requests())
	e.clock.Add(time.Hour)
	if _, err := d.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(rcv.requests()) != n0 {
		t.Fatal("a disabled endpoint received a webhook")
	}
	e.must(http.StatusAccepted, "POST", "/v1/webhooks/"+w.ID+"/replay", map[string]any{"since": e.clock.Now().Add(-2 * time.Hour)}, nil)
	e.must(http.StatusOK, "GET", "/v1/webhooks/"+w.ID, nil, &got)
	if got.Disabled {
		t.Fatal("replay did not enable the endpoint")
	}
}
