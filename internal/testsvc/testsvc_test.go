package testsvc_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/haulhq/haul/internal/testsvc"
)

func TestMain(m *testing.M) { testsvc.Main(m) }

func TestPostgreSQLFreshDatabasePerTest(t *testing.T) {
	ctx := context.Background()
	dsnA := testsvc.PostgreSQL(t)
	dsnB := testsvc.PostgreSQL(t)
	if dsnA == dsnB {
		t.Fatalf("two calls returned the same database %q", dsnA)
	}
	if !strings.Contains(dsnA, "127.0.0.1") {
		t.Errorf("DSN %q is not on loopback", dsnA)
	}
	a, err := pgx.Connect(ctx, dsnA)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	if _, err := a.Exec(ctx, "CREATE TABLE x (id int primary key); INSERT INTO x VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	b, err := pgx.Connect(ctx, dsnB)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	var n int
	err = b.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'x'").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database B sees database A's table")
	}
}

func TestPostgreSQLDroppedAfterTest(t *testing.T) {
	var dsn string
	t.Run("inner", func(t *testing.T) { dsn = testsvc.PostgreSQL(t) })
	if t.Failed() || dsn == "" {
		return
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err == nil {
		conn.Close(ctx)
		t.Fatalf("database %s still exists after its test ended", dsn)
	}
}

func TestS3FreshBucketPerTest(t *testing.T) {
	ctx := context.Background()
	srv := testsvc.S3(t)
	other := testsvc.S3(t)
	if srv.Bucket == other.Bucket {
		t.Fatalf("two calls returned the same bucket %q", srv.Bucket)
	}
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(srv.Endpoint),
		Region:       srv.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
	})
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(srv.Bucket), Key: aws.String("hello.txt"), Body: strings.NewReader("hi"),
	}); err != nil {
		t.Fatalf("put: %v", err)
	}
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(other.Bucket)})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(out.Contents) != 0 {
		t.Errorf("fresh bucket holds %d objects", len(out.Contents))
	}
	if _, err := os.Stat(filepath.Join(srv.Dir, srv.Bucket, "hello.txt")); err != nil {
		t.Errorf("object not in the backing directory: %v", err)
	}
	if got := srv.URL("pre/fix"); !strings.HasPrefix(got, "s3://"+srv.Bucket+"/pre/fix?") ||
		!strings.Contains(got, "endpoint=http%3A%2F%2F127.0.0.1") {
		t.Errorf("URL = %q", got)
	}
	bad := s3.New(s3.Options{
		BaseEndpoint: aws.String(srv.Endpoint),
		Region:       srv.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, "wrong", ""),
	})
	_, err = bad.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(srv.Bucket)})
	if err == nil {
		t.Error("wrong secret accepted")
	}
}
