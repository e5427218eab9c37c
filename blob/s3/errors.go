package s3

import (
	"errors"
	"fmt"
	"net"
	"strings"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go"
)

// Errors Ready reports, so callers (haul serve's start-up checks) can tell
// the operator what to fix.
var (
	// ErrNoBucket means the bucket does not exist.
	ErrNoBucket = errors.New("bucket does not exist")
	// ErrAccessDenied means the server refused the credentials or they
	// lack a permission.
	ErrAccessDenied = errors.New("access denied")
	// ErrNoCredentials means the default AWS credential chain found none.
	ErrNoCredentials = errors.New("no AWS credentials")
	// ErrUnreachable means the endpoint could not be reached.
	ErrUnreachable = errors.New("endpoint unreachable")
)

// statusCode returns the HTTP status of a failed request, or 0.
func statusCode(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// errorCode returns the S3 error code (NoSuchKey, AccessDenied, …), or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func isNotFound(err error) bool {
	switch errorCode(err) {
	case "NoSuchKey", "NotFound", "NoSuchUpload":
		return true
	}
	return statusCode(err) == 404 && errorCode(err) != "NoSuchBucket"
}

// describe turns an SDK error into one that says what to fix, wrapping one
// of the sentinel errors above when it recognises the cause.
func (s *Store) describe(op string, err error) error {
	code, status := errorCode(err), statusCode(err)
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case isCredentialsError(err):
		return fmt.Errorf("blob/s3: %s: %w: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure a profile or role (%v)", op, ErrNoCredentials, err)
	case code == "NoSuchBucket" || (op == "head bucket" && status == 404):
		return fmt.Errorf("blob/s3: %s: bucket %q: %w (create it first)", op, s.cfg.Bucket, ErrNoBucket)
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "AccessDenied" || status == 403:
		return fmt.Errorf("blob/s3: %s: bucket %q: %w: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and the bucket policy (%v)", op, s.cfg.Bucket, ErrAccessDenied, err)
	case errors.As(err, &opErr) || (errors.As(err, &netErr) && netErr.Timeout()):
		return fmt.Errorf("blob/s3: %s: %w: %s: %v", op, ErrUnreachable, s.endpointName(), err)
	}
	return fmt.Errorf("blob/s3: %s: %w", op, err)
}

func (s *Store) endpointName() string {
	if s.cfg.Endpoint != "" {
		return s.cfg.Endpoint
	}
	return "AWS S3 in " + s.cfg.Region
}

// isCredentialsError recognises the SDK's "no credentials found" failure:
// a signing error, or (newer SDKs) the identity resolution step failing.
// The error of a provider that answered with an HTTP status (an instance
// metadata endpoint refusing) must not pass for a refusal by S3.
func isCredentialsError(err error) bool {
	var se *v4.SigningError
	if errors.As(err, &se) && strings.Contains(se.Error(), "retrieve credentials") {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "get identity: get credentials") || strings.Contains(msg, "failed to refresh cached credentials")
}
