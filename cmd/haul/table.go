package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// table renders aligned columns for human output: a header row in capitals,
// two spaces between columns, numbers right-aligned, no trailing spaces.
type table struct {
	headers []string
	right   []bool
	rows    [][]string
}

// newTable starts a table. A header ending in ">" (e.g. "SIZE>") is
// right-aligned; the marker is not printed.
func newTable(headers ...string) *table {
	t := &table{}
	for _, h := range headers {
		r := strings.HasSuffix(h, ">")
		t.headers = append(t.headers, strings.TrimSuffix(h, ">"))
		t.right = append(t.right, r)
	}
	return t
}

// add appends a row; missing cells are empty.
func (t *table) add(cells ...string) {
	row := make([]string, len(t.headers))
	copy(row, cells)
	t.rows = append(t.rows, row)
}

// render writes the table to w.
func (t *table) render(w io.Writer) error {
	widths := make([]int, len(t.headers))
	for i, h := range t.headers {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, row := range t.rows {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		var l strings.Builder
		for i, c := range cells {
			if i > 0 {
				l.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if t.right[i] {
				l.WriteString(pad + c)
			} else {
				l.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
	line(t.headers)
	for _, row := range t.rows {
		line(row)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fields renders "Key: value" lines with aligned values, for show commands.
type fields struct {
	keys, values []string
}

// add appends a field; empty values are skipped.
func (f *fields) add(key, value string) {
	if value == "" {
		return
	}
	f.keys = append(f.keys, key)
	f.values = append(f.values, value)
}

func (f *fields) render(w io.Writer) error {
	width := 0
	for _, k := range f.keys {
		width = max(width, utf8.RuneCountInString(k))
	}
	var b strings.Builder
	for i, k := range f.keys {
		fmt.Fprintf(&b, "%s:%s %s\n", k, strings.Repeat(" ", width-utf8.RuneCountInString(k)), f.values[i])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// humanSize formats a byte count with binary units: "512 B", "1.5 KiB",
// "12 MiB", "3.2 GiB". Unknown sizes (negative) are "-".
func humanSize(n int64) string {
	if n < 0 {
		return "-"
	}
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n) / 1024
	u := 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if v < 10 {
		return fmt.Sprintf("%.1f %s", v, units[u])
	}
	return fmt.Sprintf("%.0f %s", v, units[u])
}

// humanAgo formats t relative to now: "just now", "5m ago", "3h ago",
// "4d ago", or the date for anything older than 30 days; future times read
// "in 5m". The zero time is "-".
func humanAgo(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < 45*time.Second:
		if future {
			return "in a moment"
		}
		return "just now"
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d.Round(time.Minute)/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh", int(d.Round(time.Hour)/time.Hour))
	case d < 30*24*time.Hour:
		s = fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	default:
		return t.UTC().Format("2006-01-02")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// humanTimePtr is humanAgo for optional times.
func humanTimePtr(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	return humanAgo(*t, now)
}

// humanDuration formats an elapsed time compactly: "850ms", "12s", "3m05s",
// "1h02m".
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// timestamp formats an absolute time for show commands: RFC 3339 in UTC
// followed by the relative time.
func timestamp(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339) + " (" + humanAgo(*t, now) + ")"
}

// truncate shortens s to n runes, ending with "…" when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// orDash returns s, or "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeJSONIndent writes v as indented JSON followed by a newline.
func writeJSONIndent(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeJSONLine writes v as one line of JSON (NDJSON).
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
