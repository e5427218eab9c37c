package store

import (
	"context"
	"encoding/json"
	"time"
)

// Event types delivered to webhooks (SPEC section 3). Other types may be
// appended to the audit log (e.g. delivery records); they are never sent to
// webhooks.
const (
	EventAssetCreated     = "asset.created"
	EventAssetAvailable   = "asset.available"
	EventAssetQuarantined = "asset.quarantined"
	EventAssetDeleted     = "asset.deleted"
	EventJobSucceeded     = "job.succeeded"
	EventJobFailed        = "job.failed"
	EventExportCompleted  = "export.completed"
	EventGrantCreated     = "grant.created"
	EventGrantAccessed    = "grant.accessed"
	EventGrantConsumed    = "grant.consumed"
	EventGrantExpired     = "grant.expired"
	EventGrantRevoked     = "grant.revoked"
)

// WebhookEventTypes returns the event types webhooks can subscribe to.
func WebhookEventTypes() []string {
	return []string{
		EventAssetCreated, EventAssetAvailable, EventAssetQuarantined, EventAssetDeleted,
		EventJobSucceeded, EventJobFailed, EventExportCompleted,
		EventGrantCreated, EventGrantAccessed, EventGrantConsumed, EventGrantExpired, EventGrantRevoked,
	}
}

// IsWebhookEvent reports whether events of type t go to webhooks.
func IsWebhookEvent(t string) bool {
	switch t {
	case EventAssetCreated, EventAssetAvailable, EventAssetQuarantined, EventAssetDeleted,
		EventJobSucceeded, EventJobFailed, EventExportCompleted,
		EventGrantCreated, EventGrantAccessed, EventGrantConsumed, EventGrantExpired, EventGrantRevoked:
		return true
	}
	return false
}

// Event is one entry of a tenant's append-only audit log. Its ID is the
// webhook-id of every delivery of it.
type Event struct {
	// ID is "evt_…", assigned by AppendEvent; IDs increase in commit order.
	ID       string
	TenantID string
	Type     string
	// Data is the event's JSON object (the webhook payload's data).
	Data      json.RawMessage
	CreatedAt time.Time
}

// EventFilter narrows ListEvents.
type EventFilter struct {
	// Types, when set, keeps events of these types.
	Types []string
	// Since, when set, keeps events created at or after it.
	Since time.Time
	Page
}

// EventStore is the audit log.
type EventStore interface {
	// AppendEvent assigns e an ID (and CreatedAt when zero), stores it, and
	// queues a webhook delivery to each enabled endpoint of the tenant that
	// subscribes to its type (or to "*", for webhook event types), all in
	// the caller's transaction: call it inside WithTx with the change that
	// caused it. IDs are assigned so that a reader paging with After never
	// misses an event committed later. Any ID set by the caller is replaced.
	AppendEvent(ctx context.Context, e *Event) error
	// GetEvent returns one of the tenant's events; ENOTFOUND otherwise.
	GetEvent(ctx context.Context, tenantID, id string) (*Event, error)
	// ListEvents returns one page of the tenant's events in ID order.
	ListEvents(ctx context.Context, tenantID string, f EventFilter) ([]*Event, string, error)
}
