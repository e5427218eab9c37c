package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// notifyChannel is the LISTEN/NOTIFY channel Broadcasters share.
const notifyChannel = "haul_broadcast"

// Broadcaster wakes waiters on every replica: Publish sends a NOTIFY on the
// shared database, and each replica's Broadcaster LISTENs on one dedicated
// connection and wakes its local subscribers of the topic. It has the
// method set of server.Broadcaster, so haul serve's manifest long-polls
// (?wait=) wake when a job finishes on another replica.
//
// Delivery is best effort, as the server expects (waiters also re-read
// periodically): while the listening connection is down and being
// re-established, notifications are lost, and every subscriber is woken
// once it is back so none waits for a missed change.
type Broadcaster struct {
	db     *DB
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

// NewBroadcaster starts listening and returns the Broadcaster; Close stops
// it. It returns an error when the first LISTEN fails.
func (db *DB) NewBroadcaster(ctx context.Context) (*Broadcaster, error) {
	conn, err := db.listen(ctx)
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b := &Broadcaster{db: db, cancel: cancel, done: make(chan struct{}), subs: map[string]map[chan struct{}]struct{}{}}
	go b.run(lctx, conn)
	return b, nil
}

func (db *DB) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, db.conf.Copy())
	if err != nil {
		return nil, db.describe(err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		conn.Close(context.Background())
		return nil, db.d.Err("listen", err)
	}
	return conn, nil
}

// run dispatches notifications until ctx ends, reconnecting after errors.
func (b *Broadcaster) run(ctx context.Context, conn *pgx.Conn) {
	defer close(b.done)
	backoff := 100 * time.Millisecond
	for {
		n, err := conn.WaitForNotification(ctx)
		if err == nil {
			b.wake(n.Payload)
			backoff = 100 * time.Millisecond
			continue
		}
		conn.Close(context.Background())
		for {
			if ctx.Err() != nil {
				return
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, 5*time.Second)
			if conn, err = b.db.listen(ctx); err == nil {
				break
			}
		}
		// Notifications sent while we were away are lost: wake everyone.
		b.wakeAll()
	}
}

// Publish wakes the subscribers of topic on this replica at once and, via
// NOTIFY, on every other replica.
func (b *Broadcaster) Publish(topic string) {
	b.wake(topic)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Best effort: a lost wake-up only delays waiters until they re-read.
	_, _ = b.db.sql.ExecContext(ctx, "SELECT pg_notify($1, $2)", notifyChannel, topic)
}

// Subscribe returns a channel that receives after each Publish to topic on
// any replica, and a function to cancel the subscription.
func (b *Broadcaster) Subscribe(topic string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	if b.subs[topic] == nil {
		b.subs[topic] = map[chan struct{}]struct{}{}
	}
	b.subs[topic][ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs[topic], ch)
		if len(b.subs[topic]) == 0 {
			delete(b.subs, topic)
		}
		b.mu.Unlock()
	}
}

func (b *Broadcaster) wake(topic string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs[topic] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (b *Broadcaster) wakeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, subs := range b.subs {
		for ch := range subs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// Close stops listening.
func (b *Broadcaster) Close() error {
	b.cancel()
	<-b.done
	return nil
}
