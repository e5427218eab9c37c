package manifest

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics, everything it accepts validates and
// survives a Write/Parse round trip, and item names are either refused or
// clean.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":1,"items":[{"url":"https://h/a","filename":"a/b.mp4","checksum":"sha256:` + hexA + `"}]}`))
	f.Add([]byte("https://h/a.mp4 sha256:" + hexA + "\n# c\n\nhttp://h/b\n"))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"items":[{"status":"failed","error":{"code":"x"}}],"extra":[1,2]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted manifest fails Validate: %v", err)
		}
		var buf bytes.Buffer
		if err := Write(&buf, m); err != nil {
			t.Fatalf("Write: %v", err)
		}
		back, err := Parse(&buf)
		if err != nil {
			t.Fatalf("round trip: %v\n%s", err, buf.Bytes())
		}
		if len(back.Items) != len(m.Items) {
			t.Fatalf("round trip lost items: %d != %d", len(back.Items), len(m.Items))
		}
		for i := range m.Items {
			name, err := Name(&m.Items[i])
			if err != nil {
				continue
			}
			if again, err := CleanName(name); err != nil || again != name {
				t.Fatalf("Name %q is not clean: %q %v", name, again, err)
			}
		}
	})
}

// FuzzSafePath: whatever the name, an accepted path lies strictly inside
// the root, is clean, and does not touch .haul.
func FuzzSafePath(f *testing.F) {
	for _, s := range []string{"a", "a/b/c.mp4", "../x", "/abs", "C:/x", "a\\b", "CON.txt", "a/./b", "x/../y", ".haul/x", "ü/名", "a\x00", "a/b. "} {
		f.Add(s)
	}
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, name string) {
		p, err := SafePath(root, name)
		if err != nil {
			if !errors.Is(err, ErrUnsafeName) {
				t.Fatalf("SafePath(%q): error without ErrUnsafeName: %v", name, err)
			}
			return
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			t.Fatalf("SafePath(%q) = %q escapes %q", name, p, root)
		}
		if rel == ".haul" || strings.HasPrefix(rel, ".haul"+string(filepath.Separator)) {
			t.Fatalf("SafePath(%q) = %q is inside .haul", name, p)
		}
		for _, r := range rel {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("SafePath(%q) = %q has a control character", name, p)
			}
		}
		if s := SanitizeComponent(name); strings.ContainsAny(s, "/\\:") || s == "" {
			t.Fatalf("SanitizeComponent(%q) = %q", name, s)
		}
	})
}
