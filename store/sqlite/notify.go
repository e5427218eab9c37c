package sqlite

import (
	"context"
	"sync"

	"github.com/haulhq/haul/store"
)

var _ store.Notifier = (*DB)(nil)

// notifier fans notifications out to the subscribers of this process
// (SQLite has one server process).
type notifier struct {
	mu   sync.Mutex
	next int
	subs map[int]chan string
}

// notifyBuffer is how many topics a slow subscriber may lag behind before
// further ones are dropped for it (they are hints; see store.Notifier).
const notifyBuffer = 64

// Notify wakes this process's subscribers of topic.
func (db *DB) Notify(ctx context.Context, topic string) error {
	db.notes.mu.Lock()
	defer db.notes.mu.Unlock()
	for _, ch := range db.notes.subs {
		select {
		case ch <- topic:
		default: // subscriber is behind: drop the hint
		}
	}
	return nil
}

// Subscribe calls fn for each notified topic until ctx ends or cancel is
// called.
func (db *DB) Subscribe(ctx context.Context, fn func(topic string)) (func(), error) {
	n := &db.notes
	ch := make(chan string, notifyBuffer)
	n.mu.Lock()
	if n.subs == nil {
		n.subs = make(map[int]chan string)
	}
	id := n.next
	n.next++
	n.subs[id] = ch
	n.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer func() {
			n.mu.Lock()
			delete(n.subs, id)
			n.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case topic := <-ch:
				if ctx.Err() != nil { // cancelled while the topic was queued
					return
				}
				fn(topic)
			}
		}
	}()
	return cancel, nil
}
