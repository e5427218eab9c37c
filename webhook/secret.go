package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SecretPrefix starts every signing secret, as the Standard Webhooks spec
// recommends, so a secret is recognisable when it leaks into a log.
const SecretPrefix = "whsec_"

// SecretSize is the number of random bytes in a generated secret; the spec
// asks for between 24 and 64.
const SecretSize = 32

// ErrInvalidSecret reports a secret that is not "whsec_" followed by
// base64 of at least 24 bytes.
var ErrInvalidSecret = errors.New("invalid webhook secret: want whsec_ followed by base64 of 24 to 64 bytes")

// NewSecret returns a fresh signing secret "whsec_<base64 of 32 random bytes>".
func NewSecret() (string, error) {
	b := make([]byte, SecretSize)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate webhook secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// DecodeSecret returns the HMAC key of a secret. The "whsec_" prefix is
// optional, as in the official libraries.
func DecodeSecret(secret string) ([]byte, error) {
	s := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(secret), SecretPrefix))
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil || len(key) < 24 || len(key) > 64 {
		return nil, ErrInvalidSecret
	}
	return key, nil
}
