package manifest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Write encodes m as indented JSON, setting Version to 1 and Items to an
// empty list when nil.
func Write(w io.Writer, m *Manifest) error {
	out := *m
	out.Version = Version
	if out.Items == nil {
		out.Items = []Item{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// Sum is one line of a SHA256SUMS file.
type Sum struct {
	// SHA256 is the lower-case hex digest.
	SHA256 string
	// Name is the file's slash-separated path relative to the SUMS file.
	Name string
}

// WriteSHA256Sums writes sums in the format `sha256sum -c` checks:
// "<hex>  <name>". Names with a backslash or newline use the escaped form
// sha256sum understands (a leading backslash).
func WriteSHA256Sums(w io.Writer, sums []Sum) error {
	bw := bufio.NewWriter(w)
	for _, s := range sums {
		name := s.Name
		prefix := ""
		if strings.ContainsAny(name, "\\\n\r") {
			prefix = "\\"
			name = strings.NewReplacer("\\", "\\\\", "\n", "\\n", "\r", "\\r").Replace(name)
		}
		fmt.Fprintf(bw, "%s%s  %s\n", prefix, s.SHA256, name)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write SHA256SUMS: %w", err)
	}
	return nil
}

// ParseSHA256Sums reads a SHA256SUMS file (text or binary mode markers) into
// sums. Names are checked by the caller.
func ParseSHA256Sums(r io.Reader) ([]Sum, error) {
	var sums []Sum
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		escaped := strings.HasPrefix(line, "\\")
		if escaped {
			line = line[1:]
		}
		if len(line) < 66 || (line[64] != ' ') || (line[65] != ' ' && line[65] != '*') {
			return nil, fmt.Errorf("%w: SHA256SUMS line %d: want \"<64 hex>  <name>\"", ErrInvalid, n)
		}
		h := strings.ToLower(line[:64])
		if err := CheckChecksum("sha256:" + h); err != nil {
			return nil, fmt.Errorf("%w: SHA256SUMS line %d: %v", ErrInvalid, n, err)
		}
		name := line[66:]
		if escaped {
			name = strings.NewReplacer("\\\\", "\\", "\\n", "\n", "\\r", "\r").Replace(name)
		}
		sums = append(sums, Sum{SHA256: h, Name: name})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read SHA256SUMS: %w", err)
	}
	return sums, nil
}

// WriteFileAtomic writes data produced by fn to path through a temporary
// file in the same directory and renames it into place.
func WriteFileAtomic(path string, fn func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
