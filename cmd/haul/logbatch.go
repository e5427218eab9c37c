package main

import (
	"io"
	"sync"
)

// logBatcher coalesces log lines written concurrently into fewer write
// calls: Write appends to a buffer and wakes a flusher, which writes
// whatever has accumulated. A lone line still goes out at once (the flusher
// runs as soon as it is woken); under load one write carries many lines
// instead of one system call per access-log line. Close flushes the rest.
// A line is lost only if the process is killed in the microseconds between
// its Write and the flush.
type logBatcher struct {
	w io.Writer

	mu      sync.Mutex
	buf     []byte
	closed  bool
	flushed *sync.Cond

	kick chan struct{}
	done chan struct{}
}

// maxLogBacklog is how much may wait before writers block on the flusher.
const maxLogBacklog = 1 << 20

func newLogBatcher(w io.Writer) *logBatcher {
	b := &logBatcher{w: w, kick: make(chan struct{}, 1), done: make(chan struct{})}
	b.flushed = sync.NewCond(&b.mu)
	go b.loop()
	return b
}

// Write implements io.Writer.
func (b *logBatcher) Write(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return b.w.Write(p)
	}
	for len(b.buf) >= maxLogBacklog {
		b.flushed.Wait()
	}
	b.buf = append(b.buf, p...)
	select { // under mu: Close closes kick under mu too
	case b.kick <- struct{}{}:
	default:
	}
	b.mu.Unlock()
	return len(p), nil
}

func (b *logBatcher) loop() {
	defer close(b.done)
	var spare []byte
	for range b.kick {
		b.mu.Lock()
		out := b.buf
		b.buf = spare[:0]
		b.mu.Unlock()
		if len(out) > 0 {
			_, _ = b.w.Write(out)
		}
		spare = out
		b.mu.Lock()
		b.flushed.Broadcast()
		b.mu.Unlock()
	}
	b.mu.Lock()
	if len(b.buf) > 0 {
		_, _ = b.w.Write(b.buf)
		b.buf = nil
	}
	b.flushed.Broadcast()
	b.mu.Unlock()
}

// Close flushes what is buffered; later writes go straight through.
func (b *logBatcher) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.kick)
	b.mu.Unlock()
	<-b.done
	return nil
}
