package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The -update flag rewrites golden files: go test ./cmd/haul -run Golden -update
// It is defined only if another test file has not defined it already.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files in testdata/golden")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// goldenDir holds the expected human output of commands.
var goldenDir = filepath.Join("..", "..", "testdata", "golden")

// assertGolden compares got with testdata/golden/name, or rewrites it with
// -update.
func assertGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if updateGolden() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update if the change is intended)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func TestTableRender(t *testing.T) {
	tb := newTable("ID", "NAME", "SIZE>")
	tb.add("ast_1", "short", "1.0 KiB")
	tb.add("ast_22", "a much longer name", "12 MiB")
	tb.add("ast_3", "", "-")
	var b bytes.Buffer
	if err := tb.render(&b); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ID      NAME                   SIZE\n" +
		"ast_1   short               1.0 KiB\n" +
		"ast_22  a much longer name   12 MiB\n" +
		"ast_3                             -\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{
		-1: "-", 0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		10 * 1024: "10 KiB", 5 << 20: "5.0 MiB", 300 << 20: "300 MiB", 3 << 30: "3.0 GiB", 2 << 40: "2.0 TiB",
	} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestHumanAgo(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "-"},
		{now.Add(-10 * time.Second), "just now"},
		{now.Add(-5 * time.Minute), "5m ago"},
		{now.Add(-3 * time.Hour), "3h ago"},
		{now.Add(-30 * time.Hour), "30h ago"},
		{now.Add(-4 * 24 * time.Hour), "4d ago"},
		{now.Add(-60 * 24 * time.Hour), "2026-09-25"},
		{now.Add(5 * time.Minute), "in 5m"},
		{now.Add(10 * time.Second), "in a moment"},
	}
	for _, tt := range tests {
		if got := humanAgo(tt.t, now); got != tt.want {
			t.Errorf("humanAgo(%v) = %q, want %q", tt.t, got, tt.want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		850 * time.Millisecond: "850ms", 12 * time.Second: "12.0s", 185 * time.Second: "3m05s", 62 * time.Minute: "1h02m",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("héllo world", 5); got != "héll…" {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("abc", 5); got != "abc" {
		t.Errorf("truncate = %q", got)
	}
}
