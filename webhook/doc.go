// Package webhook owns haul's outbound webhooks: Standard Webhooks signing
// and verification (https://www.standardwebhooks.com), the event payload,
// the outbound HTTP client that refuses private targets, and the
// dispatcher that drains a durable outbox with per-endpoint queues and the
// Standard Webhooks retry schedule.
//
// The package knows nothing about the store: the dispatcher works against
// the small Outbox interface, which the server adapts to its store.
package webhook
