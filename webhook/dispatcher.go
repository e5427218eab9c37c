package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Options configure a Dispatcher. Only Outbox is required.
type Options struct {
	// Outbox is the durable queue to drain.
	Outbox Outbox
	// Client sends the webhooks; nil uses NewClient(ClientOptions{}), which
	// refuses private targets.
	Client *http.Client
	// Logger receives one line per attempt (ids, status, latency; never
	// secrets or URLs' queries); nil discards.
	Logger *slog.Logger
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// Schedule is the delay before each attempt; nil uses DefaultSchedule.
	Schedule []time.Duration
	// Jitter is the random fraction applied to retry delays; 0 uses
	// DefaultJitter, negative disables jitter.
	Jitter float64
	// Rand returns random numbers in [0, 1) for jitter; nil uses math/rand.
	Rand func() float64
	// Owner names this dispatcher in leases; empty picks a random name.
	Owner string
	// Lease is how long a claim holds; default 2 minutes.
	Lease time.Duration
	// PollInterval is how often the outbox is checked when nothing wakes
	// the dispatcher; default 1 second.
	PollInterval time.Duration
	// BatchSize caps the deliveries claimed at once; default 100.
	BatchSize int
	// PerEndpoint caps the deliveries claimed for one endpoint at once;
	// default 5.
	PerEndpoint int
	// MaxEndpoints caps the endpoints delivered to concurrently; default 32.
	MaxEndpoints int
	// Timeout bounds one attempt; default 15 seconds.
	Timeout time.Duration
	// ResponseLimit caps the response body kept with an attempt; default 1024.
	ResponseLimit int
	// UserAgent is sent with each webhook; default "haul-webhooks".
	UserAgent string
}

// Dispatcher delivers outbox entries: it claims due deliveries with a
// lease, hands each endpoint's share to that endpoint's own worker (so a
// slow or dead endpoint delays only itself), signs and POSTs each, records
// every attempt, and reschedules failures on the retry schedule until the
// delivery is delivered or dead. An endpoint whose delivery dies is
// disabled.
type Dispatcher struct {
	o    Options
	wake chan struct{}

	mu   sync.Mutex
	busy map[string]bool
	wg   sync.WaitGroup
}

// New returns a Dispatcher with defaults filled in.
func New(o Options) *Dispatcher {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Schedule == nil {
		o.Schedule = DefaultSchedule()
	}
	if o.Jitter == 0 {
		o.Jitter = DefaultJitter
	}
	if o.Rand == nil {
		o.Rand = mrand.Float64
	}
	if o.Owner == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		o.Owner = "dispatcher-" + hex.EncodeToString(b)
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.PerEndpoint <= 0 {
		o.PerEndpoint = 5
	}
	if o.MaxEndpoints <= 0 {
		o.MaxEndpoints = 32
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.ResponseLimit <= 0 {
		o.ResponseLimit = 1024
	}
	if o.Client == nil {
		o.Client = NewClient(ClientOptions{Timeout: o.Timeout, UserAgent: o.UserAgent})
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{o: o, wake: make(chan struct{}, 1), busy: map[string]bool{}}
}

// Notify wakes the dispatcher to look for due deliveries now, e.g. after
// an event was enqueued. It never blocks.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then waits for in-flight attempts to
// finish or be released. Claim errors are logged and retried on the next
// poll.
func (d *Dispatcher) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			d.wg.Wait()
			return nil
		case <-d.wake:
		case <-t.C:
		}
		n, err := d.dispatch(ctx)
		if err != nil && ctx.Err() == nil {
			d.o.Logger.Warn("webhook outbox claim failed", "err", err)
		}
		wait := d.o.PollInterval
		if n == d.o.BatchSize {
			wait = 0
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// RunOnce claims the deliveries due now and attempts each once, waiting
// for all of them; it returns how many were attempted. Tests and tools use
// it to drive the dispatcher step by step.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	n, err := d.dispatch(ctx)
	d.wg.Wait()
	return n, err
}

// dispatch claims one batch and starts a worker per endpoint in it.
func (d *Dispatcher) dispatch(ctx context.Context) (int, error) {
	d.mu.Lock()
	skip := make([]string, 0, len(d.busy))
	for id := range d.busy {
		skip = append(skip, id)
	}
	free := d.o.MaxEndpoints - len(d.busy)
	d.mu.Unlock()
	if free <= 0 {
		return 0, nil
	}
	batch, err := d.o.Outbox.Claim(ctx, ClaimRequest{
		Owner: d.o.Owner, Now: d.o.Now(), Lease: d.o.Lease,
		Limit: d.o.BatchSize, PerEndpoint: d.o.PerEndpoint, SkipEndpoints: skip,
	})
	if err != nil {
		return 0, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	byEndpoint := map[string][]Delivery{}
	var order []string
	for _, dl := range batch {
		if _, ok := byEndpoint[dl.EndpointID]; !ok {
			order = append(order, dl.EndpointID)
		}
		byEndpoint[dl.EndpointID] = append(byEndpoint[dl.EndpointID], dl)
	}
	for _, ep := range order {
		queue := byEndpoint[ep]
		d.mu.Lock()
		if d.busy[ep] {
			// Another worker already owns this endpoint: give the claim
			// back so nothing waits for the lease to lapse.
			d.mu.Unlock()
			d.release(queue)
			continue
		}
		d.busy[ep] = true
		d.mu.Unlock()
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.work(ctx, ep, queue)
			d.mu.Lock()
			delete(d.busy, ep)
			d.mu.Unlock()
			d.Notify()
		}()
	}
	return len(batch), nil
}

// work delivers one endpoint's claimed deliveries in order.
func (d *Dispatcher) work(ctx context.Context, endpoint string, queue []Delivery) {
	for i, dl := range queue {
		if ctx.Err() != nil {
			d.release(queue[i:])
			return
		}
		if !dl.LeaseExpires.IsZero() && d.o.Now().Add(d.o.Timeout).After(dl.LeaseExpires) {
			// Not enough lease left for a full attempt: leave it for the
			// next claim rather than risk a duplicate send.
			continue
		}
		disabled := d.deliver(ctx, dl)
		if disabled {
			// The rest will not be claimed again while disabled.
			d.release(queue[i+1:])
			return
		}
	}
}

// release gives claimed deliveries back without counting an attempt,
// when the outbox can; otherwise their lease lapses.
func (d *Dispatcher) release(queue []Delivery) {
	r, ok := d.o.Outbox.(Releaser)
	if len(queue) == 0 || !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Release(ctx, d.o.Owner, queue); err != nil {
		d.o.Logger.Warn("webhook release failed", "deliveries", len(queue), "err", err)
	}
}

// deliver makes one attempt and records its outcome. It reports whether
// the endpoint was disabled.
func (d *Dispatcher) deliver(ctx context.Context, dl Delivery) bool {
	a := d.Attempt(ctx, dl)
	if ctx.Err() != nil && !a.Success {
		// Shutting down: the failure is ours, not the receiver's.
		d.release([]Delivery{dl})
		return false
	}
	// Outcomes are written even while shutting down.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	log := d.o.Logger.With("endpoint", dl.EndpointID, "event", dl.EventID, "type", dl.EventType, "attempt", a.Number)
	if a.Success {
		log.Info("webhook delivered", "status", a.StatusCode, "latency_ms", a.Latency.Milliseconds())
		if err := d.o.Outbox.Finish(wctx, dl, d.o.Owner, a, Delivered, time.Time{}); err != nil {
			log.Warn("webhook delivery not recorded", "err", err)
		}
		return false
	}
	delay, ok := nextDelay(d.o.Schedule, a.Number, d.o.Jitter, d.o.Rand())
	if ok {
		next := d.o.Now().Add(delay)
		log.Info("webhook attempt failed", "status", a.StatusCode, "err", a.Error, "retry_at", next.UTC().Format(time.RFC3339))
		if err := d.o.Outbox.Finish(wctx, dl, d.o.Owner, a, Retry, next); err != nil {
			log.Warn("webhook attempt not recorded", "err", err)
		}
		return false
	}
	log.Warn("webhook delivery dead, disabling endpoint", "status", a.StatusCode, "err", a.Error)
	if err := d.o.Outbox.Finish(wctx, dl, d.o.Owner, a, Dead, time.Time{}); err != nil {
		log.Warn("webhook attempt not recorded", "err", err)
	}
	reason := fmt.Sprintf("event %s failed %d attempts over the retry schedule; last: %s", dl.EventID, a.Number, a.Error)
	if err := d.o.Outbox.DisableEndpoint(wctx, dl, a.At, reason); err != nil {
		log.Warn("webhook endpoint not disabled", "err", err)
	}
	return true
}

// Attempt signs and POSTs one delivery and describes what happened. It
// touches no outbox state.
func (d *Dispatcher) Attempt(ctx context.Context, dl Delivery) Attempt {
	a := Attempt{
		DeliveryID: dl.ID, EndpointID: dl.EndpointID, EventID: dl.EventID, EventType: dl.EventType,
		Number: dl.Attempts + 1, At: d.o.Now().UTC(),
	}
	body, err := EncodePayload(dl.EventType, dl.EventTime, dl.Data)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	signer, err := NewSigner(dl.Secret)
	if err != nil {
		a.Error = "endpoint secret unusable"
		return a
	}
	actx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, dl.URL, bytes.NewReader(body))
	if err != nil {
		a.Error = "invalid endpoint URL"
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	signer.SetHeaders(req.Header, dl.EventID, a.At, body)
	start := time.Now()
	resp, err := d.o.Client.Do(req)
	if err != nil {
		a.Latency = time.Since(start)
		a.Error = transportError(err)
		return a
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, int64(d.o.ResponseLimit)))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	a.Latency = time.Since(start)
	a.StatusCode = resp.StatusCode
	a.Response = strings.ToValidUTF8(string(snippet), "\uFFFD")
	a.Success = resp.StatusCode >= 200 && resp.StatusCode < 300
	if !a.Success {
		a.Error = "receiver answered " + resp.Status
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			a.Error += " (redirects are not followed)"
		}
	}
	return a
}

// transportError describes a failed request without its URL, which may
// carry credentials in its query or userinfo.
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout waiting for the receiver"
	}
	return err.Error()
}
