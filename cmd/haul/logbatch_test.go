package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	n  int // writes
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogBatcher: every line arrives whole and in order per writer, a lone
// line is written without waiting for Close, and Close flushes the rest.
func TestLogBatcher(t *testing.T) {
	var out lockedBuffer
	b := newLogBatcher(&out)
	fmt.Fprintf(b, "first\n")
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != "first\n" {
		if time.Now().After(deadline) {
			t.Fatal("a lone line was not written before Close")
		}
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				fmt.Fprintf(b, "w%d line %d\n", w, i)
			}
		}()
	}
	wg.Wait()
	b.Close()
	fmt.Fprintf(b, "after close\n")
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1+8*500+1 {
		t.Fatalf("%d lines, want %d", len(lines), 1+8*500+1)
	}
	next := map[string]int{}
	for _, l := range lines[1 : len(lines)-1] {
		var w string
		var i int
		if _, err := fmt.Sscanf(l, "%s line %d", &w, &i); err != nil || next[w] != i {
			t.Fatalf("line %q out of order or torn (want %s line %d)", l, w, next[w])
		}
		next[w]++
	}
	if lines[len(lines)-1] != "after close" {
		t.Fatalf("last line %q", lines[len(lines)-1])
	}
}
