package transcode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNotApplicable is returned by Run when the preset cannot be made from
// the input (a video preset on an audio file, anything but the original
// on a document).
var ErrNotApplicable = errors.New("format does not apply to this input")

// RunOptions tune one ffmpeg run.
type RunOptions struct {
	// Timeout bounds the run; 0 means only ctx bounds it.
	Timeout time.Duration
	// Progress, when set, is called with the fraction done (0..1, never
	// decreasing) as ffmpeg reports it, about twice a second, and with 1
	// at the end. It is called from Run's goroutine and must not block long.
	Progress func(float64)
	// Source is the probe of the input; nil makes Run probe it first.
	Source *Media
	// Threads limits ffmpeg's encoder threads; 0 lets ffmpeg decide.
	Threads int
}

// Result describes a finished run.
type Result struct {
	// Media is the probe of the output: its actual size, codecs, duration.
	Media *Media
	// Elapsed is the wall-clock time ffmpeg took.
	Elapsed time.Duration
	// Speed is source seconds encoded per wall-clock second (0 for stills).
	Speed float64
}

// RunError is a failed ffmpeg run, carrying the last lines ffmpeg wrote to
// stderr as the reason.
type RunError struct {
	// Preset is the preset's name.
	Preset string
	// Err is the underlying error (exit status, context error).
	Err error
	// TimedOut is set when the run hit RunOptions.Timeout.
	TimedOut bool
	// Stderr holds ffmpeg's last stderr lines.
	Stderr string
}

// Error implements error.
func (e *RunError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ffmpeg %s: ", e.Preset)
	if e.TimedOut {
		b.WriteString("timed out")
	} else {
		b.WriteString(e.Err.Error())
	}
	if e.Stderr != "" {
		b.WriteString(": ")
		b.WriteString(e.Stderr)
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *RunError) Unwrap() error { return e.Err }

// Run makes preset p from the media file in, writing it to the file out
// (created or truncated; the caller picks a temporary name and moves or
// stores the result). It uses the ffmpeg and ffprobe on PATH.
func Run(ctx context.Context, p Preset, in, out string, opts RunOptions) (*Result, error) {
	return Tools{}.Run(ctx, p, in, out, opts)
}

// Run makes preset p from the media file in, writing it to the file out,
// using t's executables. On failure out is removed.
func (t Tools) Run(ctx context.Context, p Preset, in, out string, opts RunOptions) (res *Result, err error) {
	if p.IsOriginal() {
		return nil, fmt.Errorf("transcode %s: the original is not transcoded", p.Name)
	}
	src := opts.Source
	if src == nil {
		if src, err = t.Probe(ctx, in); err != nil {
			return nil, fmt.Errorf("transcode %s: %w", p.Name, err)
		}
	}
	if !p.Applicable(src) {
		return nil, fmt.Errorf("transcode %s: %w", p.Name, ErrNotApplicable)
	}
	inAbs, err := filepath.Abs(in)
	if err != nil {
		return nil, fmt.Errorf("transcode %s: %w", p.Name, err)
	}
	outAbs, err := filepath.Abs(out)
	if err != nil {
		return nil, fmt.Errorf("transcode %s: %w", p.Name, err)
	}
	inArgs, outArgs, err := p.args(src)
	if err != nil {
		return nil, err
	}
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}
	args = append(args, "-protocol_whitelist", "file")
	args = append(args, inArgs...)
	args = append(args, "-i", "file:"+inAbs)
	args = append(args, outArgs...)
	if opts.Threads > 0 {
		args = append(args, "-threads", strconv.Itoa(opts.Threads))
	}
	args = append(args, "-progress", "pipe:1", "-nostats", "file:"+outAbs)

	defer func() {
		if err != nil {
			os.Remove(outAbs)
		}
	}()

	runCtx := ctx
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(runCtx, t.ffmpeg(), args...)
	cmd.WaitDelay = 5 * time.Second
	dieWithParent(cmd)
	stderr := &tailWriter{max: 12}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("transcode %s: %w", p.Name, err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		if ctx.Err() == nil && runCtx.Err() != nil {
			return nil, &RunError{Preset: p.Name, Err: runCtx.Err(), TimedOut: true}
		}
		if notInstalled(err) {
			return nil, fmt.Errorf("transcode %s: %w", p.Name, ErrUnavailable)
		}
		return nil, fmt.Errorf("transcode %s: start ffmpeg: %w", p.Name, err)
	}
	total := time.Duration(src.Duration * float64(time.Second))
	var last float64
	report := func(f float64) {
		if opts.Progress != nil && f > last {
			last = f
			opts.Progress(f)
		}
	}
	parseErr := ParseProgress(stdout, func(ev ProgressEvent) {
		if !ev.End && p.kind != kindThumbnail {
			// The end block is reported only once ffmpeg exits cleanly.
			report(ev.Fraction(total) * 0.99)
		}
	})
	_, _ = io.Copy(io.Discard, stdout) // keep ffmpeg unblocked if parsing stopped early
	waitErr := cmd.Wait()
	elapsed := time.Since(start)
	if waitErr != nil {
		re := &RunError{Preset: p.Name, Err: waitErr, Stderr: stderr.String()}
		switch {
		case ctx.Err() != nil:
			re.Err = ctx.Err()
		case runCtx.Err() != nil:
			re.Err, re.TimedOut = runCtx.Err(), true
		}
		return nil, re
	}
	if parseErr != nil {
		return nil, fmt.Errorf("transcode %s: read progress: %w", p.Name, parseErr)
	}
	media, err := t.Probe(ctx, outAbs)
	if err != nil {
		return nil, fmt.Errorf("transcode %s: check output: %w", p.Name, err)
	}
	report(1)
	res = &Result{Media: media, Elapsed: elapsed}
	if elapsed > 0 && p.kind != kindThumbnail {
		res.Speed = src.Duration / elapsed.Seconds()
	}
	return res, nil
}

// tailWriter keeps the last max lines written to it (each capped in length).
type tailWriter struct {
	mu      sync.Mutex
	max     int
	lines   []string
	partial []byte
}

const maxTailLine = 300

func (w *tailWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			w.partial = appendCapped(w.partial, b)
			break
		}
		w.partial = appendCapped(w.partial, b[:i])
		w.push(string(w.partial))
		w.partial = w.partial[:0]
		b = b[i+1:]
	}
	return n, nil
}

func appendCapped(dst, b []byte) []byte {
	if room := maxTailLine - len(dst); room < len(b) {
		b = b[:max(room, 0)]
	}
	return append(dst, b...)
}

func (w *tailWriter) push(line string) {
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	w.lines = append(w.lines, line)
	if len(w.lines) > w.max {
		w.lines = w.lines[len(w.lines)-w.max:]
	}
}

// String returns the kept lines joined by "; " (including an unterminated
// last line).
func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := w.lines
	if p := strings.TrimSpace(string(w.partial)); p != "" {
		lines = append(lines[:len(lines):len(lines)], p)
	}
	return strings.Join(lines, "; ")
}
