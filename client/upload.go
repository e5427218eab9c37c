package client

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
)

// UploadOptions adjust an upload.
type UploadOptions struct {
	// SHA256 is the content's SHA-256 digest, sent as
	// "Repr-Digest: sha-256=:<base64>:" so the server verifies what it
	// stored. UploadFile computes it with a hashing pass when nil;
	// UploadContent sends no digest when nil.
	SHA256 []byte
	// ContentType is sent as the Content-Type of the bytes;
	// application/octet-stream when empty.
	ContentType string
	// Progress, when set, is called as bytes are sent with the bytes sent
	// so far and the total (-1 when unknown). A retried upload starts again
	// from 0.
	Progress func(sent, total int64)
	// HashProgress, when set, is called during UploadFile's hashing pass.
	HashProgress func(hashed, total int64)
}

// ReprDigest formats a SHA-256 digest as a Repr-Digest field value
// (RFC 9530): "sha-256=:<base64>:".
func ReprDigest(sum []byte) string {
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum) + ":"
}

// UploadContent streams body as the content of asset id (PUT
// /v1/assets/{id}/content) and returns the asset. size is the body's length
// or -1 when unknown (sent chunked). The body is never buffered whole: when
// it is an io.ReadSeeker it is rewound for a retry, otherwise the upload is
// attempted once.
func (c *Client) UploadContent(ctx context.Context, id string, body io.Reader, size int64, opts UploadOptions) (*Asset, error) {
	if size < 0 {
		size = -1
	}
	r := &request{
		method:    "PUT",
		path:      "/v1/assets/" + pathEscape(id) + "/content",
		header:    map[string][]string{},
		noTimeout: true,
		rawLen:    size,
	}
	ct := opts.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	r.header.Set("Content-Type", ct)
	if opts.SHA256 != nil {
		if len(opts.SHA256) != sha256.Size {
			return nil, fmt.Errorf("upload %s: SHA256 digest must be %d bytes, got %d", id, sha256.Size, len(opts.SHA256))
		}
		r.header.Set("Repr-Digest", ReprDigest(opts.SHA256))
	}
	if size == 0 {
		r.rawLen = 0
	}
	seeker, seekable := body.(io.ReadSeeker)
	var start int64
	if seekable {
		var err error
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			seekable = false
		}
	}
	if !seekable {
		r.noRetry = true
	}
	r.raw = func() (io.Reader, error) {
		if seekable {
			if _, err := seeker.Seek(start, io.SeekStart); err != nil {
				return nil, fmt.Errorf("rewind upload body: %w", err)
			}
		}
		var rd io.Reader = body
		if size >= 0 {
			rd = io.LimitReader(body, size)
		}
		return &progressReader{r: rd, total: size, fn: opts.Progress}, nil
	}
	var a Asset
	if _, err := c.call(ctx, r, &a); err != nil {
		return nil, err
	}
	if a.ID == "" {
		return c.GetAsset(ctx, id)
	}
	return &a, nil
}

// UploadFile streams the file at path as the content of asset id. Unless
// opts.SHA256 is given it first hashes the file (a sequential read, no
// buffering) so the server can verify the bytes with Repr-Digest.
func (c *Client) UploadFile(ctx context.Context, id, path string, opts UploadOptions) (*Asset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("upload %s: not a regular file", path)
	}
	if opts.SHA256 == nil {
		sum, err := hashReader(ctx, f, fi.Size(), opts.HashProgress)
		if err != nil {
			return nil, fmt.Errorf("upload %s: hash: %w", path, err)
		}
		opts.SHA256 = sum
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("upload %s: %w", path, err)
		}
	}
	return c.UploadContent(ctx, id, f, fi.Size(), opts)
}

// Upload creates an asset for the file at path (title and filename default
// to the file's base name) and uploads its content, verified by digest.
func (c *Client) Upload(ctx context.Context, path string, req CreateAssetRequest, opts UploadOptions) (*Asset, error) {
	if req.Filename == "" {
		req.Filename = filepath.Base(path)
	}
	if req.Title == "" {
		req.Title = req.Filename
	}
	if req.ContentType == "" {
		req.ContentType = opts.ContentType
	}
	a, err := c.CreateAsset(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("create asset for %s: %w", path, err)
	}
	return c.UploadFile(ctx, a.ID, path, opts)
}

// SHA256Reader reads r to the end and returns its SHA-256 digest. progress,
// when set, is called with the bytes hashed so far (total is -1).
func SHA256Reader(ctx context.Context, r io.Reader, progress func(done, total int64)) ([]byte, error) {
	return hashReader(ctx, r, -1, progress)
}

// SHA256File returns the SHA-256 digest of the file at path.
func SHA256File(ctx context.Context, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return hashReader(ctx, f, -1, nil)
}

func hashReader(ctx context.Context, r io.Reader, total int64, progress func(done, total int64)) ([]byte, error) {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	var done int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := r.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			done += int64(n)
			if progress != nil {
				progress(done, total)
			}
		}
		if err == io.EOF {
			return h.Sum(nil), nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// progressReader reports bytes read. It deliberately has no Len method, so
// the request's Content-Length is the one the caller set.
type progressReader struct {
	r     io.Reader
	total int64
	sent  atomic.Int64
	fn    func(sent, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 && p.fn != nil {
		p.fn(p.sent.Add(int64(n)), p.total)
	}
	return n, err
}

// ProgressReader wraps r so that fn is called with the running byte count
// (and total, -1 when unknown) after every read. Commands use it to drive
// progress bars over any stream.
func ProgressReader(r io.Reader, total int64, fn func(done, total int64)) io.Reader {
	return &progressReader{r: r, total: total, fn: fn}
}
