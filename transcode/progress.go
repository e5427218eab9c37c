package transcode

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// ProgressEvent is one block of ffmpeg's `-progress` output: key=value
// lines ending with a `progress=continue` or `progress=end` line.
type ProgressEvent struct {
	// OutTime is how far into the output ffmpeg has written (never negative).
	OutTime time.Duration
	// Frame is the number of frames written so far.
	Frame int64
	// TotalSize is the number of bytes written so far.
	TotalSize int64
	// Speed is the encoding speed relative to real time (2.5 means 2.5x);
	// 0 when ffmpeg did not report one.
	Speed float64
	// End is set on the last block (`progress=end`).
	End bool
}

// Fraction returns how much of a source of the given duration is done,
// clamped to [0, 1]: 1 at the end block, 0 when the duration is unknown.
func (e ProgressEvent) Fraction(total time.Duration) float64 {
	if e.End {
		return 1
	}
	if total <= 0 {
		return 0
	}
	f := float64(e.OutTime) / float64(total)
	switch {
	case math.IsNaN(f) || f < 0:
		return 0
	case f > 1:
		return 1
	}
	return f
}

// maxProgressLine bounds one line of progress output; longer lines are
// skipped (ffmpeg never writes them).
const maxProgressLine = 4096

// ParseProgress reads ffmpeg `-progress` output from r and calls fn after
// every block. Unknown keys, malformed lines and overlong lines are
// ignored, so arbitrary input never fails the parse. It returns when r
// ends (nil on io.EOF) or fails.
func ParseProgress(r io.Reader, fn func(ProgressEvent)) error {
	br := bufio.NewReaderSize(r, maxProgressLine)
	var ev ProgressEvent
	var outTimeUS bool // out_time_us seen in this block: trust it over out_time
	for {
		line, err := readLine(br)
		if len(line) > 0 {
			key, value, ok := bytes.Cut(line, []byte("="))
			if ok {
				k := string(bytes.TrimSpace(key))
				v := strings.TrimSpace(string(value))
				switch k {
				case "out_time_us", "out_time_ms": // both are microseconds (ffmpeg's historic misnomer)
					if us, perr := strconv.ParseInt(v, 10, 64); perr == nil {
						ev.OutTime = clampDuration(us, time.Microsecond)
						outTimeUS = true
					}
				case "out_time":
					if !outTimeUS {
						if d, ok := parseClock(v); ok {
							ev.OutTime = d
						}
					}
				case "frame":
					if n, perr := strconv.ParseInt(v, 10, 64); perr == nil && n >= 0 {
						ev.Frame = n
					}
				case "total_size":
					if n, perr := strconv.ParseInt(v, 10, 64); perr == nil && n >= 0 {
						ev.TotalSize = n
					}
				case "speed":
					if f, perr := strconv.ParseFloat(strings.TrimSuffix(v, "x"), 64); perr == nil && f >= 0 && !math.IsInf(f, 0) && !math.IsNaN(f) {
						ev.Speed = f
					}
				case "progress":
					ev.End = v == "end"
					fn(ev)
					ev, outTimeUS = ProgressEvent{}, false
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// readLine returns the next line without its line ending. A line longer
// than the reader's buffer is consumed and returned empty.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), err
}

// clampDuration returns n units as a Duration, 0 when negative, without
// overflowing.
func clampDuration(n int64, unit time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	if n > math.MaxInt64/int64(unit) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(n) * unit
}

// maxClockHours keeps parsed clocks well inside time.Duration's range.
const maxClockHours = 1_000_000

// parseClock parses ffmpeg's "HH:MM:SS.micro" out_time. Negative or
// malformed values report false.
func parseClock(s string) (time.Duration, bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, false
	}
	h, err1 := strconv.ParseUint(parts[0], 10, 32)
	m, err2 := strconv.ParseUint(parts[1], 10, 8)
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h > maxClockHours || m >= 60 || sec < 0 || sec >= 61 || math.IsNaN(sec) {
		return 0, false
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second)), true
}
