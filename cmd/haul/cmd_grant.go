package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/haulhq/haul/client"
)

func newGrantCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "grant",
		Aliases: []string{"grants"},
		Short:   "Share assets through links: one-time, limited or renewable grants",
		Long: `A grant is access to one asset through a secret link (/g/TOKEN), separate
from the file: it can be limited to a number of downloads, expires, and can
be revoked at any time (which also stops downloads already under way).
The recipient's link redirects to a short-lived signed URL for each download.`,
		Example: `  haul grant create ast_01JD8X3V5K --expires-in 7d --recipient alice@example.com
  haul grant list --asset ast_01JD8X3V5K
  haul grant revoke grt_01JD8Y2Q4M`,
	}
	cmd.AddCommand(
		newGrantCreateCmd(app, nil),
		newGrantShowCmd(app, nil),
		newGrantListCmd(app, nil),
		newGrantRevokeCmd(app, nil),
		newGrantRenewCmd(app, nil),
	)
	return cmd
}

// parseSpan reads a duration that may also be whole days ("7d", "30d") or
// whole seconds ("3600", like the API's expires_in).
func parseSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 && n <= math.MaxInt64/int64(time.Second) {
		return time.Duration(n) * time.Second, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err == nil && n > 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration like 90m, 24h, 7d or 3600 (seconds)", s)
	}
	return d, nil
}

// expiryFlags are --expires-in / --expires-at, shared by create and renew.
type expiryFlags struct {
	In string
	At string
}

func (e *expiryFlags) add(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&e.In, "expires-in", "", what+" for this long (e.g. 90m, 24h, 7d, or 3600 seconds; the server caps it)")
	cmd.Flags().StringVar(&e.At, "expires-at", "", what+" until this time (RFC 3339)")
	cmd.MarkFlagsMutuallyExclusive("expires-in", "expires-at")
}

// resolve returns the request's expires_in (seconds) or access_expires_at.
func (e *expiryFlags) resolve() (int64, *time.Time, error) {
	switch {
	case e.In != "":
		d, err := parseSpan(e.In)
		if err != nil {
			return 0, nil, usageErrorf("--expires-in: %v", err)
		}
		return int64((d + time.Second - 1) / time.Second), nil, nil
	case e.At != "":
		t, err := time.Parse(time.RFC3339, e.At)
		if err != nil {
			return 0, nil, usageErrorf("--expires-at %q: want an RFC 3339 time like 2026-12-24T18:00:00Z", e.At)
		}
		return 0, &t, nil
	}
	return 0, nil, nil
}

// renderGrant writes a grant's fields; url is the absolute link when known.
func renderGrant(w io.Writer, g *client.Grant, url string, now time.Time) error {
	var f fields
	f.add("ID", g.ID)
	f.add("Asset", g.AssetID)
	f.add("Link", url)
	f.add("Policy", strings.ReplaceAll(g.Policy, "_", "-"))
	f.add("Status", g.Status)
	f.add("Downloads left", remaining(g.DownloadsRemaining))
	f.add("Expires", timestamp(&g.AccessExpiresAt, now))
	f.add("Format", g.Format)
	f.add("Recipient", g.Recipient)
	f.add("Created", timestamp(g.CreatedAt, now))
	f.add("Last access", timestamp(g.LastAccessedAt, now))
	f.add("Revoked", timestamp(g.RevokedAt, now))
	return f.render(w)
}

func remaining(n *int) string {
	if n == nil {
		return "unlimited"
	}
	return strconv.Itoa(*n)
}

// --- create ---

type grantCreateOptions struct {
	apiOptions
	AssetID      string
	Policy       string
	MaxDownloads int
	Expiry       expiryFlags
	Format       string
	Recipient    string
}

func newGrantCreateCmd(app *App, runF func(context.Context, *grantCreateOptions) error) *cobra.Command {
	opts := &grantCreateOptions{apiOptions: newAPIOptions(app)}
	cmd := &cobra.Command{
		Use:   "create ASSET_ID",
		Short: "Make a link to an asset and print it (the link is shown only once)",
		Long: `Make a grant for an asset and print its link. The link's token is a
256-bit secret the server keeps only a hash of: copy it now.

Policies: one-time (one download, the default), limited (--max-downloads N)
and renewable (extendable with "haul grant renew"; unlimited downloads
unless --max-downloads is given). Access lasts --expires-in or until
--expires-at, capped by the server maximum and the asset's rights.

EXIT STATUS
  0  created
  1  an error
  2  usage error, or the server refused the request (unknown format, …)
  4  the API key was refused, lacks the export scope, or the asset's rights
     forbid sharing`,
		Example: `  # a one-time link valid for a week
  haul grant create ast_01JD8X3V5K --expires-in 7d

  # five downloads of the 720p rendition, labelled for the recipient
  haul grant create ast_01JD8X3V5K --policy limited --max-downloads 5 --format mp4_720p --recipient "Acme legal"

  # only the link, for scripts
  haul grant create ast_01JD8X3V5K --json | jq -r .share_url`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JSON = app.Config().JSON
			opts.AssetID = args[0]
			opts.Policy = strings.ReplaceAll(opts.Policy, "-", "_")
			switch opts.Policy {
			case client.GrantOneTime, client.GrantLimited, client.GrantRenewable:
			default:
				return usageErrorf("--policy %q: want one-time, limited or renewable", opts.Policy)
			}
			if opts.Policy == client.GrantLimited && opts.MaxDownloads < 1 {
				return usageErrorf("--policy limited needs --max-downloads N (N ≥ 1)")
			}
			if opts.MaxDownloads < 0 {
				return usageErrorf("--max-downloads must be 1 or more")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runGrantCreate(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Policy, "policy", "one-time", "one-time, limited or renewable")
	cmd.Flags().IntVarP(&opts.MaxDownloads, "max-downloads", "n", 0, "downloads allowed (limited; optional for renewable)")
	opts.Expiry.add(cmd, "allow access")
	cmd.Flags().StringVarP(&opts.Format, "format", "f", "", "format the recipient gets (default: the original)")
	cmd.Flags().StringVar(&opts.Recipient, "recipient", "", "label saying who the link is for")
	return cmd
}

func runGrantCreate(ctx context.Context, opts *grantCreateOptions) error {
	in, at, err := opts.Expiry.resolve()
	if err != nil {
		return err
	}
	c, err := opts.Client()
	if err != nil {
		return err
	}
	req := client.CreateGrantRequest{Policy: opts.Policy, ExpiresIn: in, AccessExpiresAt: at, Format: opts.Format, Recipient: opts.Recipient}
	if opts.Policy != client.GrantOneTime {
		req.MaxDownloads = opts.MaxDownloads
	}
	g, err := c.CreateGrant(ctx, opts.AssetID, req)
	if err != nil {
		return apiFailure(fmt.Errorf("create grant for %s: %w", opts.AssetID, err), "")
	}
	link := g.ShareURL // absolute, from --public-url when the server has one
	if link == "" {
		link = c.ResolveURL(g.URL)
	}
	if opts.JSON {
		return writeJSONIndent(opts.IO.Out, g)
	}
	if err := renderGrant(opts.IO.Out, g, link, opts.Now()); err != nil {
		return err
	}
	fmt.Fprintln(opts.IO.ErrOut, "The link is shown only once; the server keeps only a hash of its token.")
	return nil
}

// --- show ---

type grantShowOptions struct {
	apiOptions
	ID string
}

func newGrantShowCmd(app *App, runF func(context.Context, *grantShowOptions) error) *cobra.Command {
	opts := &grantShowOptions{apiOptions: newAPIOptions(app)}
	cmd := &cobra.Command{
		Use:   "show GRANT_ID",
		Short: "Show a grant: status, downloads left, expiry",
		Example: `  haul grant show grt_01JD8Y2Q4M
  haul grant show grt_01JD8Y2Q4M --json | jq .downloads_remaining`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JSON = app.Config().JSON
			opts.ID = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runGrantShow(cmd.Context(), opts)
		},
	}
	return cmd
}

func runGrantShow(ctx context.Context, opts *grantShowOptions) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	g, err := c.GetGrant(ctx, opts.ID)
	if err != nil {
		return apiFailure(fmt.Errorf("grant %s: %w", opts.ID, err), "")
	}
	if opts.JSON {
		return writeJSONIndent(opts.IO.Out, g)
	}
	return renderGrant(opts.IO.Out, g, "", opts.Now())
}

// --- list ---

type grantListOptions struct {
	apiOptions
	AssetID string
	Limit   int
}

func newGrantListCmd(app *App, runF func(context.Context, *grantListOptions) error) *cobra.Command {
	opts := &grantListOptions{apiOptions: newAPIOptions(app)}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List grants, oldest first",
		Example: `  haul grant list
  haul grant list --asset ast_01JD8X3V5K
  haul grant list --json | jq -r '.[] | select(.status == "active") | .id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JSON = app.Config().JSON
			if opts.Limit < 0 {
				return usageErrorf("--limit must be 0 (all) or more")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runGrantList(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.AssetID, "asset", "", "only grants of this asset")
	cmd.Flags().IntVarP(&opts.Limit, "limit", "L", 100, "at most this many grants (0: all)")
	return cmd
}

func runGrantList(ctx context.Context, opts *grantListOptions) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	lo := client.GrantListOptions{AssetID: opts.AssetID}
	lo.Limit = pageSize(opts.Limit)
	grants, err := collect(c.ListGrants(ctx, lo), opts.Limit, "list grants")
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSONIndent(opts.IO.Out, grants)
	}
	if len(grants) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "no grants")
		return nil
	}
	now := opts.Now()
	t := newTable("ID", "ASSET", "POLICY", "STATUS", "LEFT>", "EXPIRES", "RECIPIENT")
	for _, g := range grants {
		t.add(g.ID, g.AssetID, strings.ReplaceAll(g.Policy, "_", "-"), g.Status, remaining(g.DownloadsRemaining),
			humanAgo(g.AccessExpiresAt, now), orDash(truncate(g.Recipient, 30)))
	}
	return t.render(opts.IO.Out)
}

// --- revoke ---

type grantRevokeOptions struct {
	apiOptions
	IDs []string
}

func newGrantRevokeCmd(app *App, runF func(context.Context, *grantRevokeOptions) error) *cobra.Command {
	opts := &grantRevokeOptions{apiOptions: newAPIOptions(app)}
	cmd := &cobra.Command{
		Use:     "revoke GRANT_ID...",
		Aliases: []string{"rm"},
		Short:   "Revoke grants: their links and downloads under way stop working",
		Long: `Revoke grants. Their links answer 410 from now on, and signed URLs already
handed out through them stop working too. Revoking a revoked grant is not
an error.

EXIT STATUS
  0  every grant revoked
  1  an error
  3  some grants could not be revoked (the others were)
  4  the API key was refused or lacks the export scope`,
		Example: `  haul grant revoke grt_01JD8Y2Q4M
  haul grant list --asset ast_01JD8X3V5K --json | jq -r '.[].id' | xargs haul grant revoke`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JSON = app.Config().JSON
			opts.IDs = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runGrantRevoke(cmd.Context(), opts)
		},
	}
	return cmd
}

func runGrantRevoke(ctx context.Context, opts *grantRevokeOptions) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	return applyEach(ctx, &opts.apiOptions, opts.IDs, bulkAction{Verb: "revoke", Done: "revoked", Noun: "grants", Do: c.RevokeGrant})
}

// --- renew ---

type grantRenewOptions struct {
	apiOptions
	ID     string
	Expiry expiryFlags
}

func newGrantRenewCmd(app *App, runF func(context.Context, *grantRenewOptions) error) *cobra.Command {
	opts := &grantRenewOptions{apiOptions: newAPIOptions(app)}
	cmd := &cobra.Command{
		Use:   "renew GRANT_ID",
		Short: "Extend a renewable grant (an expired one works again)",
		Long: `Extend a renewable grant's access from now, by --expires-in or to
--expires-at (default: the server's default period). Only renewable grants
renew; revoked and used-up grants do not.

EXIT STATUS
  0  renewed
  1  an error, e.g. the grant is not renewable
  2  usage error
  4  the API key was refused or lacks the export scope`,
		Example: `  haul grant renew grt_01JD8Y2Q4M --expires-in 30d
  haul grant renew grt_01JD8Y2Q4M --expires-at 2027-01-31T23:59:59Z`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JSON = app.Config().JSON
			opts.ID = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runGrantRenew(cmd.Context(), opts)
		},
	}
	opts.Expiry.add(cmd, "extend access")
	return cmd
}

func runGrantRenew(ctx context.Context, opts *grantRenewOptions) error {
	in, at, err := opts.Expiry.resolve()
	if err != nil {
		return err
	}
	c, err := opts.Client()
	if err != nil {
		return err
	}
	g, err := c.RenewGrant(ctx, opts.ID, client.RenewGrantRequest{ExpiresIn: in, AccessExpiresAt: at})
	if err != nil {
		return apiFailure(fmt.Errorf("renew %s: %w", opts.ID, err), "")
	}
	if opts.JSON {
		return writeJSONIndent(opts.IO.Out, g)
	}
	return renderGrant(opts.IO.Out, g, "", opts.Now())
}
