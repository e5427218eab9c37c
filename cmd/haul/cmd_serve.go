package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/haulhq/haul/backend"
	"github.com/haulhq/haul/server"
	"github.com/haulhq/haul/store"
	"github.com/haulhq/haul/transcode"
)

// serveOptions are the parsed flags of `haul serve`.
type serveOptions struct {
	Backends  backendOptions
	Addr      string
	PublicURL string
	// TLSCert and TLSKey, when set, serve HTTPS with this PEM pair.
	TLSCert, TLSKey string
	TrustProxy      []string
	RateLimits      []string
	ScanCommand     string
	MaxUploadSize   int64
	MaxBatchItems   int
	DownloadTTL     time.Duration
	ManifestTTL     time.Duration
	ShutdownTimeout time.Duration
	Access          accessServeOptions
	// Workers, JobTimeout and RenditionTTL tune the rendition worker pool.
	Workers      int
	JobTimeout   time.Duration
	RenditionTTL time.Duration
	// RenditionMinFree purges renditions while the data disk has less free space (0: off).
	RenditionMinFree int64
}

// backendOptions say where metadata and bytes live.
type backendOptions struct {
	// Data is the data directory (admin.key; haul.db and blobs/ by default).
	Data string
	// DB is the metadata store URL; empty for SQLite at Data/haul.db.
	DB string
	// Blobs is the blob store URL; empty for Data/blobs.
	Blobs string
}

func newServeCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the haul API server",
		Long: `Run the haul API server: assets, signed downloads, exports with manifests,
on one embedded SQLite database and a content-addressed blob directory under
--data. No other service is needed.

On first start on an empty store, haul creates the tenant "default" and an
admin API key, written to DATA/admin.key (mode 0600) and logged once, and the
secret that signs download URLs (kept in the store, so URLs survive
restarts).

Rate limits apply per tenant and class (job, export, grant, poll) and per
client IP on public links (redeem, delivery). Change one with
--rate-limit CLASS=N/WINDOW (repeatable), or turn all off with
--rate-limit=off.

Renditions (mp4_1080p, mp4_720p, mp4_480p, audio_m4a, thumbnail_jpg) are made
by ffmpeg in a pool of --workers from a durable job queue; a job a killed
server was running is picked up again. Without ffmpeg and ffprobe on PATH
only the original format is served.

HTTPS: --tls-cert and --tls-key serve TLS (and HTTP/2) directly; the files
are re-read when they change, so a renewed certificate needs no restart.
Behind a proxy that terminates TLS, use --public-url and --trust-proxy
instead.

SIGTERM or Ctrl-C stops accepting connections and lets in-flight requests
finish (up to --shutdown-timeout).

EXIT STATUS
  0  stopped by SIGTERM or Ctrl-C after a graceful shutdown
  1  runtime error (cannot listen, cannot open the store)
  2  usage or configuration error`,
		Example: `  # Serve on the default address with data in ./haul-data
  haul serve

  # HTTPS on port 8443 with a certificate kept up to date by certbot
  haul serve --addr :8443 --tls-cert /etc/letsencrypt/live/media.example.com/fullchain.pem \
    --tls-key /etc/letsencrypt/live/media.example.com/privkey.pem

  # Public URL behind a reverse proxy on 10.0.0.0/8
  haul serve --addr :8080 --public-url https://media.example.com --trust-proxy 10.0.0.0/8

  # Looser export limit, quarantine uploads clamd flags
  haul serve --rate-limit export=600/1m --scan-command 'clamdscan --fdpass -'

  # Benchmarks: no rate limits
  haul serve --rate-limit=off`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := app.Config()
			opts := serveOptions{
				Backends:    backendOptions{Data: cfg.String("data"), DB: cfg.String("db"), Blobs: cfg.String("blobs")},
				Addr:        cfg.String("addr"),
				PublicURL:   cfg.String("public_url"),
				ScanCommand: cfg.String("scan_command"),
				TLSCert:     cfg.String("tls_cert"),
				TLSKey:      cfg.String("tls_key"),
			}
			if (opts.TLSCert == "") != (opts.TLSKey == "") {
				return usageErrorf("--tls-cert and --tls-key go together: give both (HTTPS) or neither (HTTP)")
			}
			opts.TrustProxy, _ = cmd.Flags().GetStringSlice("trust-proxy")
			if !cmd.Flags().Changed("trust-proxy") {
				opts.TrustProxy = cfg.StringSlice("trust_proxy")
			}
			opts.RateLimits, _ = cmd.Flags().GetStringArray("rate-limit")
			if !cmd.Flags().Changed("rate-limit") {
				opts.RateLimits = cfg.StringSlice("rate_limit")
			}
			size, err := parseByteSize(cfg.String("max_upload_size"))
			if err != nil {
				return usageErrorf("--max-upload-size: %v", err)
			}
			opts.MaxUploadSize = size
			if opts.MaxBatchItems, err = cfg.Int("max_batch_items"); err != nil {
				return withExit(exitUsage, err)
			}
			if opts.Workers, err = cfg.Int("workers"); err != nil {
				return withExit(exitUsage, err)
			}
			if v := cfg.String("rendition_min_free"); v != "" {
				if opts.RenditionMinFree, err = parseByteSize(v); err != nil {
					return usageErrorf("--rendition-min-free: %v", err)
				}
			}
			for key, dst := range map[string]*time.Duration{"download_ttl": &opts.DownloadTTL, "manifest_ttl": &opts.ManifestTTL, "shutdown_timeout": &opts.ShutdownTimeout,
				"job_timeout": &opts.JobTimeout, "rendition_ttl": &opts.RenditionTTL} {
				if *dst, err = cfg.Duration(key); err != nil {
					return withExit(exitUsage, err)
				}
			}
			if opts.Access, err = readAccessServeOptions(cfg); err != nil {
				return err
			}
			return runServe(cmd.Context(), app, opts)
		},
	}
	f := cmd.Flags()
	f.String("addr", "127.0.0.1:8080", "address to listen on")
	f.String("data", "./haul-data", "data directory (SQLite haul.db, blobs/, admin.key)")
	f.String("db", "", "metadata store URL (default: SQLite at DATA/haul.db)")
	f.String("blobs", "", "blob store URL (default: DATA/blobs)")
	f.String("public-url", "", "base URL clients reach the server at (default: the request's Host)")
	f.String("tls-cert", "", "serve HTTPS with this PEM certificate (chain) file; re-read when it changes")
	f.String("tls-key", "", "the PEM private key of --tls-cert")
	f.StringSlice("trust-proxy", nil, "proxies (IPs or CIDRs) whose X-Forwarded-For is believed")
	f.StringArray("rate-limit", nil, "rate limit CLASS=N/WINDOW (job, export, grant, poll, redeem, delivery), CLASS=off, or off")
	f.String("scan-command", "", "command run by sh -c with each upload on stdin; non-zero exit quarantines it")
	f.String("max-upload-size", "64G", "largest accepted upload (e.g. 500M, 10G)")
	f.Int("max-batch-items", 10000, "most items in one export")
	f.Duration("download-ttl", time.Hour, "life of download URLs from POST /v1/assets/{id}/downloads")
	f.Duration("manifest-ttl", 15*time.Minute, "life of download URLs in export manifests")
	f.Duration("shutdown-timeout", 30*time.Second, "how long in-flight requests may run after SIGTERM")
	addAccessServeFlags(f)
	f.Int("workers", 0, "rendition jobs (ffmpeg processes) run at once (default: number of CPUs)")
	f.Duration("job-timeout", 30*time.Minute, "longest one rendition job may run")
	f.Duration("rendition-ttl", 0, "purge renditions unused for this long, e.g. 720h; rebuilt on demand (default: keep)")
	f.String("rendition-min-free", "", "purge least recently used renditions while the data disk has less free space, e.g. 5G (default: off)")
	return cmd
}

// parseByteSize reads 1024, 500K, 20M, 10G, 1T (powers of 1024).
func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(strings.ToUpper(s))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "I")
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size like 500M or 10G", s)
	}
	return n * mult, nil
}

// openBackends opens and checks the stores named by opts (package
// backend): SQLite at DATA/haul.db and blob/fs at DATA/blobs by default,
// PostgreSQL for a postgres:// --db and S3 for an s3:// --blobs. A store
// that is unusable at start (unsupported URL, unreachable database, failed
// authentication, missing bucket, rejected credentials) exits 2.
func openBackends(ctx context.Context, opts backendOptions) (*backend.Backends, error) {
	b, err := backend.Open(ctx, backend.Options{Data: opts.Data, DB: opts.DB, Blobs: opts.Blobs})
	if err != nil {
		return nil, withExit(exitUsage, err)
	}
	return b, nil
}

// openStore opens and checks the metadata store of opts (admin commands).
func openStore(ctx context.Context, opts backendOptions) (store.Store, error) {
	st, err := backend.OpenStore(ctx, opts.DB, opts.Data)
	if err != nil {
		return nil, withExit(exitUsage, err)
	}
	return st, nil
}

// parseTrustProxy turns IPs and CIDRs into networks.
func parseTrustProxy(list []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if !strings.Contains(s, "/") {
				ip := net.ParseIP(s)
				if ip == nil {
					return nil, fmt.Errorf("%q is not an IP address or CIDR", s)
				}
				bits := 32
				if ip.To4() == nil {
					bits = 128
				}
				s = fmt.Sprintf("%s/%d", s, bits)
			}
			_, n, err := net.ParseCIDR(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not an IP address or CIDR", s)
			}
			out = append(out, n)
		}
	}
	return out, nil
}

// orphanReclaimer is implemented by the embedded SQLite store (see
// sqlite.DB.ReclaimOrphanJobs).
type orphanReclaimer interface {
	ReclaimOrphanJobs(ctx context.Context, now time.Time) (requeued int, release func(), err error)
}

func runServe(ctx context.Context, app *App, opts serveOptions) error {
	if app.Getenv("GOGC") == "" {
		// The live heap of a busy server is a few MB, so the default
		// GOGC=100 collects ~30 times a second under load; 400 cuts the
		// collector's share of request CPU from ~7% to ~2% for a few MB
		// more heap. GOGC in the environment still wins.
		debug.SetGCPercent(400)
	}
	// One access-log line per request: batch the writes (logbatch.go).
	logOut := newLogBatcher(app.IO.ErrOut)
	defer logOut.Close()
	log := newLogger(&IOStreams{ErrOut: logOut}, app.Config())
	limits, err := server.ParseRateLimits(opts.RateLimits)
	if err != nil {
		return usageErrorf("--rate-limit: %v", err)
	}
	trust, err := parseTrustProxy(opts.TrustProxy)
	if err != nil {
		return usageErrorf("--trust-proxy: %v", err)
	}
	if opts.PublicURL != "" {
		if u, err := url.Parse(opts.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageErrorf("--public-url %q: want an absolute http(s) URL", opts.PublicURL)
		}
	}
	var certs *certReloader
	if opts.TLSCert != "" {
		if certs, err = newCertReloader(opts.TLSCert, opts.TLSKey, log); err != nil {
			return withExit(exitUsage, err)
		}
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return listenError(opts.Addr, err)
	}
	defer ln.Close()

	backends, err := openBackends(ctx, opts.Backends)
	if err != nil {
		return err
	}
	defer backends.Close()
	st, blobs := backends.Store, backends.Blobs

	key, err := server.Bootstrap(ctx, st, opts.Backends.Data)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if key != "" {
		log.Info("created tenant \"default\" and its admin API key (shown once; also in admin.key)",
			"key", key, "file", filepath.Join(opts.Backends.Data, "admin.key"))
	}

	// The embedded store knows when this is the only process running jobs
	// on it: jobs a killed predecessor left processing go back to the
	// queue now instead of after their lease.
	if r, ok := st.(orphanReclaimer); ok {
		n, release, err := r.ReclaimOrphanJobs(ctx, time.Now())
		if err != nil {
			return fmt.Errorf("reclaim jobs: %w", err)
		}
		defer release()
		if n > 0 {
			log.Info("requeued rendition jobs left running by a previous run", "jobs", n)
		}
	}

	tmp := filepath.Join(opts.Backends.Data, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fmt.Errorf("create temp dir: %w", err)
	}
	renditions, err := transcode.New(transcode.Deps{
		Store: st, Blobs: blobs, Logger: log.With("component", "transcode"),
		Config: transcode.Config{Workers: opts.Workers, JobTimeout: opts.JobTimeout, RenditionTTL: opts.RenditionTTL, MinFreeBytes: opts.RenditionMinFree, TempDir: tmp},
	})
	if err != nil {
		return err
	}

	srv, err := server.NewServer(ctx, server.Deps{
		Store: st, Blobs: blobs, Broadcaster: backends.Broadcaster, Logger: log,
		Renditions: renditionSeam{renditions}, Prober: renditions,
		Config: server.Config{
			PublicURL: opts.PublicURL, TrustProxy: trust, RateLimits: limits,
			// Replicas sharing PostgreSQL share each rate-limit budget.
			SharedRateLimits: backends.Broadcaster != nil,
			MaxUploadSize:    opts.MaxUploadSize, MaxBatchItems: opts.MaxBatchItems,
			DownloadURLTTL: opts.DownloadTTL, ManifestURLTTL: opts.ManifestTTL, ScanCommand: opts.ScanCommand,
			Grants: opts.Access.grantConfig(), Webhooks: opts.Access.webhookConfig(),
		},
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	defer startAccessWorkers(ctx, st, blobs, log, opts.Access)() // webhook dispatcher and lifecycle worker, stopped first
	renditions.SetJobFinished(srv.JobFinished)
	wctx, stopWorkers := context.WithCancel(ctx)
	workersDone := make(chan struct{})
	go func() { _ = renditions.Run(wctx); close(workersDone) }()
	// On shutdown workers hand their jobs back to the queue; wait for that
	// before the store closes.
	defer func() { stopWorkers(); <-workersDone }()

	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	serve := func() error { return hs.Serve(ln) }
	if certs != nil {
		scheme = "https"
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate}
		serve = func() error { return hs.ServeTLS(ln, "", "") }
	}
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	fmt.Fprintf(app.IO.Out, "haul serving on %s://%s (data %s)\n", scheme, ln.Addr(), opts.Backends.Data)
	log.Info("listening", "addr", ln.Addr().String(), "public_url", opts.PublicURL, "rate_limits", limits != nil)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", opts.ShutdownTimeout)
	srv.Drain()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(opts.ShutdownTimeout, time.Second))
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	} else if err != nil {
		log.Warn("shutdown timeout: closing remaining connections")
		hs.Close()
	}
	log.Info("stopped")
	return nil
}
