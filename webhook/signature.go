package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names.
const (
	// HeaderID carries the message id: the event id, the same on every
	// retry and replay so receivers can deduplicate.
	HeaderID = "webhook-id"
	// HeaderTimestamp carries the attempt's Unix time in seconds.
	HeaderTimestamp = "webhook-timestamp"
	// HeaderSignature carries space-separated "v1,<base64>" signatures.
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a message timestamp may be from the
// receiver's clock, in either direction, before Verify rejects it.
const DefaultTolerance = 5 * time.Minute

// maxSignatures bounds the work an attacker can cause with a long header.
const maxSignatures = 16

// Verification errors. Receivers branch on them with errors.Is.
var (
	ErrMissingHeaders      = errors.New("missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrInvalidHeaders      = errors.New("invalid webhook signature headers")
	ErrNoMatchingSignature = errors.New("no matching webhook signature")
	ErrTimestampTooOld     = errors.New("webhook timestamp too old")
	ErrTimestampTooNew     = errors.New("webhook timestamp too new")
)

// Signer signs and verifies messages with one endpoint's secret.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer for a "whsec_…" secret.
func NewSigner(secret string) (*Signer, error) {
	key, err := DecodeSecret(secret)
	if err != nil {
		return nil, err
	}
	return &Signer{key: key}, nil
}

// Sign returns the webhook-signature value "v1,<base64 HMAC-SHA256>" over
// "id.timestamp.body".
func (s *Signer) Sign(id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(s.mac(id, ts.Unix(), body))
}

// SetHeaders sets the three Standard Webhooks headers of a message on h.
func (s *Signer) SetHeaders(h http.Header, id string, ts time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, s.Sign(id, ts, body))
}

func (s *Signer) mac(id string, unix int64, body []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(unix, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a received message: the headers are present, the
// timestamp is within DefaultTolerance of now, and one of the v1
// signatures matches. It returns the message id and timestamp.
func (s *Signer) Verify(h http.Header, body []byte, now time.Time) (id string, ts time.Time, err error) {
	return s.VerifyTolerance(h, body, now, DefaultTolerance)
}

// VerifyTolerance is Verify with a chosen timestamp tolerance; a tolerance
// of zero or less skips the timestamp check.
func (s *Signer) VerifyTolerance(h http.Header, body []byte, now time.Time, tolerance time.Duration) (string, time.Time, error) {
	id, tsv, sigv := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsv == "" || sigv == "" {
		return "", time.Time{}, ErrMissingHeaders
	}
	unix, err := strconv.ParseInt(strings.TrimSpace(tsv), 10, 64)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrInvalidHeaders, tsv)
	}
	ts := time.Unix(unix, 0).UTC()
	if tolerance > 0 {
		if now.Sub(ts) > tolerance {
			return "", time.Time{}, ErrTimestampTooOld
		}
		if ts.Sub(now) > tolerance {
			return "", time.Time{}, ErrTimestampTooNew
		}
	}
	sigs, err := ParseSignatureHeader(sigv)
	if err != nil {
		return "", time.Time{}, err
	}
	want := s.mac(id, unix, body)
	for _, sig := range sigs {
		if sig.Version == "v1" && hmac.Equal(sig.Value, want) {
			return id, ts, nil
		}
	}
	return "", time.Time{}, ErrNoMatchingSignature
}

// Signature is one entry of a webhook-signature header.
type Signature struct {
	// Version is the scheme, "v1" for HMAC-SHA256 ("v1a" is the spec's
	// asymmetric scheme, which haul does not sign with).
	Version string
	// Value is the decoded signature bytes.
	Value []byte
}

// ParseSignatureHeader parses a webhook-signature header: space-separated
// "version,base64" entries. Entries with an unknown version or bad base64
// are skipped, as the spec asks (a sender may add schemes the receiver does
// not know); an error means no usable entry was found. At most 16 entries
// are considered.
func ParseSignatureHeader(v string) ([]Signature, error) {
	var sigs []Signature
	n := 0
	for _, f := range strings.Fields(v) {
		if n++; n > maxSignatures {
			break
		}
		ver, val, ok := strings.Cut(f, ",")
		if !ok || ver == "" || val == "" {
			continue
		}
		if ver != "v1" && ver != "v1a" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(val)
		if err != nil {
			continue
		}
		sigs = append(sigs, Signature{Version: ver, Value: b})
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("%w: no v1 signature in webhook-signature", ErrInvalidHeaders)
	}
	return sigs, nil
}
