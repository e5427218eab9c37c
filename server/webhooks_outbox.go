package server

import (
	"context"
	"fmt"
	"time"

	"github.com/haulhq/haul/store"
	"github.com/haulhq/haul/webhook"
)

// StoreOutbox is the webhook outbox on a store.Store: the dispatcher's
// view of the deliveries AppendEvent queues.
type StoreOutbox struct {
	// Store holds the outbox.
	Store store.Store
}

var _ webhook.Outbox = StoreOutbox{}

// Claim implements webhook.Outbox.
func (o StoreOutbox) Claim(ctx context.Context, req webhook.ClaimRequest) ([]webhook.Delivery, error) {
	cs, err := o.Store.ClaimDeliveries(ctx, store.DeliveryClaim{
		Owner: req.Owner, Now: req.Now, Lease: req.Lease, Limit: req.Limit,
		PerEndpoint: req.PerEndpoint, ExcludeEndpoints: req.SkipEndpoints,
	})
	if err != nil {
		return nil, err
	}
	out := make([]webhook.Delivery, 0, len(cs))
	for _, c := range cs {
		out = append(out, webhook.Delivery{
			ID: c.Delivery.ID, TenantID: c.Delivery.TenantID, EndpointID: c.Endpoint.ID,
			URL: c.Endpoint.URL, Secret: c.Endpoint.Secret,
			EventID: c.Event.ID, EventType: c.Event.Type, EventTime: c.Event.CreatedAt, Data: c.Event.Data,
			Attempts: c.Delivery.Attempts, LeaseExpires: c.Delivery.LeaseExpiresAt,
		})
	}
	return out, nil
}

// Finish implements webhook.Outbox.
func (o StoreOutbox) Finish(ctx context.Context, d webhook.Delivery, owner string, a webhook.Attempt, outcome webhook.Outcome, next time.Time) error {
	r := store.DeliveryResult{
		DeliveryID: d.ID, Owner: owner, Now: a.At,
		Attempt: store.DeliveryAttempt{
			TenantID: d.TenantID, EndpointID: d.EndpointID, DeliveryID: d.ID, EventID: d.EventID, EventType: d.EventType,
			Attempt: a.Number, StatusCode: a.StatusCode, Success: a.Success, LatencyMS: a.Latency.Milliseconds(),
			Error: a.Error, Response: a.Response, CreatedAt: a.At,
		},
	}
	if outcome == webhook.Retry {
		r.NextAttemptAt = next
	}
	if _, err := o.Store.FinishDelivery(ctx, r); err != nil {
		return fmt.Errorf("finish delivery %s: %w", d.ID, err)
	}
	return nil
}

// DisableEndpoint implements webhook.Outbox.
func (o StoreOutbox) DisableEndpoint(ctx context.Context, d webhook.Delivery, at time.Time, reason string) error {
	_, err := o.Store.SetWebhookDisabled(ctx, d.TenantID, d.EndpointID, true, reason, at)
	return err
}

// NewWebhookDispatcher returns the dispatcher that drains st's outbox.
// Every replica may run one: claims are leased per delivery, so replicas
// share the work and a crashed replica's claims lapse to the others.
func NewWebhookDispatcher(st store.Store, o webhook.Options) *webhook.Dispatcher {
	o.Outbox = StoreOutbox{Store: st}
	return webhook.New(o)
}
