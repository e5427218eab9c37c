package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/haulhq/haul/store"
	"github.com/haulhq/haul/webhook"
)

// WebhookConfig tunes webhook endpoints.
type WebhookConfig struct {
	// AllowPrivate accepts loopback, private and link-local endpoint URLs
	// (self-hosted receivers on the LAN, tests). The dispatcher's client
	// must be built with the same setting.
	AllowPrivate bool
	// Resolver checks host names of new endpoints; nil uses the system's.
	Resolver *net.Resolver
}

// webhookJSON is the API form of an endpoint. Secret appears only in the
// response that created it.
type webhookJSON struct {
	ID                  string     `json:"id"`
	URL                 string     `json:"url"`
	Events              []string   `json:"events"`
	Disabled            bool       `json:"disabled"`
	DisabledReason      string     `json:"disabled_reason,omitempty"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	LastSuccessAt       *time.Time `json:"last_success_at,omitempty"`
	LastFailureAt       *time.Time `json:"last_failure_at,omitempty"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
	Secret              string     `json:"secret,omitempty"`
}

func viewWebhook(e *store.WebhookEndpoint) webhookJSON {
	return webhookJSON{
		ID: e.ID, URL: e.URL, Events: e.Events, Disabled: e.Disabled, DisabledReason: e.DisabledReason,
		ConsecutiveFailures: e.ConsecutiveFailures, LastSuccessAt: timePtr(e.LastSuccessAt), LastFailureAt: timePtr(e.LastFailureAt),
		CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(),
	}
}

// attemptJSON is one delivery attempt (GET /v1/webhooks/{id}/deliveries).
type attemptJSON struct {
	ID         string    `json:"id"`
	DeliveryID string    `json:"delivery_id"`
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	Attempt    int       `json:"attempt"`
	StatusCode int       `json:"status_code"`
	Success    bool      `json:"success"`
	LatencyMS  int64     `json:"latency_ms"`
	Error      string    `json:"error"`
	Response   string    `json:"response,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// cleanEvents validates a subscription: ["*"] or known webhook event types.
func cleanEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, Errorf(CodeValidationFailed, `events is required: a list of event types, or ["*"] for all`).With("allowed_events", store.WebhookEventTypes())
	}
	var out []string
	for _, e := range events {
		e = strings.TrimSpace(e)
		if e != "*" && !store.IsWebhookEvent(e) {
			return nil, Errorf(CodeValidationFailed, "unknown event type %q", e).With("allowed_events", store.WebhookEventTypes())
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if slices.Contains(out, "*") {
		out = []string{"*"}
	}
	return out, nil
}

func (s *Server) handleWebhookCreate() http.Handler {
	type request struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](r)
		if err != nil {
			return err
		}
		if len(req.URL) > 2048 {
			return Errorf(CodeValidationFailed, "url is at most 2048 bytes")
		}
		policy := webhook.URLPolicy{AllowPrivate: s.cfg.Webhooks.AllowPrivate, Resolver: s.cfg.Webhooks.Resolver}
		u, err := policy.Validate(r.Context(), req.URL)
		switch {
		case errors.Is(err, webhook.ErrPrivateTarget):
			return Errorf(CodeValidationFailed, "%v; this server refuses such targets unless started with --webhook-allow-private", err)
		case err != nil:
			return Errorf(CodeValidationFailed, "%v", err)
		}
		events, err := cleanEvents(req.Events)
		if err != nil {
			return err
		}
		secret, err := webhook.NewSecret()
		if err != nil {
			return err
		}
		e := &store.WebhookEndpoint{TenantID: tenantOf(r.Context()), URL: u.String(), Events: events, Secret: secret}
		if err := s.store.CreateWebhook(r.Context(), e); err != nil {
			return fmt.Errorf("create webhook: %w", err)
		}
		v := viewWebhook(e)
		v.Secret = secret
		w.Header().Set("Location", "/v1/webhooks/"+e.ID)
		return encode(w, http.StatusCreated, v)
	})
}

func (s *Server) getWebhook(r *http.Request) (*store.WebhookEndpoint, error) {
	e, err := s.store.GetWebhook(r.Context(), tenantOf(r.Context()), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, Errorf(CodeNotFound, "no webhook %q", r.PathValue("id"))
	}
	return e, err
}

func (s *Server) handleWebhookList() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		p, err := pageOf(r, store.PrefixWebhook)
		if err != nil {
			return err
		}
		es, next, err := s.store.ListWebhooks(r.Context(), tenantOf(r.Context()), p)
		if err != nil {
			return err
		}
		out := make([]webhookJSON, 0, len(es))
		for _, e := range es {
			out = append(out, viewWebhook(e))
		}
		return encode(w, http.StatusOK, newList(out, next))
	})
}

func (s *Server) handleWebhookGet() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		e, err := s.getWebhook(r)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, viewWebhook(e))
	})
}

func (s *Server) handleWebhookDelete() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		err := s.store.DeleteWebhook(r.Context(), tenantOf(r.Context()), r.PathValue("id"))
		if errors.Is(err, store.ErrNotFound) {
			return Errorf(CodeNotFound, "no webhook %q", r.PathValue("id"))
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (s *Server) handleWebhookDeliveries() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		p, err := pageOf(r, store.PrefixAttempt)
		if err != nil {
			return err
		}
		e, err := s.getWebhook(r)
		if err != nil {
			return err
		}
		as, next, err := s.store.ListDeliveryAttempts(r.Context(), e.TenantID, e.ID, p)
		if err != nil {
			return err
		}
		out := make([]attemptJSON, 0, len(as))
		for _, a := range as {
			out = append(out, attemptJSON{
				ID: a.ID, DeliveryID: a.DeliveryID, EventID: a.EventID, EventType: a.EventType, Attempt: a.Attempt,
				StatusCode: a.StatusCode, Success: a.Success, LatencyMS: a.LatencyMS, Error: a.Error,
				Response: a.Response, CreatedAt: a.CreatedAt.UTC(),
			})
		}
		return encode(w, http.StatusOK, newList(out, next))
	})
}

// handleWebhookReplay re-sends stored events since a time: new deliveries
// with the events' original IDs (webhook-id), signed afresh when sent.
// Replaying to a disabled endpoint enables it again.
func (s *Server) handleWebhookReplay() http.Handler {
	type request struct {
		Since *time.Time `json:"since"`
	}
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](r)
		if err != nil {
			return err
		}
		if req.Since == nil {
			return Errorf(CodeValidationFailed, "since is required: an RFC 3339 time, e.g. 2026-01-02T15:04:05Z")
		}
		e, err := s.getWebhook(r)
		if err != nil {
			return err
		}
		now := s.now()
		if e.Disabled {
			if e, err = s.store.SetWebhookDisabled(r.Context(), e.TenantID, e.ID, false, "", now); err != nil {
				return err
			}
		}
		n, err := s.store.ReplayWebhook(r.Context(), e.TenantID, e.ID, req.Since.UTC(), now)
		if err != nil {
			return err
		}
		return encode(w, http.StatusAccepted, struct {
			WebhookID string    `json:"webhook_id"`
			Since     time.Time `json:"since"`
			Replayed  int       `json:"replayed"`
		}{e.ID, req.Since.UTC(), n})
	})
}
