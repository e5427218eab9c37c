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
	items := []Item{}
	m, err := Stream(r, func(it Item) error {
		items = append(items, it)
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.Items = items
	return m, nil
}

// Stream reads a manifest like Parse but hands each item to fn as soon as
// it is decoded instead of keeping them, so memory stays flat however many
// items there are. The returned manifest has no Items. Items are only
// handed out once the version is known to be 1 (items that come before
// "version" in the JSON are held until it is read). An error from fn stops
// the reading and is returned as is.
func Stream(r io.Reader, fn func(Item) error) (*Manifest, error) {
	br := bufio.NewReaderSize(&capReader{r: r, n: MaxSize}, 64<<10)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			m := &Manifest{Version: Version, Status: StatusReady}
			return m, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read manifest: %w", err)
		}
		if b == ' ' || b == '\t' || b == '\r' || b == '\n' {
			continue
		}
		br.UnreadByte()
		if b == '{' {
			return streamJSON(br, fn)
		}
		return streamList(br, fn)
	}
}

func streamJSON(r io.Reader, fn func(Item) error) (*Manifest, error) {
	dec := json.NewDecoder(r)
	syntax := func(err error) error {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("%w: JSON syntax error at byte %d: %v", ErrInvalid, se.Offset, err)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: unexpected end of JSON", ErrInvalid)
		}
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != nil {
		return nil, syntax(err)
	}
	m := &Manifest{}
	versionSeen := false
	var held []Item // items read before the version
	emit := func(it Item) error {
		if !versionSeen {
			held = append(held, it)
			return nil
		}
		return fn(it)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntax(err)
		}
		key, _ := tok.(string)
		var derr error
		switch strings.ToLower(key) {
		case "version":
			var v *int
			if derr = dec.Decode(&v); derr == nil {
				if v == nil {
					return nil, fmt.Errorf("%w: missing \"version\" (want %d)", ErrInvalid, Version)
				}
				m.Version = *v
				if m.Version != Version {
					return nil, fmt.Errorf("%w: unsupported version %d (this haul reads version %d)", ErrInvalid, m.Version, Version)
				}
				versionSeen = true
				for _, it := range held {
					if err := fn(it); err != nil {
						return nil, err
					}
				}
				held = nil
			}
		case "id":
			derr = dec.Decode(&m.ID)
		case "status":
			derr = dec.Decode(&m.Status)
		case "self":
			derr = dec.Decode(&m.Self)
		case "expires_at":
			derr = dec.Decode(&m.ExpiresAt)
		case "items":
			derr = decodeItems(dec, emit)
		default:
			var skip json.RawMessage
			derr = dec.Decode(&skip)
		}
		if derr != nil {
			var ue *json.UnmarshalTypeError
			if errors.As(derr, &ue) || errors.Is(derr, ErrInvalid) {
				return nil, fmt.Errorf("%w: %v", ErrInvalid, derr)
			}
			if isSyntax(derr) {
				return nil, syntax(derr)
			}
			return nil, derr
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, syntax(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the manifest object", ErrInvalid)
	}
	if !versionSeen {
		return nil, fmt.Errorf("%w: missing \"version\" (want %d)", ErrInvalid, Version)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// decodeItems reads the items array (or null) one item at a time.
func decodeItems(dec *json.Decoder, emit func(Item) error) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("%w: \"items\" must be an array", ErrInvalid)
	}
	for dec.More() {
		var it Item
		if err := dec.Decode(&it); err != nil {
			return err
		}
		if err := emit(it); err != nil {
			return err
		}
	}
	_, err = dec.Token()
	return err
}

func streamList(r io.Reader, fn func(Item) error) (*Manifest, error) {
	m := &Manifest{Version: Version, Status: StatusReady}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
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
		if err := fn(it); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, ErrInvalid) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return m, nil
}

// capReader fails once more than n bytes have been read.
type capReader struct {
	r io.Reader
	n int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n < 0 {
		return 0, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxSize)
	}
	if int64(len(p)) > c.n+1 {
		p = p[:c.n+1]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	if c.n < 0 {
		return 0, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxSize)
	}
	return n, err
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
