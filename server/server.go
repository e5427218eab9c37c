// Package server is haul's HTTP API: assets, signed delivery, downloads,
// jobs, exports and manifests, with the conventions of SPEC section 3
// (Bearer keys with scopes, problem+json errors, cursor pagination,
// Idempotency-Key, rate limits). NewServer wires it from a store.Store, a
// blob.Store and the optional seams below (Renditions, Broadcaster,
// Prober, DeliveryHook); every route is listed in routes.go.
package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/haulhq/haul/blob"
	"github.com/haulhq/haul/store"
)

// Config are the server's tunables; zero values take the defaults below.
type Config struct {
	// PublicURL is the base URL clients reach the server at (absolute URLs
	// in responses); when empty the request's Host is used.
	PublicURL string
	// TrustProxy lists the proxies whose X-Forwarded-For is believed.
	TrustProxy []*net.IPNet
	// RateLimits per class; nil disables rate limiting.
	RateLimits map[string]Limit
	// SharedRateLimits keeps rate-limit buckets in the store, so replicas
	// sharing it share each budget (one store write per limited request);
	// otherwise each process counts in memory.
	SharedRateLimits bool
	// MaxUploadSize caps asset content (default 64 GiB).
	MaxUploadSize int64
	// UploadIdleTimeout cuts off an upload that sends nothing for this long
	// (default 60 s).
	UploadIdleTimeout time.Duration
	// MaxBodySize caps JSON request bodies (default 4 MiB).
	MaxBodySize int64
	// MaxBatchItems caps export items (default 10 000).
	MaxBatchItems int
	// DownloadURLTTL is the life of URLs from POST …/downloads and jobs
	// (default 1 h).
	DownloadURLTTL time.Duration
	// ManifestURLTTL is the life of URLs in export manifests (default 15 min).
	ManifestURLTTL time.Duration
	// PresignTTL is the life of presigned blob-store URLs /dl redirects to
	// (default 5 min).
	PresignTTL time.Duration
	// MaxWait caps ?wait= on manifests (default 60 s).
	MaxWait time.Duration
	// ScanCommand, when set, is run by sh -c with the content on stdin for
	// each upload; a non-zero exit quarantines the asset.
	ScanCommand string
	// ScanTimeout bounds ScanCommand (default 5 min).
	ScanTimeout time.Duration
	// IdempotencyTTL is how long Idempotency-Keys are kept (default 24 h).
	IdempotencyTTL time.Duration
	// SigningGrace is how long a rotated-out URL-signing secret is still
	// accepted (default 24 h).
	SigningGrace time.Duration
	// Grants tunes access grants and their public links.
	Grants GrantConfig
	// Webhooks tunes webhook endpoints.
	Webhooks WebhookConfig
}

func (c *Config) defaults() {
	if c.MaxUploadSize <= 0 {
		c.MaxUploadSize = 64 << 30
	}
	if c.UploadIdleTimeout <= 0 {
		c.UploadIdleTimeout = 60 * time.Second
	}
	if c.MaxBodySize <= 0 {
		c.MaxBodySize = 4 << 20
	}
	if c.MaxBatchItems <= 0 {
		c.MaxBatchItems = 10000
	}
	if c.DownloadURLTTL <= 0 {
		c.DownloadURLTTL = time.Hour
	}
	if c.ManifestURLTTL <= 0 {
		c.ManifestURLTTL = 15 * time.Minute
	}
	if c.PresignTTL <= 0 {
		c.PresignTTL = 5 * time.Minute
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 60 * time.Second
	}
	if c.ScanTimeout <= 0 {
		c.ScanTimeout = 5 * time.Minute
	}
	if c.IdempotencyTTL < 24*time.Hour {
		c.IdempotencyTTL = 24 * time.Hour
	}
	if c.SigningGrace <= 0 {
		c.SigningGrace = 24 * time.Hour
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
}

// Deps are what the server is built from.
type Deps struct {
	// Store keeps the metadata (required).
	Store store.Store
	// Blobs keeps the bytes (required).
	Blobs blob.Store
	// Logger receives access and error logs; slog.Default when nil.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Renditions makes formats other than "original"; nil serves only
	// "original". See the Renditions interface.
	Renditions Renditions
	// Prober, when set, probes media while an upload is scanned.
	Prober Prober
	// Broadcaster wakes long-polls (?wait=) when exports change; an
	// in-process one is used when nil.
	Broadcaster Broadcaster
	// Deliveries, when set, checks grant-bound URLs and records each
	// delivery in the audit log. See DeliveryHook.
	Deliveries DeliveryHook
	// Config are the tunables.
	Config Config
}

// Server is the HTTP API. It implements http.Handler.
type Server struct {
	store      store.Store
	blobs      blob.Store
	log        *slog.Logger
	now        func() time.Time
	renditions Renditions
	prober     Prober
	bus        Broadcaster
	deliveries DeliveryHook
	cfg        Config
	signer     *Signer
	limiter    limiter
	metrics    *metrics
	mux        *http.ServeMux
	probeMux   *http.ServeMux // the routes without mux's catch-all (see unmatched)
	handler    http.Handler
	patterns   []string

	assets *assetCache
	// keyReads and assetReads keep API keys and assets read by the
	// signing path while the store reports no commit (see readCache).
	keyReads   *readCache[*store.APIKey]
	assetReads *readCache[*store.Asset]

	touchMu sync.Mutex
	touched map[string]time.Time

	grants grantState

	signerMu     sync.Mutex
	signerLoaded time.Time

	drainOnce sync.Once
	draining  chan struct{}

	bg       sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc

	// scanSlots bounds the scans (sniffing, external scanner, ffprobe)
	// running at once, however many uploads arrive together.
	scanSlots chan struct{}
}

// NewServer builds the server: it loads (or creates) the URL-signing
// secret from the store, registers every route and resumes the scans of
// uploads a previous run left unfinished. Close stops background work.
func NewServer(ctx context.Context, deps Deps) (*Server, error) {
	if deps.Store == nil || deps.Blobs == nil {
		return nil, fmt.Errorf("server: Store and Blobs are required")
	}
	s := &Server{
		store: deps.Store, blobs: deps.Blobs, log: deps.Logger, now: deps.Now,
		renditions: deps.Renditions, prober: deps.Prober, bus: deps.Broadcaster,
		deliveries: deps.Deliveries, cfg: deps.Config, touched: map[string]time.Time{},
		draining: make(chan struct{}), assets: newAssetCache(time.Second, 10000),
	}
	s.cfg.defaults()
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.bus == nil {
		s.bus = NewLocalBroadcaster()
	}
	if s.deliveries == nil {
		s.deliveries = newAuditHook(s)
	}
	if s.cfg.RateLimits != nil {
		local := newRateLimiter(s.cfg.RateLimits, s.now)
		s.limiter = local
		if s.cfg.SharedRateLimits {
			s.limiter = &sharedLimiter{limits: s.cfg.RateLimits, st: s.store, now: s.now, local: local}
		}
	}
	s.metrics = newMetrics(func() float64 {
		n, err1 := s.store.CountJobs(context.Background(), store.JobQueued)
		m, err2 := s.store.CountJobs(context.Background(), store.JobProcessing)
		if err1 != nil || err2 != nil {
			return 0
		}
		return float64(n + m)
	})
	s.keyReads = newReadCache[*store.APIKey](s.store, time.Second, 10000)
	s.assetReads = newReadCache[*store.Asset](s.store, time.Second, 10000)
	s.store = timedStore{Store: s.store, m: s.metrics}
	signer, err := loadSigner(ctx, s.store, s.now)
	if err != nil {
		return nil, err
	}
	s.signer = signer
	s.mux, s.probeMux = http.NewServeMux(), http.NewServeMux()
	s.routes()
	s.mux.Handle("/", s.unmatched())
	s.handler = s.observe(s.mux)
	s.bgCtx, s.bgCancel = context.WithCancel(context.WithoutCancel(ctx))
	s.scanSlots = make(chan struct{}, max(2, runtime.NumCPU()))
	s.signerLoaded = s.now()
	s.goBackground(s.refreshSigner)
	s.goBackground(s.expireIdempotencyKeys)
	s.resumeScans(ctx)
	return s, nil
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Signer returns the URL signer, for components (grants) that issue
// delivery URLs themselves.
func (s *Server) Signer() *Signer { return s.signer }

// Drain tells long-polls to answer now: call it when shutdown begins so
// in-flight ?wait= requests do not hold the shutdown up.
func (s *Server) Drain() { s.drainOnce.Do(func() { close(s.draining) }) }

// Close stops background scans and waits for them.
func (s *Server) Close() error {
	s.bgCancel()
	s.bg.Wait()
	return nil
}

// go runs fn in the background, tracked by Close.
func (s *Server) goBackground(fn func(ctx context.Context)) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		fn(s.bgCtx)
	}()
}

// loadSigner reads the URL-signing keys from the store, creating the first
// one on an empty store (replicas racing here agree on one key).
func loadSigner(ctx context.Context, st store.Store, now func() time.Time) (*Signer, error) {
	keys, err := st.SigningKeys(ctx, now())
	if err != nil {
		return nil, fmt.Errorf("load URL-signing keys: %w", err)
	}
	if len(keys) == 0 {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("make URL-signing secret: %w", err)
		}
		k, err := st.EnsureSigningKey(ctx, secret, now())
		if err != nil {
			return nil, fmt.Errorf("store URL-signing secret: %w", err)
		}
		keys = []store.SigningKey{k}
	}
	s := NewSigner(keys[0].Secret, now)
	for _, k := range keys[1:] {
		s.AddRetired(k.Secret, k.ExpiresAt)
	}
	return s, nil
}

// reloadSigner re-reads the signing keys from the store, so a rotation
// made by another replica or by `haul admin` is picked up. It runs at most
// every few seconds.
func (s *Server) reloadSigner(ctx context.Context) bool {
	now := s.now()
	s.signerMu.Lock()
	if now.Sub(s.signerLoaded) < 5*time.Second {
		s.signerMu.Unlock()
		return false
	}
	s.signerLoaded = now
	s.signerMu.Unlock()
	keys, err := s.store.SigningKeys(ctx, now)
	if err != nil || len(keys) == 0 {
		if err != nil {
			s.log.WarnContext(ctx, "reload URL-signing keys", "err", err)
		}
		return false
	}
	retired := map[string]time.Time{}
	for _, k := range keys[1:] {
		retired[string(k.Secret)] = k.ExpiresAt
	}
	s.signer.Replace(keys[0].Secret, retired)
	return true
}

// refreshSigner reloads the signing keys every minute.
func (s *Server) refreshSigner(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.reloadSigner(ctx)
		}
	}
}

// RotateSigningKey makes a new URL-signing secret current; URLs signed
// with the old one stay valid for Config.SigningGrace.
func (s *Server) RotateSigningKey(ctx context.Context) error {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("make URL-signing secret: %w", err)
	}
	if _, err := s.store.RotateSigningKey(ctx, secret, s.cfg.SigningGrace, s.now()); err != nil {
		return fmt.Errorf("rotate URL-signing secret: %w", err)
	}
	s.signer.Rotate(secret, s.cfg.SigningGrace)
	return nil
}

// baseURL is the absolute base for URLs in responses.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if s.trustedPeer(r) {
		if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
			scheme = p
		}
	}
	return scheme + "://" + r.Host
}

func (s *Server) trustedPeer(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && s.trusted(ip)
}
