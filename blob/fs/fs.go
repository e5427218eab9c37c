// Package fs is the local-disk blob store, the embedded default of haul
// serve. Blobs live at ROOT/ab/cd/<sha256 hex> (ab and cd being the first
// two byte pairs of the key). Put writes to a temp file in ROOT/tmp while
// hashing, fsyncs it and renames it into place, then fsyncs the directory,
// so a crash never leaves a partial file under a real key; leftover temp
// files are removed by New and by Sweep.
package fs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/haulhq/haul/blob"
)

// ErrTooLarge is returned by Put when more than PutOptions.MaxSize bytes
// arrive. Nothing is stored in that case.
var ErrTooLarge = errors.New("blob/fs: blob exceeds the size limit")

// Store keeps blobs in a directory tree. It is safe for concurrent use,
// also by several processes sharing the directory.
type Store struct {
	root string
	tmp  string
}

var _ blob.Store = (*Store)(nil)

// New opens (creating if needed) the blob directory root — DATA/blobs for
// haul serve — and removes temp files left by a crash. Call it before other
// processes use the directory: a temp file being written by another process
// would be removed too. Use Sweep with an age for later clean-ups.
func New(root string) (*Store, error) {
	s := &Store{root: root, tmp: filepath.Join(root, "tmp")}
	if err := os.MkdirAll(s.tmp, 0o700); err != nil {
		return nil, fmt.Errorf("blob/fs: create %s: %w", s.tmp, err)
	}
	if _, err := s.Sweep(0, time.Now()); err != nil {
		return nil, err
	}
	return s, nil
}

// Root returns the blob directory.
func (s *Store) Root() string { return s.root }

// Sweep removes temp files (from interrupted Puts) last modified more than
// olderThan before now, and returns how many it removed.
func (s *Store) Sweep(olderThan time.Duration, now time.Time) (int, error) {
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return 0, fmt.Errorf("blob/fs: sweep %s: %w", s.tmp, err)
	}
	n := 0
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if olderThan > 0 && now.Sub(fi.ModTime()) < olderThan {
			continue
		}
		if err := os.Remove(filepath.Join(s.tmp, e.Name())); err == nil {
			n++
		} else if !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("blob/fs: sweep: %w", err)
		}
	}
	return n, nil
}

// validKey reports whether key is a lower-case hex sha256.
func validKey(key string) bool {
	if len(key) != 64 {
		return false
	}
	for i := range len(key) {
		c := key[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// path returns where the blob with key lives.
func (s *Store) path(key string) string {
	// filepath.Join(s.root, key[0:2], key[2:4], key) with one allocation
	// (the key is validated hex).
	var buf [256]byte
	b := append(buf[:0], s.root...)
	b = append(b, filepath.Separator)
	b = append(b, key[0:2]...)
	b = append(b, filepath.Separator)
	b = append(b, key[2:4]...)
	b = append(b, filepath.Separator)
	b = append(b, key...)
	return string(b)
}

// ctxReader stops reading once ctx is done, so an abandoned upload ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Put streams r into a temp file while hashing it, verifies the digest and
// size limit, and moves it into place. Content already stored is kept as it
// is and its info returned.
func (s *Store) Put(ctx context.Context, r io.Reader, opts blob.PutOptions) (info blob.Info, err error) {
	if opts.ExpectSHA256 != nil && len(opts.ExpectSHA256) != sha256.Size {
		return blob.Info{}, fmt.Errorf("blob/fs: ExpectSHA256 has %d bytes, want %d", len(opts.ExpectSHA256), sha256.Size)
	}
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return blob.Info{}, fmt.Errorf("blob/fs: create temp file: %w", err)
	}
	tmpName := f.Name()
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(tmpName)
		}
	}()

	h := sha256.New()
	src := io.Reader(ctxReader{ctx, r})
	if opts.MaxSize > 0 {
		src = io.LimitReader(src, opts.MaxSize+1)
	}
	// A large buffer: fewer write syscalls for the big uploads this sees.
	n, err := io.CopyBuffer(io.MultiWriter(f, h), src, make([]byte, 256<<10))
	if err != nil {
		return blob.Info{}, fmt.Errorf("blob/fs: write: %w", err)
	}
	if opts.MaxSize > 0 && n > opts.MaxSize {
		return blob.Info{}, fmt.Errorf("%w (%d bytes)", ErrTooLarge, opts.MaxSize)
	}
	sum := h.Sum(nil)
	if opts.ExpectSHA256 != nil && !bytes.Equal(sum, opts.ExpectSHA256) {
		return blob.Info{}, blob.ErrDigestMismatch
	}
	if err := f.Sync(); err != nil {
		return blob.Info{}, fmt.Errorf("blob/fs: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return blob.Info{}, fmt.Errorf("blob/fs: close: %w", err)
	}
	key := hex.EncodeToString(sum)
	dst := s.path(key)
	if fi, err := os.Stat(dst); err == nil && fi.Size() == n {
		// Same content stored before: keep the old file, but make it look
		// new, so garbage collection (which spares young blobs until a
		// reference to them is recorded) does not remove it under us.
		now := time.Now()
		if err := os.Chtimes(dst, now, now); err == nil {
			return blob.Info{Key: key, Size: n, ModTime: now.UTC()}, nil
		}
		// Vanished meanwhile (deleted): store ours below.
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return blob.Info{}, fmt.Errorf("blob/fs: create %s: %w", dir, err)
	}
	if err := ctx.Err(); err != nil {
		return blob.Info{}, err
	}
	if err := os.Rename(tmpName, dst); err != nil {
		return blob.Info{}, fmt.Errorf("blob/fs: rename into place: %w", err)
	}
	committed = true
	// The rename is durable only once the directory entries are on disk:
	// the blob's directory, and its parents in case they were just made.
	for _, d := range []string{dir, filepath.Dir(dir), s.root} {
		if err := syncDir(d); err != nil {
			return blob.Info{}, err
		}
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return blob.Info{}, fmt.Errorf("blob/fs: stat %s: %w", key, err)
	}
	return blob.Info{Key: key, Size: n, ModTime: fi.ModTime().UTC()}, nil
}

// syncDir fsyncs a directory so that renames into it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blob/fs: open dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("blob/fs: sync dir %s: %w", dir, err)
	}
	return nil
}

// Object is an open blob: Read, Seek, ReadAt and Close like a file, Name
// (its path, for tools such as ffmpeg that read files) and, on Unix,
// SyscallConn, which lets net/http send it with sendfile when it is
// passed to http.ServeContent or io.Copy to a response. On Unix it holds
// the bare descriptor rather than an *os.File, saving the fcntl,
// allocation and finalizer os.NewFile costs per open: Close it (nothing
// else will), and do not use one Object from several goroutines at once.
type Object struct {
	rawFile
	info blob.Info
}

// Info describes the blob.
func (o *Object) Info() blob.Info { return o.info }

// Open opens the blob for reading.
func (s *Store) Open(ctx context.Context, key string) (blob.Object, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("blob/fs: key %q: %w", key, blob.ErrNotFound)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := openRead(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob/fs: %s: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob/fs: open %s: %w", key, err)
	}
	size, modTime, err := f.stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob/fs: stat %s: %w", key, err)
	}
	return &Object{rawFile: f, info: blob.Info{Key: key, Size: size, ModTime: modTime.UTC()}}, nil
}

// Stat describes the blob.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if !validKey(key) {
		return blob.Info{}, fmt.Errorf("blob/fs: key %q: %w", key, blob.ErrNotFound)
	}
	fi, err := os.Stat(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return blob.Info{}, fmt.Errorf("blob/fs: %s: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("blob/fs: stat %s: %w", key, err)
	}
	return blob.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime().UTC()}, nil
}

// Delete removes the blob; an absent blob is not an error. Readers that
// have it open keep reading it (POSIX unlink semantics).
func (s *Store) Delete(ctx context.Context, key string) error {
	if !validKey(key) {
		return nil
	}
	p := s.path(key)
	err := os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("blob/fs: delete %s: %w", key, err)
	}
	return syncDir(filepath.Dir(p))
}

// List calls fn for every stored blob, skipping temp files and anything
// that is not named like a blob.
func (s *Store) List(ctx context.Context, fn func(blob.Info) error) error {
	errStop := errors.New("stop")
	var fnErr error
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if p == s.tmp {
				return filepath.SkipDir
			}
			return nil
		}
		key := d.Name()
		if !validKey(key) || p != s.path(key) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(blob.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime().UTC()}); err != nil {
			fnErr = err
			return errStop
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("blob/fs: list: %w", err)
	}
	return nil
}

// PresignGet returns ok=false: local disk has no URLs of its own, the
// server streams the bytes.
func (s *Store) PresignGet(ctx context.Context, key string, opts blob.PresignOptions) (string, bool, error) {
	return "", false, nil
}

// Ready checks that the directory is writable by creating, syncing and
// removing a small temp file.
func (s *Store) Ready(ctx context.Context) error {
	f, err := os.CreateTemp(s.tmp, "ready-*")
	if err != nil {
		return fmt.Errorf("blob/fs: not writable: %w", err)
	}
	name := f.Name()
	_, werr := f.WriteString("ok")
	serr := f.Sync()
	cerr := f.Close()
	os.Remove(name)
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("blob/fs: not writable: %w", err)
	}
	return nil
}

// Close does nothing: the store holds no open resources.
func (s *Store) Close() error { return nil }
