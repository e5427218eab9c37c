package store

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestIDSourceMonotonic(t *testing.T) {
	var s IDSource
	now := time.Date(2026, 11, 29, 21, 0, 0, 0, time.UTC)
	prev := ""
	for i := range 10000 {
		at := now
		if i%1000 == 999 {
			at = now.Add(-time.Second) // clock going back must not reorder
		}
		id := s.New(PrefixAsset, at)
		if !HasPrefix(id, PrefixAsset) {
			t.Fatalf("id %q lacks prefix", id)
		}
		if id <= prev {
			t.Fatalf("id %d: %q not after %q", i, id, prev)
		}
		prev = id
	}
	if later := s.New(PrefixAsset, now.Add(time.Millisecond)); later <= prev {
		t.Fatalf("next millisecond id %q not after %q", later, prev)
	}
}

func TestIDTime(t *testing.T) {
	now := time.Date(2026, 11, 29, 21, 0, 0, 123e6, time.UTC)
	id := NewIDAt(PrefixEvent, now)
	got, ok := IDTime(id)
	if !ok || !got.Equal(now) {
		t.Fatalf("IDTime(%q) = %v, %v; want %v", id, got, ok, now)
	}
	for _, bad := range []string{"", "evt_", "evt_short", "evt_0123456789ABCDEFGHJKMNPQR!"} {
		if _, ok := IDTime(bad); ok {
			t.Errorf("IDTime(%q) ok", bad)
		}
	}
	if len(id) != len("evt_")+26 {
		t.Fatalf("id %q has length %d", id, len(id))
	}
}

func TestIDsSortAcrossMilliseconds(t *testing.T) {
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	a := NewIDAt("x", base)
	b := NewIDAt("x", base.Add(time.Millisecond))
	c := NewIDAt("x", base.Add(365*24*time.Hour))
	if !(a < b && b < c) {
		t.Fatalf("not sorted: %s %s %s", a, b, c)
	}
}

func TestErrorIs(t *testing.T) {
	err := fmt.Errorf("get asset: %w", Errorf(ENOTFOUND, "asset %s not found", "ast_x"))
	if !errors.Is(err, ErrNotFound) {
		t.Fatal("errors.Is(ErrNotFound) false")
	}
	if errors.Is(err, ErrConflict) {
		t.Fatal("errors.Is(ErrConflict) true")
	}
	if got := ErrorCode(err); got != ENOTFOUND {
		t.Fatalf("ErrorCode = %q", got)
	}
	if got := ErrorMessage(err); got != "asset ast_x not found" {
		t.Fatalf("ErrorMessage = %q", got)
	}
	if got := ErrorCode(errors.New("boom")); got != EINTERNAL {
		t.Fatalf("ErrorCode(plain) = %q", got)
	}
	if got := ErrorCode(nil); got != "" {
		t.Fatalf("ErrorCode(nil) = %q", got)
	}
}

func TestGrantHelpers(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := &Grant{Status: GrantActive, AccessExpiresAt: now, MaxDownloads: 3, DownloadsUsed: 1}
	if got := g.EffectiveStatus(now); got != GrantExpired {
		t.Fatalf("EffectiveStatus at expiry = %s", got)
	}
	if got := g.EffectiveStatus(now.Add(-time.Second)); got != GrantActive {
		t.Fatalf("EffectiveStatus before expiry = %s", got)
	}
	if g.Remaining() != 2 {
		t.Fatalf("Remaining = %d", g.Remaining())
	}
	g.MaxDownloads = 0
	if g.Remaining() != -1 {
		t.Fatalf("unlimited Remaining = %d", g.Remaining())
	}
	k := &APIKey{Scopes: []string{ScopeAdmin}}
	if !k.HasScope(ScopeExport) {
		t.Fatal("admin lacks export")
	}
	k.Scopes = []string{ScopeRead}
	if k.HasScope(ScopeWrite) {
		t.Fatal("read has write")
	}
	w := &WebhookEndpoint{Events: []string{"*"}}
	if !w.Subscribes(EventGrantCreated) || w.Subscribes("delivery.completed") {
		t.Fatal("wildcard subscription wrong")
	}
}
