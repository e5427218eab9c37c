package webhook

import (
	"context"
	"encoding/json"
	"time"
)

// Delivery is one event due to one endpoint: a row of the durable outbox
// as the dispatcher sees it.
type Delivery struct {
	// ID identifies the outbox row.
	ID string
	// TenantID owns the endpoint and the event.
	TenantID string
	// EndpointID is the receiving endpoint.
	EndpointID string
	// URL is where the webhook is POSTed.
	URL string
	// Secret is the endpoint's "whsec_…" signing secret. Never logged.
	Secret string
	// EventID is the event's id, sent as webhook-id on every attempt,
	// retry and replay.
	EventID string
	// EventType is the event's type, e.g. "grant.created".
	EventType string
	// EventTime is when the event happened.
	EventTime time.Time
	// Data is the event's object, the payload's "data".
	Data json.RawMessage
	// Attempts is the number of attempts already made.
	Attempts int
	// LeaseExpires is when the claim on this delivery lapses and another
	// dispatcher may take it.
	LeaseExpires time.Time
}

// Attempt is the record of one HTTP attempt to deliver a webhook.
type Attempt struct {
	// DeliveryID, EndpointID, EventID and EventType say what was sent where.
	DeliveryID string
	EndpointID string
	EventID    string
	EventType  string
	// Number is the 1-based attempt number of this delivery.
	Number int
	// StatusCode is the receiver's HTTP status, 0 when none was received.
	StatusCode int
	// Success is true for a 2xx answer.
	Success bool
	// Latency is from sending the request to reading the response.
	Latency time.Duration
	// Error describes a failure (transport error or non-2xx), empty on
	// success. It never contains the secret or the URL's query.
	Error string
	// Response is the start of the response body, at most
	// Options.ResponseLimit bytes, valid UTF-8.
	Response string
	// At is when the attempt was made.
	At time.Time
}

// ClaimRequest asks the outbox for due deliveries.
type ClaimRequest struct {
	// Owner names the claiming dispatcher; it holds the lease.
	Owner string
	// Now is the dispatcher's clock: deliveries due at or before Now whose
	// lease is free or lapsed are claimed.
	Now time.Time
	// Lease is how long the claim holds.
	Lease time.Duration
	// Limit caps the number of deliveries returned.
	Limit int
	// PerEndpoint caps the deliveries returned for one endpoint, so one
	// endpoint's backlog cannot fill a batch.
	PerEndpoint int
	// SkipEndpoints are endpoints this dispatcher is already working on.
	SkipEndpoints []string
}

// Outcome is what a finished attempt does to its delivery.
type Outcome int

// Outcomes of an attempt.
const (
	// Delivered: the receiver answered 2xx; the delivery is done.
	Delivered Outcome = iota
	// Retry: the attempt failed; try again at the given time.
	Retry
	// Dead: the attempt failed and the retry schedule is exhausted.
	Dead
)

// Outbox is the durable queue the dispatcher drains. The server implements
// it on its store; deliveries are inserted in the same transaction as the
// event that caused them. Disabled endpoints' deliveries are never claimed.
type Outbox interface {
	// Claim leases due deliveries of enabled endpoints.
	Claim(ctx context.Context, req ClaimRequest) ([]Delivery, error)
	// Finish records the attempt and applies its outcome in one step:
	// delivered, retry at next, or dead; the lease held by owner is
	// released.
	Finish(ctx context.Context, d Delivery, owner string, a Attempt, outcome Outcome, next time.Time) error
	// DisableEndpoint stops deliveries to the endpoint of d, which keeps
	// failing.
	DisableEndpoint(ctx context.Context, d Delivery, at time.Time, reason string) error
}

// Releaser is an Outbox that can give claimed deliveries back before their
// lease lapses, without counting an attempt (used at shutdown). Outboxes
// without it let the lease lapse instead.
type Releaser interface {
	Release(ctx context.Context, owner string, deliveries []Delivery) error
}
