package downloader

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// hostGates holds one gate per host, shared by all workers.
type hostGates struct {
	now func() time.Time
	max int

	mu    sync.Mutex
	gates map[string]*hostGate
}

// hostGate keeps workers away from a host that asked to slow down
// (Retry-After) and limits the connections to it with AIMD: the limit is
// halved on 429/503 and grows by one per window of successful requests.
type hostGate struct {
	now func() time.Time
	max float64

	mu       sync.Mutex
	until    time.Time // no request before this
	limit    float64   // allowed concurrent requests
	inflight int
	strikes  int // throttles without Retry-After since the last success
	changed  chan struct{}
}

func newHostGates(now func() time.Time, max int) *hostGates {
	return &hostGates{now: now, max: max, gates: make(map[string]*hostGate)}
}

func (g *hostGates) get(host string) *hostGate {
	g.mu.Lock()
	defer g.mu.Unlock()
	h, ok := g.gates[host]
	if !ok {
		h = &hostGate{now: g.now, max: float64(g.max), limit: float64(g.max), changed: make(chan struct{})}
		g.gates[host] = h
	}
	return h
}

// notify wakes waiters; call with mu held.
func (h *hostGate) notify() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// acquire waits until a request to the host may be sent.
func (h *hostGate) acquire(ctx context.Context) error {
	for {
		h.mu.Lock()
		wait := h.until.Sub(h.now())
		if wait <= 0 && float64(h.inflight) < max(1, h.limit) {
			h.inflight++
			h.mu.Unlock()
			return nil
		}
		ch := h.changed
		h.mu.Unlock()
		var timer <-chan time.Time
		var t *time.Timer
		if wait > 0 {
			t = time.NewTimer(wait)
			timer = t.C
		}
		select {
		case <-ctx.Done():
		case <-ch:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// waitOpen waits until no Retry-After holds the host. It runs again right
// before a request is written (from the connection trace), so a request
// that got its slot just before a 429 arrived still waits.
func (h *hostGate) waitOpen(ctx context.Context) {
	h.mu.Lock()
	wait := h.until.Sub(h.now())
	h.mu.Unlock()
	if wait > 0 {
		_ = sleep(ctx, wait)
	}
}

// release returns a slot. ok says whether the request succeeded (a
// successful response, not a throttle).
func (h *hostGate) release(ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inflight--
	if ok {
		h.strikes = 0
	}
	if ok && h.limit < h.max {
		h.limit = min(h.max, h.limit+1/max(1, h.limit))
	}
	h.notify()
}

// throttle records a 429/503: nothing is sent before now+delay, and the
// concurrency limit is halved.
func (h *hostGate) throttle(delay time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if until := h.now().Add(delay); until.After(h.until) {
		h.until = until
	}
	h.limit = max(1, h.limit/2)
	h.notify()
}

// strike counts a throttle without Retry-After and returns the host-wide
// exponential backoff for it.
func (h *hostGate) strike(backoff func(int) time.Duration) time.Duration {
	h.mu.Lock()
	h.strikes++
	n := h.strikes
	h.mu.Unlock()
	return backoff(n)
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an
// HTTP-date. ok is false when the header is absent or malformed.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, 24*3600)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return min(d, 24*time.Hour), true
}
