package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/haulhq/haul/client"
)

// newWebhookCmd groups the webhook commands: endpoint management against
// the server, and a local receiver for integrators.
func newWebhookCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "webhook",
		Aliases: []string{"webhooks"},
		Short:   "Manage webhook endpoints and receive webhooks locally",
		Long: `Manage the endpoints that receive haul's webhooks, inspect and replay their
deliveries, and run a local receiver that verifies Standard Webhooks
signatures and prints each event.

Webhooks are signed per the Standard Webhooks specification (webhook-id,
webhook-timestamp, webhook-signature headers) with the endpoint's whsec_
secret, and retried for about three days on failure.`,
		Example: `  haul webhook add https://example.com/hooks --events grant.accessed,grant.consumed
  haul webhook list
  haul webhook deliveries whk_01JD8Z0000
  haul webhook replay whk_01JD8Z0000 --since 2h
  haul webhook listen --secret whsec_... --forward-to http://localhost:3000/hooks`,
	}
	cmd.AddCommand(
		newWebhookAddCmd(app, nil),
		newWebhookListCmd(app, nil),
		newWebhookRmCmd(app, nil),
		newWebhookDeliveriesCmd(app, nil),
		newWebhookReplayCmd(app, nil),
		newWebhookListenCmd(app),
	)
	return cmd
}

// --- add ---

type webhookAddOptions struct {
	apiOptions
	URL    string
	Events []string
}

func newWebhookAddCmd(app *App, runF func(context.Context, *webhookAddOptions) error) *cobra.Command {
	opts := &webhookAddOptions{apiOptions: newAPIOptions(app)}
	cmd := &cobra.Command{
		Use:   "add URL",
		Short: "Add an endpoint and print its signing secret (shown only once)",
		Long: `Add a webhook endpoint. The server answers with the endpoint's signing
secret (whsec_...), shown only once: give it to the receiver, e.g.
"haul webhook listen --secret whsec_...".

URLs must be http(s). Loopback, private and link-local addresses are
refused unless the server runs with --webhook-allow-private.

Event types: asset.created, asset.available, asset.quarantined,
asset.deleted, job.succeeded, job.failed, export.completed, grant.created,
grant.accessed, grant.consumed, grant.expired, grant.revoked, or * for all.

EXIT STATUS
  0  added
  1  an error
  2  usage error, or the server refused the URL or an event type
  4  the API key was refused or lacks the export scope`,
		Example: `  haul webhook add https://example.com/hooks
  haul webhook add https://example.com/hooks --events grant.accessed,grant.consumed
  haul webhook add http://127.0.0.1:8788/ --json | jq -r .secret`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JSON = app.Config().JSON
			opts.URL = args[0]
			if len(opts.Events) == 0 {
				return usageErrorf("--events needs at least one event type, or *")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runWebhookAdd(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringSliceVarP(&opts.Events, "events", "e", []string{"*"}, "event types to send, comma-separated, or * for all")
	return cmd
}

func runWebhookAdd(ctx context.Context, opts *webhookAddOptions) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	w, err := c.CreateWebhook(ctx, client.CreateWebhookRequest{URL: opts.URL, Events: opts.Events})
	if err != nil {
		return apiFailure(fmt.Errorf("add webhook %s: %w", opts.URL, err), "")
	}
	if opts.JSON {
		return writeJSONIndent(opts.IO.Out, w)
	}
	var f fields
	f.add("ID", w.ID)
	f.add("URL", w.URL)
	f.add("Events", strings.Join(w.Events, ", "))
	f.add("Secret", w.Secret)
	if err := f.render(opts.IO.Out); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "The secret is shown only once. Try it: haul webhook listen --secret %s\n", w.Secret)
	return nil
}

// --- list ---

type webhookListOptions struct {
	apiOptions
}

func newWebhookListCmd(app *App, runF func(context.Context, *webhookListOptions) error) *cobra.Command {
	opts := &webhookListOptions{apiOptions: newAPIOptions(app)}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List webhook endpoints",
		Example: `  haul webhook list
  haul webhook list --json | jq -r '.[] | select(.disabled) | .id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JSON = app.Config().JSON
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runWebhookList(cmd.Context(), opts)
		},
	}
	return cmd
}

func runWebhookList(ctx context.Context, opts *webhookListOptions) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	hooks := []client.Webhook{}
	for w, err := range c.ListWebhooks(ctx, client.ListOptions{}) {
		if err != nil {
			return apiFailure(fmt.Errorf("list webhooks: %w", err), "")
		}
		hooks = append(hooks, w)
	}
	if opts.JSON {
		return writeJSONIndent(opts.IO.Out, hooks)
	}
	if len(hooks) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "no webhooks")
		return nil
	}
	now := opts.Now()
	t := newTable("ID", "URL", "EVENTS", "STATE", "CREATED")
	for _, w := range hooks {
		state := "enabled"
		if w.Disabled {
			state = "disabled"
		}
		t.add(w.ID, truncate(w.URL, 50), truncate(strings.Join(w.Events, ","), 40), state, humanTimePtr(w.CreatedAt, now))
	}
	return t.render(opts.IO.Out)
}

// --- rm ---

type webhookRmOptions struct {
	apiOptions
	IDs []string
}

func newWebhookRmCmd(app *App, runF func(context.Context, *webhookRmOptions) error) *cobra.Command {
	opts := &webhookRmOptions{apiOptions: newAPIOptions(app)}
	cmd := &cobra.Command{
		Use:     "rm WEBHOOK_ID...",
		Aliases: []string{"delete"},
		Short:   "Remove webhook endpoints (pending deliveries are dropped)",
		Long: `Remove webhook endpoints with their pending deliveries and attempt records.

EXIT STATUS
  0  every endpoint removed
  1  an error
  3  some endpoints could not be removed (the others were)
  4  the API key was refused or lacks the export scope`,
		Example: `  haul webhook rm whk_01JD8Z0000`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JSON = app.Config().JSON
			opts.IDs = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runWebhookRm(cmd.Context(), opts)
		},
	}
	return cmd
}

func runWebhookRm(ctx context.Context, opts *webhookRmOptions) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	return applyEach(ctx, &opts.apiOptions, opts.IDs, bulkAction{Verb: "remove", Done: "removed", Noun: "webhooks", Do: c.DeleteWebhook})
}

// --- deliveries ---

type webhookDeliveriesOptions struct {
	apiOptions
	ID    string
	Limit int
}

func newWebhookDeliveriesCmd(app *App, runF func(context.Context, *webhookDeliveriesOptions) error) *cobra.Command {
	opts := &webhookDeliveriesOptions{apiOptions: newAPIOptions(app)}
	cmd := &cobra.Command{
		Use:   "deliveries WEBHOOK_ID",
		Short: "List delivery attempts to an endpoint: status, latency, errors",
		Example: `  haul webhook deliveries whk_01JD8Z0000
  haul webhook deliveries whk_01JD8Z0000 --json | jq '.[] | select(.success | not)'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JSON = app.Config().JSON
			opts.ID = args[0]
			if opts.Limit < 0 {
				return usageErrorf("--limit must be 0 (all) or more")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runWebhookDeliveries(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVarP(&opts.Limit, "limit", "L", 100, "at most this many attempts (0: all)")
	return cmd
}

func runWebhookDeliveries(ctx context.Context, opts *webhookDeliveriesOptions) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	atts, err := collect(c.ListDeliveries(ctx, opts.ID, client.ListOptions{Limit: pageSize(opts.Limit)}), opts.Limit, "deliveries of "+opts.ID)
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSONIndent(opts.IO.Out, atts)
	}
	if len(atts) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "no delivery attempts yet")
		return nil
	}
	now := opts.Now()
	t := newTable("WHEN", "EVENT", "TYPE", "TRY>", "STATUS>", "LATENCY>", "RESULT")
	for _, a := range atts {
		status := "-"
		if a.StatusCode != 0 {
			status = strconv.Itoa(a.StatusCode)
		}
		result := "ok"
		if !a.Success {
			result = orDash(truncate(a.Error, 60))
		}
		t.add(humanAgo(a.CreatedAt, now), a.EventID, a.EventType, strconv.Itoa(a.Attempt), status,
			humanDuration(time.Duration(a.LatencyMS)*time.Millisecond), result)
	}
	return t.render(opts.IO.Out)
}

// --- replay ---

type webhookReplayOptions struct {
	apiOptions
	ID    string
	Since string
}

func newWebhookReplayCmd(app *App, runF func(context.Context, *webhookReplayOptions) error) *cobra.Command {
	opts := &webhookReplayOptions{apiOptions: newAPIOptions(app)}
	cmd := &cobra.Command{
		Use:   "replay WEBHOOK_ID --since TIME",
		Short: "Send stored events again, with their original webhook-id",
		Long: `Queue the endpoint's events since a time for delivery again. Each keeps its
original webhook-id, so receivers that deduplicate see a repeat; the
timestamp and signature are fresh. Replaying to a disabled endpoint
enables it again.

EXIT STATUS
  0  queued
  1  an error
  2  usage error
  4  the API key was refused or lacks the export scope`,
		Example: `  haul webhook replay whk_01JD8Z0000 --since 2h
  haul webhook replay whk_01JD8Z0000 --since 2026-11-28T00:00:00Z`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JSON = app.Config().JSON
			opts.ID = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runWebhookReplay(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Since, "since", "", "replay events from this time: RFC 3339, or a duration ago (90m, 24h, 7d)")
	_ = cmd.MarkFlagRequired("since")
	return cmd
}

// sinceTime reads an RFC 3339 time or a span before now.
func sinceTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	d, err := parseSpan(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration like 2h or 7d", s)
	}
	return now.Add(-d).UTC().Truncate(time.Second), nil
}

func runWebhookReplay(ctx context.Context, opts *webhookReplayOptions) error {
	since, err := sinceTime(opts.Since, opts.Now())
	if err != nil {
		return usageErrorf("--since: %v", err)
	}
	c, err := opts.Client()
	if err != nil {
		return err
	}
	res, err := c.ReplayWebhook(ctx, opts.ID, client.ReplayRequest{Since: since})
	if err != nil {
		return apiFailure(fmt.Errorf("replay %s: %w", opts.ID, err), "")
	}
	if opts.JSON {
		_, err := opts.IO.Out.Write(append(res.Raw, '\n'))
		return err
	}
	fmt.Fprintf(opts.IO.Out, "queued %d events since %s for %s\n", res.Replayed, since.Format(time.RFC3339), opts.ID)
	return nil
}
