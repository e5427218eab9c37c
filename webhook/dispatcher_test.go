package webhook

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// received is what a test receiver saw.
type received struct {
	header http.Header
	body   []byte
}

// failingReceiver answers 500 to the first n requests, then 204.
type failingReceiver struct {
	mu   sync.Mutex
	n    int
	reqs []received
}

func (f *failingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, received{r.Header.Clone(), body})
	fail := len(f.reqs) <= f.n
	f.mu.Unlock()
	if fail {
		http.Error(w, "down for maintenance", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *failingReceiver) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.reqs...)
}

func testDispatcher(ob Outbox, clock *fakeClock, o Options) *Dispatcher {
	o.Outbox = ob
	o.Now = clock.Now
	if o.Client == nil {
		o.Client = NewClient(ClientOptions{AllowPrivate: true, Timeout: 5 * time.Second})
	}
	if o.Rand == nil {
		o.Rand = func() float64 { return 0.5 } // no jitter offset: exact schedule
	}
	return New(o)
}

func TestDispatcherRetriesOnScheduleUntilDelivered(t *testing.T) {
	rcv := &failingReceiver{n: 3}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	secret, _ := NewSecret()
	ob := newMemOutbox()
	ob.addEndpoint("whk_1", srv.URL+"/hook", secret)
	t0 := time.Now().UTC().Truncate(time.Second)
	ob.enqueue("dl_1", "whk_1", "evt_1", "grant.consumed", t0, `{"id":"grt_1"}`)
	clock := &fakeClock{now: t0}
	d := testDispatcher(ob, clock, Options{})
	ctx := context.Background()

	// Attempt 1 immediately, then after 5 s, 5 min and 30 min.
	waits := []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute}
	at := t0
	for i, w := range waits {
		if w > 0 {
			clock.Set(at.Add(w - time.Second))
			if n, err := d.RunOnce(ctx); err != nil || n != 0 {
				t.Fatalf("before attempt %d is due: %d attempted, err %v", i+1, n, err)
			}
		}
		at = at.Add(w)
		clock.Set(at)
		if n, err := d.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("attempt %d: %d attempted, err %v", i+1, n, err)
		}
	}
	if got := ob.row("dl_1"); got.state != "delivered" || got.d.Attempts != 4 {
		t.Fatalf("delivery %s after %d attempts, want delivered after 4", got.state, got.d.Attempts)
	}
	atts := ob.attemptsFor("dl_1")
	if len(atts) != 4 {
		t.Fatalf("%d attempts recorded, want 4", len(atts))
	}
	for i, a := range atts {
		wantOK := i == 3
		if a.Number != i+1 || a.Success != wantOK || a.EventID != "evt_1" {
			t.Fatalf("attempt %d recorded as %+v", i+1, a)
		}
		if !wantOK && (a.StatusCode != 500 || !strings.Contains(a.Response, "down for maintenance") || a.Error == "") {
			t.Fatalf("failed attempt %d recorded as %+v", i+1, a)
		}
	}
	official, _ := standardwebhooks.NewWebhook(secret)
	ours, _ := NewSigner(secret)
	reqs := rcv.requests()
	if len(reqs) != 4 {
		t.Fatalf("receiver saw %d requests", len(reqs))
	}
	for i, r := range reqs {
		if r.header.Get(HeaderID) != "evt_1" {
			t.Fatalf("request %d webhook-id %q, want the event id on every retry", i, r.header.Get(HeaderID))
		}
		if !bytes.Equal(r.body, reqs[0].body) {
			t.Fatalf("request %d body differs from the first", i)
		}
		if err := official.VerifyIgnoringTimestamp(r.body, r.header); err != nil {
			t.Fatalf("request %d: official library: %v", i, err)
		}
		if _, ts, err := ours.Verify(r.header, r.body, atts[i].At); err != nil || !ts.Equal(atts[i].At) {
			t.Fatalf("request %d: fresh timestamp %v (attempt at %v), err %v", i, ts, atts[i].At, err)
		}
	}
	if !strings.Contains(string(reqs[0].body), `"type":"grant.consumed"`) || !strings.Contains(string(reqs[0].body), `"data":{"id":"grt_1"}`) {
		t.Fatalf("body %s", reqs[0].body)
	}
}

func TestDispatcherDeadDeliveryDisablesEndpoint(t *testing.T) {
	rcv := &failingReceiver{n: 1 << 30}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	secret, _ := NewSecret()
	ob := newMemOutbox()
	ob.addEndpoint("whk_dead", srv.URL, secret)
	t0 := time.Now()
	ob.enqueue("dl_1", "whk_dead", "evt_1", "asset.created", t0, `{}`)
	ob.enqueue("dl_2", "whk_dead", "evt_2", "asset.created", t0.Add(time.Hour), `{}`)
	clock := &fakeClock{now: t0}
	d := testDispatcher(ob, clock, Options{Schedule: []time.Duration{0, time.Minute, time.Hour}})
	for i := range 3 {
		if _, err := d.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			clock.Set(clock.Now().Add([]time.Duration{time.Minute, time.Hour}[i]))
		}
	}
	if got := ob.row("dl_1"); got.state != "dead" || got.d.Attempts != 3 {
		t.Fatalf("dl_1 %s after %d attempts, want dead after 3", got.state, got.d.Attempts)
	}
	if _, off := ob.disabled["whk_dead"]; !off {
		t.Fatal("endpoint not disabled after a dead delivery")
	}
	clock.Set(clock.Now().Add(24 * time.Hour))
	if n, _ := d.RunOnce(context.Background()); n != 0 {
		t.Fatalf("%d deliveries claimed for a disabled endpoint", n)
	}
}

// TestSlowEndpointDoesNotDelayOthers runs the real loop: one receiver
// hangs, the other must still get all its events promptly.
func TestSlowEndpointDoesNotDelayOthers(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	var fastGot atomic.Int32
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fastGot.Add(1) }))
	defer fast.Close()

	secret, _ := NewSecret()
	ob := newMemOutbox()
	ob.addEndpoint("whk_slow", slow.URL, secret)
	ob.addEndpoint("whk_fast", fast.URL, secret)
	t0 := time.Now()
	for i := range 5 {
		id := string(rune('a' + i))
		ob.enqueue("slow_"+id, "whk_slow", "evt_s"+id, "asset.created", t0.Add(-time.Minute), `{}`)
		ob.enqueue("fast_"+id, "whk_fast", "evt_f"+id, "asset.created", t0, `{}`)
	}
	d := New(Options{
		Outbox: ob, Client: NewClient(ClientOptions{AllowPrivate: true}),
		Timeout: 30 * time.Second, PollInterval: 20 * time.Millisecond, BatchSize: 3, PerEndpoint: 2,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for fastGot.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := fastGot.Load(); got != 5 {
		t.Fatalf("fast endpoint got %d of 5 events while the slow one hangs", got)
	}
	cancel()
	<-done
	// The hung attempt was interrupted by shutdown: released, not counted.
	if r := ob.row("slow_a"); r.state != "pending" || r.d.Attempts != 0 || r.owner != "" {
		t.Fatalf("interrupted delivery %+v, want pending, unleased, 0 attempts", r)
	}
	if n := len(ob.attemptsFor("slow_a")); n != 0 {
		t.Fatalf("%d attempts recorded for an attempt cut by shutdown", n)
	}
}

func TestNothingSecretLogged(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	secret, _ := NewSecret()
	ob := newMemOutbox()
	ob.addEndpoint("whk_1", srv.URL+"/hook?token=s3cr3t-query", secret)
	ob.addEndpoint("whk_2", "http://user:p4ssw0rd@127.0.0.1:1/hook?token=s3cr3t-query", secret)
	ob.enqueue("dl_1", "whk_1", "evt_1", "asset.created", time.Now(), `{}`)
	ob.enqueue("dl_2", "whk_2", "evt_2", "asset.created", time.Now(), `{}`)
	var logs bytes.Buffer
	d := testDispatcher(ob, &fakeClock{now: time.Now()}, Options{
		Logger:   slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Schedule: []time.Duration{0},
	})
	if _, err := d.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	var recorded strings.Builder
	for _, a := range ob.attempts {
		recorded.WriteString(a.Error + a.Response)
	}
	key := strings.TrimPrefix(secret, SecretPrefix)
	for _, leak := range []string{key, "s3cr3t-query", "p4ssw0rd"} {
		if strings.Contains(logs.String(), leak) || strings.Contains(recorded.String(), leak) {
			t.Fatalf("%q leaked:\nlogs: %s\nrecorded: %s", leak, logs.String(), recorded.String())
		}
	}
	if !strings.Contains(logs.String(), "evt_1") {
		t.Fatalf("logs lack the event id: %s", logs.String())
	}
}

func TestAttemptRecordsCappedSnippetAndRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write(bytes.Repeat([]byte("x"), 10_000))
	}))
	defer srv.Close()
	secret, _ := NewSecret()
	d := testDispatcher(newMemOutbox(), &fakeClock{now: time.Now()}, Options{ResponseLimit: 100})
	a := d.Attempt(context.Background(), Delivery{ID: "dl", URL: srv.URL, Secret: secret, EventID: "evt", EventType: "t", Attempts: 2})
	if a.Success || a.StatusCode != http.StatusTeapot || len(a.Response) != 100 || a.Number != 3 {
		t.Fatalf("attempt %+v", a)
	}
	a = d.Attempt(context.Background(), Delivery{ID: "dl", URL: srv.URL + "/moved", Secret: secret, EventID: "evt", EventType: "t"})
	if a.Success || a.StatusCode != http.StatusFound || !strings.Contains(a.Error, "redirects are not followed") {
		t.Fatalf("redirect attempt %+v", a)
	}
}

func TestDispatcherRefusesPrivateTargetByDefault(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	secret, _ := NewSecret()
	d := New(Options{Outbox: newMemOutbox()}) // default client: private refused
	a := d.Attempt(context.Background(), Delivery{ID: "dl", URL: srv.URL, Secret: secret, EventID: "evt", EventType: "t"})
	if a.Success || !strings.Contains(a.Error, ErrPrivateTarget.Error()) || hits.Load() != 0 {
		t.Fatalf("attempt to loopback %+v, hits %d", a, hits.Load())
	}
}

func TestScheduleAndJitter(t *testing.T) {
	want := []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
		5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour}
	got := DefaultSchedule()
	if len(got) != len(want) {
		t.Fatalf("schedule %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("schedule[%d] = %v, want %v", i, got[i], want[i])
		}
		for _, r := range []float64{0, 0.5, 0.999} {
			d, ok := nextDelay(got, i, DefaultJitter, r)
			lo, hi := want[i]-want[i]/10, want[i]+want[i]/10
			if !ok || d < lo || d > hi {
				t.Fatalf("nextDelay(%d, r=%v) = %v, %v; want within [%v, %v]", i, r, d, ok, lo, hi)
			}
		}
	}
	if _, ok := nextDelay(got, len(want), DefaultJitter, 0.5); ok {
		t.Fatal("schedule not exhausted after the last attempt")
	}
	if d, _ := nextDelay(got, 1, DefaultJitter, 0); d == 5*time.Second {
		t.Fatal("no jitter applied")
	}
}
