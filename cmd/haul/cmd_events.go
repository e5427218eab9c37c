package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/haulhq/haul/client"
)

type eventsOptions struct {
	apiOptions
	Type   string
	After  string
	Limit  int
	Follow bool
	// Interval is the polling period of --follow.
	Interval time.Duration
}

func newEventsCmd(app *App, runF func(context.Context, *eventsOptions) error) *cobra.Command {
	opts := &eventsOptions{apiOptions: newAPIOptions(app), Interval: 2 * time.Second}
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Read the audit log: asset, job, export and grant events, and every delivery",
		Long: `Print the tenant's append-only audit log, oldest first: the events webhooks
receive (asset.*, job.*, export.completed, grant.*) and audit-only entries:
each delivery of bytes (who, client IP, grant, bytes, whether complete),
asset purges and grant renewals.

--after EVENT_ID starts after an event already seen; --follow keeps
printing new events as they happen until Ctrl-C. With --json, a JSON array
(one object per line with --follow).

EXIT STATUS
  0  printed (or --follow stopped with Ctrl-C)
  1  an error
  4  the API key was refused`,
		Example: `  haul events
  haul events --type grant.accessed --limit 20
  haul events --follow
  haul events --after evt_01JD8Z7H3C --json | jq -r '.[].type'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.JSON = app.Config().JSON
			if opts.Limit < 0 {
				return usageErrorf("--limit must be 0 (all) or more")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runEvents(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Type, "type", "t", "", "only events of this type, e.g. grant.accessed or delivery; several comma-separated")
	cmd.Flags().StringVar(&opts.After, "after", "", "start after this event id (evt_…) or RFC 3339 time")
	cmd.Flags().IntVarP(&opts.Limit, "limit", "L", 100, "at most this many events (0: all); ignored with --follow")
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "keep printing new events until interrupted")
	return cmd
}

func runEvents(ctx context.Context, opts *eventsOptions) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	if opts.Follow {
		return followEvents(ctx, c, opts)
	}
	lo := client.EventListOptions{After: opts.After, Type: opts.Type}
	lo.Limit = pageSize(opts.Limit)
	events, err := collect(c.ListEvents(ctx, lo), opts.Limit, "list events")
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSONIndent(opts.IO.Out, events)
	}
	if len(events) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "no events")
		return nil
	}
	t := newTable("ID", "TIME", "TYPE", "DETAILS")
	for _, ev := range events {
		t.add(ev.ID, ev.Timestamp.UTC().Format(time.RFC3339), ev.Type, eventDetails(ev))
	}
	return t.render(opts.IO.Out)
}

// followEvents polls for new events and prints each as a line until ctx
// ends.
func followEvents(ctx context.Context, c *client.Client, opts *eventsOptions) error {
	after := opts.After
	for {
		page, err := c.ListEventsPage(ctx, client.EventListOptions{After: after, Type: opts.Type, ListOptions: client.ListOptions{Limit: 1000}})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return apiFailure(fmt.Errorf("list events: %w", err), "")
		}
		for _, ev := range page.Data {
			if opts.JSON {
				if err := writeJSONLine(opts.IO.Out, ev); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(opts.IO.Out, "%s  %-18s %s  %s\n", ev.Timestamp.UTC().Format(time.RFC3339), ev.Type, ev.ID, eventDetails(ev))
			}
			after = ev.ID
		}
		if page.NextCursor != "" {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(opts.Interval):
		}
	}
}

// eventDetails summarises an event's data in one short line.
func eventDetails(ev client.Event) string {
	var d map[string]any
	if json.Unmarshal(ev.Data, &d) != nil {
		return ""
	}
	str := func(k string) string {
		s, _ := d[k].(string)
		return s
	}
	num := func(k string) string {
		if f, ok := d[k].(float64); ok {
			return fmt.Sprintf("%.0f", f)
		}
		return ""
	}
	var parts []string
	add := func(label, v string) {
		if v != "" {
			parts = append(parts, label+v)
		}
	}
	switch {
	case ev.Type == "delivery":
		add("", str("asset_id"))
		add("grant ", str("grant_id"))
		add("to ", str("recipient"))
		add("ip ", str("client_ip"))
		if b, ok := d["bytes"].(float64); ok {
			parts = append(parts, humanSize(int64(b)))
		}
		add("", str("result"))
	case strings.HasPrefix(ev.Type, "grant."):
		add("", str("id"))
		add("asset ", str("asset_id"))
		add("status ", str("status"))
		if _, ok := d["downloads_remaining"]; ok {
			if r := num("downloads_remaining"); r != "" {
				add("left ", r)
			}
		}
		add("ip ", str("client_ip"))
	case ev.Type == "asset.purged":
		add("", str("asset_id"))
		add("", str("filename"))
	default:
		add("", str("id"))
		add("", str("filename"))
		add("state ", str("state"))
		add("status ", str("status"))
		add("reason ", str("reason"))
	}
	return truncate(strings.Join(parts, "  "), 100)
}
