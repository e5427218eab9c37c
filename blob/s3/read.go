package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/haulhq/haul/blob"
)

// Stat describes the blob with a HEAD request.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if !validKey(key) {
		return blob.Info{}, fmt.Errorf("blob/s3: key %q: %w", key, blob.ErrNotFound)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(s.objectKey(key)),
	})
	if err != nil {
		if isNotFound(err) {
			return blob.Info{}, fmt.Errorf("blob/s3: %s: %w", key, blob.ErrNotFound)
		}
		return blob.Info{}, s.describe("stat "+key, err)
	}
	return blob.Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified).UTC()}, nil
}

// Open returns the blob as a seekable reader that fetches bytes with Range
// requests from the current offset on demand.
func (s *Store) Open(ctx context.Context, key string) (blob.Object, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	return &object{ctx: ctx, s: s, info: info}, nil
}

// object reads a blob lazily: a GET starts at the first Read after a Seek,
// so http.ServeContent's size probe (Seek to the end and back) costs
// nothing and a Range request fetches only its range.
type object struct {
	ctx  context.Context
	s    *Store
	info blob.Info
	pos  int64
	body io.ReadCloser
}

// Info describes the blob.
func (o *object) Info() blob.Info { return o.info }

func (o *object) Read(p []byte) (int, error) {
	if o.pos >= o.info.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if o.body == nil {
		out, err := o.s.client.GetObject(o.ctx, &s3.GetObjectInput{
			Bucket: aws.String(o.s.cfg.Bucket),
			Key:    aws.String(o.s.objectKey(o.info.Key)),
			Range:  aws.String(fmt.Sprintf("bytes=%d-", o.pos)),
		})
		if err != nil {
			if isNotFound(err) {
				return 0, fmt.Errorf("blob/s3: %s: %w", o.info.Key, blob.ErrNotFound)
			}
			return 0, o.s.describe("get "+o.info.Key, err)
		}
		o.body = out.Body
	}
	n, err := o.body.Read(p)
	o.pos += int64(n)
	if errors.Is(err, io.EOF) {
		o.body.Close()
		o.body = nil
		if o.pos < o.info.Size {
			return n, fmt.Errorf("blob/s3: get %s: body ended at %d of %d bytes: %w", o.info.Key, o.pos, o.info.Size, io.ErrUnexpectedEOF)
		}
		return n, io.EOF
	}
	if err != nil {
		return n, fmt.Errorf("blob/s3: read %s: %w", o.info.Key, err)
	}
	return n, nil
}

func (o *object) Seek(offset int64, whence int) (int64, error) {
	var pos int64
	switch whence {
	case io.SeekStart:
		pos = offset
	case io.SeekCurrent:
		pos = o.pos + offset
	case io.SeekEnd:
		pos = o.info.Size + offset
	default:
		return o.pos, fmt.Errorf("blob/s3: seek: invalid whence %d", whence)
	}
	if pos < 0 {
		return o.pos, fmt.Errorf("blob/s3: seek to negative offset %d", pos)
	}
	if pos != o.pos && o.body != nil {
		o.body.Close()
		o.body = nil
	}
	o.pos = pos
	return pos, nil
}

func (o *object) Close() error {
	if o.body != nil {
		err := o.body.Close()
		o.body = nil
		return err
	}
	return nil
}

// Delete removes the blob; an absent blob is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if !validKey(key) {
		return nil
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(s.objectKey(key)),
	})
	if err != nil && !isNotFound(err) {
		return s.describe("delete "+key, err)
	}
	return nil
}

// List calls fn for every blob under the prefix, skipping temp objects
// and anything not named like a blob.
func (s *Store) List(ctx context.Context, fn func(blob.Info) error) error {
	prefix := s.blobsPrefix()
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.cfg.Bucket),
		Prefix: aws.String(prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return s.describe("list", err)
		}
		for _, obj := range page.Contents {
			rest := strings.TrimPrefix(aws.ToString(obj.Key), prefix)
			fan, key, ok := strings.Cut(rest, "/")
			if !ok || !validKey(key) || key[:2] != fan {
				continue
			}
			info := blob.Info{Key: key, Size: aws.ToInt64(obj.Size), ModTime: aws.ToTime(obj.LastModified).UTC()}
			if err := fn(info); err != nil {
				return err
			}
		}
	}
	return nil
}

// PresignGet returns a presigned GET URL that makes the server answer with
// the given Content-Disposition and Content-Type. Range requests work on
// it. The URL is valid for opts.Expires (default 5 minutes, at most the S3
// limit of 7 days).
func (s *Store) PresignGet(ctx context.Context, key string, opts blob.PresignOptions) (string, bool, error) {
	if !validKey(key) {
		return "", false, fmt.Errorf("blob/s3: key %q: %w", key, blob.ErrNotFound)
	}
	expires := opts.Expires
	if expires <= 0 {
		expires = 5 * time.Minute
	}
	if expires > maxPresignLife {
		return "", false, fmt.Errorf("blob/s3: presign: expiry %s is beyond the S3 limit of 7 days", expires)
	}
	in := &s3.GetObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(s.objectKey(key)),
	}
	if opts.ContentDisposition != "" {
		in.ResponseContentDisposition = aws.String(opts.ContentDisposition)
	}
	if opts.ContentType != "" {
		in.ResponseContentType = aws.String(opts.ContentType)
	}
	req, err := s.presign.PresignGetObject(ctx, in, s3.WithPresignExpires(expires))
	if err != nil {
		return "", false, s.describe("presign "+key, err)
	}
	return req.URL, true, nil
}

// readyKey is written by Ready to prove the bucket is writable.
const readyKey = "tmp/ready"

// Ready checks that the bucket exists, the credentials are accepted and
// objects can be written. Its errors wrap ErrNoBucket, ErrAccessDenied,
// ErrNoCredentials or ErrUnreachable when it can tell the cause.
func (s *Store) Ready(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.cfg.Bucket)}); err != nil {
		return s.describe("head bucket", err)
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.cfg.Bucket),
		Key:           aws.String(s.cfg.Prefix + readyKey),
		Body:          strings.NewReader(""),
		ContentLength: aws.Int64(0),
	})
	if err != nil {
		return s.describe("write probe object", err)
	}
	return nil
}

// Sweep removes what interrupted Puts left behind: temp objects and
// unfinished multipart uploads under the prefix started more than
// olderThan before now. It returns how many it removed. A bucket
// lifecycle rule (AbortIncompleteMultipartUpload, expiry of PREFIX/tmp/)
// does the same without haul.
func (s *Store) Sweep(ctx context.Context, olderThan time.Duration, now time.Time) (int, error) {
	cutoff := now.Add(-olderThan)
	n := 0
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.cfg.Bucket),
		Prefix: aws.String(s.tmpPrefix()),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return n, s.describe("sweep: list temp objects", err)
		}
		for _, obj := range page.Contents {
			if aws.ToString(obj.Key) == s.cfg.Prefix+readyKey || !aws.ToTime(obj.LastModified).Before(cutoff) {
				continue
			}
			if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: obj.Key}); err != nil && !isNotFound(err) {
				return n, s.describe("sweep: delete "+aws.ToString(obj.Key), err)
			}
			n++
		}
	}
	mp := s3.NewListMultipartUploadsPaginator(s.client, &s3.ListMultipartUploadsInput{
		Bucket: aws.String(s.cfg.Bucket),
		Prefix: aws.String(s.cfg.Prefix),
	})
	for mp.HasMorePages() {
		page, err := mp.NextPage(ctx)
		if err != nil {
			return n, s.describe("sweep: list multipart uploads", err)
		}
		for _, up := range page.Uploads {
			if !aws.ToTime(up.Initiated).Before(cutoff) {
				continue
			}
			_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(s.cfg.Bucket), Key: up.Key, UploadId: up.UploadId,
			})
			if err != nil && !isNotFound(err) {
				return n, s.describe("sweep: abort upload of "+aws.ToString(up.Key), err)
			}
			n++
		}
	}
	return n, nil
}
