package server

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/haulhq/haul/blob"
	"github.com/haulhq/haul/store"
)

// FormatOriginal is the uploaded bytes themselves, always available.
const FormatOriginal = "original"

// FormatInfo describes one format for GET /v1/formats and for naming files.
type FormatInfo struct {
	// Name is the format's API name, e.g. "mp4_720p".
	Name string `json:"name"`
	// Description is a short human description.
	Description string `json:"description"`
	// Container is the file container ("mp4", "m4a", "jpeg"; "" for original).
	Container string `json:"container,omitempty"`
	// VideoCodec and AudioCodec name the codecs produced, if any.
	VideoCodec string `json:"video_codec,omitempty"`
	AudioCodec string `json:"audio_codec,omitempty"`
	// MaxWidth and MaxHeight bound the output size (never upscaled).
	MaxWidth  int `json:"max_width,omitempty"`
	MaxHeight int `json:"max_height,omitempty"`
	// Extension is the file extension without dot ("mp4"); "" for original
	// (the asset's own extension is kept).
	Extension string `json:"extension,omitempty"`
	// ContentType of the produced files.
	ContentType string `json:"content_type,omitempty"`
	// AppliesTo says which assets the format applies to: "any", "video",
	// "audio", "audio/video".
	AppliesTo string `json:"applies_to"`
}

// Renditions is the seam to the rendition side (package transcode). A nil
// Renditions makes the server offer only "original". Every method must be
// safe for concurrent use.
//
// The server calls it for POST /v1/assets/{id}/downloads, POST /v1/exports,
// GET /v1/formats and GET /v1/jobs/{id}; it never runs ffmpeg itself. When
// a job finishes (succeeded or failed) the worker must call
// (*Server).JobFinished so export items, export.completed and long-polls
// follow; the server also reconciles lazily on every read of an export.
type Renditions interface {
	// Formats lists the formats the server can make, "original" excluded,
	// in display order. Formats that cannot be made right now (ffmpeg
	// missing) are left out.
	Formats() []FormatInfo
	// Allowed returns the names of the formats (original excluded) that
	// apply to the asset, e.g. none for a PDF, audio_m4a for a WAV.
	Allowed(a *store.Asset) []string
	// PresetVersion is the current version of a format's settings; export
	// items and renditions are keyed by it.
	PresetVersion(format string) int
	// Ensure returns the asset's rendition in the format when it exists
	// (rendition non-nil), or else the job making it, queued now or shared
	// with an earlier request for the same rendition (job non-nil). The
	// format is one of Allowed(a); the asset is available. An error with
	// a *Problem (e.g. 503 when ffmpeg is missing) is sent as is.
	Ensure(ctx context.Context, a *store.Asset, format string) (*store.Rendition, *store.Job, error)
	// EstimateSeconds guesses how long until job succeeds (the 202's
	// estimated_seconds and Retry-After); at least 1.
	EstimateSeconds(ctx context.Context, job *store.Job) int
}

// UnavailableFormats is optionally implemented by a Renditions that knows
// formats it cannot make right now (ffmpeg missing). For such a format,
// which Formats leaves out, the server returns Unavailable's error (a
// 503 *Problem telling the operator to install ffmpeg) instead of 422
// unsupported_format. Unavailable returns nil for formats it does not know.
type UnavailableFormats interface {
	Unavailable(format string) error
}

// Prober fills the asset's media field (duration, size, codecs…) while an
// upload is scanned. obj is the content; for blob/fs it has a
// File() *os.File method giving a seekable file. A Prober error is
// logged and leaves media empty; it never quarantines.
type Prober interface {
	Probe(ctx context.Context, a *store.Asset, obj blob.Object) (json.RawMessage, error)
}

// DeliveryHook is the seam to grants and the audit log (issue 6).
type DeliveryHook interface {
	// CheckGrant is called for every /dl request whose URL was issued
	// through a grant, before any byte is sent. A non-nil error refuses
	// the delivery; return a *Problem (410 grant_revoked, …) to choose the
	// response.
	CheckGrant(ctx context.Context, tenantID, grantID string) error
	// Delivered is called after each GET /dl response with what was
	// sent; a HEAD, which sends no body, is not a delivery.
	Delivered(ctx context.Context, d Delivery)
}

// Delivery describes one response of the /dl endpoint, for the audit log.
type Delivery struct {
	TenantID string
	AssetID  string
	Format   string
	GrantID  string
	ClientIP string
	// Status is the HTTP status sent (200, 206, 304, 302 to a presigned
	// URL, 416…).
	Status int
	// Bytes is the number of body bytes sent.
	Bytes int64
	// Size is the full size of the content.
	Size int64
	// Range is the request's Range header, if any.
	Range string
	// Complete reports whether the body sent was the whole content.
	Complete bool
	At       time.Time
}

// Broadcaster wakes waiters when something changes: the manifest long-poll
// (?wait=) subscribes to ExportTopic(id), and JobFinished publishes to the
// exports a job touched. In one process LocalBroadcaster does; a
// multi-replica backend can implement it with LISTEN/NOTIFY. Waiters also
// re-read periodically, so a lost notification only delays them.
type Broadcaster interface {
	// Publish wakes every current subscriber of topic.
	Publish(topic string)
	// Subscribe returns a channel that receives (without blocking the
	// publisher) after each Publish to topic, and a function to cancel.
	Subscribe(topic string) (<-chan struct{}, func())
}

// ExportTopic is the Broadcaster topic of an export.
func ExportTopic(exportID string) string { return "export:" + exportID }

// LocalBroadcaster is an in-process Broadcaster.
type LocalBroadcaster struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

// NewLocalBroadcaster returns an empty in-process Broadcaster.
func NewLocalBroadcaster() *LocalBroadcaster {
	return &LocalBroadcaster{subs: map[string]map[chan struct{}]struct{}{}}
}

// Publish implements Broadcaster.
func (b *LocalBroadcaster) Publish(topic string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs[topic] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Subscribe implements Broadcaster.
func (b *LocalBroadcaster) Subscribe(topic string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	if b.subs[topic] == nil {
		b.subs[topic] = map[chan struct{}]struct{}{}
	}
	b.subs[topic][ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs[topic], ch)
		if len(b.subs[topic]) == 0 {
			delete(b.subs, topic)
		}
		b.mu.Unlock()
	}
}
