package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/haulhq/haul/client"
	"github.com/haulhq/haul/downloader"
	"github.com/haulhq/haul/manifest"
)

type getOptions struct {
	apiOptions
	transferFlags
	AssetID  string
	Format   string
	Dir      string
	Filename string
	// Force replaces a different file already at the target name.
	Force bool
	// Progress draws the job's bar; NoProgress turns bars and lines off.
	Progress, NoProgress bool
	engine               func(*downloader.Options)
}

func newGetCmd(app *App, runF func(context.Context, *getOptions) error) *cobra.Command {
	opts := &getOptions{apiOptions: newAPIOptions(app)}
	cmd := &cobra.Command{
		Use:   "get ASSET_ID [--format FORMAT] [-o DIR]",
		Short: "Download one asset, waiting for its rendition when it has to be made",
		Long: `Download one asset in a format. When the rendition already exists the
download starts at once; otherwise the server queues a job (202) and haul
follows its progress, then downloads the result with the same engine as
haul fetch: resumable, verified against the server's checksum, retried
politely. The path of the file is printed on stdout. Right after haul
upload, while the server still scans the asset, haul get waits for it
(as the server's Retry-After says) instead of failing.

The original is saved under its uploaded name, a rendition under
<name>_<format>.<ext> (the server's choice; --filename overrides it). A
file already there with the same content is left alone ("already
there"); a different one is never replaced unless --force is given.

EXIT STATUS
  0  downloaded and verified
  1  an error, or a different file is already at the target name (see --force)
  2  bad usage, or a format the asset does not support
  3  the rendition failed on the server, or the transfer failed after retries
  4  the API key was refused, lacks the export scope, or the asset's rights deny it
  130  interrupted; run the same command again to resume`,
		Example: `  haul get ast_01JD8X3V5K
  haul get ast_01JD8X3V5K --format mp4_720p -o ./out
  haul get ast_01JD8X3V5K --format thumbnail_jpg --filename poster.jpg
  open "$(haul get ast_01JD8X3V5K --format audio_m4a)"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := app.Config()
			opts.JSON = cfg.JSON
			opts.Progress = app.IO.ErrIsTerminal && !cfg.NoProgress && !cfg.JSON
			opts.NoProgress = cfg.NoProgress
			opts.AssetID = args[0]
			if err := checkAssetID(opts.AssetID); err != nil {
				return usageErrorf("%v", err)
			}
			if opts.Filename != "" {
				if _, err := manifest.CleanName(opts.Filename); err != nil {
					return usageErrorf("--filename: %v", err)
				}
			}
			if _, err := opts.engineOptions(opts.Dir); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runGet(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Format, "format", "F", "original", "format to download (original, mp4_720p, …)")
	f.StringVarP(&opts.Dir, "output", "o", ".", "directory to download into")
	f.StringVar(&opts.Filename, "filename", "", "save under this name (default: the server's file name)")
	f.BoolVar(&opts.Force, "force", false, "replace a different file already at the target name")
	opts.transferFlags.register(cmd)
	_ = f.MarkHidden("jobs")
	return cmd
}

func runGet(ctx context.Context, opts *getOptions) error {
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
	req := client.DownloadRequest{Format: opts.Format, Filename: opts.Filename}
	jw := newJobWatcher(opts.IO.ErrOut, opts.Progress, opts.JSON)
	d, err := getWhenAvailable(ctx, c, opts, req, jw)
	jw.finish()
	if err != nil {
		var failed *client.JobFailedError
		if errors.As(err, &failed) {
			return withExit(exitPartial, fmt.Errorf("%s in %s: %w", opts.AssetID, opts.Format, err))
		}
		return apiFailure(fmt.Errorf("download %s in %s: %w", opts.AssetID, opts.Format, err), "")
	}

	item := downloadItem(opts.AssetID, opts.Format, opts.Filename, d)
	if !opts.Force {
		if err := checkOverwrite(ctx, dir, item); err != nil {
			return err
		}
	}
	view := newExportView(opts.IO, opts.JSON, opts.NoProgress)
	defer view.close()
	engOpts.UserAgent = userAgent()
	engOpts.Events = view.event
	engOpts.Logger = opts.logger()
	// An expired signed URL is replaced by asking for the download again.
	engOpts.Refresh = func(ctx context.Context, _ downloader.RefreshReason) (*manifest.Manifest, error) {
		res, err := c.CreateDownload(ctx, opts.AssetID, req)
		if err != nil {
			if ae, ok := client.AsAPIError(err); ok && ae.RetryAfter > 0 {
				return nil, &downloader.RetryAfterError{Delay: ae.RetryAfter, Err: err}
			}
			return nil, err
		}
		fresh := item
		if res.Ready == nil {
			fresh.Status, fresh.URL = manifest.ItemProcessing, ""
		} else {
			fresh = downloadItem(opts.AssetID, opts.Format, opts.Filename, res.Ready)
		}
		return &manifest.Manifest{Version: manifest.Version, Items: []manifest.Item{fresh}}, nil
	}
	if opts.engine != nil {
		opts.engine(&engOpts)
	}
	view.prepare("", itemCounts{Total: 1, Ready: 1, quiet: true})
	sum, err := downloader.Run(ctx, engOpts, []manifest.Item{item})
	if err != nil {
		view.interrupted()
		return err
	}
	view.finish(sum, sum.Failed(), "", "")
	if failed := sum.Failed(); len(failed) > 0 {
		ferr := failed[0].Err
		if downloader.IsAuthError(ferr) {
			return withExit(exitAuth, fmt.Errorf("download %s: %w", opts.AssetID, ferr))
		}
		return withExit(exitPartial, fmt.Errorf("download %s: %w", opts.AssetID, ferr))
	}
	r := sum.Results[0]
	if !opts.JSON {
		fmt.Fprintln(opts.IO.Out, r.Path)
	}
	return nil
}

// downloadItem describes a ready download as a manifest item.
func downloadItem(assetID, format, filename string, d *client.Download) manifest.Item {
	name := filename
	if name == "" {
		name = d.Filename
	}
	if name == "" {
		name = manifest.DeriveName(d.DownloadURL)
	}
	it := manifest.Item{
		ID:       assetID + "/" + format,
		AssetID:  assetID,
		Format:   format,
		Status:   manifest.ItemReady,
		Filename: name,
		URL:      d.DownloadURL,
		Size:     d.Size,
		Checksum: d.Checksum,
	}
	if !d.ExpiresAt.IsZero() {
		exp := d.ExpiresAt.UTC().Truncate(time.Second)
		it.ExpiresAt = &exp
	}
	return it
}

// checkOverwrite refuses to replace a file already at it's target whose
// content differs from it (by size, else by sha256). An identical file is
// left to the engine, which reports it as already there. Without a known
// checksum the engine's journal decides, as for haul fetch; unsafe names
// are the engine's to refuse.
func checkOverwrite(ctx context.Context, dir string, it manifest.Item) error {
	want := it.SHA256()
	if want == "" {
		return nil
	}
	name, err := manifest.Name(&it)
	if err != nil {
		return nil
	}
	p, err := manifest.SafePath(dir, name)
	if err != nil {
		return nil
	}
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	if it.Size <= 0 || fi.Size() == it.Size {
		sum, err := downloader.HashFile(ctx, p)
		if err != nil {
			return fmt.Errorf("check existing %s: %w", p, err)
		}
		if sum == want {
			return nil
		}
	}
	return fmt.Errorf("%s already exists and differs from %s in %s; not replacing it (use --force to replace it, or --filename to save under another name)", p, it.AssetID, it.Format)
}

// getWhenAvailable asks for the download (waiting for its rendition job)
// and, while the server answers 409 not_ready because the asset's bytes
// are still being scanned (right after haul upload), waits as its
// Retry-After says and asks again, saying so once per state on stderr. An
// asset whose content was never uploaded fails at once.
func getWhenAvailable(ctx context.Context, c *client.Client, opts *getOptions, req client.DownloadRequest, jw *jobWatcher) (*client.Download, error) {
	said := ""
	for {
		d, err := c.DownloadWhenReady(ctx, opts.AssetID, req, jw.update)
		ae, ok := client.AsAPIError(err)
		if !ok || ae.Code != client.CodeNotReady {
			return d, err
		}
		var state string
		_ = json.Unmarshal(ae.Extensions["state"], &state)
		if ae.RetryAfter <= 0 && state != "uploaded" && state != "scanning" {
			return d, err
		}
		if state != said && !opts.JSON {
			fmt.Fprintf(opts.IO.ErrOut, "asset %s is %s; waiting until it is available\n", opts.AssetID, cmp.Or(state, "not ready"))
			said = state
		}
		wait := ae.RetryAfter
		if wait <= 0 {
			wait = 2 * time.Second
		}
		t := time.NewTimer(min(wait, 30*time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}
