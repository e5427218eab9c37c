package s3_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/haulhq/haul/blob"
	"github.com/haulhq/haul/blob/blobtest"
	"github.com/haulhq/haul/blob/s3"
	"github.com/haulhq/haul/internal/testsvc"
)

func TestMain(m *testing.M) { testsvc.Main(m) }

// testPartSize is the S3 minimum, so the suite's large blobs span parts.
const testPartSize = 5 << 20

func newStore(t *testing.T, srv testsvc.S3Server, prefix string) *s3.Store {
	t.Helper()
	cfg, err := s3.ParseURL(srv.URL(prefix))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Credentials = credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")
	cfg.PartSize = testPartSize
	cfg.CopyPartSize = testPartSize
	st, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestContract(t *testing.T) {
	blobtest.Run(t, blobtest.Options{
		New: func(t *testing.T) blob.Store {
			return newStore(t, testsvc.S3(t), "")
		},
		ErrTooLarge: s3.ErrTooLarge,
		WantPresign: true,
		LargeSize:   2*testPartSize + 17, // three parts, and a three-part copy
	})
}

func TestContractWithPrefix(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	blobtest.Run(t, blobtest.Options{
		New: func(t *testing.T) blob.Store {
			return newStore(t, testsvc.S3(t), "tenant/a")
		},
		ErrTooLarge: s3.ErrTooLarge,
		WantPresign: true,
		LargeSize:   testPartSize + 1,
	})
}

func TestPrefixesAreSeparate(t *testing.T) {
	ctx := context.Background()
	srv := testsvc.S3(t)
	a := newStore(t, srv, "a")
	b := newStore(t, srv, "b")
	info, err := a.Put(ctx, strings.NewReader("only in a"), blob.PutOptions{SizeHint: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, info.Key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("blob of prefix a visible under prefix b: %v", err)
	}
	if _, err := os.Stat(filepath.Join(srv.Dir, srv.Bucket, "a", "blobs", info.Key[:2], info.Key)); err != nil {
		t.Errorf("blob not at PREFIX/blobs/ab/KEY: %v", err)
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		url     string
		want    s3.Config
		wantErr string
	}{
		{url: "s3://media", want: s3.Config{Bucket: "media"}},
		{url: "s3://media/", want: s3.Config{Bucket: "media"}},
		{url: "s3://media/haul/prod", want: s3.Config{Bucket: "media", Prefix: "haul/prod/"}},
		{url: "s3://media/haul/?endpoint=http://127.0.0.1:9000&region=eu-west-1",
			want: s3.Config{Bucket: "media", Prefix: "haul/", Endpoint: "http://127.0.0.1:9000", Region: "eu-west-1"}},
		{url: "s3://media?region=us-east-2", want: s3.Config{Bucket: "media", Region: "us-east-2"}},
		{url: "gs://media", wantErr: "scheme must be s3"},
		{url: "s3://", wantErr: "3 to 63"},
		{url: "s3://Media", wantErr: "lower-case"},
		{url: "s3://media?endpoint=127.0.0.1:9000", wantErr: "http:// or https://"},
		{url: "s3://media?endpoint=ftp://x", wantErr: "http:// or https://"},
		{url: "s3://media?bucket=x", wantErr: `unknown parameter "bucket"`},
		{url: "s3://key:secret@media", wantErr: "credentials do not belong in the URL"},
		{url: "s3://media/a/../b", wantErr: "not a clean path"},
		{url: "s3://media/a//b", wantErr: "not a clean path"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := s3.ParseURL(tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error leaks the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadyErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := testsvc.S3(t)
	t.Run("ok", func(t *testing.T) {
		if err := newStore(t, srv, "").Ready(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("missing bucket", func(t *testing.T) {
		missing := srv
		missing.Bucket = "no-such-bucket"
		err := newStore(t, missing, "").Ready(ctx)
		if !errors.Is(err, s3.ErrNoBucket) || !strings.Contains(err.Error(), "no-such-bucket") {
			t.Fatalf("err = %v, want ErrNoBucket naming the bucket", err)
		}
	})
	t.Run("bad credentials", func(t *testing.T) {
		bad := srv
		bad.SecretKey = "not-the-secret"
		err := newStore(t, bad, "").Ready(ctx)
		if !errors.Is(err, s3.ErrAccessDenied) {
			t.Fatalf("err = %v, want ErrAccessDenied", err)
		}
		if strings.Contains(err.Error(), "not-the-secret") {
			t.Errorf("error leaks the secret: %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		down := srv
		down.Endpoint = "http://127.0.0.1:1"
		err := newStore(t, down, "").Ready(ctx)
		if !errors.Is(err, s3.ErrUnreachable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Fatalf("err = %v, want ErrUnreachable naming the endpoint", err)
		}
	})
}

func TestSweepRemovesAbandonedUploads(t *testing.T) {
	ctx := context.Background()
	srv := testsvc.S3(t)
	st := newStore(t, srv, "")
	// A Put whose reader fails after the first part leaves nothing behind
	// by itself; simulate a crash instead: a temp object nobody copied.
	tmp := filepath.Join(srv.Dir, srv.Bucket, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "abandoned"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	// And an upload a crashed replica never completed nor aborted.
	client := awss3.New(awss3.Options{
		BaseEndpoint: aws.String(srv.Endpoint),
		Region:       srv.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
	})
	if _, err := client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{
		Bucket: aws.String(srv.Bucket), Key: aws.String("tmp/crashed"),
	}); err != nil {
		t.Fatal(err)
	}
	kept, err := st.Put(ctx, bytes.NewReader([]byte("kept")), blob.PutOptions{SizeHint: -1})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := st.Sweep(ctx, time.Hour, time.Now()); err != nil || n != 0 {
		t.Fatalf("Sweep of young files = %d, %v; want 0", n, err)
	}
	n, err := st.Sweep(ctx, time.Hour, time.Now().Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("Sweep removed %d, want 2 (a temp object and an upload)", n)
	}
	if _, err := os.Stat(filepath.Join(tmp, "abandoned")); !os.IsNotExist(err) {
		t.Errorf("abandoned temp object still there: %v", err)
	}
	ups, err := client.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads left after Sweep", len(ups.Uploads))
	}
	if _, err := st.Stat(ctx, kept.Key); err != nil {
		t.Errorf("Sweep removed a real blob: %v", err)
	}
}

func TestSizeHintOverMaxSizeFailsFast(t *testing.T) {
	st := newStore(t, testsvc.S3(t), "")
	r := &countingReader{}
	_, err := st.Put(context.Background(), r, blob.PutOptions{SizeHint: 100, MaxSize: 10})
	if !errors.Is(err, s3.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if r.n != 0 {
		t.Errorf("read %d bytes of an upload announced too large", r.n)
	}
}

type countingReader struct{ n int }

func (c *countingReader) Read(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// TestNoLeftovers: finished and failed multipart Puts leave no temp
// objects and no unfinished uploads behind.
func TestNoLeftovers(t *testing.T) {
	ctx := context.Background()
	st := newStore(t, testsvc.S3(t), "p")
	big := bytes.Repeat([]byte("0123456789abcdef"), (2*testPartSize+100)/16)
	if _, err := st.Put(ctx, bytes.NewReader(big), blob.PutOptions{SizeHint: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, bytes.NewReader(big[1:]), blob.PutOptions{ExpectSHA256: make([]byte, 32), SizeHint: -1}); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("mismatching Put: %v", err)
	}
	if _, err := st.Put(ctx, bytes.NewReader(big[2:]), blob.PutOptions{MaxSize: testPartSize + 1, SizeHint: -1}); !errors.Is(err, s3.ErrTooLarge) {
		t.Fatalf("oversized Put: %v", err)
	}
	n, err := st.Sweep(ctx, 0, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("Sweep found %d leftovers of finished or failed Puts, want 0", n)
	}
}

// TestReadyWithoutCredentials: with no credentials anywhere in the default
// chain, Ready says so (and not "access denied").
func TestReadyWithoutCredentials(t *testing.T) {
	srv := testsvc.S3(t)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg, err := s3.ParseURL(srv.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	st, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = st.Ready(ctx)
	if !errors.Is(err, s3.ErrNoCredentials) {
		t.Fatalf("err = %v, want ErrNoCredentials", err)
	}
}
