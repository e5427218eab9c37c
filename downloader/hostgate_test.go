package downloader

import (
	"context"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"0":                             0,
		"7":                             7 * time.Second,
		" 120 ":                         2 * time.Minute,
		"Sun, 29 Nov 2026 12:00:30 GMT": 30 * time.Second,
		"Sun, 29 Nov 2026 11:00:00 GMT": 0,
		"99999999":                      24 * time.Hour,
	} {
		got, ok := parseRetryAfter(in, now)
		if !ok || got != want {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-1", "soon", "1.5"} {
		if _, ok := parseRetryAfter(in, now); ok {
			t.Errorf("parseRetryAfter(%q) accepted", in)
		}
	}
}

func TestHostGateAIMD(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	g := newHostGates(clock, 8).get("h")
	g.throttle(0)
	g.throttle(0)
	if g.limit != 2 {
		t.Fatalf("limit after two throttles = %v, want 2", g.limit)
	}
	ctx := context.Background()
	for range 2 {
		if err := g.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A third request must wait for a slot.
	tctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := g.acquire(tctx); err == nil {
		t.Fatal("acquired beyond the limit")
	}
	// Recovery: successes grow the limit additively back to the maximum.
	for range 200 {
		g.release(true)
		if err := g.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if g.limit != 8 {
		t.Errorf("limit after recovery = %v, want 8", g.limit)
	}
}

func FuzzContentRange(f *testing.F) {
	f.Add("bytes 0-99/100")
	f.Add("bytes 0-99/*")
	f.Fuzz(func(t *testing.T, s string) {
		cr, err := parseContentRange(s)
		if err != nil {
			return
		}
		if cr.first < 0 || cr.last < cr.first || (cr.total != -1 && cr.total <= cr.last) {
			t.Fatalf("parseContentRange(%q) = %+v", s, cr)
		}
	})
}
