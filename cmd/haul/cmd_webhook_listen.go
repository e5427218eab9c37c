package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/haulhq/haul/config"
	"github.com/haulhq/haul/webhook"
)

// webhookListenOptions are the parsed flags of `haul webhook listen`.
type webhookListenOptions struct {
	Secret    string
	Addr      string
	ForwardTo string
	JSON      bool

	// Now is the clock signatures are checked against.
	Now func() time.Time
	// ready, when set, is called with the listening address (tests).
	ready func(addr string)
}

func newWebhookListenCmd(app *App) *cobra.Command {
	opts := &webhookListenOptions{}
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Receive webhooks locally, verify their signatures and print each event",
		Long: `Run a small HTTP receiver that checks each webhook's Standard Webhooks
signature with the endpoint's secret and prints the event: one line per
event, or one JSON object per line with --json.

Register the printed URL with "haul webhook add" (the server must run with
--webhook-allow-private to send to a loopback address). With --forward-to,
each verified webhook is passed on unchanged (same headers and body) to your
application, and your application's status is returned to haul, so retries
behave as they will in production. Webhooks that fail verification are
answered 401 and not forwarded.

The secret comes from --secret, else the HAUL_WEBHOOK_SECRET environment
variable.

EXIT STATUS
  0  stopped with Ctrl-C
  1  the address could not be bound
  2  usage error, e.g. no or malformed secret`,
		Example: `  # print events sent to http://127.0.0.1:8788/
  haul webhook listen --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw

  # pass them on to your app
  HAUL_WEBHOOK_SECRET=whsec_... haul webhook listen --forward-to http://localhost:3000/webhooks

  # machine-readable
  haul webhook listen --addr 127.0.0.1:9000 --json | jq .type`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("secret") {
				opts.Secret = app.Getenv("HAUL_WEBHOOK_SECRET")
				if opts.Secret == "" {
					opts.Secret = app.Config().String("secret")
				}
			}
			opts.JSON = app.Config().JSON
			return runWebhookListen(cmd.Context(), app, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Secret, "secret", "", "the endpoint's signing secret, whsec_... (env HAUL_WEBHOOK_SECRET)")
	cmd.Flags().StringVar(&opts.Addr, "addr", "127.0.0.1:8788", "address to listen on")
	cmd.Flags().StringVar(&opts.ForwardTo, "forward-to", "", "URL to pass verified webhooks on to")
	return cmd
}

// listenEvent is one line of `haul webhook listen --json`.
type listenEvent struct {
	MessageType   string          `json:"message_type"`
	ID            string          `json:"id"`
	Type          string          `json:"type,omitempty"`
	Timestamp     *time.Time      `json:"timestamp,omitempty"`
	SentAt        *time.Time      `json:"sent_at,omitempty"`
	Verified      bool            `json:"verified"`
	Error         string          `json:"error,omitempty"`
	Data          json.RawMessage `json:"data,omitempty"`
	ForwardStatus int             `json:"forward_status,omitempty"`
	ForwardError  string          `json:"forward_error,omitempty"`
}

func runWebhookListen(ctx context.Context, app *App, opts *webhookListenOptions) error {
	if opts.Secret == "" {
		return usageErrorf("webhook listen needs the endpoint's secret: --secret whsec_... or HAUL_WEBHOOK_SECRET")
	}
	signer, err := webhook.NewSigner(opts.Secret)
	if err != nil {
		return withExit(exitUsage, err)
	}
	var forward *url.URL
	if opts.ForwardTo != "" {
		forward, err = url.Parse(opts.ForwardTo)
		if err != nil || (forward.Scheme != "http" && forward.Scheme != "https") || forward.Host == "" {
			return usageErrorf("--forward-to %q: want an http:// or https:// URL", opts.ForwardTo)
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return listenError(opts.Addr, err)
	}
	client := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var outMu sync.Mutex
	emit := func(ev listenEvent) {
		outMu.Lock()
		defer outMu.Unlock()
		if opts.JSON {
			_ = json.NewEncoder(app.IO.Out).Encode(ev)
			return
		}
		fmt.Fprintln(app.IO.Out, listenLine(ev))
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "haul webhook listen accepts POSTed webhooks", http.StatusMethodNotAllowed)
			return
		}
		msg, verr := webhook.ReadRequest(r, signer, opts.Now(), 0)
		if msg == nil {
			http.Error(w, verr.Error(), http.StatusRequestEntityTooLarge)
			emit(listenEvent{MessageType: "rejected", ID: r.Header.Get(webhook.HeaderID), Error: verr.Error()})
			return
		}
		ev := listenEvent{MessageType: "event", ID: msg.ID, Type: msg.Payload.Type, Verified: verr == nil, Data: msg.Payload.Data}
		if !msg.Payload.Timestamp.IsZero() {
			ts := msg.Payload.Timestamp.UTC()
			ev.Timestamp = &ts
		}
		if !msg.Timestamp.IsZero() {
			ts := msg.Timestamp
			ev.SentAt = &ts
		}
		if verr != nil {
			ev.MessageType, ev.Error = "rejected", verr.Error()
			emit(ev)
			http.Error(w, "signature verification failed: "+verr.Error(), http.StatusUnauthorized)
			return
		}
		if forward == nil {
			emit(ev)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		status, body, ferr := forwardWebhook(r.Context(), client, forward, r.Header, msg.Body)
		if ferr != nil {
			ev.ForwardError = ferr.Error()
			emit(ev)
			http.Error(w, "forward failed: "+ferr.Error(), http.StatusBadGateway)
			return
		}
		ev.ForwardStatus = status
		emit(ev)
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	addr := ln.Addr().String()
	msg := fmt.Sprintf("Listening for webhooks on http://%s/ (secret %s)", addr, config.Mask(opts.Secret))
	if forward != nil {
		msg += ", forwarding to " + forward.Redacted()
	}
	fmt.Fprintln(app.IO.ErrOut, msg+". Ctrl-C stops.")
	if opts.ready != nil {
		opts.ready(addr)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("webhook listener: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stop webhook listener: %w", err)
	}
	return nil
}

// forwardWebhook passes a verified webhook on unchanged and returns the
// application's status and the start of its body.
func forwardWebhook(ctx context.Context, c *http.Client, to *url.URL, h http.Header, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for _, k := range []string{"Content-Type", webhook.HeaderID, webhook.HeaderTimestamp, webhook.HeaderSignature} {
		if v := h.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	req.Header.Set("User-Agent", userAgent())
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, b, nil
}

// listenLine is the human form of a received webhook.
func listenLine(ev listenEvent) string {
	var b strings.Builder
	when := time.Now().UTC()
	if ev.SentAt != nil {
		when = *ev.SentAt
	}
	typ := ev.Type
	if typ == "" {
		typ = "(no type)"
	}
	fmt.Fprintf(&b, "%s  %-18s %s", when.Format(time.RFC3339), typ, ev.ID)
	switch {
	case !ev.Verified:
		fmt.Fprintf(&b, "  REJECTED: %s", ev.Error)
	case ev.ForwardError != "":
		fmt.Fprintf(&b, "  verified, forward failed: %s", ev.ForwardError)
	case ev.ForwardStatus != 0:
		fmt.Fprintf(&b, "  verified -> %d %s", ev.ForwardStatus, http.StatusText(ev.ForwardStatus))
	default:
		b.WriteString("  verified")
	}
	return b.String()
}
