package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/haulhq/haul/downloader"
)

// progressSink turns the downloader's event stream into output: NDJSON
// events on stdout with --json, progress bars on a terminal, and plain
// lines (one per finished file, an aggregate every few seconds) elsewhere.
// haul fetch and haul export share it.
type progressSink struct {
	mode     progressMode
	out      io.Writer // NDJSON
	errOut   io.Writer // bars and lines
	interval time.Duration

	mu       sync.Mutex
	enc      *json.Encoder
	lastLine time.Time
	bars     *barFrame
}

type progressMode int

const (
	progressJSON progressMode = iota
	progressBars
	progressLines
	progressQuiet
)

// maxFileBars is how many per-file bars are drawn under the aggregate bar.
const maxFileBars = 4

// newProgressSink picks the mode from the streams and flags. quiet
// suppresses the plain lines but keeps errors.
func newProgressSink(ios *IOStreams, jsonOut, noProgress bool) *progressSink {
	p := &progressSink{out: ios.Out, errOut: ios.ErrOut, interval: 5 * time.Second}
	switch {
	case jsonOut:
		p.mode = progressJSON
		p.enc = json.NewEncoder(ios.Out)
		p.enc.SetEscapeHTML(false)
	case ios.ErrIsTerminal && !noProgress:
		p.mode = progressBars
		p.bars = newBarFrame(ios.ErrOut)
	case noProgress:
		p.mode = progressQuiet
	default:
		p.mode = progressLines
	}
	return p
}

// Event handles one downloader event; pass it as downloader.Options.Events.
func (p *progressSink) Event(ev downloader.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case progressJSON:
		_ = p.enc.Encode(ev)
	case progressBars:
		p.bars.event(ev)
	case progressLines, progressQuiet:
		p.line(ev)
	}
}

// Close clears the bars.
func (p *progressSink) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bars != nil {
		p.bars.clear()
	}
}

func (p *progressSink) line(ev downloader.Event) {
	quiet := p.mode == progressQuiet
	switch ev.Type {
	case downloader.EventDone:
		if ev.Replaced != "" {
			// Said even when quiet: a file the user had was moved.
			fmt.Fprintf(p.errOut, "kept  the file that was at %s as %s\n", ev.Filename, ev.Replaced)
		}
		if quiet {
			return
		}
		verb := "done"
		if ev.Skipped {
			verb = "skip"
		}
		fmt.Fprintf(p.errOut, "%s  %s  %s  sha256:%s\n", verb, ev.Filename, humanBytes(ev.Size), ev.SHA256)
	case downloader.EventError:
		fmt.Fprintf(p.errOut, "FAIL  %s  %s\n", nameOr(ev), ev.Error)
	case downloader.EventRetry:
		if quiet {
			return
		}
		fmt.Fprintf(p.errOut, "retry %s  attempt %d in %s: %s\n", nameOr(ev), ev.Attempt, time.Duration(ev.DelayMS)*time.Millisecond, ev.Error)
	case downloader.EventProgress:
		if quiet || ev.Totals == nil || ev.Time.Sub(p.lastLine) < p.interval {
			return
		}
		if p.lastLine.IsZero() {
			p.lastLine = ev.Time
			return
		}
		p.lastLine = ev.Time
		fmt.Fprintf(p.errOut, "progress  %s\n", totalsLine(ev.Totals))
	}
}

func nameOr(ev downloader.Event) string {
	if ev.Filename != "" {
		return ev.Filename
	}
	return ev.Item
}

// totalsLine is the aggregate in one line: files, bytes, rate, ETA.
func totalsLine(t *downloader.Totals) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d files", t.FilesDone, t.FilesTotal)
	if t.FilesFailed > 0 {
		fmt.Fprintf(&b, " (%d failed)", t.FilesFailed)
	}
	b.WriteString("  ")
	b.WriteString(bytesLine(t))
	return b.String()
}

// bytesLine is bytes done (of the total when known), the engine's rate
// over its sliding window (left out until it has one) and the ETA.
func bytesLine(t *downloader.Totals) string {
	var b strings.Builder
	b.WriteString(humanBytes(t.BytesDone))
	if t.BytesTotal > 0 {
		fmt.Fprintf(&b, "/%s", humanBytes(t.BytesTotal))
	}
	if t.RateBPS > 0 {
		fmt.Fprintf(&b, "  %s/s", humanBytes(t.RateBPS))
	}
	if t.RateBPS > 0 && t.BytesTotal > t.BytesDone {
		eta := time.Duration(float64(t.BytesTotal-t.BytesDone) / float64(t.RateBPS) * float64(time.Second))
		fmt.Fprintf(&b, "  ETA %s", eta.Round(time.Second))
	}
	return b.String()
}

// humanBytes formats n with IEC units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// barFrame draws an aggregate bar and bars for the largest active files,
// rendered by progressbar/v3 and stacked with ANSI cursor movement.
type barFrame struct {
	w     io.Writer
	total *progressbar.ProgressBar
	files map[string]*progressbar.ProgressBar
	lines int // lines drawn by the last frame
}

func newBarFrame(w io.Writer) *barFrame {
	return &barFrame{w: w, files: make(map[string]*progressbar.ProgressBar)}
}

// newBar makes a bar that draws only the description, percentage and
// bar: progressbar's own rate and ETA average bytes over the time since
// the bar was made, which counts resumed bytes as if just received (a
// first rate of GiB/s); the engine's windowed rate and the ETA from it
// are printed after the bar instead.
func newBar(max int64, desc string, width int) *progressbar.ProgressBar {
	return progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(io.Discard),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(false),
		progressbar.OptionSetWidth(width),
		progressbar.OptionThrottle(0),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(false),
	)
}

func (f *barFrame) event(ev downloader.Event) {
	switch ev.Type {
	case downloader.EventError:
		f.clear()
		fmt.Fprintf(f.w, "FAIL  %s  %s\n", nameOr(ev), ev.Error)
	case downloader.EventDone:
		delete(f.files, ev.Item)
		if ev.Replaced != "" {
			f.clear()
			fmt.Fprintf(f.w, "kept  the file that was at %s as %s\n", ev.Filename, ev.Replaced)
		}
	case downloader.EventProgress:
		if ev.Totals == nil {
			return
		}
		f.draw(ev)
	}
}

func (f *barFrame) draw(ev downloader.Event) {
	t := ev.Totals
	max := t.BytesTotal
	if max <= 0 || max < t.BytesDone {
		max = -1
	}
	desc := fmt.Sprintf("%d/%d files", t.FilesDone, t.FilesTotal)
	if f.total == nil {
		f.total = newBar(max, desc, 30)
	}
	if f.total.GetMax64() != max {
		f.total.ChangeMax64(max)
	}
	f.total.Describe(desc)
	_ = f.total.Set64(t.BytesDone)
	lines := []string{strings.TrimSpace(f.total.String()) + "  " + bytesLine(t)}
	seen := map[string]bool{}
	for i, a := range ev.Active {
		if i >= maxFileBars || a.Size <= 0 {
			break
		}
		seen[a.Item] = true
		b, ok := f.files[a.Item]
		if !ok {
			b = newBar(a.Size, "  "+shorten(a.Filename, 28), 20)
			f.files[a.Item] = b
		}
		_ = b.Set64(a.Bytes)
		lines = append(lines, strings.TrimSpace(b.String())+"  "+humanBytes(a.Bytes)+"/"+humanBytes(a.Size))
	}
	for k := range f.files {
		if !seen[k] {
			delete(f.files, k)
		}
	}
	var b strings.Builder
	f.home(&b)
	b.WriteString("\x1b[J")
	b.WriteString(strings.Join(lines, "\n"))
	f.lines = len(lines)
	io.WriteString(f.w, b.String())
}

// home moves the cursor to the first column of the frame's first line.
func (f *barFrame) home(b *strings.Builder) {
	if f.lines > 1 {
		fmt.Fprintf(b, "\x1b[%dF", f.lines-1)
	} else {
		b.WriteString("\r")
	}
}

// clear erases the frame so other output starts on a clean line.
func (f *barFrame) clear() {
	if f.lines == 0 {
		return
	}
	var b strings.Builder
	f.home(&b)
	b.WriteString("\x1b[J")
	io.WriteString(f.w, b.String())
	f.lines = 0
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s + strings.Repeat(" ", n-len(r))
	}
	return "…" + string(r[len(r)-n+1:])
}
