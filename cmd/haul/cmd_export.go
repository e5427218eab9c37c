package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/haulhq/haul/client"
	"github.com/haulhq/haul/downloader"
	"github.com/haulhq/haul/manifest"
)

// transferFlags are the downloader's knobs shared by haul export and haul
// get: -j, -c, --retries, --limit-rate, --verify-existing.
type transferFlags struct {
	Jobs           int
	Connections    string
	Retries        int
	LimitRate      string
	VerifyExisting bool
}

func (tf *transferFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.IntVarP(&tf.Jobs, "jobs", "j", 8, "files downloaded at once")
	f.StringVarP(&tf.Connections, "connections", "c", "auto", `connections per file: a number, or "auto"`)
	f.IntVar(&tf.Retries, "retries", 10, "retries per file after a retryable failure")
	f.StringVar(&tf.LimitRate, "limit-rate", "", "cap the aggregate download rate (e.g. 500K, 20M)")
	f.BoolVar(&tf.VerifyExisting, "verify-existing", false, "re-hash files already complete instead of trusting the journal")
}

// engineOptions checks the flags and turns them into downloader options,
// parsed as haul fetch parses them.
func (tf *transferFlags) engineOptions(dir string) (downloader.Options, error) {
	o := downloader.Options{Dir: dir, Jobs: tf.Jobs, Retries: tf.Retries, VerifyExisting: tf.VerifyExisting}
	if tf.Jobs < 1 {
		return o, usageErrorf("-j/--jobs must be a positive integer")
	}
	switch {
	case tf.Retries < 0:
		return o, usageErrorf("--retries must be 0 or more")
	case tf.Retries == 0:
		o.Retries = -1 // the engine reads 0 as its default
	}
	var err error
	if o.Connections, err = parseConnections(strings.TrimSpace(tf.Connections)); err != nil {
		return o, withExit(exitUsage, err)
	}
	if o.LimitRate, err = parseRate(tf.LimitRate); err != nil {
		return o, withExit(exitUsage, err)
	}
	return o, nil
}

type exportOptions struct {
	apiOptions
	transferFlags
	IDs      []string
	Tag      string
	FromFile string
	Format   string
	Name     string
	Dir      string
	// NoProgress turns bars and per-file lines off (--no-progress).
	NoProgress bool
	// ManifestWait is how long one manifest long poll may wait.
	ManifestWait time.Duration
	// Server names the server in the idempotency key.
	Server string
	// Stdin is read for --from-file -.
	Stdin io.Reader
	// engine adjusts the downloader options (tests shorten intervals).
	engine func(*downloader.Options)
}

func newExportCmd(app *App, runF func(context.Context, *exportOptions) error) *cobra.Command {
	opts := &exportOptions{apiOptions: newAPIOptions(app), ManifestWait: 30 * time.Second}
	cmd := &cobra.Command{
		Use:   "export (ASSET_ID... | --tag TAG | --from-file FILE) --format FORMAT [-o DIR] [-j N]",
		Short: "Export assets in a format and download them as they become ready, verified",
		Long: `Create a batch export on the server and download its files into DIR.

The export is created with an Idempotency-Key derived from the request (the
asset ids, tag, format and name), so running the same command again — after
a crash, Ctrl-C or a CI retry — attaches to the same export, and files
already complete in DIR are skipped. haul long-polls the export's manifest
and starts each download as soon as that item's rendition is ready, while
the others are still being prepared. Expired signed URLs are refreshed and
the transfer resumes where it stopped.

When every item has finished, DIR/manifest.json holds the final manifest
(signed URLs cut to their unsigned form) and DIR/SHA256SUMS the checksums of
the files, checkable with "sha256sum -c SHA256SUMS" in DIR.

--from-file reads one asset id per line (# comments allowed), or a CSV file
with an asset_id column; "-" reads standard input. For --tag, the export
holds the assets that had the tag when it was created.

Assets must be scanned before a rendition can be made from them: export
right after an upload with "haul upload --wait".

With --json, progress is a stream of JSON lines on stdout: "export" (the
export was created or attached to), "prepare" (item counts changed), the
downloader's "start", "progress", "retry", "done", "error", "summary"
events, and a final "finish" naming the files written.

EXIT STATUS
  0  every item downloaded and verified
  1  an error (network, server, disk)
  2  bad usage or an invalid request (unknown assets, unsupported format)
  3  some items failed (on the server or in transfer); the others are complete
  4  the API key was refused or lacks the export scope
  130  interrupted; run the same command again to resume`,
		Example: `  haul export ast_01JD8X3V5K ast_01JD8X3V6M --format mp4_720p -o ./out
  haul export --tag season-1 --format original -o /mnt/media -j 16
  haul export --from-file ids.csv --format audio_m4a --limit-rate 20M
  haul upload --wait *.mov | haul export --from-file - --format mp4_1080p -o delivery
  (cd out && sha256sum -c SHA256SUMS)`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := app.Config()
			opts.JSON = cfg.JSON
			opts.NoProgress = cfg.NoProgress
			opts.Server = cfg.Server
			opts.Stdin = app.IO.In
			opts.IDs = args
			fl := cmd.Flags()
			// Let env and the config file set the transfer knobs too.
			for _, k := range []struct {
				key string
				dst *int
			}{{"jobs", &opts.Jobs}, {"retries", &opts.Retries}} {
				if !fl.Changed(k.key) && cfg.IsSet(k.key) {
					v, err := cfg.Int(k.key)
					if err != nil {
						return withExit(exitUsage, err)
					}
					*k.dst = v
				}
			}
			for _, k := range []struct {
				key string
				dst *string
			}{{"connections", &opts.Connections}, {"limit_rate", &opts.LimitRate}, {"output", &opts.Dir}} {
				if !fl.Changed(strings.ReplaceAll(k.key, "_", "-")) && cfg.IsSet(k.key) {
					*k.dst = cfg.String(k.key)
				}
			}
			if err := opts.validate(); err != nil {
				return err
			}
			if _, err := opts.engineOptions(opts.Dir); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runExport(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Tag, "tag", "", "export every asset with this tag")
	f.StringVarP(&opts.FromFile, "from-file", "f", "", `read asset ids from FILE (one per line, or CSV with an asset_id column; "-" for stdin)`)
	f.StringVarP(&opts.Format, "format", "F", "", "format of the files (original, mp4_720p, …; see the server's /v1/formats)")
	f.StringVar(&opts.Name, "name", "", "label the export on the server")
	f.StringVarP(&opts.Dir, "output", "o", ".", "directory to download into")
	f.DurationVar(&opts.ManifestWait, "poll-wait", 30*time.Second, "longest wait of one manifest long poll")
	_ = f.MarkHidden("poll-wait")
	opts.transferFlags.register(cmd)
	return cmd
}

func (o *exportOptions) validate() error {
	if o.Format == "" {
		return usageErrorf("--format is required (e.g. --format original)")
	}
	sources := 0
	if len(o.IDs) > 0 || o.FromFile != "" {
		sources++
	}
	if o.Tag != "" {
		sources++
	}
	switch {
	case sources == 0:
		return usageErrorf("nothing to export: give asset ids, --tag or --from-file")
	case sources > 1:
		return usageErrorf("--tag exports by tag; do not combine it with asset ids or --from-file")
	}
	for _, id := range o.IDs {
		if err := checkAssetID(id); err != nil {
			return usageErrorf("%v", err)
		}
	}
	if o.ManifestWait <= 0 {
		o.ManifestWait = 30 * time.Second
	}
	return nil
}

// assetIDs returns the ids from the arguments and --from-file.
func (o *exportOptions) assetIDs() ([]string, error) {
	ids := append([]string(nil), o.IDs...)
	if o.FromFile == "" {
		return ids, nil
	}
	var r io.Reader
	if o.FromFile == "-" {
		r = o.Stdin
		if r == nil {
			r = strings.NewReader("")
		}
	} else {
		f, err := os.Open(o.FromFile)
		if err != nil {
			return nil, usageErrorf("--from-file: %v", err)
		}
		defer f.Close()
		r = f
	}
	more, err := readAssetIDs(r)
	if err != nil {
		return nil, usageErrorf("--from-file %s: %v", o.FromFile, err)
	}
	ids = append(ids, more...)
	if len(ids) == 0 {
		return nil, usageErrorf("--from-file %s has no asset ids", o.FromFile)
	}
	return ids, nil
}

func runExport(ctx context.Context, opts *exportOptions) error {
	ids, err := opts.assetIDs()
	if err != nil {
		return err
	}
	ids = normalizeIDs(ids)
	engOpts, err := opts.engineOptions(opts.Dir)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	if err := makeOutputDir(dir); err != nil {
		return err
	}
	c, err := opts.Client()
	if err != nil {
		return err
	}
	view := newExportView(opts.IO, opts.JSON, opts.NoProgress)
	defer view.close()

	req := client.CreateExportRequest{Name: opts.Name, Format: opts.Format, Tag: opts.Tag}
	for _, id := range ids {
		req.Items = append(req.Items, client.ExportItem{AssetID: id})
	}
	key := exportIdempotencyKey(opts.Server, opts.Format, opts.Tag, opts.Name, ids)
	var info client.ResponseInfo
	exp, err := c.CreateExport(ctx, req, client.WithIdempotencyKey(key), client.WithResponseInfo(&info))
	if err != nil {
		return apiFailure(fmt.Errorf("create export: %w", err), " or lower -j")
	}
	view.created(exp, info.Replayed, dir)

	// The first manifest says what there is; the engine then long-polls
	// for the items still being prepared and refreshes expired URLs.
	tracker := &manifestTracker{view: view}
	m, err := c.GetManifest(ctx, exp.ID, client.ManifestOptions{})
	if err != nil {
		return apiFailure(fmt.Errorf("manifest of %s: %w", exp.ID, err), "")
	}
	tracker.record(m)
	engOpts.UserAgent = userAgent()
	engOpts.Events = view.event
	engOpts.Logger = opts.logger()
	engOpts.Refresh = func(ctx context.Context, why downloader.RefreshReason) (*manifest.Manifest, error) {
		wait := time.Duration(0)
		if why == downloader.RefreshPending {
			wait = opts.ManifestWait
		}
		m, err := c.GetManifest(ctx, exp.ID, client.ManifestOptions{Wait: wait})
		if err != nil {
			if ae, ok := client.AsAPIError(err); ok && ae.RetryAfter > 0 {
				return nil, &downloader.RetryAfterError{Delay: ae.RetryAfter, Err: err}
			}
			return nil, err
		}
		tracker.record(m)
		return m, nil
	}
	if opts.engine != nil {
		opts.engine(&engOpts)
	}
	eng, err := downloader.New(ctx, engOpts)
	if err != nil {
		return fmt.Errorf("start downloads: %w", err)
	}
	for _, it := range m.Items {
		eng.Add(it)
	}
	eng.Close()
	sum, waitErr := eng.Wait()
	if waitErr != nil {
		view.interrupted()
		return waitErr
	}

	final := tracker.last()
	manifestPath := filepath.Join(dir, "manifest.json")
	sumsPath := filepath.Join(dir, "SHA256SUMS")
	if err := writeExportResults(final, sum, manifestPath, sumsPath); err != nil {
		return err
	}
	failed := sum.Failed()
	view.finish(sum, failed, manifestPath, sumsPath)
	if len(failed) > 0 {
		// 4 only when access was refused for every item; any other
		// failure, or some items done, is a partial result (3), as in fetch.
		refused := len(failed) == len(sum.Results)
		for _, r := range failed {
			refused = refused && downloader.IsAuthError(r.Err)
		}
		if refused {
			return withExit(exitAuth, fmt.Errorf("downloads refused: %w", failed[0].Err))
		}
		return withExit(exitPartial, fmt.Errorf("%d of %d items failed", len(failed), len(sum.Results)))
	}
	return nil
}

// manifestTracker keeps the newest manifest seen and reports preparation
// progress when its item counts change.
type manifestTracker struct {
	view *exportView
	mu   sync.Mutex
	m    *manifest.Manifest
	prev itemCounts
}

// itemCounts counts a manifest's items per status.
type itemCounts struct {
	Total      int `json:"items_total"`
	Ready      int `json:"items_ready"`
	Processing int `json:"items_processing"`
	Queued     int `json:"items_queued"`
	Failed     int `json:"items_failed"`
	// quiet sets the counts without reporting them (haul get).
	quiet bool
}

func countItems(m *manifest.Manifest) itemCounts {
	var c itemCounts
	for i := range m.Items {
		c.Total++
		switch m.Items[i].EffectiveStatus() {
		case manifest.ItemReady:
			c.Ready++
		case manifest.ItemProcessing:
			c.Processing++
		case manifest.ItemQueued:
			c.Queued++
		case manifest.ItemFailed:
			c.Failed++
		}
	}
	return c
}

func (t *manifestTracker) record(m *manifest.Manifest) {
	t.mu.Lock()
	t.m = m
	c := countItems(m)
	changed := c != t.prev
	t.prev = c
	t.mu.Unlock()
	if changed {
		t.view.prepare(m.Status, c)
	}
}

func (t *manifestTracker) last() *manifest.Manifest {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m
}

// writeExportResults writes DIR/manifest.json (the final manifest with its
// signed URLs cut) and DIR/SHA256SUMS (the verified files, by name).
func writeExportResults(m *manifest.Manifest, sum *downloader.Summary, manifestPath, sumsPath string) error {
	stripped := stripManifestURLs(m)
	// Items the server gave no checksum get the one measured on download,
	// so the manifest alone can verify the directory.
	byKey := map[string]downloader.Result{}
	for _, r := range sum.Results {
		byKey[r.Key] = r
	}
	for i := range stripped.Items {
		it := &stripped.Items[i]
		if r, ok := byKey[it.Key()]; ok && r.Err == nil && it.Checksum == "" && r.SHA256 != "" {
			it.Checksum = "sha256:" + r.SHA256
			if it.Size == 0 {
				it.Size = r.Size
			}
		}
	}
	if err := manifest.WriteFileAtomic(manifestPath, func(w io.Writer) error { return manifest.Write(w, stripped) }); err != nil {
		return err
	}
	var sums []manifest.Sum
	for _, r := range sum.Results {
		if r.Err == nil && r.Name != "" && r.SHA256 != "" {
			sums = append(sums, manifest.Sum{SHA256: r.SHA256, Name: r.Name})
		}
	}
	sort.Slice(sums, func(i, j int) bool { return sums[i].Name < sums[j].Name })
	return manifest.WriteFileAtomic(sumsPath, func(w io.Writer) error { return manifest.WriteSHA256Sums(w, sums) })
}
