package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/haulhq/haul/client"
)

func newExportsCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exports",
		Short: "List and inspect batch exports (create them with haul export)",
		Example: `  haul exports list
  haul exports show exp_01JD8X3V5K`,
	}
	cmd.AddCommand(newExportsListCmd(app, nil), newExportsShowCmd(app, nil))
	return cmd
}

type exportsListOptions struct {
	apiOptions
	Limit int
}

func newExportsListCmd(app *App, runF func(context.Context, *exportsListOptions) error) *cobra.Command {
	opts := &exportsListOptions{apiOptions: newAPIOptions(app)}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List exports with their item counts",
		Example: `  haul exports list
  haul exports list --limit 0 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JSON = app.Config().JSON
			if opts.Limit < 0 {
				return usageErrorf("--limit must be 0 (all) or more")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runExportsList(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVarP(&opts.Limit, "limit", "L", 100, "at most this many exports (0: all)")
	return cmd
}

func runExportsList(ctx context.Context, opts *exportsListOptions) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	exports, err := collect(c.ListExports(ctx, client.ListOptions{Limit: pageSize(opts.Limit)}), opts.Limit, "list exports")
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSONIndent(opts.IO.Out, exports)
	}
	if len(exports) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "no exports")
		return nil
	}
	now := opts.Now()
	t := newTable("ID", "NAME", "FORMAT", "STATUS", "READY>", "FAILED>", "CREATED")
	for _, e := range exports {
		ready, failed := "-", "-"
		if e.Counts != nil {
			ready = fmt.Sprintf("%d/%d", e.Counts.Ready, e.Counts.Total)
			failed = fmt.Sprint(e.Counts.Failed)
		}
		t.add(e.ID, orDash(truncate(e.Name, 30)), orDash(e.Format), e.Status, ready, failed, humanTimePtr(e.CreatedAt, now))
	}
	return t.render(opts.IO.Out)
}

type exportsShowOptions struct {
	apiOptions
	ID    string
	Items bool
}

func newExportsShowCmd(app *App, runF func(context.Context, *exportsShowOptions) error) *cobra.Command {
	opts := &exportsShowOptions{apiOptions: newAPIOptions(app)}
	cmd := &cobra.Command{
		Use:   "show EXPORT_ID",
		Short: "Show an export's status, counts and (with --items) its items",
		Example: `  haul exports show exp_01JD8X3V5K
  haul exports show exp_01JD8X3V5K --items
  haul exports show exp_01JD8X3V5K --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JSON = app.Config().JSON
			opts.ID = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runExportsShow(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Items, "items", false, "also list the items from the manifest (URLs left out)")
	return cmd
}

func runExportsShow(ctx context.Context, opts *exportsShowOptions) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	e, err := c.GetExport(ctx, opts.ID)
	if err != nil {
		return apiFailure(fmt.Errorf("export %s: %w", opts.ID, err), "")
	}
	if opts.JSON && !opts.Items {
		return writeJSONIndent(opts.IO.Out, e)
	}
	now := opts.Now()
	if !opts.JSON {
		if err := renderExport(opts.IO.Out, e, now); err != nil {
			return err
		}
	}
	if !opts.Items {
		return nil
	}
	m, err := c.GetManifest(ctx, opts.ID, client.ManifestOptions{})
	if err != nil {
		return apiFailure(fmt.Errorf("manifest of %s: %w", opts.ID, err), "")
	}
	stripped := stripManifestURLs(m)
	if opts.JSON {
		return writeJSONIndent(opts.IO.Out, map[string]any{"export": e, "manifest": stripped})
	}
	fmt.Fprintln(opts.IO.Out)
	t := newTable("ITEM", "ASSET", "FORMAT", "STATUS", "SIZE>", "FILENAME")
	for _, it := range stripped.Items {
		size := "-"
		if it.Size > 0 {
			size = humanSize(it.Size)
		}
		name := it.Filename
		if it.Error != nil {
			name += "  (" + it.Error.Error() + ")"
		}
		t.add(orDash(it.ID), orDash(it.AssetID), orDash(it.Format), it.EffectiveStatus(), size, name)
	}
	return t.render(opts.IO.Out)
}

func renderExport(w io.Writer, e *client.Export, now time.Time) error {
	var f fields
	f.add("ID", e.ID)
	f.add("Name", e.Name)
	f.add("Format", e.Format)
	f.add("Tag", e.Tag)
	f.add("Status", e.Status)
	if c := e.Counts; c != nil {
		f.add("Items", fmt.Sprintf("%d total: %d ready, %d processing, %d queued, %d failed", c.Total, c.Ready, c.Processing, c.Queued, c.Failed))
	}
	f.add("Manifest", e.ManifestURL)
	f.add("Created", timestamp(e.CreatedAt, now))
	f.add("Completed", timestamp(e.CompletedAt, now))
	return f.render(w)
}
