package store

import (
	"context"
	"slices"
	"time"
)

// WebhookEndpoint is a receiver of a tenant's events.
type WebhookEndpoint struct {
	// ID is "whk_…".
	ID       string
	TenantID string
	URL      string
	// Events are the subscribed types, or ["*"] for all webhook events.
	Events []string
	// Secret signs deliveries ("whsec_…"); kept because signing needs it.
	Secret   string
	Disabled bool
	// DisabledReason says why the endpoint was disabled.
	DisabledReason string
	// ConsecutiveFailures counts failed attempts since the last success.
	ConsecutiveFailures int
	LastSuccessAt       time.Time
	LastFailureAt       time.Time
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// Subscribes reports whether the endpoint wants events of type t.
func (w *WebhookEndpoint) Subscribes(t string) bool {
	if !IsWebhookEvent(t) {
		return false
	}
	return slices.Contains(w.Events, "*") || slices.Contains(w.Events, t)
}

// DeliveryStatus is where one event's delivery to one endpoint is.
type DeliveryStatus string

// Delivery statuses. Pending and failed deliveries are claimable once
// NextAttemptAt has come.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliveryFailed    DeliveryStatus = "failed" // last attempt failed, retry scheduled
	DeliveryDelivered DeliveryStatus = "delivered"
	DeliveryDead      DeliveryStatus = "dead" // retries exhausted or endpoint gone
)

// Delivery is a row of the webhook outbox: one event for one endpoint.
type Delivery struct {
	// ID is "dlv_…".
	ID         string
	TenantID   string
	EndpointID string
	EventID    string
	Status     DeliveryStatus
	// Attempts counts finished attempts.
	Attempts       int
	NextAttemptAt  time.Time
	LeaseOwner     string
	LeaseExpiresAt time.Time
	LastError      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	DeliveredAt    time.Time
}

// ClaimedDelivery is a claimed delivery with what sending it needs.
type ClaimedDelivery struct {
	Delivery Delivery
	Event    Event
	Endpoint WebhookEndpoint
}

// DeliveryAttempt records one HTTP attempt (GET /v1/webhooks/{id}/deliveries).
type DeliveryAttempt struct {
	// ID is "att_…".
	ID         string
	TenantID   string
	EndpointID string
	DeliveryID string
	EventID    string
	EventType  string
	// Attempt is 1 for the first try of the delivery.
	Attempt    int
	StatusCode int // 0 when no response came
	Success    bool
	LatencyMS  int64
	Error      string
	// Response is the start of the response body, for debugging.
	Response  string
	CreatedAt time.Time
}

// DeliveryClaim asks for due deliveries.
type DeliveryClaim struct {
	Owner string
	Now   time.Time
	Lease time.Duration
	// Limit caps the deliveries claimed (0: 100).
	Limit int
	// PerEndpoint caps the deliveries claimed per endpoint (0: no cap), so
	// one endpoint's backlog cannot take every slot.
	PerEndpoint int
	// ExcludeEndpoints are endpoints the caller is busy with already.
	ExcludeEndpoints []string
}

// DeliveryResult finishes a claimed delivery.
type DeliveryResult struct {
	DeliveryID string
	Owner      string
	// Attempt is recorded as is (ID, attempt number, event fields and
	// CreatedAt are filled when empty).
	Attempt DeliveryAttempt
	// NextAttemptAt schedules a retry after a failure; zero means give up
	// (the delivery becomes dead).
	NextAttemptAt time.Time
	Now           time.Time
}

// WebhookStore keeps endpoints, the delivery outbox and attempt records.
type WebhookStore interface {
	// CreateWebhook stores w, filling ID and times.
	CreateWebhook(ctx context.Context, w *WebhookEndpoint) error
	// GetWebhook returns one of the tenant's endpoints; ENOTFOUND otherwise.
	GetWebhook(ctx context.Context, tenantID, id string) (*WebhookEndpoint, error)
	// ListWebhooks returns one page of the tenant's endpoints.
	ListWebhooks(ctx context.Context, tenantID string, p Page) ([]*WebhookEndpoint, string, error)
	// DeleteWebhook removes an endpoint with its outbox rows and attempts.
	DeleteWebhook(ctx context.Context, tenantID, id string) error
	// SetWebhookDisabled disables an endpoint (with a reason) or enables it
	// again (resetting its failure count).
	SetWebhookDisabled(ctx context.Context, tenantID, id string, disabled bool, reason string, now time.Time) (*WebhookEndpoint, error)

	// ClaimDeliveries leases due deliveries (pending or failed, due at Now,
	// unleased or with an expired lease, to enabled endpoints), oldest due
	// first. Exclusive under concurrency.
	ClaimDeliveries(ctx context.Context, c DeliveryClaim) ([]ClaimedDelivery, error)
	// FinishDelivery records the attempt, sets the delivery delivered,
	// failed (with its next attempt) or dead, releases the lease, and
	// updates the endpoint's failure counters, in one transaction. It
	// returns the endpoint after the update. ECONFLICT when owner no longer
	// holds the delivery.
	FinishDelivery(ctx context.Context, r DeliveryResult) (*WebhookEndpoint, error)
	// ListDeliveryAttempts returns one page of an endpoint's attempts by ID.
	ListDeliveryAttempts(ctx context.Context, tenantID, endpointID string, p Page) ([]*DeliveryAttempt, string, error)
	// ReplayWebhook queues a new delivery of every tenant event created at or
	// after since that the endpoint subscribes to (original event IDs kept),
	// due at now, and returns how many.
	ReplayWebhook(ctx context.Context, tenantID, endpointID string, since, now time.Time) (int, error)
	// CountDeliveries returns how many deliveries of all tenants have the
	// status (the outbox-depth metric).
	CountDeliveries(ctx context.Context, status DeliveryStatus) (int, error)
}
