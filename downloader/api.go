// Package downloader is haul's download engine: a bounded pool of workers
// that fetches manifest items into an output directory with resume
// (part files and a journal in DIR/.haul/), checksum verification, atomic
// renames, retries with backoff, per-host politeness gates and an optional
// aggregate rate limit. It reports progress as a stream of typed events and
// never draws anything itself.
//
// A caller either runs a whole manifest at once with Run, or feeds items
// while the engine works: New, Add (any number of times, from any
// goroutine), Close, Wait.
package downloader

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/haulhq/haul/manifest"
)

// Auto is the value of Options.Connections that lets the engine choose the
// number of connections per file from what it measures.
const Auto = 0

// Options configure an Engine. The zero value of every field has a sensible
// default, except Dir.
type Options struct {
	// Dir is the output directory; partial data and the journal live in
	// Dir/.haul/.
	Dir string
	// Jobs is the number of files downloaded at once (default 8).
	Jobs int
	// Connections is the number of ranged connections per file, or Auto
	// (the default): one for files under 64 MiB and on fast, low-latency
	// links, up to 4 segments when the server supports ranges and one
	// connection measurably does not fill the link.
	Connections int
	// Retries is how many times one item is retried after a retryable
	// failure (default 10; negative means none).
	Retries int
	// LimitRate caps the aggregate download rate in bytes per second; 0
	// means unlimited.
	LimitRate int64
	// DropResults keeps only failed and unfinished items in
	// Summary.Results, so memory stays flat however many items pass
	// through; the Events stream still reports every item.
	DropResults bool
	// VerifyExisting re-hashes files that the journal says are complete
	// instead of trusting journal and size.
	VerifyExisting bool

	// Client makes the requests. Nil means NewHTTPClient(Jobs*Connections).
	Client *http.Client
	// Prepare, when set, is called on every request before it is sent,
	// e.g. to add an Authorization header for one host.
	Prepare func(*http.Request)
	// UserAgent is sent with every request when set.
	UserAgent string
	// Refresh, when set, returns a fresh copy of the manifest. The engine
	// calls it when a signed URL has expired (403/410; at most once per
	// item and failure) and while items are queued or processing. Without
	// it such items fail with a clear error.
	Refresh Refresher
	// Events receives progress events. Calls are serialized; the function
	// must not block for long. Nil discards events.
	Events func(Event)
	// ProgressInterval is how often progress events are sent (default
	// 250ms).
	ProgressInterval time.Duration
	// StallTimeout is how long a connection may deliver no byte before
	// the attempt fails and is retried (default 30s).
	StallTimeout time.Duration
	// BackoffBase and BackoffMax shape the exponential backoff with full
	// jitter between retries (defaults 500ms and 30s).
	BackoffBase, BackoffMax time.Duration
	// PollInterval is how long to wait between manifest refreshes while
	// items are not ready, when the refresher gives no hint (default 2s).
	PollInterval time.Duration
	// CheckpointBytes and CheckpointInterval bound how much progress may be
	// lost by a crash: the journal of a file is written after this many
	// bytes or this much time, whichever comes first (defaults 4 MiB, 1s).
	CheckpointBytes    int64
	CheckpointInterval time.Duration
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// copyMode overrides how long bodies are copied (tests only).
	copyMode copyMode
}

// RefreshReason says why the engine asks for a fresh manifest.
type RefreshReason int

const (
	// RefreshExpired means a URL was refused as expired; answer promptly.
	RefreshExpired RefreshReason = iota + 1
	// RefreshPending means items are queued or processing; the refresher
	// may long-poll until something changes.
	RefreshPending
)

// Refresher returns a fresh copy of the manifest the items came from.
// Items are matched by manifest.Item.Key. A refresher that is told to slow
// down (429/503) returns a *RetryAfterError so the engine waits; one that
// has nowhere to refresh from returns ErrNoRefresh.
type Refresher func(ctx context.Context, why RefreshReason) (*manifest.Manifest, error)

// RetryAfterError asks the engine to wait before trying again.
type RetryAfterError struct {
	// Delay is how long to wait.
	Delay time.Duration
	// Err is the underlying error.
	Err error
}

// Error implements error.
func (e *RetryAfterError) Error() string {
	return "retry after " + e.Delay.String() + ": " + errString(e.Err)
}

// Unwrap returns the underlying error.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// EventType names an event.
type EventType string

// Event types, in the order an item meets them.
const (
	// EventStart: the engine begins an item (after any skip check).
	EventStart EventType = "start"
	// EventProgress: aggregate progress, sent every ProgressInterval with
	// the active files.
	EventProgress EventType = "progress"
	// EventRetry: an attempt failed and the item will be retried after
	// Delay.
	EventRetry EventType = "retry"
	// EventDone: an item is complete and verified (or was already).
	EventDone EventType = "done"
	// EventError: an item failed for good.
	EventError EventType = "error"
	// EventSummary: the last event, once every item is finished.
	EventSummary EventType = "summary"
)

// Event is one progress event. Which fields are set depends on Type; the
// JSON names are a stable interface (docs/fetch-events.md).
type Event struct {
	// Type is the kind of event.
	Type EventType `json:"type"`
	// Time is when the event happened.
	Time time.Time `json:"time"`

	// Item is the item's key (manifest id, else filename, else URL):
	// start, retry, done, error.
	Item string `json:"item,omitempty"`
	// Filename is the item's relative target path: start, retry, done, error.
	Filename string `json:"filename,omitempty"`
	// URL is the item's URL: start.
	URL string `json:"url,omitempty"`
	// Size is the item's size in bytes, -1 or 0 when unknown: start, done.
	Size int64 `json:"size,omitempty"`
	// Offset is where a start or retry resumes from.
	Offset int64 `json:"offset,omitempty"`
	// Connections is the number of connections a start begins with, or
	// the most used at once for a done.
	Connections int `json:"connections,omitempty"`

	// Attempt is the attempt number that failed (1-based): retry.
	Attempt int `json:"attempt,omitempty"`
	// DelayMS is the wait before the next attempt in milliseconds: retry.
	DelayMS int64 `json:"delay_ms,omitempty"`
	// Error is the error message: retry, error.
	Error string `json:"error,omitempty"`
	// Code classifies the error: retry, error (see ErrorCode).
	Code string `json:"code,omitempty"`

	// Path is the final absolute path: done.
	Path string `json:"path,omitempty"`
	// SHA256 is the hex digest of the file: done.
	SHA256 string `json:"sha256,omitempty"`
	// Skipped is true when a done item was already complete on disk.
	Skipped bool `json:"skipped,omitempty"`
	// Replaced is where a different file found at the target was kept:
	// done.
	Replaced string `json:"replaced,omitempty"`

	// Totals are the aggregate counters: progress, summary.
	*Totals `json:",omitempty"`
	// Active are the files in flight: progress.
	Active []Active `json:"active,omitempty"`
}

// Totals are aggregate counters over all items added so far.
type Totals struct {
	// FilesTotal is the number of items added.
	FilesTotal int `json:"files_total"`
	// FilesDone is the number of items complete (downloaded or skipped).
	FilesDone int `json:"files_done"`
	// FilesSkipped is the number of items that were already complete.
	FilesSkipped int `json:"files_skipped"`
	// FilesFailed is the number of items that failed for good.
	FilesFailed int `json:"files_failed"`
	// BytesTotal is the sum of the known sizes (the manifest's, else the
	// size the server announced), 0 when none is known.
	BytesTotal int64 `json:"bytes_total"`
	// BytesDone is the bytes on disk for finished and active items,
	// including bytes resumed from an earlier run.
	BytesDone int64 `json:"bytes_done"`
	// BytesReceived is what this run received over the network.
	BytesReceived int64 `json:"bytes_received"`
	// RateBPS is the download rate in bytes per second over a sliding
	// window; 0 until a second has been measured.
	RateBPS int64 `json:"rate_bps"`
	// ElapsedMS is the time since the engine started.
	ElapsedMS int64 `json:"elapsed_ms"`
}

// Active is one file in flight.
type Active struct {
	// Item is the item's key.
	Item string `json:"item"`
	// Filename is the relative target path.
	Filename string `json:"filename"`
	// Bytes is what is on disk so far.
	Bytes int64 `json:"bytes"`
	// Size is the expected size, 0 when unknown.
	Size int64 `json:"size"`
}

// Result is the outcome of one item.
type Result struct {
	// Item is the manifest item as last seen (after any refresh).
	Item manifest.Item
	// Key is Item.Key().
	Key string
	// Name is the relative slash-separated target name ("" when refused).
	Name string
	// Path is the absolute final path ("" when refused).
	Path string
	// Size is the file's size in bytes.
	Size int64
	// SHA256 is the file's hex digest.
	SHA256 string
	// Skipped is true when the file was already complete.
	Skipped bool
	// Replaced is where a different file that stood at the target name,
	// not one this directory's journal knows, was moved before the
	// download took its place (a path under Dir/.haul/replaced/), or "".
	Replaced string
	// Err is nil on success.
	Err error
}

// Summary is what Wait returns: every item's result in the order added
// (with Options.DropResults only the failed and unfinished ones), and the
// totals.
type Summary struct {
	// Results holds one entry per item added.
	Results []Result
	// Totals are the final counters.
	Totals Totals
}

// Failed returns the results with an error.
func (s *Summary) Failed() []Result {
	var out []Result
	for _, r := range s.Results {
		if r.Err != nil {
			out = append(out, r)
		}
	}
	return out
}

// Run downloads every item of items with a new engine and waits for the
// result. It is New, Add for each item, Close and Wait.
func Run(ctx context.Context, opts Options, items []manifest.Item) (*Summary, error) {
	e, err := New(ctx, opts)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		e.Add(it)
	}
	e.Close()
	return e.Wait()
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// copyMode chooses how a long body goes from the socket to the part file.
type copyMode int

const (
	// copyAuto pipelines while the files in flight leave cores to spare.
	copyAuto copyMode = iota
	// copySerial always reads, writes and hashes in one goroutine.
	copySerial
	// copyPipelined always runs the reader, writer and hasher apart.
	copyPipelined
)
