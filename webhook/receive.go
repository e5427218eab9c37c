package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// DefaultMaxBody caps the body ReadRequest accepts.
const DefaultMaxBody = 1 << 20

// ErrBodyTooLarge reports a webhook body over the receiver's limit.
var ErrBodyTooLarge = errors.New("webhook body too large")

// Message is a received webhook.
type Message struct {
	// ID is the webhook-id header: the event id.
	ID string
	// Timestamp is the webhook-timestamp header: when this attempt was sent.
	Timestamp time.Time
	// Body is the raw body exactly as received and signed.
	Body []byte
	// Payload is the decoded body; zero when the body is not a payload.
	Payload Payload
}

// ReadRequest reads a webhook request's body (at most maxBody bytes, 0
// meaning DefaultMaxBody) and verifies its signature with s at time now. A
// message is returned even when verification fails, so a receiver can show
// what arrived; the error says why it must not be trusted.
func ReadRequest(r *http.Request, s *Signer, now time.Time, maxBody int64) (*Message, error) {
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read webhook body: %w", err)
	}
	if int64(len(body)) > maxBody {
		return nil, ErrBodyTooLarge
	}
	m := &Message{ID: r.Header.Get(HeaderID), Body: body}
	_ = json.Unmarshal(body, &m.Payload)
	_, ts, verr := s.Verify(r.Header, body, now)
	m.Timestamp = ts
	return m, verr
}
