package downloader

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/haulhq/haul/manifest"
)

// Engine downloads items added to it with a bounded pool of workers. Create
// it with New, feed it with Add, call Close when no more items will come,
// and Wait for the summary.
type Engine struct {
	opts    Options
	ctx     context.Context
	client  *http.Client
	targets *manifest.Targets
	journal *journal
	gates   *hostGates
	limiter *rate.Limiter
	group   *errgroup.Group
	started time.Time
	// debug is true when the logger takes debug records: per-request
	// lines are built only then.
	debug bool

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*task
	closed  bool
	pending map[string]*task // not ready yet, by key
	tasks   []*task          // every task in the order added (failed ones only with DropResults)
	active  map[*task]struct{}
	open    map[*task]struct{} // with DropResults: tasks not finished yet

	pollWake chan struct{}

	refreshMu   sync.Mutex
	refreshedAt time.Time
	refreshed   *manifest.Manifest

	eventMu      sync.Mutex
	stopProgress func()

	filesTotal, filesDone, filesSkipped, filesFailed atomic.Int64
	bytesTotal, bytesFinished, bytesReceived         atomic.Int64
	meter                                            rateMeter
	bufs, smallBufs, pipeBufs                        *bufPool
}

// task is one item moving through the engine.
type task struct {
	item manifest.Item
	key  string
	name string
	path string
	done atomic.Int64 // bytes on disk, for progress
	// size is the size learned from the response (Content-Length or
	// Content-Range) when the manifest gives none; 0 until known.
	size     atomic.Int64
	conns    int // most connections used at once; set by the worker
	result   Result
	finished bool        // guarded by Engine.mu
	existing fs.FileInfo // the target as found when claimed, nil when absent
	// keepExisting: the file found at the target is not one the journal
	// knows; it is moved aside, not overwritten, when the download lands.
	keepExisting bool
}

// New starts an engine. Its workers stop when ctx is cancelled; Wait then
// returns after saving every journal.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Dir == "" {
		opts.Dir = "."
	}
	if opts.Jobs <= 0 {
		opts.Jobs = 8
	}
	if opts.Connections < 0 {
		return nil, fmt.Errorf("connections must be >= 0, got %d", opts.Connections)
	}
	if opts.Retries == 0 {
		opts.Retries = 10
	} else if opts.Retries < 0 {
		opts.Retries = 0
	}
	opts.ProgressInterval = cmp.Or(opts.ProgressInterval, 250*time.Millisecond)
	opts.StallTimeout = cmp.Or(opts.StallTimeout, 30*time.Second)
	opts.BackoffBase = cmp.Or(opts.BackoffBase, 500*time.Millisecond)
	opts.BackoffMax = cmp.Or(opts.BackoffMax, 30*time.Second)
	opts.PollInterval = cmp.Or(opts.PollInterval, 2*time.Second)
	opts.CheckpointBytes = cmp.Or(opts.CheckpointBytes, 4<<20)
	opts.CheckpointInterval = cmp.Or(opts.CheckpointInterval, time.Second)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	conns := max(opts.Connections, 4)
	if opts.Client == nil {
		opts.Client = NewHTTPClient(opts.Jobs * conns)
	}
	j, err := openJournal(opts.Dir)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		opts:      opts,
		ctx:       ctx,
		client:    opts.Client,
		targets:   manifest.NewTargets(opts.Dir),
		journal:   j,
		gates:     newHostGates(opts.Now, opts.Jobs*conns),
		pending:   make(map[string]*task),
		active:    make(map[*task]struct{}),
		bufs:      &bufPool{size: bufSize},
		smallBufs: &bufPool{size: smallBufSize},
		pipeBufs:  &bufPool{size: pipeBufSize},
		open:      make(map[*task]struct{}),
		pollWake:  make(chan struct{}, 1),
		started:   opts.Now(),
		debug:     opts.Logger.Enabled(ctx, slog.LevelDebug),
	}
	e.cond = sync.NewCond(&e.mu)
	if opts.LimitRate > 0 {
		// The bucket holds a quarter second of the rate (4 KiB to 4 MiB), so a
		// low limit is kept from the start, not after a burst.
		e.limiter = rate.NewLimiter(rate.Limit(opts.LimitRate), int(min(max(opts.LimitRate/4, 4<<10), 4<<20)))
	}
	e.group = &errgroup.Group{}
	for range opts.Jobs {
		e.group.Go(e.worker)
	}
	if opts.Refresh != nil {
		e.group.Go(e.poller)
	}
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go e.progressLoop(stopProgress, progressDone)
	e.stopProgress = func() { close(stopProgress); <-progressDone }
	context.AfterFunc(ctx, func() {
		e.mu.Lock()
		e.cond.Broadcast()
		e.mu.Unlock()
	})
	return e, nil
}

// Add queues an item. It never blocks on the downloads; items whose target
// is refused, or that are failed or invalid, finish at once with an error
// event. Queued and processing items wait for a manifest refresh. Add after
// Close panics.
func (e *Engine) Add(it manifest.Item) {
	t := &task{item: it, key: it.Key()}
	t.result = Result{Item: it, Key: t.key}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		panic("downloader: Add after Close")
	}
	if e.opts.DropResults {
		e.open[t] = struct{}{}
	} else {
		e.tasks = append(e.tasks, t)
	}
	e.mu.Unlock()
	e.filesTotal.Add(1)
	e.bytesTotal.Add(it.Size)

	name, path, existing, err := e.targets.ClaimInfo(&it)
	t.name, t.path, t.existing = name, path, existing
	t.result.Name, t.result.Path = name, path
	if err == nil {
		if verr := it.Validate(); verr != nil {
			err = fmt.Errorf("%w: %v", ErrInvalidItem, verr)
		}
	}
	if err == nil && it.EffectiveStatus() == manifest.ItemFailed {
		ie := it.Error
		if ie == nil {
			ie = &manifest.ItemError{Code: "failed", Detail: "the server reports the item as failed"}
		}
		err = fmt.Errorf("item failed on the server: %w", ie)
	}
	if err != nil {
		e.finish(t, err)
		return
	}
	switch it.EffectiveStatus() {
	case manifest.ItemQueued, manifest.ItemProcessing:
		if e.opts.Refresh == nil {
			e.finish(t, ErrNotReady)
			return
		}
		e.mu.Lock()
		e.pending[t.key] = t
		e.mu.Unlock()
		select {
		case e.pollWake <- struct{}{}:
		default:
		}
		return
	}
	e.enqueue(t)
}

func (e *Engine) enqueue(t *task) {
	e.mu.Lock()
	e.queue = append(e.queue, t)
	e.cond.Signal()
	e.mu.Unlock()
}

// Close says no more items will be added.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	e.cond.Broadcast()
	e.mu.Unlock()
	select {
	case e.pollWake <- struct{}{}:
	default:
	}
}

// Wait waits for every item to finish (or the context to end), sends the
// summary event and returns every result. The error is ctx.Err() when the
// run was cancelled before every item finished (journals are saved; a
// re-run resumes), nil otherwise: item failures are in the results.
func (e *Engine) Wait() (*Summary, error) {
	_ = e.group.Wait()
	e.stopProgress()
	_ = e.journal.close()
	e.mu.Lock()
	all := e.tasks
	for t := range e.open {
		all = append(all, t)
	}
	results := make([]Result, len(all))
	var err error
	for i, t := range all {
		results[i] = t.result
		if !t.finished {
			err = cmp.Or(e.ctx.Err(), context.Canceled)
			results[i].Err = fmt.Errorf("%s: not finished: %w", t.key, err)
		}
	}
	e.mu.Unlock()
	tot := e.totals()
	e.emit(Event{Type: EventSummary, Totals: &tot})
	// A cancellation that came after every item finished changes nothing.
	return &Summary{Results: results, Totals: tot}, err
}

// next blocks until a task is queued, or returns nil when the engine is
// closed and drained or cancelled.
func (e *Engine) next() *task {
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		if e.ctx.Err() != nil {
			return nil
		}
		if len(e.queue) > 0 {
			t := e.queue[0]
			e.queue[0] = nil
			e.queue = e.queue[1:]
			e.active[t] = struct{}{}
			return t
		}
		if e.closed && len(e.pending) == 0 {
			return nil
		}
		e.cond.Wait()
	}
}

func (e *Engine) worker() error {
	for {
		t := e.next()
		if t == nil {
			return nil
		}
		err := e.download(e.ctx, t)
		e.mu.Lock()
		delete(e.active, t)
		e.mu.Unlock()
		if errors.Is(err, context.Canceled) && e.ctx.Err() != nil {
			// Interrupted: the journal is saved; Wait reports it.
			continue
		}
		e.finish(t, err)
	}
}

// finish records a task's outcome and emits done or error.
func (e *Engine) finish(t *task, err error) {
	t.result.Err = err
	if err != nil {
		e.filesFailed.Add(1)
		e.emit(Event{Type: EventError, Item: t.key, Filename: t.name, Error: err.Error(), Code: ErrorCode(err)})
	} else {
		e.filesDone.Add(1)
		if t.result.Skipped {
			e.filesSkipped.Add(1)
		}
		e.bytesFinished.Add(t.result.Size)
		e.emit(Event{Type: EventDone, Item: t.key, Filename: t.name, Path: t.path, Size: t.result.Size,
			SHA256: t.result.SHA256, Skipped: t.result.Skipped, Replaced: t.result.Replaced, Connections: t.conns})
	}
	e.mu.Lock()
	t.finished = true
	if e.opts.DropResults {
		delete(e.open, t)
		if err != nil {
			e.tasks = append(e.tasks, t)
		}
	}
	e.mu.Unlock()
}

// Backlog returns the number of items added and not yet started. A caller
// feeding a very long manifest can wait while it is high, so that items
// are not all held in memory at once.
func (e *Engine) Backlog() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.queue)
}

// emit sends an event, serialized.
func (e *Engine) emit(ev Event) {
	if e.opts.Events == nil {
		return
	}
	ev.Time = e.opts.Now()
	e.eventMu.Lock()
	defer e.eventMu.Unlock()
	e.opts.Events(ev)
}

func (e *Engine) totals() Totals {
	e.mu.Lock()
	var activeBytes int64
	for t := range e.active {
		activeBytes += t.done.Load()
	}
	e.mu.Unlock()
	return Totals{
		FilesTotal:    int(e.filesTotal.Load()),
		FilesDone:     int(e.filesDone.Load()),
		FilesSkipped:  int(e.filesSkipped.Load()),
		FilesFailed:   int(e.filesFailed.Load()),
		BytesTotal:    e.bytesTotal.Load(),
		BytesDone:     e.bytesFinished.Load() + activeBytes,
		BytesReceived: e.bytesReceived.Load(),
		RateBPS:       e.meter.rate(e.opts.Now()),
		ElapsedMS:     e.opts.Now().Sub(e.started).Milliseconds(),
	}
}

func (e *Engine) progressLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	if e.opts.Events == nil {
		<-stop
		return
	}
	tick := time.NewTicker(e.opts.ProgressInterval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		e.meter.sample(e.opts.Now(), e.bytesReceived.Load())
		tot := e.totals()
		e.mu.Lock()
		act := make([]Active, 0, len(e.active))
		for t := range e.active {
			act = append(act, Active{Item: t.key, Filename: t.name, Bytes: t.done.Load(), Size: t.knownSize()})
		}
		e.mu.Unlock()
		slices.SortFunc(act, func(a, b Active) int { return cmp.Or(cmp.Compare(b.Size, a.Size), cmp.Compare(a.Filename, b.Filename)) })
		e.emit(Event{Type: EventProgress, Totals: &tot, Active: act})
	}
}

// knownSize is the manifest's size, else the size the server announced,
// else 0.
func (t *task) knownSize() int64 {
	if t.item.Size > 0 {
		return t.item.Size
	}
	return t.size.Load()
}

// learnSize records the size the server announced for an item without a
// manifest size, once, and adds it to the aggregate total.
func (e *Engine) learnSize(t *task, n int64) {
	if n > 0 && t.item.Size <= 0 && t.size.CompareAndSwap(0, n) {
		e.bytesTotal.Add(n)
	}
}

// minRateWindow is the shortest span a rate is computed over: a rate
// from the first few hundred milliseconds (a burst, a resumed file) is
// noise, so none is reported before.
const minRateWindow = time.Second

// rateMeter estimates the recent rate over a sliding window of samples
// (ProgressInterval apart, up to 16 of them: about 4s at the default).
type rateMeter struct {
	mu      sync.Mutex
	samples [16]struct {
		t time.Time
		n int64
	}
	i, count int
}

func (r *rateMeter) sample(now time.Time, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples[r.i%len(r.samples)] = struct {
		t time.Time
		n int64
	}{now, n}
	r.i++
	r.count = min(r.count+1, len(r.samples))
}

func (r *rateMeter) rate(_ time.Time) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.count < 2 {
		return 0
	}
	newest := r.samples[(r.i-1)%len(r.samples)]
	oldest := r.samples[(r.i-r.count)%len(r.samples)]
	dt := newest.t.Sub(oldest.t).Seconds()
	if dt < minRateWindow.Seconds() {
		return 0
	}
	return int64(float64(newest.n-oldest.n) / dt)
}
