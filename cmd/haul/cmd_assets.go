package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/haulhq/haul/client"
)

func newAssetsCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "assets",
		Aliases: []string{"asset"},
		Short:   "List, inspect, change and delete assets on the server",
		Example: `  haul assets list --tag season-1
  haul assets show ast_01JD8X3V5K
  haul assets update ast_01JD8X3V5K --title "Episode 1" --add-tag featured
  haul assets rm ast_01JD8X3V5K`,
	}
	cmd.AddCommand(
		newAssetsListCmd(app, nil),
		newAssetsShowCmd(app, nil),
		newAssetsUpdateCmd(app, nil),
		newAssetsRmCmd(app, nil),
	)
	return cmd
}

// apiOptions are what every API command needs.
type apiOptions struct {
	// IO are the command's streams.
	IO *IOStreams
	// Client builds the API client.
	Client apiClientFunc
	// JSON prints API objects instead of human output.
	JSON bool
	// Now is the clock relative times are computed from.
	Now func() time.Time
	// Logger returns the app's logger (nil: logs are discarded).
	Logger func() *slog.Logger
}

func newAPIOptions(app *App) apiOptions {
	return apiOptions{IO: app.IO, Client: apiClient(app), Now: time.Now, Logger: app.Logger}
}

func (o *apiOptions) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger()
}

// --- list ---

type assetsListOptions struct {
	apiOptions
	Tag   string
	Limit int
}

func newAssetsListCmd(app *App, runF func(context.Context, *assetsListOptions) error) *cobra.Command {
	opts := &assetsListOptions{apiOptions: newAPIOptions(app)}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List assets, newest last",
		Example: `  haul assets list
  haul assets list --tag season-1 --limit 0
  haul assets list --json | jq -r '.[].id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JSON = app.Config().JSON
			if opts.Limit < 0 {
				return usageErrorf("--limit must be 0 (all) or more")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runAssetsList(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Tag, "tag", "", "only assets with this tag")
	cmd.Flags().IntVarP(&opts.Limit, "limit", "L", 100, "at most this many assets (0: all)")
	return cmd
}

func runAssetsList(ctx context.Context, opts *assetsListOptions) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	lo := client.AssetListOptions{Tag: opts.Tag}
	lo.Limit = pageSize(opts.Limit)
	assets, err := collect(c.ListAssets(ctx, lo), opts.Limit, "list assets")
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSONIndent(opts.IO.Out, assets)
	}
	if len(assets) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "no assets")
		return nil
	}
	now := opts.Now()
	t := newTable("ID", "TITLE", "STATE", "SIZE>", "TAGS", "CREATED")
	for _, a := range assets {
		size := "-"
		if a.Size > 0 || a.Checksum != "" {
			size = humanSize(a.Size)
		}
		t.add(a.ID, truncate(a.Title, 40), a.State, size, orDash(strings.Join(a.Tags, ",")), humanAgo(a.CreatedAt, now))
	}
	return t.render(opts.IO.Out)
}

// --- show ---

type assetsShowOptions struct {
	apiOptions
	ID string
}

func newAssetsShowCmd(app *App, runF func(context.Context, *assetsShowOptions) error) *cobra.Command {
	opts := &assetsShowOptions{apiOptions: newAPIOptions(app)}
	cmd := &cobra.Command{
		Use:     "show ASSET_ID",
		Aliases: []string{"view", "get"},
		Short:   "Show one asset: state, size, checksum, rights, media",
		Example: `  haul assets show ast_01JD8X3V5K
  haul assets show ast_01JD8X3V5K --json | jq .media`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JSON = app.Config().JSON
			opts.ID = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runAssetsShow(cmd.Context(), opts)
		},
	}
	return cmd
}

func runAssetsShow(ctx context.Context, opts *assetsShowOptions) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	a, err := c.GetAsset(ctx, opts.ID)
	if err != nil {
		return apiFailure(fmt.Errorf("asset %s: %w", opts.ID, err), "")
	}
	if opts.JSON {
		return writeJSONIndent(opts.IO.Out, a)
	}
	return renderAsset(opts.IO, a, opts.Now())
}

func renderAsset(io *IOStreams, a *client.Asset, now time.Time) error {
	var f fields
	f.add("ID", a.ID)
	f.add("Title", a.Title)
	f.add("Filename", a.Filename)
	f.add("State", a.State)
	f.add("Content type", a.ContentType)
	if a.Size > 0 || a.Checksum != "" {
		f.add("Size", fmt.Sprintf("%s (%d bytes)", humanSize(a.Size), a.Size))
	}
	f.add("Checksum", a.Checksum)
	f.add("Tags", strings.Join(a.Tags, ", "))
	if r := a.Rights; r != nil {
		f.add("Downloadable", fmt.Sprint(r.Downloadable))
		f.add("Allowed formats", strings.Join(r.AllowedFormats, ", "))
		f.add("Available until", timestamp(r.AvailableUntil, now))
		f.add("Redistribution", r.Redistribution)
	}
	if a.LegalHold {
		f.add("Legal hold", "yes")
	}
	f.add("Retention until", timestamp(a.RetentionExpiresAt, now))
	f.add("Created", timestamp(&a.CreatedAt, now))
	f.add("Updated", timestamp(a.UpdatedAt, now))
	f.add("Deleted", timestamp(a.DeletedAt, now))
	keys := make([]string, 0, len(a.Media))
	for k := range a.Media {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f.add("Media "+strings.ReplaceAll(k, "_", " "), fmt.Sprint(a.Media[k]))
	}
	return f.render(io.Out)
}

// --- update ---

type assetsUpdateOptions struct {
	apiOptions
	ID             string
	Title          *string
	Tags           *[]string
	AddTags        []string
	RemoveTags     []string
	LegalHold      *bool
	RetentionUntil string
	Downloadable   *bool
	AllowedFormats *[]string
	AvailableUntil string
	Redistribution string
}

func newAssetsUpdateCmd(app *App, runF func(context.Context, *assetsUpdateOptions) error) *cobra.Command {
	opts := &assetsUpdateOptions{apiOptions: newAPIOptions(app)}
	var title string
	var tags, formats []string
	var hold, downloadable bool
	cmd := &cobra.Command{
		Use:   "update ASSET_ID",
		Short: "Change an asset's title, tags, rights, legal hold or retention",
		Long: `Change an asset's title, tags, rights, legal hold or retention. Only the
fields given change. Times are RFC 3339 ("2027-01-31T00:00:00Z") or a
duration from now ("720h"); "none" clears them.`,
		Example: `  haul assets update ast_01JD8X3V5K --title "Episode 1"
  haul assets update ast_01JD8X3V5K --add-tag featured --remove-tag draft
  haul assets update ast_01JD8X3V5K --downloadable=false
  haul assets update ast_01JD8X3V5K --allowed-formats original,mp4_720p --available-until 2027-01-31T00:00:00Z
  haul assets update ast_01JD8X3V5K --legal-hold --retention-until none`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JSON = app.Config().JSON
			opts.ID = args[0]
			fl := cmd.Flags()
			if fl.Changed("title") {
				opts.Title = &title
			}
			if fl.Changed("tags") {
				opts.Tags = &tags
			}
			if fl.Changed("legal-hold") {
				opts.LegalHold = &hold
			}
			if fl.Changed("downloadable") {
				opts.Downloadable = &downloadable
			}
			if fl.Changed("allowed-formats") {
				opts.AllowedFormats = &formats
			}
			if opts.Tags != nil && (len(opts.AddTags) > 0 || len(opts.RemoveTags) > 0) {
				return usageErrorf("--tags replaces all tags; do not combine it with --add-tag or --remove-tag")
			}
			if fl.NFlag() == 0 || !anyChanged(fl.Changed, "title", "tags", "add-tag", "remove-tag", "legal-hold",
				"retention-until", "downloadable", "allowed-formats", "available-until", "redistribution") {
				return usageErrorf("nothing to change: give at least one of --title, --tags, --add-tag, --remove-tag, --legal-hold, --retention-until, --downloadable, --allowed-formats, --available-until, --redistribution")
			}
			switch opts.Redistribution {
			case "", client.RedistributionInternal, client.RedistributionPartner, client.RedistributionPublic:
			default:
				return usageErrorf("--redistribution must be internal, partner or public")
			}
			for _, v := range []struct{ flag, val string }{{"--retention-until", opts.RetentionUntil}, {"--available-until", opts.AvailableUntil}} {
				if _, _, err := parseWhen(v.val, time.Now()); err != nil {
					return usageErrorf("%s: %v", v.flag, err)
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runAssetsUpdate(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&title, "title", "", "new title")
	f.StringSliceVar(&tags, "tags", nil, "replace all tags (comma-separated; empty clears)")
	f.StringSliceVar(&opts.AddTags, "add-tag", nil, "add a tag (repeatable)")
	f.StringSliceVar(&opts.RemoveTags, "remove-tag", nil, "remove a tag (repeatable)")
	f.BoolVar(&hold, "legal-hold", false, "put on (or with =false take off) legal hold")
	f.StringVar(&opts.RetentionUntil, "retention-until", "", `soft-delete at this time ("none" clears)`)
	f.BoolVar(&downloadable, "downloadable", true, "allow downloads at all")
	f.StringSliceVar(&formats, "allowed-formats", nil, "formats downloads may use (empty: all)")
	f.StringVar(&opts.AvailableUntil, "available-until", "", `end downloads at this time ("none" clears)`)
	f.StringVar(&opts.Redistribution, "redistribution", "", "internal, partner or public")
	return cmd
}

func anyChanged(changed func(string) bool, names ...string) bool {
	for _, n := range names {
		if changed(n) {
			return true
		}
	}
	return false
}

// parseWhen reads a time flag: "" (unset), "none" (clear), RFC 3339, or a
// duration from now.
func parseWhen(s string, now time.Time) (t *time.Time, clear bool, err error) {
	switch strings.TrimSpace(s) {
	case "":
		return nil, false, nil
	case "none", "never":
		return nil, true, nil
	}
	if v, err := time.Parse(time.RFC3339, s); err == nil {
		v = v.UTC()
		return &v, false, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		v := now.Add(d).UTC().Truncate(time.Second)
		return &v, false, nil
	}
	return nil, false, fmt.Errorf("%q is neither an RFC 3339 time, a duration like 720h, nor \"none\"", s)
}

func runAssetsUpdate(ctx context.Context, opts *assetsUpdateOptions) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	req := client.UpdateAssetRequest{Title: opts.Title, Tags: opts.Tags, LegalHold: opts.LegalHold}
	retention, clearRetention, _ := parseWhen(opts.RetentionUntil, opts.Now())
	req.RetentionExpiresAt, req.ClearRetention = retention, clearRetention
	availableUntil, clearAvailable, _ := parseWhen(opts.AvailableUntil, opts.Now())

	needCurrent := len(opts.AddTags) > 0 || len(opts.RemoveTags) > 0 || opts.Downloadable != nil ||
		opts.AllowedFormats != nil || availableUntil != nil || clearAvailable || opts.Redistribution != ""
	if needCurrent {
		cur, err := c.GetAsset(ctx, opts.ID)
		if err != nil {
			return apiFailure(fmt.Errorf("asset %s: %w", opts.ID, err), "")
		}
		if len(opts.AddTags) > 0 || len(opts.RemoveTags) > 0 {
			tags := slices.Clone(cur.Tags)
			for _, t := range opts.AddTags {
				if !slices.Contains(tags, t) {
					tags = append(tags, t)
				}
			}
			tags = slices.DeleteFunc(tags, func(t string) bool { return slices.Contains(opts.RemoveTags, t) })
			if tags == nil {
				tags = []string{}
			}
			req.Tags = &tags
		}
		if opts.Downloadable != nil || opts.AllowedFormats != nil || availableUntil != nil || clearAvailable || opts.Redistribution != "" {
			r := client.Rights{Downloadable: true}
			if cur.Rights != nil {
				r = *cur.Rights
			}
			if opts.Downloadable != nil {
				r.Downloadable = *opts.Downloadable
			}
			if opts.AllowedFormats != nil {
				r.AllowedFormats = *opts.AllowedFormats
			}
			if availableUntil != nil {
				r.AvailableUntil = availableUntil
			}
			if clearAvailable {
				r.AvailableUntil = nil
			}
			if opts.Redistribution != "" {
				r.Redistribution = opts.Redistribution
			}
			req.Rights = &r
		}
	}
	a, err := c.UpdateAsset(ctx, opts.ID, req)
	if err != nil {
		return apiFailure(fmt.Errorf("update %s: %w", opts.ID, err), "")
	}
	if opts.JSON {
		return writeJSONIndent(opts.IO.Out, a)
	}
	fmt.Fprintf(opts.IO.ErrOut, "updated %s\n", a.ID)
	return renderAsset(opts.IO, a, opts.Now())
}

// --- rm ---

type assetsRmOptions struct {
	apiOptions
	IDs []string
}

func newAssetsRmCmd(app *App, runF func(context.Context, *assetsRmOptions) error) *cobra.Command {
	opts := &assetsRmOptions{apiOptions: newAPIOptions(app)}
	cmd := &cobra.Command{
		Use:     "rm ASSET_ID...",
		Aliases: []string{"delete"},
		Short:   "Delete assets (soft delete: bytes are purged after the grace period unless on legal hold)",
		Long: `Delete assets. Deletion is soft: the asset disappears from lists at once and
its bytes are purged after the server's grace period, unless it is on legal
hold.

EXIT STATUS
  0  every asset deleted
  1  an error
  3  some assets could not be deleted (the others were)
  4  the API key was refused or lacks the write scope`,
		Example: `  haul assets rm ast_01JD8X3V5K
  haul assets list --tag draft --json | jq -r '.[].id' | xargs haul assets rm`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JSON = app.Config().JSON
			opts.IDs = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runAssetsRm(cmd.Context(), opts)
		},
	}
	return cmd
}

func runAssetsRm(ctx context.Context, opts *assetsRmOptions) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	return applyEach(ctx, &opts.apiOptions, opts.IDs, bulkAction{Verb: "delete", Done: "deleted", Noun: "assets", Do: c.DeleteAsset})
}
