package downloader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

const (
	// bufSize is the unit of reading, writing and hashing.
	bufSize = 512 << 10
	// smallBufSize is the buffer for small files.
	smallBufSize = 64 << 10
	// pipeBufSize is the unit of a pipelined copy: large, so that the
	// hand-offs between its goroutines are few.
	pipeBufSize = 2 << 20
	// pipelineDepth buffers are in flight per file between the reader,
	// the writer and the hasher.
	pipelineDepth = 2
	// maxPipelines is the most files in flight for which long bodies are
	// still pipelined.
	maxPipelines = 4
	// pipelineMin: bodies known to be shorter are copied in one goroutine.
	pipelineMin = 2 << 20
	// autoMinSize: Auto considers segments only for files this large.
	autoMinSize = 64 << 20
	// minSegment: no segment is cut smaller than this.
	minSegment = 4 << 20
	// maxAutoConns is the most connections Auto uses for one file.
	maxAutoConns = 4
	// fastRTT: a link answering faster than this is treated like a LAN,
	// where one connection already fills the link.
	fastRTT = 5 * time.Millisecond
	// probeTime is how long Auto watches one connection before deciding.
	probeTime = time.Second
	// flushAfter bounds how long received bytes wait in a half-filled
	// buffer before they are written: large buffers for fast links, but on
	// a slow one what has arrived reaches the part file (and so can be
	// checkpointed and survives kill -9) promptly.
	flushAfter = 50 * time.Millisecond
)

// fill reads into b until it is full, the body ends or fails, or bytes
// have waited flushAfter: a read that returns less than asked drained the
// socket, so the link is slower than the disk and the buffer is written
// soon instead of when full.
func (j *fileJob) fill(guard *stallGuard, body io.Reader, b []byte) (int, error) {
	n := 0
	var first time.Time
	for n < len(b) {
		m, err := j.read(guard, body, b[n:])
		n += m
		if err != nil {
			return n, err
		}
		if n == 0 || n == len(b) {
			continue
		}
		now := time.Now()
		if first.IsZero() {
			first = now
		} else if now.Sub(first) >= flushAfter {
			break
		}
	}
	return n, nil
}

// connsFor is the most connections a file of size may use.
func (e *Engine) connsFor(size int64) int {
	if e.opts.Connections > 0 {
		return e.opts.Connections
	}
	if size == 0 || size >= autoMinSize {
		return maxAutoConns
	}
	return 1
}

// attempt makes one pass at the file: one ranged stream from where it
// stands, or every unfinished segment.
func (j *fileJob) attempt(ctx context.Context) error {
	j.mu.Lock()
	multi := len(j.st.Segments) > 1
	complete := j.st.complete() && j.st.HashOffset == j.st.Size
	j.mu.Unlock()
	if complete {
		// Finished before a crash, not yet renamed.
		return nil
	}
	var err error
	if multi {
		err = j.runSegments(ctx, 0)
	} else {
		err = j.runSingle(ctx)
	}
	var he *HTTPError
	if errors.As(err, &he) && he.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		err = fmt.Errorf("%w: %v", errRestart, err)
	}
	if errors.Is(err, errRestart) {
		if rerr := j.reset(); rerr != nil {
			return rerr
		}
	}
	return err
}

// stallGuard cancels a request when its body delivers nothing for the
// stall timeout.
type stallGuard struct {
	timer  *time.Timer
	d      time.Duration
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func (j *fileJob) newStallGuard(ctx context.Context) *stallGuard {
	g := &stallGuard{d: j.e.opts.StallTimeout}
	g.ctx, g.cancel = context.WithCancelCause(ctx)
	g.timer = time.AfterFunc(g.d, func() { g.cancel(ErrStalled) })
	return g
}

func (g *stallGuard) touch() { g.timer.Reset(g.d) }

func (g *stallGuard) stop() {
	g.timer.Stop()
	g.cancel(nil)
}

// err turns the error of a cancelled read into ErrStalled when the stall
// timer fired.
func (g *stallGuard) err(err error) error {
	if err != nil && errors.Is(context.Cause(g.ctx), ErrStalled) {
		return fmt.Errorf("%w: no data for %s", ErrStalled, g.d)
	}
	return err
}

// checkValidator compares a 206's validator with the stored one.
func changedValidator(old validator, resp *http.Response) bool {
	if etag := resp.Header.Get("ETag"); old.ETag != "" && etag != "" {
		return etag != old.ETag
	}
	if lm := resp.Header.Get("Last-Modified"); old.LastModified != "" && lm != "" {
		return lm != old.LastModified
	}
	return false
}

// runSingle streams the file from where it stands over one connection,
// upgrading to ranged segments when they pay.
func (j *fileJob) runSingle(ctx context.Context) error {
	e := j.e
	url := j.requestURL()
	j.mu.Lock()
	off := j.st.Segments[0].Done
	val := j.st.Validator
	size := j.st.Size
	j.mu.Unlock()

	mayRange := e.connsFor(size) > 1
	rng, ifRange := "", ""
	// With -c K and the size known, the first request asks for just the
	// first segment; the others start once its response is in, so they go
	// where its URL redirected (a grant link is followed once per file,
	// not once per segment).
	firstSeg := int64(0)
	if off == 0 && size > 0 && e.opts.Connections > 1 {
		if n := min(int64(e.opts.Connections), size/minSegment); n >= 2 {
			firstSeg = size / n
		}
	}
	switch {
	case off > 0:
		rng, ifRange = fmt.Sprintf("bytes=%d-", off), val.ifRange()
	case firstSeg > 0:
		rng = fmt.Sprintf("bytes=0-%d", firstSeg-1)
	case mayRange:
		rng = "bytes=0-"
	}
	guard := j.newStallGuard(ctx)
	defer guard.stop()
	resp, err := e.get(guard.ctx, url, rng, ifRange)
	if err != nil {
		return guard.err(err)
	}
	ok := false
	defer func() { resp.close(ok) }()

	total := int64(-1)
	switch resp.StatusCode {
	case http.StatusPartialContent:
		cr, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || cr.first != off || (size > 0 && cr.total >= 0 && cr.total != size) {
			return fmt.Errorf("%w: unexpected Content-Range %q for offset %d", errRestart, resp.Header.Get("Content-Range"), off)
		}
		if off > 0 && changedValidator(val, resp.Response) {
			return fmt.Errorf("%w: validator changed", errRestart)
		}
		total = cr.total
	case http.StatusOK:
		if off > 0 {
			// The server ignored Range or If-Range failed: this body is
			// the whole (maybe new) file; start over with it.
			e.opts.Logger.Debug("200 instead of 206; restarting from zero", "file", j.t.name)
			if err := j.reset(); err != nil {
				return err
			}
			off = 0
		}
		total = resp.ContentLength
	}
	if total >= 0 && j.t.item.Size > 0 && total != j.t.item.Size {
		return fmt.Errorf("%w: server has %d bytes, manifest says %d", ErrSizeMismatch, total, j.t.item.Size)
	}
	e.learnSize(j.t, total)
	j.noteResolved(resp.Response)
	j.mu.Lock()
	if off == 0 || j.st.Validator.empty() {
		j.st.Validator = validator{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	}
	if total >= 0 {
		j.st.Size = total
		j.st.Segments[0].End = total
	}
	j.mu.Unlock()

	// Explicit -c K splits at once; Auto only off loopback, on a slow
	// enough round trip, after watching one connection.
	canSplit := resp.StatusCode == http.StatusPartialContent && total > 0
	split := func(pos int64) bool { return false }
	if canSplit && e.opts.Connections > 1 {
		split = func(pos int64) bool { return j.split(pos, e.opts.Connections) }
	} else if canSplit && e.opts.Connections == Auto && total >= autoMinSize && !resp.loopback && resp.rtt >= fastRTT {
		began, startPos, decided := time.Now(), off, false
		split = func(pos int64) bool {
			if decided || time.Since(began) < probeTime {
				return false
			}
			decided = true
			rate := float64(pos-startPos) / time.Since(began).Seconds()
			left := float64(total-pos) / max(rate, 1)
			e.opts.Logger.Debug("auto connections", "file", j.t.name, "rtt", resp.rtt, "rate", int64(rate), "left_s", left)
			return left > 4 && j.split(pos, maxAutoConns)
		}
	}

	var segErr chan error
	var segCancel context.CancelFunc
	startSegments := func() {
		var sctx context.Context
		sctx, segCancel = context.WithCancel(ctx)
		segErr = make(chan error, 1)
		go func() { segErr <- j.runSegmentRange(sctx, 1) }()
	}
	onSplit := func(pos int64) bool {
		if split(pos) {
			startSegments()
			return true
		}
		return false
	}
	if firstSeg > 0 && canSplit {
		onSplit(off)
	}
	err = guard.err(j.pump(guard, resp.Body, off, onSplit))
	if segErr == nil {
		if err == nil {
			ok = true
		}
		return err
	}
	// Segmented: the primary's part is hashed; follow the frontier from
	// disk while the other segments finish.
	if err == nil {
		err = j.hashFollow(ctx, segErr)
	}
	segCancel()
	if serr := <-segErr; err == nil {
		err = serr
	}
	if err == nil {
		ok = true
	}
	return err
}

// split cuts the rest of the file after pos into up to n segments; the
// running stream keeps the first. The part file is preallocated.
func (j *fileJob) split(pos int64, n int) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.st.Segments) != 1 || j.st.Size <= 0 {
		return false
	}
	rest := j.st.Size - pos
	n = int(min(int64(n), rest/minSegment))
	if n < 2 {
		return false
	}
	if err := j.part.Truncate(j.st.Size); err != nil {
		return false
	}
	step := rest / int64(n)
	segs := make([]segment, 0, n)
	primary := j.st.Segments[0]
	primary.End = pos + step
	segs = append(segs, primary)
	for i := 1; i < n; i++ {
		start := pos + int64(i)*step
		end := start + step
		if i == n-1 {
			end = j.st.Size
		}
		segs = append(segs, segment{Start: start, End: end})
	}
	j.st.Segments = segs
	j.notify = make(chan struct{}, 1)
	j.t.conns = max(j.t.conns, n)
	return true
}

// pump copies body into the part file from off on, hashing in order.
// Short bodies are copied in one goroutine (pumpSimple). A long body is
// pipelined (a reader, a writer and a hasher on a couple of large buffers)
// only when the file has cores to itself: while other files are in flight,
// they already keep the cores busy, and each hand-off between goroutines
// would add a wake-up on another core (costly on virtual machines) without
// adding parallelism; then one goroutine reads, writes and hashes in turn.
// onSplit is called between reads with the position reached; when it
// returns true the stream stops at the end of the first segment.
func (j *fileJob) pump(guard *stallGuard, body io.Reader, off int64, onSplit func(int64) bool) error {
	e := j.e
	end := func() int64 {
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.st.Segments[0].End
	}
	if stop := end(); stop >= 0 && stop-off <= pipelineMin {
		return j.pumpSimple(guard, body, off, stop)
	}
	if !e.mayPipeline() {
		return j.pumpSerial(guard, body, off, end, onSplit)
	}

	var failed atomic.Pointer[error]
	fail := func(err error) {
		failed.CompareAndSwap(nil, &err)
	}
	type chunk struct {
		buf []byte
		off int64
	}
	free := make(chan []byte, pipelineDepth)
	for range pipelineDepth {
		free <- e.pipeBufs.get()
	}
	toWrite := make(chan chunk, pipelineDepth)
	toHash := make(chan chunk, pipelineDepth)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(toHash)
		for c := range toWrite {
			if failed.Load() == nil {
				if err := j.writeChunk(c.buf, c.off); err != nil {
					fail(err)
				}
			}
			toHash <- c
		}
	})
	wg.Go(func() {
		for c := range toHash {
			if failed.Load() == nil {
				j.hashChunk(c.buf, true)
			}
			free <- c.buf[:cap(c.buf)]
		}
	})

	pos := off
	var rerr error
	splitDone := false
	for rerr == nil && failed.Load() == nil {
		stop := end()
		if stop >= 0 && pos >= stop {
			break
		}
		var buf []byte
		select {
		case buf = <-free:
		case <-guard.ctx.Done():
			rerr = guard.ctx.Err()
			continue
		}
		if stop >= 0 && int64(len(buf)) > stop-pos {
			buf = buf[:stop-pos]
		}
		var n int
		n, rerr = j.fill(guard, body, buf)
		if n > 0 {
			toWrite <- chunk{buf: buf[:n], off: pos}
			pos += int64(n)
		} else {
			free <- buf
		}
		if !splitDone && rerr == nil && onSplit(pos) {
			splitDone = true
		}
	}
	close(toWrite)
	wg.Wait()
	close(free)
	for b := range free {
		e.pipeBufs.put(b)
	}
	if p := failed.Load(); p != nil {
		return *p
	}
	return j.endOfBody(rerr, pos)
}

// pumpSerial is pump in one goroutine: read, write and hash in turn, with
// the same end tracking and split hook as the pipeline.
func (j *fileJob) pumpSerial(guard *stallGuard, body io.Reader, off int64, end func() int64, onSplit func(int64) bool) error {
	buf := j.e.bufs.get()
	defer j.e.bufs.put(buf)
	pos := off
	var rerr error
	splitDone := false
	for rerr == nil {
		stop := end()
		if stop >= 0 && pos >= stop {
			break
		}
		b := buf
		if stop >= 0 && int64(len(b)) > stop-pos {
			b = b[:stop-pos]
		}
		var n int
		n, rerr = j.fill(guard, body, b)
		if n > 0 {
			if err := j.writeChunk(b[:n], pos); err != nil {
				return err
			}
			pos += int64(n)
			j.hashChunk(b[:n], true)
		}
		if !splitDone && rerr == nil && onSplit(pos) {
			splitDone = true
		}
	}
	return j.endOfBody(rerr, pos)
}

// writeChunk writes b at off in the part file and counts it as done. Done
// counts only bytes written, so a checkpoint never claims more than the
// part file holds.
func (j *fileJob) writeChunk(b []byte, off int64) error {
	if _, err := j.part.WriteAt(b, off); err != nil {
		return fmt.Errorf("write part file: %w", err)
	}
	j.mu.Lock()
	j.st.Segments[0].Done += int64(len(b))
	j.mu.Unlock()
	return nil
}

// hashChunk feeds b, already written, to the running hash, and checkpoints
// the journal when one is due and checkpoint is set.
func (j *fileJob) hashChunk(b []byte, checkpoint bool) {
	j.mu.Lock()
	j.h.Write(b)
	j.st.HashOffset += int64(len(b))
	if checkpoint {
		j.maybeCheckpointLocked()
	}
	j.mu.Unlock()
}

// pumpSimple is pump for short bodies: read, write and hash in turn.
func (j *fileJob) pumpSimple(guard *stallGuard, body io.Reader, off, stop int64) error {
	var buf []byte
	if stop-off <= smallBufSize {
		buf = j.e.smallBufs.get()
		defer j.e.smallBufs.put(buf)
	} else {
		buf = j.e.bufs.get()
		defer j.e.bufs.put(buf)
	}
	pos := off
	var rerr error
	for rerr == nil && pos < stop {
		b := buf
		if int64(len(b)) > stop-pos {
			b = b[:stop-pos]
		}
		var n int
		n, rerr = j.fill(guard, body, b)
		if n == 0 {
			break
		}
		if err := j.writeChunk(b[:n], pos); err != nil {
			return err
		}
		pos += int64(n)
		// No checkpoint after the last chunk: finalize follows.
		j.hashChunk(b[:n], rerr == nil && pos < stop)
	}
	return j.endOfBody(rerr, pos)
}

// endOfBody decides what the end of a body means: done at the expected
// end, truncation before it, completion when the size was unknown.
func (j *fileJob) endOfBody(rerr error, pos int64) error {
	if rerr != nil && rerr != io.EOF {
		return rerr
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	sg := &j.st.Segments[0]
	switch {
	case sg.End < 0 && rerr == io.EOF:
		sg.End = pos
		j.st.Size = pos
		j.e.learnSize(j.t, pos) // no length announced: known at the end
		return nil
	case sg.End >= 0 && pos >= sg.End:
		return nil
	default:
		return fmt.Errorf("body ended at byte %d of %d: %w", pos, sg.End, io.ErrUnexpectedEOF)
	}
}

// read reads from body with the stall guard, the rate limit and the
// counters.
func (j *fileJob) read(guard *stallGuard, body io.Reader, b []byte) (int, error) {
	e := j.e
	if e.limiter != nil && len(b) > e.limiter.Burst() {
		b = b[:e.limiter.Burst()]
	}
	n, err := body.Read(b)
	if n > 0 {
		guard.touch()
		e.bytesReceived.Add(int64(n))
		j.t.done.Add(int64(n))
		if e.limiter != nil {
			if werr := e.limiter.WaitN(guard.ctx, n); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return n, err
}

// runSegments downloads every unfinished segment from index first on,
// each over its own connection, and hashes the file as its prefix fills.
func (j *fileJob) runSegments(ctx context.Context, first int) error {
	j.mu.Lock()
	if j.notify == nil {
		j.notify = make(chan struct{}, 1)
	}
	j.mu.Unlock()
	segErr := make(chan error, 1)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { segErr <- j.runSegmentRange(sctx, first) }()
	err := j.hashFollow(ctx, segErr)
	cancel()
	if serr := <-segErr; err == nil || errors.Is(err, context.Canceled) && serr != nil {
		err = serr
	}
	return err
}

// runSegmentRange runs the segments from index first on concurrently and
// returns the first error.
func (j *fileJob) runSegmentRange(ctx context.Context, first int) error {
	j.mu.Lock()
	n := len(j.st.Segments)
	j.mu.Unlock()
	g, gctx := errgroup.WithContext(ctx)
	for i := first; i < n; i++ {
		g.Go(func() error { return j.runSegment(gctx, i) })
	}
	return g.Wait()
}

// runSegment fetches what is missing of segment i with one ranged request,
// continuing when the server sends a shorter range.
func (j *fileJob) runSegment(ctx context.Context, i int) error {
	e := j.e
	buf := e.bufs.get()
	defer e.bufs.put(buf)
	for {
		j.mu.Lock()
		sg := j.st.Segments[i]
		val := j.st.Validator
		size := j.st.Size
		j.mu.Unlock()
		url := j.requestURL()
		from := sg.Start + sg.Done
		if from >= sg.End {
			return nil
		}
		if err := j.segmentOnce(ctx, i, url, from, sg.End, size, val, buf); err != nil {
			return err
		}
	}
}

func (j *fileJob) segmentOnce(ctx context.Context, i int, url string, from, end, size int64, val validator, buf []byte) error {
	guard := j.newStallGuard(ctx)
	defer guard.stop()
	resp, err := j.e.get(guard.ctx, url, fmt.Sprintf("bytes=%d-%d", from, end-1), val.ifRange())
	if err != nil {
		return guard.err(err)
	}
	ok := false
	defer func() { resp.close(ok) }()
	if resp.StatusCode != http.StatusPartialContent {
		return fmt.Errorf("%w: %s instead of 206 for a segment", errRestart, resp.Status)
	}
	cr, err := parseContentRange(resp.Header.Get("Content-Range"))
	if err != nil || cr.first != from || cr.last >= end || cr.total != size || changedValidator(val, resp.Response) {
		return fmt.Errorf("%w: segment got Content-Range %q", errRestart, resp.Header.Get("Content-Range"))
	}
	stop := cr.last + 1
	pos := from
	for pos < stop {
		b := buf
		if int64(len(b)) > stop-pos {
			b = b[:stop-pos]
		}
		n, rerr := j.read(guard, resp.Body, b)
		if n > 0 {
			if _, err := j.part.WriteAt(b[:n], pos); err != nil {
				return fmt.Errorf("write part file: %w", err)
			}
			pos += int64(n)
			j.mu.Lock()
			j.st.Segments[i].Done += int64(n)
			j.maybeCheckpointLocked()
			ch := j.notify
			j.mu.Unlock()
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		if rerr == io.EOF && pos < stop {
			return guard.err(fmt.Errorf("segment ended at byte %d of %d: %w", pos, stop, io.ErrUnexpectedEOF))
		}
		if rerr != nil && rerr != io.EOF {
			return guard.err(rerr)
		}
	}
	ok = true
	return nil
}

// hashFollow hashes the part file from HashOffset as its contiguous prefix
// grows, until the whole file is hashed or the segments fail (their error
// arrives on segErr, which is then refilled for the caller).
func (j *fileJob) hashFollow(ctx context.Context, segErr chan error) error {
	buf := j.e.bufs.get()
	defer j.e.bufs.put(buf)
	segsDone := false
	for {
		j.mu.Lock()
		hashed, front, size, ch := j.st.HashOffset, j.st.frontier(), j.st.Size, j.notify
		j.mu.Unlock()
		if hashed >= size {
			return nil
		}
		if segsDone && hashed >= front {
			return fmt.Errorf("internal: segments finished with a gap at byte %d of %d", front, size)
		}
		if hashed < front {
			n := min(int64(len(buf)), front-hashed)
			m, err := j.part.ReadAt(buf[:n], hashed)
			if err != nil && !(err == io.EOF && int64(m) == n) {
				return fmt.Errorf("read part file: %w", err)
			}
			j.mu.Lock()
			j.h.Write(buf[:m])
			j.st.HashOffset += int64(m)
			j.maybeCheckpointLocked()
			j.mu.Unlock()
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		case err := <-segErr:
			segErr <- err
			if err != nil {
				return err
			}
			segsDone = true
			// Segments done: the frontier is complete; loop to hash the rest.
		}
	}
}

// mayPipeline reports whether a long body may be copied by a pipeline of
// goroutines: only while the files in flight leave at least two cores
// each, so the pipeline's stages have cores to run on, and are at most
// maxPipelines, so its buffers stay a few MiB on a many-core machine.
func (e *Engine) mayPipeline() bool {
	switch e.opts.copyMode {
	case copySerial:
		return false
	case copyPipelined:
		return true
	}
	e.mu.Lock()
	n := len(e.active)
	e.mu.Unlock()
	return n <= maxPipelines && 2*n <= runtime.GOMAXPROCS(0)
}

// bufPool recycles byte buffers of one size.
type bufPool struct {
	size int
	pool sync.Pool
}

// get returns a buffer of p.size bytes.
func (p *bufPool) get() []byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return (*b)[:p.size]
	}
	return make([]byte, p.size)
}

// put hands b back for reuse.
func (p *bufPool) put(b []byte) {
	if cap(b) < p.size {
		return
	}
	p.pool.Put(&b)
}
