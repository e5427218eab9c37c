package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
)

// Health is the answer of /healthz or /readyz.
type Health struct {
	// OK reports a 2xx answer.
	OK bool `json:"ok"`
	// Status is the HTTP status.
	Status int `json:"status"`
	// Body is the JSON the server returned (checks and their state), or
	// null when it returned none.
	Body json.RawMessage `json:"body,omitempty"`
}

// Healthz asks whether the server process is up (GET /healthz).
func (c *Client) Healthz(ctx context.Context) (*Health, error) { return c.health(ctx, "/healthz") }

// Readyz asks whether the server can serve: store reachable, disk writable
// (GET /readyz). A 503 is reported as OK=false, not as an error.
func (c *Client) Readyz(ctx context.Context) (*Health, error) { return c.health(ctx, "/readyz") }

func (c *Client) health(ctx context.Context, path string) (*Health, error) {
	var raw json.RawMessage
	_, err := c.call(ctx, &request{method: "GET", path: path, noRetry: true}, &raw)
	h := &Health{}
	var ae *APIError
	switch {
	case err == nil:
		h.OK, h.Status = true, http.StatusOK
		if json.Valid(raw) {
			h.Body = raw
		}
	case errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable:
		h.Status = ae.Status
	default:
		return nil, err
	}
	return h, nil
}

// OpenAPI returns the server's OpenAPI 3.1 document (GET /openapi.json).
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var raw json.RawMessage
	if _, err := c.call(ctx, &request{method: "GET", path: "/openapi.json"}, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}
