package webhook

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"time"
)

// memOutbox is an in-memory Outbox with the semantics the store must have,
// used to test the dispatcher's logic in isolation; the server's tests run
// the dispatcher against the real store.
type memOutbox struct {
	mu        sync.Mutex
	rows      map[string]*memRow
	attempts  []Attempt
	disabled  map[string]string
	endpoints map[string]memEndpoint
}

type memEndpoint struct{ url, secret string }

type memRow struct {
	d         Delivery
	next      time.Time
	owner     string
	leaseTill time.Time
	state     string // pending, delivered, dead
}

func newMemOutbox() *memOutbox {
	return &memOutbox{rows: map[string]*memRow{}, disabled: map[string]string{}, endpoints: map[string]memEndpoint{}}
}

func (m *memOutbox) addEndpoint(id, url, secret string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.endpoints[id] = memEndpoint{url, secret}
}

func (m *memOutbox) enqueue(id, endpoint, eventID, typ string, at time.Time, data string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ep := m.endpoints[endpoint]
	m.rows[id] = &memRow{
		d:     Delivery{ID: id, EndpointID: endpoint, URL: ep.url, Secret: ep.secret, EventID: eventID, EventType: typ, EventTime: at, Data: []byte(data)},
		next:  at,
		state: "pending",
	}
}

func (m *memOutbox) Claim(_ context.Context, req ClaimRequest) ([]Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []*memRow
	for _, r := range m.rows {
		if r.state != "pending" || r.next.After(req.Now) || (r.owner != "" && r.leaseTill.After(req.Now)) {
			continue
		}
		if _, off := m.disabled[r.d.EndpointID]; off || slices.Contains(req.SkipEndpoints, r.d.EndpointID) {
			continue
		}
		due = append(due, r)
	}
	sort.Slice(due, func(i, j int) bool {
		if !due[i].next.Equal(due[j].next) {
			return due[i].next.Before(due[j].next)
		}
		return due[i].d.ID < due[j].d.ID
	})
	per := map[string]int{}
	var out []Delivery
	for _, r := range due {
		if len(out) >= req.Limit || per[r.d.EndpointID] >= req.PerEndpoint {
			continue
		}
		per[r.d.EndpointID]++
		r.owner, r.leaseTill = req.Owner, req.Now.Add(req.Lease)
		d := r.d
		d.LeaseExpires = r.leaseTill
		out = append(out, d)
	}
	return out, nil
}

func (m *memOutbox) Finish(_ context.Context, d Delivery, owner string, a Attempt, outcome Outcome, next time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rows[d.ID]
	if r.owner != owner {
		return errors.New("lease lost")
	}
	m.attempts = append(m.attempts, a)
	r.d.Attempts, r.owner = a.Number, ""
	switch outcome {
	case Delivered:
		r.state = "delivered"
	case Retry:
		r.next = next
	case Dead:
		r.state = "dead"
	}
	return nil
}

func (m *memOutbox) Release(_ context.Context, owner string, ds []Delivery) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range ds {
		if r := m.rows[d.ID]; r.owner == owner {
			r.owner = ""
		}
	}
	return nil
}

func (m *memOutbox) DisableEndpoint(_ context.Context, d Delivery, _ time.Time, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.disabled[d.EndpointID] = reason
	return nil
}

func (m *memOutbox) row(id string) memRow {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.rows[id]
}

func (m *memOutbox) attemptsFor(deliveryID string) []Attempt {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Attempt
	for _, a := range m.attempts {
		if a.DeliveryID == deliveryID {
			out = append(out, a)
		}
	}
	return out
}

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
