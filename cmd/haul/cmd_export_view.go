package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/haulhq/haul/client"
	"github.com/haulhq/haul/downloader"
)

// exportView shows an export's progress: preparation (items ready of
// total) and transfer (files, bytes, rate, ETA) together. On a terminal it
// is one bar on stderr; otherwise plain lines on stderr (a line per file and
// an aggregate line every few seconds, never redraw noise); with --json,
// JSON lines on stdout.
type exportView struct {
	mu       sync.Mutex
	mode     viewMode
	out      io.Writer // JSON: stdout; human: stderr
	bar      *progressbar.ProgressBar
	exportID string
	counts   itemCounts
	totals   downloader.Totals
	retries  int
	lastLine time.Time
	// lineEvery is the interval of aggregate lines in plain mode.
	lineEvery time.Duration
	now       func() time.Time
}

type viewMode int

const (
	viewLines viewMode = iota
	viewBar
	viewJSON
)

func newExportView(ios *IOStreams, jsonOut, bar bool) *exportView {
	v := &exportView{mode: viewLines, out: ios.ErrOut, lineEvery: 5 * time.Second, now: time.Now}
	switch {
	case jsonOut:
		v.mode, v.out = viewJSON, ios.Out
	case bar:
		v.mode = viewBar
	}
	v.lastLine = v.now()
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

// printAbove writes a line on stderr without tearing the bar.
func (v *exportView) printAbove(format string, args ...any) {
	if v.bar != nil {
		_ = v.bar.Clear()
	}
	fmt.Fprintf(v.out, format+"\n", args...)
	if v.bar != nil {
		_ = v.bar.RenderBlank()
	}
}

func (v *exportView) created(e *client.Export, replayed bool, dir string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.exportID = e.ID
	switch v.mode {
	case viewJSON:
		_ = writeJSONLine(v.out, jsonEvent{Type: "export", Time: v.now().UTC(), ExportID: e.ID, Status: e.Status, Replayed: replayed, Dir: dir})
	default:
		if replayed {
			fmt.Fprintf(v.out, "continuing export %s into %s\n", e.ID, dir)
		} else {
			fmt.Fprintf(v.out, "export %s created; downloading into %s\n", e.ID, dir)
		}
	}
}

func (v *exportView) prepare(status string, c itemCounts) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.counts = c
	if c.quiet {
		return
	}
	switch v.mode {
	case viewJSON:
		_ = writeJSONLine(v.out, jsonEvent{Type: "prepare", Time: v.now().UTC(), ExportID: v.exportID, Status: status, itemCounts: &c})
	case viewLines:
		fmt.Fprintf(v.out, "prepared %d/%d items (%d processing, %d queued, %d failed)\n", c.Ready, c.Total, c.Processing, c.Queued, c.Failed)
	case viewBar:
		v.updateBar()
	}
}

func (v *exportView) event(ev downloader.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ev.Totals != nil {
		v.totals = *ev.Totals
	}
	if ev.Type == downloader.EventRetry {
		v.retries++
	}
	if v.mode == viewJSON {
		_ = writeJSONLine(v.out, ev)
		return
	}
	name := ev.Filename
	if name == "" {
		name = ev.Item
	}
	switch ev.Type {
	case downloader.EventDone:
		if v.mode == viewLines {
			if ev.Skipped {
				fmt.Fprintf(v.out, "skipped %s (already complete)\n", name)
			} else {
				fmt.Fprintf(v.out, "done %s (%s)\n", name, humanSize(ev.Size))
			}
		}
	case downloader.EventError:
		v.printAbove("failed %s: %s", name, ev.Error)
	case downloader.EventRetry:
		if v.mode == viewLines {
			fmt.Fprintf(v.out, "retry %s in %s (attempt %d): %s\n", name, humanDuration(time.Duration(ev.DelayMS)*time.Millisecond), ev.Attempt, ev.Error)
		}
	case downloader.EventProgress:
		if v.mode == viewLines && v.now().Sub(v.lastLine) >= v.lineEvery {
			v.lastLine = v.now()
			fmt.Fprintln(v.out, v.progressLine())
		}
	}
	if v.mode == viewBar {
		v.updateBar()
	}
}

// progressLine is the aggregate: items ready, files done, bytes, rate, ETA.
func (v *exportView) progressLine() string {
	t, c := v.totals, v.counts
	bytes := humanSize(t.BytesDone)
	if t.BytesTotal > 0 {
		bytes += " of " + humanSize(t.BytesTotal)
	}
	return fmt.Sprintf("progress: %d/%d items ready, %d/%d files done, %s, %s, ETA %s",
		c.Ready, c.Total, t.FilesDone, c.Total, bytes, humanRate(float64(t.RateBPS)), v.eta())
}

// eta is known once every item is prepared (sizes are known) and bytes flow.
func (v *exportView) eta() string {
	t, c := v.totals, v.counts
	if c.Ready+c.Failed < c.Total || t.RateBPS <= 0 || t.BytesTotal <= t.BytesDone {
		return "-"
	}
	return humanDuration(time.Duration(float64(t.BytesTotal-t.BytesDone) / float64(t.RateBPS) * float64(time.Second)))
}

func (v *exportView) updateBar() {
	t, c := v.totals, v.counts
	max := int64(-1)
	if t.BytesTotal > 0 {
		max = t.BytesTotal
	}
	if v.bar == nil {
		v.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(v.out),
			progressbar.OptionShowBytes(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionClearOnFinish(),
		)
	} else if v.bar.GetMax64() != max {
		v.bar.ChangeMax64(max)
	}
	v.bar.Describe(fmt.Sprintf("ready %d/%d · files %d/%d · ETA %s", c.Ready, c.Total, t.FilesDone, c.Total, v.eta()))
	_ = v.bar.Set64(t.BytesDone)
}

func (v *exportView) finish(sum *downloader.Summary, failed []downloader.Result, manifestPath, sumsPath string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.bar != nil {
		_ = v.bar.Finish()
		v.bar = nil
	}
	if v.mode == viewJSON {
		ev := jsonEvent{Type: "finish", Time: v.now().UTC(), ExportID: v.exportID, Manifest: manifestPath, SHA256Sums: sumsPath}
		for _, r := range failed {
			ev.Failed = append(ev.Failed, failedItem{Item: r.Key, Filename: r.Name, Code: downloader.ErrorCode(r.Err), Error: r.Err.Error()})
		}
		_ = writeJSONLine(v.out, ev)
		return
	}
	for _, r := range failed {
		name := r.Name
		if name == "" {
			name = r.Key
		}
		fmt.Fprintf(v.out, "failed: %s: %v\n", name, r.Err)
	}
	t := sum.Totals
	elapsed := time.Duration(t.ElapsedMS) * time.Millisecond
	rate := 0.0
	if elapsed > 0 {
		rate = float64(t.BytesReceived) / elapsed.Seconds()
	}
	line := fmt.Sprintf("%s, %s in %s (%s), %s", plural(t.FilesDone, "file"), humanSize(t.BytesDone), humanDuration(elapsed), humanRate(rate), plural(v.retries, "retry"))
	if t.FilesSkipped > 0 {
		line += fmt.Sprintf("; %d already complete", t.FilesSkipped)
	}
	if len(failed) > 0 {
		line += fmt.Sprintf("; %d failed", len(failed))
	}
	fmt.Fprintln(v.out, line)
	if manifestPath != "" {
		fmt.Fprintf(v.out, "wrote %s and %s\n", manifestPath, sumsPath)
	}
}

func (v *exportView) interrupted() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.bar != nil {
		_ = v.bar.Exit()
		v.bar = nil
	}
	if v.mode != viewJSON {
		fmt.Fprintln(v.out, "interrupted; run the same command again to resume")
	}
}

func (v *exportView) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.bar != nil {
		_ = v.bar.Exit()
		v.bar = nil
	}
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
