// Package s3 stores blobs in an S3-compatible bucket: the scale-out
// backend of haul serve (--blobs s3://BUCKET[/prefix]?endpoint=…&region=…).
//
// Layout: content lives at PREFIX/blobs/ab/<sha256 hex> ("ab" being the
// first two hex digits, which keeps directory-backed servers such as
// versitygw's posix backend from growing one huge directory). Uploads in
// flight use PREFIX/tmp/.
//
// Put streams the body: content that fits in one part (PartSize, 8 MiB by
// default) is hashed in memory and sent with one PutObject straight to its
// final key; larger content goes up as a multipart upload, a few parts in
// flight, so memory stays at (Concurrency+1)×PartSize whatever the size. A
// multipart upload is invisible until it completes, so when the caller
// knows the digest (ExpectSHA256) it targets the final key and is aborted on
// a mismatch; otherwise it targets a temp key and is copied server-side to
// the content-addressed key once the hash is known, then the temp object is
// deleted. Every part and single put carries x-amz-checksum-sha256, which
// the server verifies before accepting the bytes.
//
// Reads are presigned GET URLs (PresignGet) carrying
// response-content-disposition and response-content-type, so bytes never
// pass through haul serve; Open is there for the rest (probing, migration)
// and fetches lazily with Range requests, so http.ServeContent and Seek
// work without reading the whole object.
//
// SDK: github.com/aws/aws-sdk-go-v2. It implements the default AWS
// credential chain that the spec promises (environment, shared config and
// SSO profiles, web identity, container and instance roles) rather than an
// approximation of it, has first-class flexible checksums and presigning,
// and is what the S3-compatible servers test against; minio-go would be a
// smaller dependency but resolves credentials its own way.
package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"

	"github.com/haulhq/haul/blob"
)

// ErrTooLarge is returned by Put when more than PutOptions.MaxSize bytes
// arrive (or SizeHint says they will). Nothing is stored in that case.
var ErrTooLarge = errors.New("blob/s3: blob exceeds the size limit")

// Limits of the S3 protocol.
const (
	minPartSize     = 5 << 20
	maxParts        = 10000
	maxCopySize     = 5 << 30 // the largest object CopyObject accepts
	maxPresignLife  = 7 * 24 * time.Hour
	defaultPartSize = 8 << 20
)

// Config says where the blobs live and how to reach them.
type Config struct {
	// Bucket is the bucket name.
	Bucket string
	// Prefix is prepended to every key; "" or ending in "/".
	Prefix string
	// Endpoint is the base URL of an S3-compatible server
	// (http://host:port). When set, requests use path-style addressing.
	// Empty means AWS S3.
	Endpoint string
	// Region is the signing region. Empty means the AWS configuration's
	// (AWS_REGION, the shared config), or us-east-1 with an Endpoint.
	Region string
	// Credentials, when set, replace the default AWS credential chain.
	Credentials aws.CredentialsProvider
	// PartSize is the size of multipart upload parts (default 8 MiB, at
	// least 5 MiB). Content up to this size goes up in one request.
	PartSize int64
	// Concurrency is how many parts of one upload are in flight (default 2).
	Concurrency int
	// CopyPartSize is the largest object copied in one CopyObject; bigger
	// ones are copied in parts of this size (default and maximum 5 GiB).
	CopyPartSize int64
	// HTTPClient, when set, sends the requests.
	HTTPClient *http.Client
}

// ParseURL parses a blob URL,
// s3://BUCKET[/prefix]?endpoint=http://host:port&region=R.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("blob/s3: parse URL: %w", err)
	}
	if u.Scheme != "s3" {
		return Config{}, fmt.Errorf("blob/s3: URL %q: scheme must be s3", redact(u))
	}
	if u.User != nil {
		return Config{}, fmt.Errorf("blob/s3: URL %q: credentials do not belong in the URL; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", redact(u))
	}
	cfg := Config{Bucket: u.Host}
	if err := validBucket(cfg.Bucket); err != nil {
		return Config{}, err
	}
	p := strings.Trim(u.Path, "/")
	if p != "" {
		if path.Clean(p) != p || strings.Contains(p, "//") {
			return Config{}, fmt.Errorf("blob/s3: URL %q: prefix %q is not a clean path", redact(u), p)
		}
		cfg.Prefix = p + "/"
	}
	for k, v := range u.Query() {
		switch k {
		case "endpoint":
			cfg.Endpoint = v[0]
			e, err := url.Parse(cfg.Endpoint)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return Config{}, fmt.Errorf("blob/s3: endpoint %q must be an http:// or https:// URL", cfg.Endpoint)
			}
		case "region":
			cfg.Region = v[0]
		default:
			return Config{}, fmt.Errorf("blob/s3: URL %q: unknown parameter %q (known: endpoint, region)", redact(u), k)
		}
	}
	return cfg, nil
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// validBucket checks the S3 bucket naming rules that matter for URLs.
func validBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("blob/s3: bucket name %q must be 3 to 63 characters", b)
	}
	for i := range len(b) {
		c := b[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '.' {
			return fmt.Errorf("blob/s3: bucket name %q may hold only lower-case letters, digits, '-' and '.'", b)
		}
	}
	return nil
}

// Store is a blob.Store on an S3 bucket. It is safe for concurrent use,
// also by many processes sharing the bucket.
type Store struct {
	cfg     Config
	client  *s3.Client
	presign *s3.PresignClient
}

var _ blob.Store = (*Store)(nil)

// New builds a store from cfg. It does not contact the server: call Ready
// to check that the bucket exists and the credentials work.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := validBucket(cfg.Bucket); err != nil {
		return nil, err
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = defaultPartSize
	}
	if cfg.PartSize < minPartSize {
		return nil, fmt.Errorf("blob/s3: part size %d is below the S3 minimum of 5 MiB", cfg.PartSize)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 2
	}
	if cfg.CopyPartSize == 0 || cfg.CopyPartSize > maxCopySize {
		cfg.CopyPartSize = maxCopySize
	}
	if cfg.CopyPartSize < minPartSize {
		return nil, fmt.Errorf("blob/s3: copy part size %d is below the S3 minimum of 5 MiB", cfg.CopyPartSize)
	}
	// The SDK logs to stderr by default (e.g. an IMDSv1 fallback while
	// looking for credentials); failures reach the caller as errors.
	loadOpts := []func(*config.LoadOptions) error{config.WithLogger(logging.Nop{})}
	if cfg.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(cfg.Region))
	}
	if cfg.Credentials != nil {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(cfg.Credentials))
	}
	if cfg.HTTPClient != nil {
		loadOpts = append(loadOpts, config.WithHTTPClient(cfg.HTTPClient))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("blob/s3: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		if cfg.Endpoint == "" {
			return nil, errors.New("blob/s3: no region: add ?region=… to the URL or set AWS_REGION")
		}
		awsCfg.Region = "us-east-1" // what S3-compatible servers expect by default
	}
	cfg.Region = awsCfg.Region
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			o.UsePathStyle = true
		}
		// We send our own SHA-256 checksums; the SDK adds CRC32 only to
		// operations that require a checksum.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return &Store{cfg: cfg, client: client, presign: s3.NewPresignClient(client)}, nil
}

// Bucket returns the bucket name.
func (s *Store) Bucket() string { return s.cfg.Bucket }

// objectKey returns the S3 key of the blob with the given content key.
func (s *Store) objectKey(key string) string {
	return s.cfg.Prefix + "blobs/" + key[:2] + "/" + key
}

func (s *Store) blobsPrefix() string { return s.cfg.Prefix + "blobs/" }
func (s *Store) tmpPrefix() string   { return s.cfg.Prefix + "tmp/" }

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

// Close releases nothing: the SDK's connections are pooled by its client.
func (s *Store) Close() error { return nil }
