package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/haulhq/haul/downloader"
	"github.com/haulhq/haul/manifest"
)

// fetchOptions are the parsed flags of haul fetch.
type fetchOptions struct {
	IO     *IOStreams
	Logger *slog.Logger

	Manifest       string
	Dir            string
	Jobs           int
	Connections    int // 0 = auto
	Retries        int
	LimitRate      int64
	JSON           bool
	NoProgress     bool
	VerifyExisting bool

	// Server and Token: the Bearer token goes only to the server's host.
	Server string
	Token  string
	// HTTPClient makes every request; nil means a tuned default.
	HTTPClient *http.Client
	// CPUProfile, when set, is where a pprof CPU profile is written.
	CPUProfile string
}

func newFetchCmd(app *App) *cobra.Command {
	opts := &fetchOptions{}
	cmd := &cobra.Command{
		Use:   "fetch MANIFEST",
		Short: "Download every file of a manifest, verified and resumable",
		Long: `Download every file listed in MANIFEST into a directory, with bounded
concurrency, resume, checksum verification and polite backoff.

MANIFEST is a path, - for stdin, or an http(s) URL. It is either a haul
manifest (JSON, version 1) or a plain list of URLs, one per line, each
optionally followed by whitespace and sha256:<hex>; blank lines and lines
starting with # are ignored. Two items with the same target name are an
error for the later one; names are compared case-insensitively on every OS
(A.bin and a.bin collide), so the directory stays intact when copied to
macOS or Windows.

A URL that answers with a file rather than a manifest (an attachment that
is not JSON, or a type that is neither text nor JSON, whose first bytes are
neither a JSON object nor a URL), such as a grant link (/g/TOKEN) or a
signed download URL, is downloaded as that one file, under the name its
Content-Disposition offers, from where the link led (a one-time link is
redeemed once).

Partial data and the resume journal live in DIR/.haul/. A file appears under
its final name only once it is complete and its checksum (when known)
matches. Re-running the same command after a crash or Ctrl-C continues from
the bytes already on disk (Range with If-Range: the strong ETag, else
Last-Modified, the server sent); complete files are skipped. A file whose
server sent neither is resumed only when the manifest gives its checksum (a
mismatch discards it and starts over); without a checksum it restarts from
zero, because nothing would reveal a file changed between runs.

Nothing already in DIR is lost: a file at a target name that haul did not
download there is skipped when it matches the manifest's checksum, and
otherwise moved to DIR/.haul/replaced/ (said on stderr) before the download
takes its place.

Items that are still queued or processing are waited for by re-reading the
manifest from its "self" URL; expired signed URLs (403/410) are refreshed the
same way. A URL that redirects, such as a grant link (/g/TOKEN), is followed
once per file: ranged connections, retries and resumes go where it led, so a
one-time link is redeemed once and can still be resumed. On 429/503 the
whole host is left alone for its Retry-After.

Progress: bars on a terminal; plain lines otherwise (one per finished file
and an aggregate every 5 seconds); --json prints newline-delimited JSON
events on stdout (start, progress, retry, done, error, summary).

EXIT STATUS
  0    every item complete and verified
  1    runtime error
  2    usage, config or manifest error
  3    some items failed (the others completed and are intact)
  4    authentication or permission refused
  130  interrupted (journal saved; re-run to resume)`,
		Example: `  haul fetch manifest.json -o downloads
  haul fetch https://media.example.com/g/3xYq…   # a shared grant link: one file
  haul fetch https://media.example.com/v1/exports/exp_01/manifest -j 16
  curl -s https://example.com/list.txt | haul fetch - -o out --limit-rate 20M
  haul fetch urls.txt -c 4 --retries 3 --json > events.ndjson`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := app.Config()
			opts.IO = app.IO
			opts.Logger = app.Logger()
			opts.Manifest = args[0]
			opts.Dir = cfg.String("output")
			opts.JSON, opts.NoProgress = cfg.JSON, cfg.NoProgress
			opts.Server, opts.Token = cfg.Server, cfg.Token
			var err error
			if opts.Jobs, err = cfg.Int("jobs"); err != nil || opts.Jobs < 1 {
				return usageErrorf("-j/--jobs must be a positive integer")
			}
			if opts.Retries, err = cfg.Int("retries"); err != nil || opts.Retries < 0 {
				return usageErrorf("--retries must be 0 or more")
			}
			if opts.Connections, err = parseConnections(cfg.String("connections")); err != nil {
				return withExit(exitUsage, err)
			}
			if opts.LimitRate, err = parseRate(cfg.String("limit_rate")); err != nil {
				return withExit(exitUsage, err)
			}
			if opts.VerifyExisting, err = cfg.Bool("verify_existing"); err != nil {
				return withExit(exitUsage, err)
			}
			return runFetch(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringP("output", "o", ".", "output directory")
	f.IntP("jobs", "j", 8, "files downloaded at once")
	f.StringP("connections", "c", "auto", "connections per file: a number, or auto")
	f.Int("retries", 10, "retries per item after a retryable failure")
	f.String("limit-rate", "", "cap the aggregate download rate, e.g. 500K or 20M (bytes per second)")
	f.Bool("verify-existing", false, "re-hash files already complete instead of trusting the journal and size")
	f.StringVar(&opts.CPUProfile, "cpuprofile", "", "write a pprof CPU profile to this file")
	_ = f.MarkHidden("cpuprofile")
	return cmd
}

// parseConnections reads -c: "auto" or a number from 1 to 16.
func parseConnections(s string) (int, error) {
	if s == "" || strings.EqualFold(s, "auto") {
		return downloader.Auto, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 16 {
		return 0, fmt.Errorf("-c/--connections must be auto or a number from 1 to 16, got %q", s)
	}
	return n, nil
}

var rateRE = regexp.MustCompile(`^(?i)\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?(?:/s)?\s*$`)

// parseRate reads --limit-rate: bytes per second with an optional K, M, G
// or T suffix (powers of 1024, as curl and wget count). "" and "0" mean
// no limit.
func parseRate(s string) (int64, error) {
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	m := rateRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("--limit-rate %q: want a number of bytes per second with an optional K, M or G suffix, e.g. 500K or 20M", s)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("--limit-rate %q: %v", s, err)
	}
	mult := map[string]float64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[strings.ToLower(m[2])]
	r := v * mult
	if r > 0 && r < 1024 {
		return 0, fmt.Errorf("--limit-rate %q: below 1K per second", s)
	}
	return int64(r), nil
}

func runFetch(ctx context.Context, opts *fetchOptions) error {
	if opts.CPUProfile != "" {
		f, err := os.Create(opts.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	client := opts.HTTPClient
	if client == nil {
		client = downloader.NewHTTPClient(opts.Jobs * max(opts.Connections, 4))
	}
	src := &manifestSource{client: client, server: opts.Server, token: opts.Token}
	body, what, err := src.open(ctx, opts.Manifest, opts.IO.In)
	if err != nil {
		return err
	}
	defer body.Close()
	if err := makeOutputDir(opts.Dir); err != nil {
		return err
	}
	sink := newProgressSink(opts.IO, opts.JSON, opts.NoProgress)
	defer sink.Close()

	// The manifest is streamed into the engine: downloads start while it
	// is still being read, and memory stays flat however long it is. Its
	// self URL is known once it has been read; refreshes wait for that.
	var self string
	header := make(chan struct{})
	refresh := func(rctx context.Context, why downloader.RefreshReason) (*manifest.Manifest, error) {
		select {
		case <-header:
		case <-rctx.Done():
			return nil, rctx.Err()
		}
		if self == "" {
			return nil, downloader.ErrNoRefresh
		}
		return src.refresher(self)(rctx, why)
	}
	dopts := downloader.Options{
		Dir:            opts.Dir,
		Jobs:           opts.Jobs,
		Connections:    opts.Connections,
		Retries:        opts.Retries,
		LimitRate:      opts.LimitRate,
		VerifyExisting: opts.VerifyExisting,
		DropResults:    true,
		Client:         client,
		Prepare:        src.authorize,
		UserAgent:      userAgent(),
		Refresh:        refresh,
		Events:         sink.Event,
		Logger:         opts.Logger,
	}
	if opts.Retries == 0 {
		dopts.Retries = -1
	}
	engine, err := downloader.New(ctx, dopts)
	if err != nil {
		return err
	}
	m, perr := manifest.Stream(body, func(it manifest.Item) error {
		// Hold back while plenty of items wait for a worker.
		for engine.Backlog() >= maxBacklog {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(2 * time.Millisecond):
			}
		}
		engine.Add(it)
		return nil
	})
	body.Close()
	if perr == nil {
		self = src.resolve(m.Self)
	}
	close(header)
	engine.Close()
	sum, err := engine.Wait()
	sink.Close()
	if err != nil || (perr != nil && errors.Is(perr, context.Canceled)) {
		return withExit(exitInterrupted, fmt.Errorf("interrupted; the journal is saved in %s, re-run to resume: %w",
			filepath.Join(opts.Dir, downloader.StateDir), cmp.Or(err, perr)))
	}
	if perr != nil {
		return withExit(exitUsage, fmt.Errorf("manifest %s: %w", what, perr))
	}
	return fetchOutcome(opts, sum)
}

// maxBacklog is how many manifest items may wait for a worker before
// reading the manifest pauses.
const maxBacklog = 1024

// fetchOutcome prints the human summary and picks the exit code.
func fetchOutcome(opts *fetchOptions, sum *downloader.Summary) error {
	failed := sum.Failed()
	t := sum.Totals
	if !opts.JSON {
		fmt.Fprintf(opts.IO.ErrOut, "%d of %d files complete (%d already there), %s in %s",
			t.FilesDone, t.FilesTotal, t.FilesSkipped, humanBytes(t.BytesReceived), (time.Duration(t.ElapsedMS) * time.Millisecond).Round(10*time.Millisecond))
		if len(failed) > 0 {
			fmt.Fprintf(opts.IO.ErrOut, "; %d failed:", len(failed))
		}
		fmt.Fprintln(opts.IO.ErrOut)
		for _, r := range failed {
			name := r.Name
			if name == "" {
				name = r.Key
			}
			fmt.Fprintf(opts.IO.ErrOut, "  %s: %v\n", name, r.Err)
		}
		if len(failed) > 0 {
			fmt.Fprintln(opts.IO.ErrOut, "hint:", failureAdvice(failed))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	auth := true
	for _, r := range failed {
		if !downloader.IsAuthError(r.Err) {
			auth = false
		}
	}
	err := fmt.Errorf("%d of %d items failed", len(failed), t.FilesTotal)
	if auth && len(failed) == t.FilesTotal {
		return withExit(exitAuth, fmt.Errorf("%w: access refused", err))
	}
	return withExit(exitPartial, err)
}

// manifestSource loads a manifest from a path, stdin or a URL, and
// refreshes it from its self URL. The Bearer token goes only to the
// configured server's host.
type manifestSource struct {
	client *http.Client
	server string
	token  string
	base   *url.URL // URL the manifest came from, to resolve a relative self
}

// open returns the manifest's bytes from a path, stdin ("-") or an
// http(s) URL, and how to name it in messages. HTTP errors are mapped to
// exit codes (401/403 → 4).
func (s *manifestSource) open(ctx context.Context, ref string, stdin io.Reader) (io.ReadCloser, string, error) {
	switch {
	case ref == "-":
		return io.NopCloser(stdin), "from stdin", nil
	case strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://"):
		u, err := url.Parse(ref)
		if err != nil {
			return nil, "", usageErrorf("manifest URL %q: %v", ref, err)
		}
		s.base = u
		resp, err := s.request(ctx, ref)
		if err != nil {
			return nil, "", err
		}
		if !isFileResponse(resp) {
			return resp.Body, redactURL(ref), nil
		}
		body := bufio.NewReaderSize(resp.Body, 4096)
		if head, _ := body.Peek(1024); looksLikeManifest(head) {
			// Typed as a file, reads as a manifest: a manifest.
			return struct {
				io.Reader
				io.Closer
			}{body, resp.Body}, redactURL(ref), nil
		}
		// A link to one file, not a manifest: download that file from
		// where the link led.
		resp.Body.Close()
		return io.NopCloser(bytes.NewReader(fileManifest(resp))), redactURL(ref) + " (one file)", nil
	default:
		f, err := os.Open(ref)
		if err != nil {
			return nil, "", withExit(exitUsage, fmt.Errorf("manifest: %w", err))
		}
		return f, ref, nil
	}
}

// resolve makes a relative self URL absolute against the manifest's URL.
func (s *manifestSource) resolve(self string) string {
	if self == "" || s.base == nil {
		return self
	}
	if u, err := s.base.Parse(self); err == nil {
		return u.String()
	}
	return self
}

// authorize adds the Bearer token when req goes to the configured server.
func (s *manifestSource) authorize(req *http.Request) {
	if s.token == "" || s.server == "" {
		return
	}
	su, err := url.Parse(s.server)
	if err != nil || !strings.EqualFold(su.Host, req.URL.Host) || su.Scheme != req.URL.Scheme {
		return
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
}

// request GETs a manifest URL and returns the 200 response. 401/403
// exit 4; 429/503 become a RetryAfterError.
func (s *manifestSource) request(ctx context.Context, rawURL string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, usageErrorf("manifest URL %q: %v", rawURL, err)
	}
	req.Header.Set("Accept", "application/json, text/plain;q=0.9")
	req.Header.Set("User-Agent", userAgent())
	s.authorize(req)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get manifest: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, withExit(exitAuth, fmt.Errorf("get manifest %s: %s%s", redactURL(rawURL), resp.Status, problemDetail(resp.Body)))
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		d := 5 * time.Second
		if v, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && v >= 0 {
			d = time.Duration(v) * time.Second
		} else if t, err := http.ParseTime(resp.Header.Get("Retry-After")); err == nil {
			d = max(time.Until(t), 0)
		}
		return nil, &downloader.RetryAfterError{Delay: d, Err: fmt.Errorf("get manifest: %s", resp.Status)}
	default:
		return nil, fmt.Errorf("get manifest %s: %s%s", redactURL(rawURL), resp.Status, problemDetail(resp.Body))
	}
}

// get fetches and parses a manifest URL (for refreshes).
func (s *manifestSource) get(ctx context.Context, rawURL string) (*manifest.Manifest, error) {
	resp, err := s.request(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m, err := manifest.Parse(resp.Body)
	if err != nil {
		return nil, withExit(exitUsage, fmt.Errorf("manifest %s: %w", redactURL(rawURL), err))
	}
	return m, nil
}

// refresher re-reads the manifest from self. While items are pending it
// long-polls with ?wait=30s when self looks like haul's export manifest
// endpoint (other servers would not know the parameter).
func (s *manifestSource) refresher(self string) downloader.Refresher {
	return func(ctx context.Context, why downloader.RefreshReason) (*manifest.Manifest, error) {
		target := self
		if why == downloader.RefreshPending && isHaulManifestURL(self) {
			if u, err := url.Parse(self); err == nil {
				q := u.Query()
				q.Set("wait", "30s")
				u.RawQuery = q.Encode()
				target = u.String()
			}
		}
		return s.get(ctx, target)
	}
}

var haulManifestPath = regexp.MustCompile(`/v1/exports/[^/]+/manifest$`)

func isHaulManifestURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && haulManifestPath.MatchString(u.Path)
}

// problemDetail reads a short explanation from an error body
// (problem+json detail, or the first line of text).
func problemDetail(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 4<<10))
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	var problem struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(b, &problem) == nil && problem.Detail != "" {
		return ": " + problem.Detail
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	if len(line) > 200 {
		line = line[:200]
	}
	return ": " + string(line)
}

// redactURL drops the query (signatures) from a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.RawQuery = ""
	return u.String()
}
