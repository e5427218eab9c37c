package downloader

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// fileJob is the in-flight state of one file: its journal entry, its part
// file and its running hash. mu guards st and h against the checkpoint
// writers.
type fileJob struct {
	e *Engine
	t *task

	mu     sync.Mutex
	st     fileState
	h      hash.Hash
	part   partFile
	notify chan struct{} // poked when segment data lands, for the hasher
	// stateSaved is true when a state file may exist on disk.
	stateSaved bool
	// ckptCh feeds the checkpoint writer goroutine; nil until the first
	// checkpoint.
	ckptCh   chan []byte
	ckptDone chan struct{}

	lastCkpt    time.Time
	lastCkptOff int64
}

// download runs one item to completion: skip check, resume, attempts with
// retries, verification and the rename into place.
func (e *Engine) download(ctx context.Context, t *task) error {
	if skipped, err := e.checkExisting(ctx, t); err != nil || skipped {
		return err
	}
	j := &fileJob{e: e, t: t}
	if err := j.open(); err != nil {
		return err
	}
	defer j.close()
	t.conns = j.startConns()
	e.emit(Event{Type: EventStart, Item: t.key, Filename: t.name, URL: redact(t.item.URL), Size: t.item.Size,
		Offset: j.st.bytesOnDisk(), Connections: t.conns})

	refreshed, relinked := false, false
	var lastErr error
	for attempt := 1; ; attempt++ {
		before := j.progress()
		err := j.attempt(ctx)
		if err == nil {
			err = j.finalize()
			if err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			j.checkpoint()
			return ctx.Err()
		}
		if j.progress() > before {
			// A new failure streak may refresh and follow the link again.
			refreshed, relinked = false, false
		}
		if expiredURL(err) && !relinked && j.dropResolved() {
			// The signed URL the item's link led to was refused (expired,
			// most likely): follow the link itself once more.
			relinked = true
			e.emit(Event{Type: EventRetry, Item: t.key, Filename: t.name, Attempt: attempt, Offset: j.progress(),
				Error: err.Error() + " (following the item's URL again)", Code: ErrorCode(err)})
			attempt--
			continue
		}
		if expiredURL(err) && e.opts.Refresh != nil && !refreshed {
			refreshed = true
			if rerr := e.refreshItem(ctx, t); rerr == nil {
				e.emit(Event{Type: EventRetry, Item: t.key, Filename: t.name, Attempt: attempt, Offset: j.progress(),
					Error: err.Error() + " (manifest refreshed)", Code: ErrorCode(err)})
				attempt--
				continue
			} else if ctx.Err() != nil {
				return ctx.Err()
			} else if !errors.Is(rerr, ErrNoRefresh) {
				err = fmt.Errorf("%w (manifest refresh failed: %v)", err, rerr)
			}
		}
		if errors.Is(err, errRestart) && !errors.Is(lastErr, errRestart) {
			// A changed representation restarts at once, without backoff,
			// and costs no retry the first time.
			lastErr = err
			attempt--
			continue
		}
		lastErr = err
		limit := e.opts.Retries
		if errors.Is(err, ErrChecksumMismatch) || errors.Is(err, ErrSizeMismatch) {
			// The server keeps sending other bytes than the manifest
			// promises: two fresh tries are enough to call it persistent.
			limit = min(limit, maxMismatchRetries)
		}
		if e.debug {
			e.opts.Logger.Debug("attempt failed", "file", t.name, "attempt", attempt, "offset", j.progress(),
				"err", err, "retryable", retryable(err))
		}
		if !retryable(err) || attempt > limit {
			j.checkpoint()
			if attempt > 1 && retryable(err) {
				return fmt.Errorf("giving up after %d attempts: %w", attempt, err)
			}
			return err
		}
		delay := e.backoff(attempt)
		var he *HTTPError
		if errors.As(err, &he) && he.RetryAfter > 0 {
			delay = he.RetryAfter
		}
		j.checkpoint()
		e.emit(Event{Type: EventRetry, Item: t.key, Filename: t.name, Attempt: attempt, DelayMS: delay.Milliseconds(),
			Offset: j.progress(), Error: err.Error(), Code: ErrorCode(err)})
		if he == nil || (he.StatusCode != 429 && he.StatusCode != 503) {
			// Throttles wait in the host gate instead, shared by all workers.
			if err := sleep(ctx, delay); err != nil {
				return err
			}
		}
	}
}

// maxMismatchRetries caps the retries after a checksum or size mismatch.
const maxMismatchRetries = 2

// backoff is exponential with full jitter: uniform in [0, min(max, base·2^(n-1))).
func (e *Engine) backoff(attempt int) time.Duration {
	ceiling := e.opts.BackoffBase << min(attempt-1, 30)
	if ceiling <= 0 || ceiling > e.opts.BackoffMax {
		ceiling = e.opts.BackoffMax
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func expiredURL(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && (he.StatusCode == 403 || he.StatusCode == 410)
}

// redact drops the query of a URL: signed URLs carry their signature there.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.RawQuery = ""
	u.User = nil
	return u.String()
}

// checkExisting skips a file that is already complete: the journal says so
// and the size matches (re-hashed with VerifyExisting), or it has no
// journal entry but matches the manifest's checksum.
func (e *Engine) checkExisting(ctx context.Context, t *task) (bool, error) {
	fi := t.existing
	if fi == nil || !fi.Mode().IsRegular() {
		return false, nil
	}
	want := t.item.SHA256()
	rec, ok := e.journal.completed(t.name)
	if ok && (t.item.Size == 0 || t.item.Size == rec.Size) && fi.Size() == rec.Size && (want == "" || want == rec.SHA256) {
		if !e.opts.VerifyExisting {
			e.markSkipped(t, rec.Size, rec.SHA256)
			return true, nil
		}
		sum, err := HashFile(ctx, t.path)
		if err != nil {
			// Gone or unreadable since it was claimed: download it again.
			return false, ctx.Err()
		}
		if sum == rec.SHA256 {
			e.markSkipped(t, rec.Size, sum)
			return true, nil
		}
		e.journal.forget(t.name)
		return false, nil
	}
	// Not known complete as it stands: skipped if it already is what the
	// manifest asks for; otherwise replaced. A file the journal knows
	// (this directory's own download, now outdated or changed) is simply
	// replaced; one haul did not put there is kept aside when the download
	// lands.
	if want == "" || (t.item.Size != 0 && fi.Size() != t.item.Size) {
		t.keepExisting = !ok
		return false, nil
	}
	sum, err := HashFile(ctx, t.path)
	if err != nil {
		return false, ctx.Err()
	}
	if sum != want {
		t.keepExisting = !ok
		return false, nil
	}
	if err := e.journal.markDone(doneRecord{Name: t.name, Size: fi.Size(), SHA256: sum, Time: e.opts.Now()}); err != nil {
		return false, err
	}
	e.markSkipped(t, fi.Size(), sum)
	return true, nil
}

func (e *Engine) markSkipped(t *task, size int64, sum string) {
	e.learnSize(t, size)
	t.result.Size, t.result.SHA256, t.result.Skipped = size, sum, true
}

// HashFile returns the hex sha256 of the file at path.
func HashFile(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if err := hashRange(ctx, h, f, 0, -1); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// partFile is the open part file: an *os.File, or on unix a bare
// descriptor that costs fewer system calls.
type partFile interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	Truncate(size int64) error
}

// hashRange feeds n bytes of f from off into h (to EOF when n < 0).
func hashRange(ctx context.Context, h hash.Hash, f io.ReaderAt, off, n int64) error {
	if n == 0 {
		return nil
	}
	buf := make([]byte, 256<<10)
	for n != 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := buf
		if n > 0 && int64(len(b)) > n {
			b = b[:n]
		}
		m, err := f.ReadAt(b, off)
		h.Write(b[:m])
		off += int64(m)
		if n > 0 {
			n -= int64(m)
		}
		if err == io.EOF {
			if n > 0 {
				return io.ErrUnexpectedEOF
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// requestURL is where requests for the file go: where the item's URL
// redirected to, once known, else the item's URL.
func (j *fileJob) requestURL() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.st.ResolvedURL != "" {
		return j.st.ResolvedURL
	}
	return j.t.item.URL
}

// noteResolved remembers where a request for the item's URL ended up after
// redirects, when that is elsewhere.
func (j *fileJob) noteResolved(resp *http.Response) {
	if resp.Request == nil || resp.Request.URL == nil {
		return
	}
	final := resp.Request.URL.String()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.st.ResolvedURL == "" && final != j.t.item.URL {
		j.st.ResolvedURL = final
	}
}

// dropResolved forgets where the item's URL led, so the next request
// follows it again; false when there was nothing to forget.
func (j *fileJob) dropResolved() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.st.ResolvedURL == "" {
		return false
	}
	j.st.ResolvedURL = ""
	return true
}

// open loads the journal entry and reconciles it with the part file,
// trusting the smaller of the two.
func (j *fileJob) open() error {
	jr := j.e.journal
	name := j.t.name
	if !jr.mayHave(name) {
		// Nothing of this file in .haul: skip the reconciliation syscalls.
		f, err := createPart(jr.partPath(name))
		if err != nil {
			return fmt.Errorf("part file: %w", err)
		}
		j.part = f
		j.st = newFileState(name, j.t.item.URL, j.t.item.Size)
		j.h = sha256.New()
		j.lastCkpt = j.e.opts.Now()
		return nil
	}
	j.stateSaved = true
	f, err := os.OpenFile(jr.partPath(name), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("part file: %w", err)
	}
	j.part = f
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("part file: %w", err)
	}
	fresh := newFileState(name, j.t.item.URL, j.t.item.Size)
	st := jr.loadState(name)
	switch {
	case st == nil, len(st.Segments) == 0, st.Size != 0 && j.t.item.Size != 0 && st.Size != j.t.item.Size:
		st = &fresh
	case len(st.Segments) == 1:
		sg := &st.Segments[0]
		if sg.Start != 0 || sg.Done < 0 {
			st = &fresh
		} else if fi.Size() < sg.Done {
			// The part file lost bytes the journal counted (power loss):
			// trust the file.
			sg.Done = fi.Size()
		}
	default:
		if st.Size <= 0 || fi.Size() < st.Size {
			st = &fresh
		}
	}
	if st.bytesOnDisk() > 0 && st.Validator.ifRange() == "" && j.t.item.SHA256() == "" {
		// No strong ETag or Last-Modified for If-Range, and no checksum:
		// nothing would tell a changed representation from the old one,
		// so a bare Range could splice two versions. Start over. (With a
		// checksum the resume goes ahead: a splice fails verification,
		// which discards the part and restarts from zero.)
		st = &fresh
	}
	if st.HashOffset > st.frontier() || st.HashOffset < 0 {
		st.HashOffset, st.Hash = 0, nil
	}
	if st.URL != j.t.item.URL {
		// A new URL (a refreshed manifest): where the old one led is moot.
		st.ResolvedURL = ""
	}
	j.st = *st
	j.st.URL = j.t.item.URL
	if len(j.st.Segments) == 1 {
		if err := f.Truncate(j.st.Segments[0].Done); err != nil {
			return fmt.Errorf("part file: %w", err)
		}
	}
	if err := j.restoreHash(); err != nil {
		return err
	}
	j.t.done.Store(j.st.bytesOnDisk())
	j.lastCkpt = j.e.opts.Now()
	j.lastCkptOff = j.st.bytesOnDisk()
	return nil
}

// restoreHash sets j.h to the state after HashOffset bytes, unmarshaled
// from the journal (or from zero when that fails). A single-connection
// file then catches up to its end from the part file; segmented ones let
// the hasher follow the frontier.
func (j *fileJob) restoreHash() error {
	j.h = sha256.New()
	if j.st.HashOffset > 0 {
		if err := j.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(j.st.Hash); err != nil {
			j.h = sha256.New()
			j.st.HashOffset = 0
		}
	}
	if len(j.st.Segments) == 1 {
		done := j.st.Segments[0].Done
		if err := hashRange(j.e.ctx, j.h, j.part, j.st.HashOffset, done-j.st.HashOffset); err != nil {
			return fmt.Errorf("re-hash part file: %w", err)
		}
		j.st.HashOffset = done
	}
	return nil
}

func (j *fileJob) close() {
	j.flushCheckpoints()
	if j.part != nil {
		j.part.Close()
		j.part = nil
	}
}

// startConns is the number of connections the file starts with: its
// segments when resuming a segmented file, -c K when the size is known
// and large enough to split at once, else one (Auto and -c K may add
// segments later; the done event reports the most used).
func (j *fileJob) startConns() int {
	if n := len(j.st.Segments); n > 1 {
		return n
	}
	k, size := j.e.opts.Connections, j.t.item.Size
	if j.st.bytesOnDisk() == 0 && size > 0 && k > 1 {
		return max(1, int(min(int64(k), size/minSegment)))
	}
	return 1
}

// progress is the number of bytes on disk.
func (j *fileJob) progress() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.st.bytesOnDisk()
}

// reset discards everything and starts the file from zero.
func (j *fileJob) reset() error {
	j.flushCheckpoints()
	j.mu.Lock()
	defer j.mu.Unlock()
	resolved := j.st.ResolvedURL
	j.st = newFileState(j.t.name, j.t.item.URL, j.t.item.Size)
	// Starting over is no reason to follow the item's link again: a
	// one-time link would refuse it.
	j.st.ResolvedURL = resolved
	j.h = sha256.New()
	j.lastCkptOff = 0
	j.t.done.Store(0)
	if err := j.part.Truncate(0); err != nil {
		return fmt.Errorf("part file: %w", err)
	}
	j.e.journal.removeState(j.t.name)
	return nil
}

// checkpoint saves the journal entry; called with the pipeline drained.
func (j *fileJob) checkpoint() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.saveLocked()
}

func (j *fileJob) saveLocked() {
	if j.st.bytesOnDisk() == 0 {
		return
	}
	if m, ok := j.h.(encoding.BinaryMarshaler); ok {
		if b, err := m.MarshalBinary(); err == nil {
			j.st.Hash = b
		}
	}
	j.stateSaved = true
	data, err := json.Marshal(&j.st)
	if err != nil {
		return
	}
	j.lastCkpt = j.e.opts.Now()
	j.lastCkptOff = j.st.bytesOnDisk()
	// The file is written by the job's checkpoint goroutine, off the hot
	// path; only the newest pending checkpoint is kept.
	if j.ckptCh == nil {
		j.ckptCh, j.ckptDone = make(chan []byte, 1), make(chan struct{})
		go j.checkpointWriter(j.ckptCh, j.ckptDone)
	}
	select {
	case j.ckptCh <- data:
	default:
		select {
		case <-j.ckptCh:
		default:
		}
		j.ckptCh <- data
	}
}

// checkpointWriter writes queued checkpoints until ch is closed.
func (j *fileJob) checkpointWriter(ch <-chan []byte, done chan<- struct{}) {
	defer close(done)
	for data := range ch {
		if err := j.e.journal.saveState(j.t.name, data); err != nil {
			j.e.opts.Logger.Debug("checkpoint failed", "file", j.t.name, "err", err)
		}
	}
}

// flushCheckpoints waits for pending checkpoint writes and stops the
// writer.
func (j *fileJob) flushCheckpoints() {
	j.mu.Lock()
	ch, done := j.ckptCh, j.ckptDone
	j.ckptCh, j.ckptDone = nil, nil
	j.mu.Unlock()
	if ch != nil {
		close(ch)
		<-done
	}
}

// maybeCheckpointLocked saves the journal when enough bytes or time have
// passed since the last checkpoint.
func (j *fileJob) maybeCheckpointLocked() {
	if j.st.bytesOnDisk()-j.lastCkptOff >= j.e.opts.CheckpointBytes || j.e.opts.Now().Sub(j.lastCkpt) >= j.e.opts.CheckpointInterval {
		j.saveLocked()
	}
}

// finalize verifies size and checksum and renames the part into place.
func (j *fileJob) finalize() error {
	j.mu.Lock()
	size := j.st.Size
	if !j.st.complete() || j.st.frontier() != size || j.st.HashOffset != size {
		j.mu.Unlock()
		return fmt.Errorf("internal: hashed %d of %d bytes", j.st.HashOffset, size)
	}
	sum := hex.EncodeToString(j.h.Sum(nil))
	j.mu.Unlock()
	it := &j.t.item
	if it.Size != 0 && size != it.Size {
		j.discard()
		return fmt.Errorf("%w: got %d bytes, manifest says %d", ErrSizeMismatch, size, it.Size)
	}
	if want := it.SHA256(); want != "" && want != sum {
		j.discard()
		return fmt.Errorf("%w: got sha256:%s, want sha256:%s", ErrChecksumMismatch, sum, want)
	}
	// Re-check a nested target right before the rename: a directory on the
	// way may have become a symlink since the item was claimed. A flat name
	// needs no re-check: rename(2) replaces a symlink at the target instead
	// of following it, and the root was resolved once.
	path := j.t.path
	if strings.Contains(j.t.name, "/") {
		var err error
		if path, err = j.e.targets.Path(j.t.name); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("create directory: %w", err)
		}
	}
	if err := j.part.Close(); err != nil {
		j.part = nil
		return fmt.Errorf("part file: %w", err)
	}
	j.part = nil
	if j.t.keepExisting {
		kept, err := j.e.journal.keepReplaced(j.t.name, path)
		if err != nil {
			return err
		}
		j.t.result.Replaced = kept
	}
	if err := renameFile(j.e.journal.partPath(j.t.name), path); err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	j.flushCheckpoints()
	if j.stateSaved {
		j.e.journal.removeState(j.t.name)
	}
	if err := j.e.journal.markDone(doneRecord{Name: j.t.name, Size: size, SHA256: sum, Time: j.e.opts.Now()}); err != nil {
		return err
	}
	j.t.result.Size, j.t.result.SHA256 = size, sum
	return nil
}

// discard throws the partial data away after a failed verification and
// reopens an empty part file for the retry from zero.
func (j *fileJob) discard() {
	if err := j.reset(); err != nil && !errors.Is(err, fs.ErrClosed) {
		j.e.opts.Logger.Debug("discard", "file", j.t.name, "err", err)
	}
}
