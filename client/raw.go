package client

import (
	"bytes"
	"encoding/json"
)

// The API objects that `haul … --json` prints (assets, grants, exports,
// jobs, webhooks, webhook delivery attempts) keep the JSON they were
// decoded from. Encoding one of
// them again gives the server's object unchanged: every member the server
// sent, nulls as nulls and empty values as sent, also members this client
// does not model. Objects built in code have no such JSON and encode from
// their fields.

// keepRaw returns a copy of b (decoders reuse their buffers), or nil for a
// JSON null.
func keepRaw(b []byte) json.RawMessage {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil
	}
	return append(json.RawMessage(nil), b...)
}

// UnmarshalJSON decodes an asset and keeps its JSON.
func (a *Asset) UnmarshalJSON(b []byte) error {
	type plain Asset
	if err := json.Unmarshal(b, (*plain)(a)); err != nil {
		return err
	}
	a.raw = keepRaw(b)
	return nil
}

// MarshalJSON encodes the asset as the server sent it, when it was decoded
// from the server's JSON.
func (a Asset) MarshalJSON() ([]byte, error) {
	if a.raw != nil {
		return a.raw, nil
	}
	type plain Asset
	return json.Marshal(plain(a))
}

// UnmarshalJSON decodes a webhook and keeps its JSON.
func (w *Webhook) UnmarshalJSON(b []byte) error {
	type plain Webhook
	if err := json.Unmarshal(b, (*plain)(w)); err != nil {
		return err
	}
	w.raw = keepRaw(b)
	return nil
}

// MarshalJSON encodes the webhook as the server sent it, when it was
// decoded from the server's JSON.
func (w Webhook) MarshalJSON() ([]byte, error) {
	if w.raw != nil {
		return w.raw, nil
	}
	type plain Webhook
	return json.Marshal(plain(w))
}

// UnmarshalJSON decodes a delivery attempt and keeps its JSON.
func (d *Delivery) UnmarshalJSON(b []byte) error {
	type plain Delivery
	if err := json.Unmarshal(b, (*plain)(d)); err != nil {
		return err
	}
	d.raw = keepRaw(b)
	return nil
}

// MarshalJSON encodes the attempt as the server sent it, when it was
// decoded from the server's JSON.
func (d Delivery) MarshalJSON() ([]byte, error) {
	if d.raw != nil {
		return d.raw, nil
	}
	type plain Delivery
	return json.Marshal(plain(d))
}

// UnmarshalJSON decodes a grant and keeps its JSON.
func (g *Grant) UnmarshalJSON(b []byte) error {
	type plain Grant
	if err := json.Unmarshal(b, (*plain)(g)); err != nil {
		return err
	}
	g.raw = keepRaw(b)
	return nil
}

// MarshalJSON encodes a grant as the server sent it, when it was decoded
// from the server's JSON.
func (g Grant) MarshalJSON() ([]byte, error) {
	if g.raw != nil {
		return g.raw, nil
	}
	type plain Grant
	return json.Marshal(plain(g))
}

// UnmarshalJSON decodes an export and keeps its JSON.
func (e *Export) UnmarshalJSON(b []byte) error {
	type plain Export
	if err := json.Unmarshal(b, (*plain)(e)); err != nil {
		return err
	}
	e.raw = keepRaw(b)
	return nil
}

// MarshalJSON encodes an export as the server sent it, when it was decoded
// from the server's JSON.
func (e Export) MarshalJSON() ([]byte, error) {
	if e.raw != nil {
		return e.raw, nil
	}
	type plain Export
	return json.Marshal(plain(e))
}

// UnmarshalJSON decodes a job and keeps its JSON.
func (j *Job) UnmarshalJSON(b []byte) error {
	type plain Job
	if err := json.Unmarshal(b, (*plain)(j)); err != nil {
		return err
	}
	j.raw = keepRaw(b)
	return nil
}

// MarshalJSON encodes a job as the server sent it, when it was decoded
// from the server's JSON.
func (j Job) MarshalJSON() ([]byte, error) {
	if j.raw != nil {
		return j.raw, nil
	}
	type plain Job
	return json.Marshal(plain(j))
}
