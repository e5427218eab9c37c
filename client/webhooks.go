package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/url"
	"time"
)

// CreateWebhookRequest is the body of POST /v1/webhooks.
type CreateWebhookRequest struct {
	// URL receives the events (http or https).
	URL string `json:"url"`
	// Events are the event types to send, or ["*"] for all.
	Events []string `json:"events"`
}

// Webhook is an endpoint that receives signed events.
type Webhook struct {
	// ID is the webhook id ("whk_…").
	ID string `json:"id"`
	// URL receives the events.
	URL string `json:"url"`
	// Events are the subscribed event types.
	Events []string `json:"events"`
	// Secret ("whsec_…") verifies signatures; only returned at creation.
	Secret string `json:"secret,omitempty"`
	// Disabled is set when the server stopped delivering after sustained
	// failure; DisabledReason says why.
	Disabled       bool   `json:"disabled,omitempty"`
	DisabledReason string `json:"disabled_reason,omitempty"`
	// ConsecutiveFailures counts failed attempts since the last success.
	ConsecutiveFailures int `json:"consecutive_failures,omitempty"`
	// LastSuccessAt and LastFailureAt are the latest delivery outcomes.
	LastSuccessAt *time.Time `json:"last_success_at,omitempty"`
	LastFailureAt *time.Time `json:"last_failure_at,omitempty"`
	// CreatedAt and UpdatedAt are when the webhook was added and changed.
	CreatedAt *time.Time `json:"created_at,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`

	raw json.RawMessage // the server's JSON, see raw.go
}

// Delivery is one attempt to deliver an event to a webhook.
type Delivery struct {
	// ID is the attempt's id; DeliveryID groups the attempts of one event
	// to one webhook.
	ID         string `json:"id"`
	DeliveryID string `json:"delivery_id,omitempty"`
	EventID    string `json:"event_id"`
	EventType  string `json:"event_type"`
	Attempt    int    `json:"attempt"`
	StatusCode int    `json:"status_code"`
	Success    bool   `json:"success"`
	LatencyMS  int64  `json:"latency_ms"`
	Error      string `json:"error,omitempty"`
	// Response is the start of the receiver's answer.
	Response  string    `json:"response,omitempty"`
	CreatedAt time.Time `json:"created_at"`

	raw json.RawMessage // the server's JSON, see raw.go
}

// ReplayRequest is the body of POST /v1/webhooks/{id}/replay.
type ReplayRequest struct {
	// Since re-sends the events stored from this time on.
	Since time.Time `json:"since"`
}

// ReplayResult is the answer to a replay.
type ReplayResult struct {
	// WebhookID and Since echo the request.
	WebhookID string    `json:"webhook_id,omitempty"`
	Since     time.Time `json:"since,omitzero"`
	// Replayed counts the events queued again.
	Replayed int `json:"replayed"`
	// Raw is the whole response, for fields this client does not know.
	Raw json.RawMessage `json:"-"`
}

// CreateWebhook adds an endpoint; the returned Secret is shown once.
func (c *Client) CreateWebhook(ctx context.Context, req CreateWebhookRequest, opts ...CallOption) (*Webhook, error) {
	var w Webhook
	if _, err := c.call(ctx, &request{method: "POST", path: "/v1/webhooks", body: req, call: applyOptions(opts)}, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// GetWebhook returns one webhook.
func (c *Client) GetWebhook(ctx context.Context, id string) (*Webhook, error) {
	var w Webhook
	if _, err := c.call(ctx, &request{method: "GET", path: "/v1/webhooks/" + pathEscape(id)}, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// ListWebhooks iterates over the webhooks.
func (c *Client) ListWebhooks(ctx context.Context, opts ListOptions) iter.Seq2[Webhook, error] {
	return listAll[Webhook](ctx, c, "/v1/webhooks", opts.values())
}

// DeleteWebhook removes a webhook.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	_, err := c.call(ctx, &request{method: "DELETE", path: "/v1/webhooks/" + pathEscape(id)}, nil)
	return err
}

// ListDeliveries iterates over a webhook's delivery attempts.
func (c *Client) ListDeliveries(ctx context.Context, webhookID string, opts ListOptions) iter.Seq2[Delivery, error] {
	return listAll[Delivery](ctx, c, "/v1/webhooks/"+pathEscape(webhookID)+"/deliveries", opts.values())
}

// ReplayWebhook re-sends the events stored since req.Since, with their
// original webhook-id and a fresh timestamp and signature.
func (c *Client) ReplayWebhook(ctx context.Context, id string, req ReplayRequest, opts ...CallOption) (*ReplayResult, error) {
	var raw json.RawMessage
	if _, err := c.call(ctx, &request{method: "POST", path: "/v1/webhooks/" + pathEscape(id) + "/replay", body: req, call: applyOptions(opts)}, &raw); err != nil {
		return nil, err
	}
	res := &ReplayResult{Raw: raw}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, res)
	}
	return res, nil
}

// Event is an entry of the audit log; webhooks deliver the same events.
type Event struct {
	// ID is the event id ("evt_…").
	ID string `json:"id"`
	// Type is the event type ("asset.created", "grant.accessed", …).
	Type string `json:"type"`
	// Timestamp is when it happened; CreatedAt when it was recorded.
	Timestamp time.Time  `json:"timestamp"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	// Data is the event's payload.
	Data json.RawMessage `json:"data,omitempty"`
}

// EventListOptions filter GET /v1/events.
type EventListOptions struct {
	ListOptions
	// After returns events after this event id.
	After string
	// Type keeps one event type.
	Type string
}

func (o EventListOptions) values() url.Values {
	q := o.ListOptions.values()
	if o.After != "" {
		q.Set("after", o.After)
	}
	if o.Type != "" {
		q.Set("type", o.Type)
	}
	return q
}

// ListEventsPage returns one page of the audit log.
func (c *Client) ListEventsPage(ctx context.Context, opts EventListOptions) (*Page[Event], error) {
	return listPage[Event](ctx, c, "/v1/events", opts.values())
}

// GetEvent returns one event of the audit log.
func (c *Client) GetEvent(ctx context.Context, id string) (*Event, error) {
	var e Event
	if _, err := c.call(ctx, &request{method: "GET", path: "/v1/events/" + pathEscape(id)}, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// ListEvents iterates over the audit log, oldest first.
func (c *Client) ListEvents(ctx context.Context, opts EventListOptions) iter.Seq2[Event, error] {
	return listAll[Event](ctx, c, "/v1/events", opts.values())
}
