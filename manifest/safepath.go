package manifest

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// ErrUnsafeName marks a filename refused by the safety rules of SPEC
// section 1. The item is refused; other items proceed.
var ErrUnsafeName = errors.New("unsafe filename")

// ErrDuplicate marks an item whose target was already claimed by an earlier
// item of the same manifest.
var ErrDuplicate = errors.New("duplicate target")

// maxNameLen caps a whole relative path; single components are capped at 255
// bytes, the common filesystem limit.
const maxNameLen = 4096

// CleanName checks an untrusted relative filename lexically and returns it
// in slash form, cleaned. It refuses empty names, absolute paths, drive
// letters, ".." segments, backslashes, NUL and control characters, invalid
// UTF-8, reserved Windows device names, and components ending in a dot or a
// space (which Windows silently strips).
func CleanName(name string) (string, error) {
	fail := func(why string) (string, error) {
		return "", fmt.Errorf("%w %q: %s", ErrUnsafeName, name, why)
	}
	switch {
	case name == "":
		return fail("empty")
	case len(name) > maxNameLen:
		return fail("too long")
	case !utf8.ValidString(name):
		return fail("not valid UTF-8")
	case strings.ContainsRune(name, '\\'):
		return fail("backslash in path")
	case strings.HasPrefix(name, "/"):
		return fail("absolute path")
	case len(name) >= 2 && name[1] == ':' && isASCIILetter(name[0]):
		return fail("drive letter")
	case strings.ContainsRune(name, ':'):
		return fail("colon in path (drive letter or alternate data stream)")
	}
	for _, r := range name {
		if r == 0 || unicode.IsControl(r) || r == utf8.RuneError {
			return fail("control character")
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch {
		case seg == "..":
			return fail(`".." segment`)
		case seg == "" || seg == ".":
			continue
		case len(seg) > 255:
			return fail("path component longer than 255 bytes")
		case strings.HasSuffix(seg, ".") || strings.HasSuffix(seg, " "):
			return fail("path component ends in a dot or space")
		case isReservedWindowsName(seg):
			return fail("reserved Windows device name " + seg)
		}
	}
	clean := path.Clean(name)
	if clean == "." || clean == "" {
		return fail("names no file")
	}
	if clean == ".haul" || strings.HasPrefix(clean, ".haul/") {
		return fail("the .haul directory holds haul's own state")
	}
	return clean, nil
}

func isASCIILetter(b byte) bool { return b|0x20 >= 'a' && b|0x20 <= 'z' }

// isReservedWindowsName reports CON, PRN, AUX, NUL, COM0-9 and LPT0-9 (also
// with superscript digits), with or without an extension, in any case.
func isReservedWindowsName(seg string) bool {
	base, _, _ := strings.Cut(seg, ".")
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(base) >= 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) {
		switch base[3:] {
		case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
			return true
		}
	}
	return false
}

// SafePath returns the absolute path under dir that the untrusted name
// designates, after CleanName's checks and after making sure no existing
// directory on the way is a symlink leading outside dir. It does not create
// anything.
func SafePath(dir, name string) (string, error) {
	r, err := NewRoot(dir)
	if err != nil {
		return "", err
	}
	return r.Path(name)
}

// Root is an output directory resolved once, for checking many names.
type Root struct {
	abs  string // absolute path of the directory
	real string // abs with symlinks resolved (abs when it does not exist yet)
}

// NewRoot resolves dir.
func NewRoot(dir string) (*Root, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("output directory %s: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("output directory %s: %w", dir, err)
		}
		real = abs
	}
	return &Root{abs: abs, real: real}, nil
}

// Dir returns the absolute path of the root.
func (r *Root) Dir() string { return r.abs }

// Path is SafePath for this root.
func (r *Root) Path(name string) (string, error) {
	p, _, err := r.PathInfo(name)
	return p, err
}

// PathInfo is Path that also returns the Lstat result of the target when
// it already exists (nil otherwise), saving the caller a system call.
func (r *Root) PathInfo(name string) (string, fs.FileInfo, error) {
	clean, err := CleanName(name)
	if err != nil {
		return "", nil, err
	}
	target := filepath.Join(r.abs, filepath.FromSlash(clean))
	if !within(r.abs, target) {
		return "", nil, fmt.Errorf("%w %q: resolves outside the output directory", ErrUnsafeName, name)
	}
	// Walk the existing prefix of the path: every existing component must
	// resolve inside the real root. The final component may be a regular
	// file (it will be replaced atomically) but not a symlink.
	var info fs.FileInfo
	cur := r.abs
	parts := strings.Split(clean, "/")
	for i, p := range parts {
		cur = filepath.Join(cur, p)
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return "", nil, fmt.Errorf("%w %q: %v", ErrUnsafeName, name, err)
		}
		last := i == len(parts)-1
		if fi.Mode()&fs.ModeSymlink != 0 {
			if last {
				return "", nil, fmt.Errorf("%w %q: target is a symlink", ErrUnsafeName, name)
			}
			real, err := filepath.EvalSymlinks(cur)
			if err != nil || !within(r.real, real) {
				return "", nil, fmt.Errorf("%w %q: goes through a symlink leading outside the output directory", ErrUnsafeName, name)
			}
			continue
		}
		if !last && !fi.IsDir() {
			return "", nil, fmt.Errorf("%w %q: %s is not a directory", ErrUnsafeName, name, filepath.Join(parts[:i+1]...))
		}
		if last && fi.IsDir() {
			return "", nil, fmt.Errorf("%w %q: target is a directory", ErrUnsafeName, name)
		}
		if last {
			info = fi
		}
	}
	return target, info, nil
}

// within reports whether p is root or below it; both must be clean.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return false
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// DeriveName makes a safe relative filename from a URL's last path segment
// for items without a filename: unescaped, with unsafe characters replaced
// by '_', and "download" when nothing usable is left.
func DeriveName(rawURL string) string {
	u, err := url.Parse(rawURL)
	name := ""
	if err == nil {
		esc := u.EscapedPath()
		name = esc[strings.LastIndexByte(esc, '/')+1:]
		if un, err := url.PathUnescape(name); err == nil {
			name = un
		}
	}
	return SanitizeComponent(name)
}

// SanitizeComponent turns s into one safe path component (no separators):
// control characters, separators and characters Windows refuses become
// '_', trailing dots and spaces are dropped, reserved device names get a
// leading '_', and the result is at most 200 bytes. Empty input, "." and
// ".." give "download".
func SanitizeComponent(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == utf8.RuneError, unicode.IsControl(r), strings.ContainsRune(`/\:*?"<>|`, r):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	out := strings.TrimRight(b.String(), ". ")
	out = strings.TrimLeft(out, " ")
	for len(out) > 200 {
		_, size := utf8.DecodeLastRuneInString(out)
		out = out[:len(out)-size]
	}
	out = strings.TrimRight(out, ". ")
	if out == "" || out == "." || out == ".." {
		return "download"
	}
	if isReservedWindowsName(out) || out == ".haul" {
		out = "_" + out
	}
	return out
}

// FoldName is the form in which target names are compared for
// duplicates: lower-cased, on every OS. Folding on Linux too is a
// deliberate choice: a download directory is often copied or archived to
// macOS or Windows, whose file systems are case-insensitive, where
// "A.bin" and "a.bin" would overwrite each other; refusing the later
// item everywhere keeps the result the same on every platform and never
// loses a file silently (the refused item is reported and exit is 3).
func FoldName(name string) string { return strings.ToLower(name) }

// Targets assigns items their paths under one output directory and
// refuses duplicates: the first item to claim a target (compared with
// FoldName, case-insensitively on every OS) keeps it, later ones get
// ErrDuplicate. Item IDs must be unique too. Safe for concurrent use, so
// items can be claimed as they arrive.
type Targets struct {
	root    *Root
	rootErr error

	// fresh is true when the directory held nothing but the state
	// directory (.haul) when the Targets were made: then a flat name has
	// nothing on its way to check, and its claim needs no Lstat (with
	// thousands of small files each system call counts). A file that
	// appears there later is replaced by the atomic rename, never
	// followed; nested names are always walked.
	fresh bool

	mu    sync.Mutex
	seed  maphash.Seed
	names map[uint64]struct{} // hashes of the folded targets claimed
	ids   map[uint64]struct{} // hashes of the item IDs seen
}

// NewTargets returns the target allocator for dir.
func NewTargets(dir string) *Targets {
	root, err := NewRoot(dir)
	return &Targets{root: root, rootErr: err, fresh: err == nil && onlyState(root.abs), seed: maphash.MakeSeed(),
		names: make(map[uint64]struct{}), ids: make(map[uint64]struct{})}
}

// onlyState reports whether dir exists and holds nothing but .haul.
func onlyState(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, err := f.Readdirnames(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	for _, n := range names {
		if n != ".haul" {
			return false
		}
	}
	return true
}

// Path re-checks a claimed name (SafePath against the same root), e.g.
// right before renaming a file into place.
func (t *Targets) Path(name string) (string, error) {
	if t.rootErr != nil {
		return "", t.rootErr
	}
	return t.root.Path(name)
}

// Name returns the relative slash-separated target name of it: its
// cleaned filename, or one derived from its URL.
func Name(it *Item) (string, error) {
	if it.Filename != "" {
		return CleanName(it.Filename)
	}
	if it.URL == "" {
		return "", fmt.Errorf("%w: item has neither filename nor url", ErrUnsafeName)
	}
	return DeriveName(it.URL), nil
}

// Claim returns the relative name and absolute path of it's target, or the
// reason it is refused. Every call claims anew: call it once per item.
func (t *Targets) Claim(it *Item) (name, abs string, err error) {
	name, abs, _, err = t.ClaimInfo(it)
	return name, abs, err
}

// ClaimInfo is Claim that also returns the Lstat result of the target when
// a file is already there (nil otherwise).
func (t *Targets) ClaimInfo(it *Item) (name, abs string, existing fs.FileInfo, err error) {
	name, err = Name(it)
	if err != nil {
		return "", "", nil, err
	}
	if t.rootErr != nil {
		return "", "", nil, t.rootErr
	}
	if clean, cerr := CleanName(name); cerr == nil && t.fresh && !strings.Contains(clean, "/") {
		// A cleaned, flat name cannot leave the root.
		abs = filepath.Join(t.root.abs, clean)
	} else if abs, existing, err = t.root.PathInfo(name); err != nil {
		return "", "", nil, err
	}
	// Only 64-bit hashes are kept, so memory stays small with huge
	// manifests; a collision (about 1 in 10^10 for 100 000 names) would
	// refuse an item, never overwrite one.
	folded := maphash.String(t.seed, FoldName(name))
	id := maphash.String(t.seed, "id\x00"+it.ID)
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.names[folded]; ok {
		return "", "", nil, fmt.Errorf("%w %q: an earlier item already uses this name", ErrDuplicate, name)
	}
	if _, ok := t.ids[id]; ok && it.ID != "" {
		return "", "", nil, fmt.Errorf("%w: item id %q appears twice", ErrDuplicate, it.ID)
	}
	t.names[folded] = struct{}{}
	if it.ID != "" {
		t.ids[id] = struct{}{}
	}
	return name, abs, existing, nil
}
