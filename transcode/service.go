package transcode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/haulhq/haul/blob"
	"github.com/haulhq/haul/store"
)

// ErrUnknownFormat is returned by Ensure for a format no preset has.
var ErrUnknownFormat = errors.New("unknown format")

// Config tunes a Service; zero values take the defaults below.
type Config struct {
	// Workers bounds how many ffmpeg processes run at once in this process
	// (default: the number of CPUs).
	Workers int
	// JobTimeout bounds one ffmpeg run (default 30 min).
	JobTimeout time.Duration
	// Lease is how long a claimed job stays with its worker without a
	// heartbeat; after that another worker (or replica) claims it
	// (default 15 s). Heartbeats are sent every Lease/3.
	Lease time.Duration
	// PollInterval is how often idle workers look for jobs queued by other
	// replicas or left by dead workers (default 1 s). Jobs this process
	// queues wake a worker at once.
	PollInterval time.Duration
	// MaxAttempts fails a job claimed this many times without finishing
	// (a job that crashes its server every time) (default 3).
	MaxAttempts int
	// RenditionTTL purges renditions not used for this long; they are
	// rebuilt on demand. 0 keeps them forever.
	RenditionTTL time.Duration
	// MinFreeBytes, when positive, purges the least recently used
	// renditions while the disk holding TempDir has less free space than
	// this (disk pressure). Originals are never purged.
	MinFreeBytes int64
	// TempDir holds sources copied out of non-file blob stores and outputs
	// being encoded (default os.TempDir()). Put it on the data disk.
	TempDir string
	// Threads limits ffmpeg's threads per job (default CPUs/Workers, at
	// least 1).
	Threads int
}

func (c *Config) defaults() {
	if c.Workers <= 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.JobTimeout <= 0 {
		c.JobTimeout = 30 * time.Minute
	}
	if c.Lease <= 0 {
		c.Lease = 15 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.TempDir == "" {
		c.TempDir = os.TempDir()
	}
	if c.Threads <= 0 {
		c.Threads = max(1, runtime.NumCPU()/c.Workers)
	}
}

// Deps are what a Service is built from.
type Deps struct {
	// Store keeps assets, jobs and renditions (required).
	Store store.Store
	// Blobs keeps originals and rendition bytes (required).
	Blobs blob.Store
	// Logger receives worker logs; slog.Default when nil.
	Logger *slog.Logger
	// Now is the clock for leases and timestamps; time.Now when nil.
	Now func() time.Time
	// Tools names ffmpeg and ffprobe; the zero value uses PATH.
	Tools Tools
	// JobFinished, when set, is called after a job is claimed, succeeded
	// or failed (the server updates export items and wakes long-polls).
	// SetJobFinished sets it later, when the server is built after the
	// Service.
	JobFinished func(ctx context.Context, job *store.Job) error
	// Config are the tunables.
	Config Config
}

// Service makes renditions: it answers the server's rendition questions
// (which formats apply, Ensure a rendition or its job, estimates), probes
// uploads, and runs the durable worker pool (Run). Safe for concurrent use.
type Service struct {
	store     store.Store
	blobs     blob.Store
	log       *slog.Logger
	now       func() time.Time
	tools     Tools
	available error // nil when ffmpeg and ffprobe were found
	cfg       Config
	owner     string

	finishedMu sync.RWMutex
	finished   func(ctx context.Context, job *store.Job) error

	wake   chan struct{}
	speeds *speedTable
}

// New builds a Service. It looks up ffmpeg and ffprobe once: when they are
// missing the Service still works for the original format, Available
// returns the reason, and media formats are refused with ErrUnavailable.
func New(deps Deps) (*Service, error) {
	if deps.Store == nil || deps.Blobs == nil {
		return nil, errors.New("transcode: Store and Blobs are required")
	}
	s := &Service{
		store:    deps.Store,
		blobs:    deps.Blobs,
		log:      deps.Logger,
		now:      deps.Now,
		cfg:      deps.Config,
		finished: deps.JobFinished,
		wake:     make(chan struct{}, 1),
		speeds:   newSpeedTable(),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.cfg.defaults()
	tools, err := deps.Tools.Find()
	if err != nil {
		s.available = err
		s.tools = deps.Tools
	} else {
		s.tools = tools
	}
	host, _ := os.Hostname()
	s.owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomHex(4))
	return s, nil
}

// Available returns nil when media renditions can be made, or the reason
// (wrapping ErrUnavailable) when ffmpeg or ffprobe is missing.
func (s *Service) Available() error { return s.available }

// Config returns the effective configuration (defaults applied).
func (s *Service) Config() Config { return s.cfg }

// SetJobFinished sets the function called after a job is claimed,
// succeeded or failed (see Deps.JobFinished).
func (s *Service) SetJobFinished(fn func(ctx context.Context, job *store.Job) error) {
	s.finishedMu.Lock()
	s.finished = fn
	s.finishedMu.Unlock()
}

// Presets returns the presets this server can make now, original
// excluded: all media presets, or none when ffmpeg is missing.
func (s *Service) Presets() []Preset {
	if s.available != nil {
		return nil
	}
	var out []Preset
	for _, p := range Presets() {
		if !p.IsOriginal() {
			out = append(out, p)
		}
	}
	return out
}

// PresetVersion is the current version of the format's preset (0 for an
// unknown format).
func (s *Service) PresetVersion(format string) int {
	p, _ := Lookup(format)
	return p.Version
}

// Allowed returns the formats (original excluded) that apply to the asset,
// judged from its probed media; none when ffmpeg is missing or the asset
// is not media.
func (s *Service) Allowed(a *store.Asset) []string {
	if s.available != nil {
		return nil
	}
	m := MediaOf(a)
	var names []string
	for _, p := range Presets() {
		if !p.IsOriginal() && p.Applicable(m) {
			names = append(names, p.Name)
		}
	}
	return names
}

// MediaOf decodes the asset's stored probe result; nil when it has none.
func MediaOf(a *store.Asset) *Media {
	if a == nil || len(a.Media) == 0 || string(a.Media) == "null" {
		return nil
	}
	var m Media
	if err := json.Unmarshal(a.Media, &m); err != nil {
		return nil
	}
	return &m
}

// Ensure returns the asset's rendition in the format when it exists, or
// else the job making it: queued now, or shared with every other request
// for the same asset, format and preset version (the store makes that
// atomic). Errors: ErrUnknownFormat, ErrUnavailable (ffmpeg missing),
// ErrNotApplicable (e.g. a video format for a PDF).
func (s *Service) Ensure(ctx context.Context, a *store.Asset, format string) (*store.Rendition, *store.Job, error) {
	p, ok := Lookup(format)
	if !ok || p.IsOriginal() {
		return nil, nil, fmt.Errorf("ensure %s: %w %q", a.ID, ErrUnknownFormat, format)
	}
	if s.available != nil {
		return nil, nil, fmt.Errorf("ensure %s %s: %w", a.ID, format, s.available)
	}
	if !p.Applicable(MediaOf(a)) {
		return nil, nil, fmt.Errorf("ensure %s %s: %w", a.ID, format, ErrNotApplicable)
	}
	rend, err := s.rendition(ctx, a, p)
	if err != nil || rend != nil {
		return rend, nil, err
	}
	job, created, err := s.store.CreateJob(ctx, &store.Job{TenantID: a.TenantID, AssetID: a.ID, Format: p.Name, PresetVersion: p.Version})
	if err != nil {
		return nil, nil, fmt.Errorf("ensure %s %s: queue job: %w", a.ID, format, err)
	}
	if created {
		s.Wake()
		return nil, job, nil
	}
	if job.Status == store.JobSucceeded {
		// Finished between our look and the queueing: serve the result.
		if rend, err := s.rendition(ctx, a, p); err != nil || rend != nil {
			return rend, nil, err
		}
	}
	return nil, job, nil
}

// rendition returns the stored rendition of a in p when its bytes are
// still there; a rendition whose blob vanished is forgotten so it is
// rebuilt.
func (s *Service) rendition(ctx context.Context, a *store.Asset, p Preset) (*store.Rendition, error) {
	rend, err := s.store.GetRendition(ctx, a.TenantID, a.ID, p.Name, p.Version)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get rendition %s %s: %w", a.ID, p.Name, err)
	}
	if _, err := s.blobs.Stat(ctx, rend.BlobKey); errors.Is(err, blob.ErrNotFound) {
		s.log.WarnContext(ctx, "rendition bytes missing; rebuilding", "asset", a.ID, "format", p.Name, "blob", rend.BlobKey)
		if err := s.store.DeleteRendition(ctx, a.TenantID, rend.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("forget rendition %s: %w", rend.ID, err)
		}
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("stat rendition %s: %w", rend.ID, err)
	}
	return rend, nil
}

// Wake tells an idle worker of this process to look for jobs now.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// EstimateSeconds guesses how long until the job succeeds, from the
// source's duration and the measured speed of recent jobs of the same
// preset; at least 1.
func (s *Service) EstimateSeconds(ctx context.Context, job *store.Job) int {
	if job.Terminal() {
		return 1
	}
	var duration float64
	if a, err := s.store.GetAsset(ctx, job.TenantID, job.AssetID); err == nil {
		if m := MediaOf(a); m != nil {
			duration = m.Duration
		}
	}
	speed := s.speeds.speed(ctx, s, job.Format)
	remaining := 1 - job.Progress
	est := startupSeconds + remaining*duration/speed
	if job.Status == store.JobQueued {
		if n, err := s.store.CountJobs(ctx, store.JobQueued); err == nil && n > s.cfg.Workers {
			// Rough wait for the queue ahead, as if its jobs were like this one.
			est += float64(n-s.cfg.Workers) / float64(s.cfg.Workers) * (startupSeconds + duration/speed)
		}
	}
	return max(1, int(est+0.999))
}
