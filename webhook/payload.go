package webhook

import (
	"encoding/json"
	"fmt"
	"time"
)

// Payload is the body of every webhook, per the Standard Webhooks spec:
// the event type, the time the event happened, and its data.
type Payload struct {
	// Type is the event type, e.g. "grant.consumed".
	Type string `json:"type"`
	// Timestamp is when the event happened (not when it was sent), RFC 3339 UTC.
	Timestamp time.Time `json:"timestamp"`
	// Data is the event's object.
	Data json.RawMessage `json:"data"`
}

// EncodePayload returns the body of an event. The same event always
// encodes to the same bytes, so retries and replays carry identical bodies.
func EncodePayload(typ string, at time.Time, data json.RawMessage) ([]byte, error) {
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	b, err := json.Marshal(Payload{Type: typ, Timestamp: at.UTC(), Data: data})
	if err != nil {
		return nil, fmt.Errorf("encode webhook payload %s: %w", typ, err)
	}
	return b, nil
}
