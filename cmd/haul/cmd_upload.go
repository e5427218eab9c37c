package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/haulhq/haul/client"
)

type uploadOptions struct {
	apiOptions
	Files       []string
	Tags        []string
	Title       string
	ContentType string
	Wait        bool
	// Progress draws bars on stderr (a terminal, without --no-progress).
	Progress bool
	// PollInterval is how often --wait re-reads the asset.
	PollInterval time.Duration
}

func newUploadCmd(app *App, runF func(context.Context, *uploadOptions) error) *cobra.Command {
	opts := &uploadOptions{apiOptions: newAPIOptions(app), PollInterval: 500 * time.Millisecond}
	cmd := &cobra.Command{
		Use:   "upload FILE...",
		Short: "Upload files as new assets (streamed, verified by digest) and print their ids",
		Long: `Upload files as new assets. Each file is hashed, then streamed to the server
with a Repr-Digest header so the server verifies the bytes it stores; nothing
is held in memory. The new asset ids are printed on stdout, one per line (or
the assets as JSON lines with --json), so they can be piped to haul export.
--wait returns only once the server has scanned (and probed) each asset,
which renditions need.

EXIT STATUS
  0  every file uploaded
  1  an error
  2  bad usage (no such file, --title with several files)
  3  some files failed (the others were uploaded)
  4  the API key was refused or lacks the write scope`,
		Example: `  haul upload ep01.mp4
  haul upload --tag season-1 --tag drama ep*.mp4
  haul upload trailer.mov --title "Official trailer" --wait
  haul upload *.wav --json | jq -r .id
  haul upload --wait ep*.mp4 | haul export --from-file - --format mp4_720p -o out`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := app.Config()
			opts.JSON = cfg.JSON
			opts.Progress = app.IO.ErrIsTerminal && !cfg.NoProgress && !cfg.JSON
			opts.Files = args
			if opts.Title != "" && len(args) > 1 {
				return usageErrorf("--title names one asset; give one file, or leave --title out to use each file's name")
			}
			for _, f := range args {
				fi, err := os.Stat(f)
				if err != nil {
					return usageErrorf("upload %s: %v", f, errors.Unwrap(err))
				}
				if !fi.Mode().IsRegular() {
					return usageErrorf("upload %s: not a regular file", f)
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runUpload(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&opts.Tags, "tag", "t", nil, "tag the assets (repeatable, or comma-separated)")
	f.StringVar(&opts.Title, "title", "", "asset title (one file only; default: the file name)")
	f.StringVar(&opts.ContentType, "content-type", "", "media type of the files (default: from the extension, else detected by the server)")
	f.BoolVarP(&opts.Wait, "wait", "w", false, "wait until the server has scanned each asset (available or quarantined)")
	return cmd
}

func runUpload(ctx context.Context, opts *uploadOptions) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	failed := 0
	var lastErr error
	for _, path := range opts.Files {
		a, err := uploadOne(ctx, c, opts, path)
		if err != nil {
			if client.IsAuth(err) || ctx.Err() != nil {
				return apiFailure(err, "")
			}
			failed++
			lastErr = err
			if len(opts.Files) > 1 {
				fmt.Fprintf(opts.IO.ErrOut, "haul: %v\n", err)
			}
			continue
		}
		if opts.JSON {
			if err := writeJSONLine(opts.IO.Out, a); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintln(opts.IO.Out, a.ID)
		fmt.Fprintf(opts.IO.ErrOut, "uploaded %s as %s (%s, %s)\n", path, a.ID, humanSize(a.Size), a.State)
		if a.State == client.AssetQuarantined {
			fmt.Fprintf(opts.IO.ErrOut, "haul: warning: %s was quarantined by the server's scan\n", a.ID)
		}
	}
	switch {
	case failed == 0:
		return nil
	case len(opts.Files) == 1:
		return apiFailure(lastErr, "")
	}
	return withExit(exitPartial, fmt.Errorf("%d of %d files not uploaded", failed, len(opts.Files)))
}

func uploadOne(ctx context.Context, c *client.Client, opts *uploadOptions, path string) (*client.Asset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", path, err)
	}
	name := filepath.Base(path)
	ct := opts.ContentType
	if ct == "" {
		ct = mime.TypeByExtension(filepath.Ext(name))
	}

	bar := newTransferBar(opts.IO.ErrOut, opts.Progress, fi.Size(), "hashing "+name)
	sum, err := client.SHA256Reader(ctx, f, func(done, _ int64) { bar.set(done) })
	bar.finish()
	if err != nil {
		return nil, fmt.Errorf("upload %s: hash: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("upload %s: %w", path, err)
	}

	title := opts.Title
	if title == "" {
		title = name
	}
	a, err := c.CreateAsset(ctx, client.CreateAssetRequest{Title: title, Filename: name, ContentType: ct, Tags: opts.Tags})
	if err != nil {
		return nil, fmt.Errorf("upload %s: create asset: %w", path, err)
	}
	bar = newTransferBar(opts.IO.ErrOut, opts.Progress, fi.Size(), "uploading "+name)
	a, err = c.UploadContent(ctx, a.ID, f, fi.Size(), client.UploadOptions{
		SHA256:      sum,
		ContentType: ct,
		Progress:    func(sent, _ int64) { bar.set(sent) },
	})
	bar.finish()
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", path, err)
	}
	if opts.Wait {
		for a.State == client.AssetCreated || a.State == client.AssetUploaded || a.State == client.AssetScanning {
			t := time.NewTimer(opts.PollInterval)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
			if a, err = c.GetAsset(ctx, a.ID); err != nil {
				return nil, fmt.Errorf("upload %s: wait for scan: %w", path, err)
			}
		}
	}
	return a, nil
}

// transferBar draws one byte-count bar on a terminal; it does nothing when
// progress is off.
type transferBar struct {
	bar *progressbar.ProgressBar
}

func newTransferBar(w io.Writer, show bool, total int64, desc string) *transferBar {
	if !show {
		return &transferBar{}
	}
	return &transferBar{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
	)}
}

func (b *transferBar) set(n int64) {
	if b.bar != nil {
		_ = b.bar.Set64(n)
	}
}

func (b *transferBar) finish() {
	if b.bar != nil {
		_ = b.bar.Finish()
	}
}
