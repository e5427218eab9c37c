package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/haulhq/haul/client"
)

func newJobsCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "jobs",
		Aliases: []string{"job"},
		Short:   "Inspect rendition jobs",
		Example: `  haul jobs show job_01JD8X3V5K
  haul jobs show job_01JD8X3V5K --wait`,
	}
	cmd.AddCommand(newJobsShowCmd(app, nil))
	return cmd
}

type jobsShowOptions struct {
	apiOptions
	ID       string
	Wait     bool
	Progress bool
}

func newJobsShowCmd(app *App, runF func(context.Context, *jobsShowOptions) error) *cobra.Command {
	opts := &jobsShowOptions{apiOptions: newAPIOptions(app)}
	cmd := &cobra.Command{
		Use:   "show JOB_ID",
		Short: "Show a rendition job's status and progress, optionally waiting for it",
		Long: `Show a rendition job: its status (queued, processing, succeeded, failed),
progress, and once succeeded its download; with --wait, follow it until it
finishes.

EXIT STATUS
  0  shown (with --wait: the job succeeded)
  1  an error, or with --wait the job failed
  4  the API key was refused`,
		Example: `  haul jobs show job_01JD8X3V5K
  haul jobs show job_01JD8X3V5K --wait --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := app.Config()
			opts.JSON = cfg.JSON
			opts.Progress = app.IO.ErrIsTerminal && !cfg.NoProgress && !cfg.JSON
			opts.ID = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runJobsShow(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Wait, "wait", "w", false, "wait until the job succeeds or fails")
	return cmd
}

func runJobsShow(ctx context.Context, opts *jobsShowOptions) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	var j *client.Job
	if opts.Wait {
		w := newJobWatcher(opts.IO.ErrOut, opts.Progress && !opts.JSON, opts.JSON)
		j, err = c.WaitJob(ctx, opts.ID, w.update)
		w.finish()
		var failed *client.JobFailedError
		if err != nil && !errors.As(err, &failed) {
			return apiFailure(fmt.Errorf("job %s: %w", opts.ID, err), "")
		}
	} else {
		j, err = c.GetJob(ctx, opts.ID)
		if err != nil {
			return apiFailure(fmt.Errorf("job %s: %w", opts.ID, err), "")
		}
	}
	if opts.JSON {
		if perr := writeJSONIndent(opts.IO.Out, j); perr != nil {
			return perr
		}
	} else if perr := renderJob(opts.IO.Out, j, opts.Now()); perr != nil {
		return perr
	}
	if opts.Wait && j.Status == client.JobFailed {
		return (&client.JobFailedError{Job: j})
	}
	return nil
}

func renderJob(w io.Writer, j *client.Job, now time.Time) error {
	var f fields
	f.add("ID", j.ID)
	f.add("Status", j.Status)
	f.add("Progress", fmt.Sprintf("%.0f%%", j.Progress*100))
	f.add("Asset", j.AssetID)
	f.add("Format", j.Format)
	if j.EstimatedSeconds > 0 && !j.Done() {
		f.add("Estimated", humanDuration(time.Duration(j.EstimatedSeconds*float64(time.Second)))+" left")
	}
	f.add("Created", timestamp(j.CreatedAt, now))
	f.add("Started", timestamp(j.StartedAt, now))
	f.add("Finished", timestamp(j.FinishedAt, now))
	if j.Error != nil {
		f.add("Error", j.Error.String())
	}
	if r := j.Result; r != nil {
		f.add("Filename", r.Filename)
		if r.Size > 0 {
			f.add("Size", humanSize(r.Size))
		}
		f.add("Checksum", r.Checksum)
		f.add("Download URL", r.DownloadURL)
		if !r.ExpiresAt.IsZero() {
			f.add("URL expires", timestamp(&r.ExpiresAt, now))
		}
	}
	return f.render(w)
}

// jobWatcher shows a job's progress while it is waited for: a bar on a
// terminal, a plain line per status change or quarter of progress
// otherwise, nothing in JSON mode.
type jobWatcher struct {
	w        io.Writer
	bar      *progressbar.ProgressBar
	quiet    bool
	status   string
	quarter  int
	terminal bool
}

func newJobWatcher(w io.Writer, terminal, quiet bool) *jobWatcher {
	return &jobWatcher{w: w, terminal: terminal, quiet: quiet, quarter: -1}
}

func (jw *jobWatcher) update(j *client.Job) {
	if jw.quiet {
		return
	}
	pct := int(math.Round(j.Progress * 100))
	if jw.terminal {
		if jw.bar == nil {
			jw.bar = progressbar.NewOptions(100,
				progressbar.OptionSetWriter(jw.w),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
				progressbar.OptionSetPredictTime(true),
			)
		}
		jw.bar.Describe(fmt.Sprintf("rendering %s (%s)", j.ID, j.Status))
		_ = jw.bar.Set(pct)
		return
	}
	q := pct / 25
	if j.Status != jw.status || q > jw.quarter {
		fmt.Fprintf(jw.w, "job %s: %s %d%%\n", j.ID, j.Status, pct)
		jw.status, jw.quarter = j.Status, q
	}
}

func (jw *jobWatcher) finish() {
	if jw.bar != nil {
		_ = jw.bar.Finish()
		jw.bar = nil
	}
}
