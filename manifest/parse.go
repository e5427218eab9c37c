package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// MaxSize caps the bytes Parse reads: a manifest of 10 000 items is about
// 5 MiB, so this leaves room without letting a hostile server exhaust memory.
const MaxSize = 256 << 20

// Parse reads a manifest: JSON when the first non-blank byte is '{',
// otherwise a plain list of URLs (one per line, blank lines and # comments
// ignored, each optionally followed by whitespace and sha256:<hex>). The
// result has passed Manifest.Validate; per-item problems are left for
// Item.Validate and Targets so the other items can still download.
func Parse(r io.Reader) (*Manifest, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxSize)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	var m *Manifest
	if len(trimmed) > 0 && trimmed[0] == '{' {
		m, err = parseJSON(trimmed)
	} else {
		m, err = parseList(data)
	}
	if err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

func parseJSON(data []byte) (*Manifest, error) {
	var raw struct {
		Version *int `json:"version"`
		Manifest
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%w: JSON syntax error at byte %d: %v", ErrInvalid, se.Offset, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if raw.Version == nil {
		return nil, fmt.Errorf("%w: missing \"version\" (want %d)", ErrInvalid, Version)
	}
	m := raw.Manifest
	m.Version = *raw.Version
	return &m, nil
}

func parseList(data []byte) (*Manifest, error) {
	m := &Manifest{Version: Version, Status: StatusReady, Items: []Item{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), MaxSize)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) > 2 {
			return nil, fmt.Errorf("%w: line %d: want \"URL [sha256:<hex>]\", got %d fields", ErrInvalid, line, len(fields))
		}
		if err := checkURL(fields[0]); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrInvalid, line, err)
		}
		it := Item{URL: fields[0]}
		if len(fields) == 2 {
			if err := CheckChecksum(fields[1]); err != nil {
				return nil, fmt.Errorf("%w: line %d: %v", ErrInvalid, line, err)
			}
			it.Checksum = "sha256:" + strings.ToLower(strings.TrimPrefix(fields[1], "sha256:"))
		}
		m.Items = append(m.Items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(m.Items) == 0 && len(bytes.TrimSpace(data)) > 0 && !hasOnlyComments(data) {
		return nil, fmt.Errorf("%w: no URLs found", ErrInvalid)
	}
	return m, nil
}

func hasOnlyComments(data []byte) bool {
	for l := range strings.SplitSeq(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// checkURL accepts absolute http and https URLs only.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("bad url %q: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url %q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return fmt.Errorf("url %q has no host", s)
	}
	return nil
}
