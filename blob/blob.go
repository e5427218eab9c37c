// Package blob stores the bytes of assets and renditions, content-addressed
// by their sha256. Implementations: blob/fs (local disk, the embedded
// default) and blob/s3 (S3-compatible object storage). blob/blobtest holds
// the one contract suite every implementation passes.
package blob

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotFound is returned when no blob has the requested key.
var ErrNotFound = errors.New("blob: not found")

// ErrDigestMismatch is returned by Put when the bytes do not hash to
// PutOptions.ExpectSHA256. Nothing is stored in that case.
var ErrDigestMismatch = errors.New("blob: digest mismatch")

// Info describes a stored blob.
type Info struct {
	// Key is the lower-case hex sha256 of the content.
	Key string
	// Size is the length in bytes.
	Size int64
	// ModTime is when the blob was stored.
	ModTime time.Time
}

// PutOptions tune Put.
type PutOptions struct {
	// ExpectSHA256, when set (32 bytes), is verified before the blob is
	// committed; a mismatch returns ErrDigestMismatch and keeps nothing.
	ExpectSHA256 []byte
	// SizeHint is the expected length, or -1 when unknown.
	SizeHint int64
	// MaxSize, when positive, aborts the upload once more bytes arrive.
	MaxSize int64
}

// PresignOptions describe a direct download URL.
type PresignOptions struct {
	// Expires is how long the URL stays valid.
	Expires time.Duration
	// ContentDisposition is sent back as the response's Content-Disposition.
	ContentDisposition string
	// ContentType is sent back as the response's Content-Type.
	ContentType string
}

// Object is an open blob. For blob/fs it is backed by an *os.File so that
// http.ServeContent can use sendfile.
type Object interface {
	io.ReadSeekCloser
	// Info describes the object.
	Info() Info
}

// Store is a content-addressed blob store. Keys are sha256 hex strings.
// Put is atomic: a crash never leaves a partial blob under a real key.
type Store interface {
	// Put streams r into the store and returns the blob's info. Storing
	// content that already exists is cheap and returns the existing key.
	Put(ctx context.Context, r io.Reader, opts PutOptions) (Info, error)
	// Open opens the blob for reading; ErrNotFound when absent.
	Open(ctx context.Context, key string) (Object, error)
	// Stat describes the blob; ErrNotFound when absent.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the blob; deleting an absent blob is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every stored blob (order unspecified), stopping at
	// the first error fn returns.
	List(ctx context.Context, fn func(Info) error) error
	// PresignGet returns a direct, time-limited download URL when the
	// backend can serve bytes itself (S3); ok is false when it cannot (local
	// disk), and the server streams the bytes instead.
	PresignGet(ctx context.Context, key string, opts PresignOptions) (url string, ok bool, err error)
	// Ready reports whether the store is reachable and writable.
	Ready(ctx context.Context) error
	// Close releases resources.
	Close() error
}
