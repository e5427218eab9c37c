package server

import (
	"net/http"

	"github.com/haulhq/haul/store"
)

// routes registers every route of the API. Each line says the pattern, the
// scope a key needs (public routes need none) and the rate-limit class.
// Other features add their routes here, one line each.
func (s *Server) routes() {
	// Operations: no auth, never rate limited.
	s.public("GET /healthz", "", s.handleHealthz())
	s.public("GET /readyz", "", s.handleReadyz())
	s.public("GET /metrics", "", s.metrics.handler())
	s.public("GET /openapi.json", "", s.handleOpenAPI())

	// Assets.
	s.api("POST /v1/assets", store.ScopeWrite, "", s.handleAssetCreate())
	s.api("GET /v1/assets", store.ScopeRead, "", s.handleAssetList())
	s.api("GET /v1/assets/{id}", store.ScopeRead, "", s.handleAssetGet())
	s.api("PATCH /v1/assets/{id}", store.ScopeWrite, "", s.handleAssetPatch())
	s.api("DELETE /v1/assets/{id}", store.ScopeWrite, "", s.handleAssetDelete())
	s.upload("PUT /v1/assets/{id}/content", store.ScopeWrite, s.handleAssetUpload())

	// Formats, downloads and jobs.
	s.api("GET /v1/formats", store.ScopeRead, "", s.handleFormats())
	s.api("POST /v1/assets/{id}/downloads", store.ScopeExport, ClassJob, s.handleDownloadCreate())
	s.api("GET /v1/jobs/{id}", store.ScopeRead, ClassPoll, s.handleJobGet())

	// Exports.
	s.api("POST /v1/exports", store.ScopeExport, ClassExport, s.handleExportCreate())
	s.api("GET /v1/exports", store.ScopeRead, "", s.handleExportList())
	s.api("GET /v1/exports/{id}", store.ScopeRead, ClassPoll, s.handleExportGet())
	s.api("GET /v1/exports/{id}/manifest", store.ScopeExport, ClassPoll, s.handleManifest())

	// Tenants and keys (admin).
	s.api("GET /v1/tenants", store.ScopeAdmin, "", s.handleTenantList())
	s.api("POST /v1/tenants", store.ScopeAdmin, "", s.handleTenantCreate())
	s.api("GET /v1/keys", store.ScopeAdmin, "", s.handleKeyList())
	s.api("POST /v1/keys", store.ScopeAdmin, "", s.handleKeyCreate())
	s.api("DELETE /v1/keys/{id}", store.ScopeAdmin, "", s.handleKeyRevoke())

	// Grants, webhooks and the audit log.
	s.api("POST /v1/assets/{id}/grants", store.ScopeExport, ClassGrant, s.handleGrantCreate())
	s.api("GET /v1/grants", store.ScopeRead, "", s.handleGrantList())
	s.api("GET /v1/grants/{id}", store.ScopeRead, "", s.handleGrantGet())
	s.api("DELETE /v1/grants/{id}", store.ScopeExport, "", s.handleGrantRevoke())
	s.api("POST /v1/grants/{id}/renew", store.ScopeExport, "", s.handleGrantRenew())
	s.public("GET /g/{token}", ClassRedeem, s.handleGrantRedeem())
	s.public("GET /g/{token}/info", ClassRedeem, s.handleGrantInfo())
	s.api("POST /v1/webhooks", store.ScopeExport, "", s.handleWebhookCreate())
	s.api("GET /v1/webhooks", store.ScopeRead, "", s.handleWebhookList())
	s.api("GET /v1/webhooks/{id}", store.ScopeRead, "", s.handleWebhookGet())
	s.api("DELETE /v1/webhooks/{id}", store.ScopeExport, "", s.handleWebhookDelete())
	s.api("GET /v1/webhooks/{id}/deliveries", store.ScopeRead, "", s.handleWebhookDeliveries())
	s.api("POST /v1/webhooks/{id}/replay", store.ScopeExport, "", s.handleWebhookReplay())
	s.api("GET /v1/events", store.ScopeRead, "", s.handleEventList())
	s.api("GET /v1/events/{id}", store.ScopeRead, "", s.handleEventGet())

	// Delivery of signed URLs (GET and HEAD), per client IP.
	s.public("GET /dl/{tenant}/{asset}/{format}/{name}", ClassDelivery, s.handleDelivery())
}

// Patterns returns every registered route pattern, in registration order.
func (s *Server) Patterns() []string { return append([]string(nil), s.patterns...) }

// handle registers h under pattern, naming the route for logs and metrics.
func (s *Server) handle(pattern string, h http.Handler) {
	s.patterns = append(s.patterns, pattern)
	named := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info(r.Context()).route = pattern
		h.ServeHTTP(w, r)
	})
	s.mux.Handle(pattern, named)
	s.probeMux.Handle(pattern, named)
}

// public registers a route without authentication, rate limited per client
// IP in class (none when class is "").
func (s *Server) public(pattern, class string, h http.Handler) {
	s.handle(pattern, s.rateLimit(class, h))
}

// api registers a JSON route: body cap, Bearer auth with scope, per-tenant
// rate limit in class, Idempotency-Key on POST.
func (s *Server) api(pattern, scope, class string, h http.Handler) {
	s.handle(pattern, s.limitBody(s.cfg.MaxBodySize, s.authenticate(scope, s.rateLimit(class, s.idempotent(h)))))
}

// upload registers a streamed-body route: auth with scope; the body is
// capped by Config.MaxUploadSize in the handler.
func (s *Server) upload(pattern, scope string, h http.Handler) {
	s.handle(pattern, s.authenticate(scope, h))
}

// unmatched answers requests no route matches with a problem (404, or 405
// with Allow) instead of the mux's plain text. It is the mux's catch-all
// "/" route, so matched requests are looked up once; it asks probeMux,
// which has every route but no catch-all, what the mux would answer.
func (s *Server) unmatched() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probe := &headerProbe{header: http.Header{}}
		s.probeMux.ServeHTTP(probe, r)
		switch probe.status {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", probe.header.Get("Allow"))
			writeProblem(w, r, Errorf(CodeMethodNotAllowed, "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, probe.header.Get("Allow")))
		case http.StatusNotFound, 0:
			writeProblem(w, r, Errorf(CodeNotFound, "no route for %s %s", r.Method, r.URL.Path))
		default:
			for k, v := range probe.header {
				w.Header()[k] = v
			}
			w.WriteHeader(probe.status)
		}
	})
}

// headerProbe captures what the mux would answer, dropping the body.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}
func (p *headerProbe) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}
