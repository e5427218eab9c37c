package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/haulhq/haul/client"
	"github.com/haulhq/haul/downloader"
)

// exportView shows an export's progress: preparation (items ready of
// total, as the manifest fills in) and the transfer, drawn by the same
// progressSink as haul fetch (bars on a terminal, plain lines elsewhere,
// JSON lines on stdout with --json). It adds export's own lines and events
// ("export", "prepare", "finish") and the final summary.
type exportView struct {
	// mu serialises everything written, the sink's output included:
	// preparation is reported from the manifest poller while the engine
	// reports transfers.
	mu       sync.Mutex
	sink     *progressSink
	jsonOut  bool
	out      io.Writer // JSON lines
	errOut   io.Writer // human lines
	enc      *json.Encoder
	exportID string
	counts   itemCounts
	retries  int
	now      func() time.Time
}

func newExportView(ios *IOStreams, jsonOut, noProgress bool) *exportView {
	v := &exportView{
		sink:    newProgressSink(ios, jsonOut, noProgress),
		jsonOut: jsonOut,
		out:     ios.Out,
		errOut:  ios.ErrOut,
		now:     time.Now,
	}
	v.enc = json.NewEncoder(ios.Out)
	v.enc.SetEscapeHTML(false)
	return v
}

// jsonEvent is an event of haul export's own (the downloader's events are
// printed as they are).
type jsonEvent struct {
	Type     string    `json:"type"`
	Time     time.Time `json:"time"`
	ExportID string    `json:"export_id,omitempty"`
	Status   string    `json:"status,omitempty"`
	Replayed bool      `json:"replayed,omitempty"`
	Dir      string    `json:"dir,omitempty"`
	*itemCounts
	Manifest   string       `json:"manifest,omitempty"`
	SHA256Sums string       `json:"sha256sums,omitempty"`
	Failed     []failedItem `json:"failed,omitempty"`
}

type failedItem struct {
	Item     string `json:"item"`
	Filename string `json:"filename,omitempty"`
	Code     string `json:"code"`
	Error    string `json:"error"`
}

// say prints a human line above any bars (the next progress event redraws
// them).
func (v *exportView) say(format string, args ...any) {
	v.sink.Close()
	fmt.Fprintf(v.errOut, format+"\n", args...)
}

func (v *exportView) created(e *client.Export, replayed bool, dir string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.exportID = e.ID
	if v.jsonOut {
		_ = v.enc.Encode(jsonEvent{Type: "export", Time: v.now().UTC(), ExportID: e.ID, Status: e.Status, Replayed: replayed, Dir: dir})
		return
	}
	if replayed {
		v.say("continuing export %s into %s", e.ID, dir)
	} else {
		v.say("export %s created; downloading into %s", e.ID, dir)
	}
}

func (v *exportView) prepare(status string, c itemCounts) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.counts = c
	switch {
	case c.quiet:
	case v.jsonOut:
		_ = v.enc.Encode(jsonEvent{Type: "prepare", Time: v.now().UTC(), ExportID: v.exportID, Status: status, itemCounts: &c})
	default:
		v.say("prepared %d/%d items (%d processing, %d queued, %d failed)", c.Ready, c.Total, c.Processing, c.Queued, c.Failed)
	}
}

// event takes one downloader event; pass it as downloader.Options.Events.
func (v *exportView) event(ev downloader.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ev.Type == downloader.EventRetry {
		v.retries++
	}
	v.sink.Event(ev)
}

func (v *exportView) finish(sum *downloader.Summary, failed []downloader.Result, manifestPath, sumsPath string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sink.Close()
	if v.jsonOut {
		ev := jsonEvent{Type: "finish", Time: v.now().UTC(), ExportID: v.exportID, Manifest: manifestPath, SHA256Sums: sumsPath}
		for _, r := range failed {
			ev.Failed = append(ev.Failed, failedItem{Item: r.Key, Filename: r.Name, Code: downloader.ErrorCode(r.Err), Error: r.Err.Error()})
		}
		_ = v.enc.Encode(ev)
		return
	}
	for _, r := range failed {
		name := r.Name
		if name == "" {
			name = r.Key
		}
		fmt.Fprintf(v.errOut, "failed: %s: %v\n", name, r.Err)
	}
	t := sum.Totals
	elapsed := time.Duration(t.ElapsedMS) * time.Millisecond
	rate := int64(0)
	if elapsed > 0 {
		rate = int64(float64(t.BytesReceived) / elapsed.Seconds())
	}
	line := fmt.Sprintf("%s, %s in %s (%s/s), %s", plural(t.FilesDone, "file"), humanBytes(t.BytesDone), humanDuration(elapsed), humanBytes(rate), plural(v.retries, "retry"))
	if t.FilesSkipped > 0 {
		line += fmt.Sprintf("; %d already complete", t.FilesSkipped)
	}
	if len(failed) > 0 {
		line += fmt.Sprintf("; %d failed", len(failed))
	}
	fmt.Fprintln(v.errOut, line)
	if manifestPath != "" {
		fmt.Fprintf(v.errOut, "wrote %s and %s\n", manifestPath, sumsPath)
	}
	if len(failed) > 0 {
		fmt.Fprintln(v.errOut, "hint:", failureAdvice(failed))
	}
}

func (v *exportView) interrupted() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sink.Close()
	if !v.jsonOut {
		fmt.Fprintln(v.errOut, "interrupted; run the same command again to resume")
	}
}

func (v *exportView) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sink.Close()
}

// plural formats a count with its noun: "1 file", "2 files", "3 retries".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if len(noun) > 1 && noun[len(noun)-1] == 'y' {
		return fmt.Sprintf("%d %sies", n, noun[:len(noun)-1])
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
