package store

import "context"

// Notifier is implemented by backends that can wake waiters on every
// replica when something changes, e.g. an export's manifest long-poll
// when one of its jobs finishes. Wake-ups are hints: a waiter re-reads the
// store and also wakes on its own timeout, so a lost notification only
// delays it. SQLite fans out within the process; PostgreSQL uses
// LISTEN/NOTIFY.
type Notifier interface {
	// Notify wakes the subscribers of topic (e.g. "export:exp_…") on all
	// replicas, this one included. Call it after the change committed.
	Notify(ctx context.Context, topic string) error
	// Subscribe calls fn with each topic notified from when it returns
	// until ctx ends. fn runs on one goroutine per subscription and must
	// not block for long. The returned cancel also ends the subscription.
	Subscribe(ctx context.Context, fn func(topic string)) (cancel func(), err error)
}
