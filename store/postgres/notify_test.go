package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/haulhq/haul/internal/testsvc"
	"github.com/haulhq/haul/store/postgres"
)

// TestBroadcasterAcrossReplicas: a Publish on one replica wakes the
// subscribers of that topic on another, and only those.
func TestBroadcasterAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	dsn := testsvc.PostgreSQL(t)
	open := func() *postgres.Broadcaster {
		db, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		b, err := db.NewBroadcaster(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	a, b := open(), open()
	onB, cancelB := b.Subscribe("export:exp_1")
	defer cancelB()
	otherB, cancelOther := b.Subscribe("export:exp_2")
	defer cancelOther()
	onA, cancelA := a.Subscribe("export:exp_1")
	defer cancelA()

	a.Publish("export:exp_1")
	for name, ch := range map[string]<-chan struct{}{"replica B": onB, "replica A": onA} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s was not woken", name)
		}
	}
	select {
	case <-otherB:
		t.Error("a subscriber of another topic was woken")
	case <-time.After(300 * time.Millisecond):
	}
	cancelB()
	a.Publish("export:exp_1") // no subscriber left on B: must not block or panic
}
