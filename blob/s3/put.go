package s3

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/haulhq/haul/blob"
)

// cleanupTimeout bounds the requests that tidy up after a failed upload;
// they run even when the caller's context is done.
const cleanupTimeout = 30 * time.Second

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

// upload is the state of one Put.
type upload struct {
	s     *Store
	opts  blob.PutOptions
	src   *bufio.Reader
	hash  hash.Hash
	total int64
}

// readPart fills buf with up to limit bytes and reports whether the source
// is exhausted after them.
func (u *upload) readPart(buf *bytes.Buffer, limit int64) (last bool, err error) {
	buf.Reset()
	n, err := io.CopyN(buf, u.src, limit)
	u.total += n
	u.hash.Write(buf.Bytes())
	if u.opts.MaxSize > 0 && u.total > u.opts.MaxSize {
		return false, fmt.Errorf("%w (%d bytes)", ErrTooLarge, u.opts.MaxSize)
	}
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("blob/s3: read: %w", err)
	}
	// A full part: peek to learn whether it is the last one, so no empty
	// part is ever sent and one-part content avoids multipart entirely.
	if _, err := u.src.Peek(1); errors.Is(err, io.EOF) {
		return true, nil
	} else if err != nil {
		return false, fmt.Errorf("blob/s3: read: %w", err)
	}
	return false, nil
}

func (u *upload) checkDigest() (string, error) {
	sum := u.hash.Sum(nil)
	if u.opts.ExpectSHA256 != nil && !bytes.Equal(sum, u.opts.ExpectSHA256) {
		return "", blob.ErrDigestMismatch
	}
	return hex.EncodeToString(sum), nil
}

// partSize picks a part size that keeps a SizeHint-sized upload within the
// S3 limit of 10 000 parts.
func (s *Store) partSize(hint int64) int64 {
	size := s.cfg.PartSize
	if hint > 0 {
		if need := (hint + maxParts - 1) / maxParts; need > size {
			size = (need + 1<<20 - 1) / (1 << 20) * (1 << 20)
		}
	}
	return size
}

// Put streams r into the bucket; see the package documentation for how.
func (s *Store) Put(ctx context.Context, r io.Reader, opts blob.PutOptions) (blob.Info, error) {
	if opts.ExpectSHA256 != nil && len(opts.ExpectSHA256) != sha256.Size {
		return blob.Info{}, fmt.Errorf("blob/s3: ExpectSHA256 has %d bytes, want %d", len(opts.ExpectSHA256), sha256.Size)
	}
	if opts.MaxSize > 0 && opts.SizeHint > opts.MaxSize {
		return blob.Info{}, fmt.Errorf("%w (%d bytes announced, limit %d)", ErrTooLarge, opts.SizeHint, opts.MaxSize)
	}
	if err := ctx.Err(); err != nil {
		return blob.Info{}, err
	}
	src := io.Reader(ctxReader{ctx, r})
	if opts.MaxSize > 0 {
		src = io.LimitReader(src, opts.MaxSize+1)
	}
	u := &upload{s: s, opts: opts, src: bufio.NewReaderSize(src, 64<<10), hash: sha256.New()}
	partSize := s.partSize(opts.SizeHint)

	// The first part decides: content that fits in one part is sent in one
	// request to its final key, its digest known beforehand.
	var first bytes.Buffer
	last, err := u.readPart(&first, partSize)
	if err != nil {
		return blob.Info{}, err
	}
	if last {
		key, err := u.checkDigest()
		if err != nil {
			return blob.Info{}, err
		}
		return s.putSingle(ctx, key, first.Bytes())
	}
	return s.putMultipart(ctx, u, &first, partSize)
}

// putSingle stores content known in full with one PutObject. S3 makes it
// visible all at once; the checksum lets the server refuse damaged bytes.
func (s *Store) putSingle(ctx context.Context, key string, data []byte) (blob.Info, error) {
	sum := sha256.Sum256(data)
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:            aws.String(s.cfg.Bucket),
		Key:               aws.String(s.objectKey(key)),
		Body:              bytes.NewReader(data),
		ContentLength:     aws.Int64(int64(len(data))),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		ChecksumSHA256:    aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	})
	if err != nil {
		return blob.Info{}, s.describe("put "+key, err)
	}
	return s.Stat(ctx, key)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// putMultipart streams the rest of the content as a multipart upload, a
// few parts in flight, and commits it under its content key.
func (s *Store) putMultipart(ctx context.Context, u *upload, first *bytes.Buffer, partSize int64) (blob.Info, error) {
	// With a known digest the upload can target the final key: nothing is
	// visible until CompleteMultipartUpload, which happens only after the
	// digest matched. Otherwise upload to a temp key and copy.
	target := s.tmpPrefix() + randomHex(16)
	if u.opts.ExpectSHA256 != nil {
		target = s.objectKey(hex.EncodeToString(u.opts.ExpectSHA256))
	}
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(s.cfg.Bucket),
		Key:               aws.String(target),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return blob.Info{}, s.describe("start multipart upload", err)
	}
	completed := false
	defer func() {
		if !completed {
			s.abort(ctx, target, created.UploadId)
		}
	}()

	parts, err := s.uploadParts(ctx, u, target, created.UploadId, first, partSize)
	if err != nil {
		return blob.Info{}, err
	}
	key, err := u.checkDigest()
	if err != nil {
		return blob.Info{}, err
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.cfg.Bucket),
		Key:             aws.String(target),
		UploadId:        created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return blob.Info{}, s.describe("complete multipart upload", err)
	}
	completed = true
	if target == s.objectKey(key) {
		return s.Stat(ctx, key)
	}
	defer s.deleteTemp(ctx, target)
	if err := s.copyObject(ctx, target, s.objectKey(key), u.total); err != nil {
		return blob.Info{}, err
	}
	return s.Stat(ctx, key)
}

// uploadParts sends first and then every further part read from u,
// keeping at most Concurrency uploads in flight.
func (s *Store) uploadParts(ctx context.Context, u *upload, target string, uploadID *string, first *bytes.Buffer, partSize int64) ([]types.CompletedPart, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		parts    []types.CompletedPart
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	failed := func() error {
		mu.Lock()
		defer mu.Unlock()
		return firstErr
	}
	// Buffers circulate through free: at most Concurrency uploading and one
	// being filled.
	free := make(chan *bytes.Buffer, s.cfg.Concurrency+1)
	allocated := 1
	getBuf := func() (*bytes.Buffer, error) {
		select {
		case b := <-free:
			return b, nil
		default:
		}
		if allocated < s.cfg.Concurrency+1 {
			allocated++
			b := new(bytes.Buffer)
			b.Grow(int(partSize))
			return b, nil
		}
		select {
		case b := <-free:
			return b, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}

	buf, last := first, false
	for num := int32(1); ; num++ {
		if num > maxParts {
			fail(fmt.Errorf("blob/s3: upload exceeds %d parts of %d bytes; pass a SizeHint", maxParts, partSize))
			break
		}
		wg.Add(1)
		go func(num int32, b *bytes.Buffer) {
			defer wg.Done()
			defer func() { free <- b }()
			sum := sha256.Sum256(b.Bytes())
			checksum := base64.StdEncoding.EncodeToString(sum[:])
			out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
				Bucket:            aws.String(s.cfg.Bucket),
				Key:               aws.String(target),
				UploadId:          uploadID,
				PartNumber:        aws.Int32(num),
				Body:              bytes.NewReader(b.Bytes()),
				ContentLength:     aws.Int64(int64(b.Len())),
				ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
				ChecksumSHA256:    aws.String(checksum),
			})
			if err != nil {
				fail(s.describe(fmt.Sprintf("upload part %d", num), err))
				return
			}
			mu.Lock()
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num), ChecksumSHA256: aws.String(checksum)})
			mu.Unlock()
		}(num, buf)
		if last || failed() != nil {
			break
		}
		var err error
		if buf, err = getBuf(); err != nil {
			fail(err)
			break
		}
		if last, err = u.readPart(buf, partSize); err != nil {
			free <- buf
			fail(err)
			break
		}
	}
	wg.Wait()
	if err := failed(); err != nil {
		// A reader or size error is the cause; the cancellation it caused
		// in the part uploads is not.
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(parts, func(a, b types.CompletedPart) int { return cmp.Compare(*a.PartNumber, *b.PartNumber) })
	return parts, nil
}

// abort cancels a multipart upload so its parts stop costing storage.
func (s *Store) abort(ctx context.Context, key string, uploadID *string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, _ = s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), UploadId: uploadID,
	})
}

func (s *Store) deleteTemp(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, _ = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
}

// copyObject copies src to dst server-side: one CopyObject up to
// CopyPartSize, a multipart copy beyond.
func (s *Store) copyObject(ctx context.Context, src, dst string, size int64) error {
	source := s.cfg.Bucket + "/" + src
	if size <= s.cfg.CopyPartSize {
		_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket:            aws.String(s.cfg.Bucket),
			Key:               aws.String(dst),
			CopySource:        aws.String(source),
			ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		})
		if err != nil {
			return s.describe("copy into place", err)
		}
		return nil
	}
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(dst),
	})
	if err != nil {
		return s.describe("start multipart copy", err)
	}
	completed := false
	defer func() {
		if !completed {
			s.abort(ctx, dst, created.UploadId)
		}
	}()
	var parts []types.CompletedPart
	for off, num := int64(0), int32(1); off < size; off, num = off+s.cfg.CopyPartSize, num+1 {
		end := min(off+s.cfg.CopyPartSize, size) - 1
		out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket:          aws.String(s.cfg.Bucket),
			Key:             aws.String(dst),
			UploadId:        created.UploadId,
			PartNumber:      aws.Int32(num),
			CopySource:      aws.String(source),
			CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, end)),
		})
		if err != nil {
			return s.describe(fmt.Sprintf("copy part %d", num), err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.CopyPartResult.ETag, PartNumber: aws.Int32(num)})
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.cfg.Bucket),
		Key:             aws.String(dst),
		UploadId:        created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return s.describe("complete multipart copy", err)
	}
	completed = true
	return nil
}
