package server

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/haulhq/haul/store"
)

// Rate-limit classes (SPEC section 3, Conventions). API classes are counted
// per tenant; public classes (redeem, delivery) per client IP.
const (
	ClassJob      = "job"      // POST /v1/assets/{id}/downloads (may create jobs)
	ClassExport   = "export"   // POST /v1/exports
	ClassGrant    = "grant"    // POST /v1/assets/{id}/grants
	ClassPoll     = "poll"     // GET jobs, exports and manifests
	ClassRedeem   = "redeem"   // GET /g/{token}… (per client IP)
	ClassDelivery = "delivery" // GET|HEAD /dl/… (per client IP)
)

// Limit is one rate-limit policy: at most N requests per Window.
type Limit struct {
	// N is the number of requests allowed per window.
	N int
	// Window is the length of the window.
	Window time.Duration
}

// DefaultLimits are the safe defaults per class.
func DefaultLimits() map[string]Limit {
	return map[string]Limit{
		ClassJob:      {N: 600, Window: time.Minute},
		ClassExport:   {N: 60, Window: time.Minute},
		ClassGrant:    {N: 300, Window: time.Minute},
		ClassPoll:     {N: 1200, Window: time.Minute},
		ClassRedeem:   {N: 60, Window: time.Minute},
		ClassDelivery: {N: 3000, Window: time.Minute},
	}
}

// ParseRateLimits applies --rate-limit values to the defaults. Each value is
// CLASS=N/WINDOW (e.g. export=60/1m, poll=10/10s), CLASS=off, or "off" to
// disable every limit (returns nil).
func ParseRateLimits(values []string) (map[string]Limit, error) {
	limits := DefaultLimits()
	for _, v := range values {
		for _, item := range splitComma(v) {
			if item == "off" {
				return nil, nil
			}
			class, spec, ok := strings.Cut(item, "=")
			if !ok {
				return nil, fmt.Errorf("rate limit %q: want CLASS=N/WINDOW (e.g. export=60/1m) or off", item)
			}
			if _, known := limits[class]; !known {
				return nil, fmt.Errorf("rate limit %q: unknown class %q (known: %s)", item, class, strings.Join(limitClasses(), ", "))
			}
			if spec == "off" {
				delete(limits, class)
				continue
			}
			ns, ws, ok := strings.Cut(spec, "/")
			n, err := strconv.Atoi(ns)
			if !ok || err != nil || n < 1 {
				return nil, fmt.Errorf("rate limit %q: want CLASS=N/WINDOW with N ≥ 1", item)
			}
			w, err := time.ParseDuration(ws)
			if err != nil {
				if secs, err2 := strconv.Atoi(ws); err2 == nil {
					w, err = time.Duration(secs)*time.Second, nil
				}
			}
			if err != nil || w < time.Second {
				return nil, fmt.Errorf("rate limit %q: window must be a duration of at least 1s (e.g. 60s, 1m)", item)
			}
			limits[class] = Limit{N: n, Window: w}
		}
	}
	return limits, nil
}

func limitClasses() []string {
	var out []string
	for c := range DefaultLimits() {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// limiter decides whether one more request of class from subject may go.
// limited is false when the class has no limit.
type limiter interface {
	take(ctx context.Context, class, subject string) (d decision, limited bool)
}

// sharedLimiter keeps the buckets in the store (CoordStore.TakeToken), so
// replicas sharing a database share one budget per tenant and class.
type sharedLimiter struct {
	limits map[string]Limit
	st     store.CoordStore
	now    func() time.Time
	local  *rateLimiter // used when the store cannot answer
}

func (l *sharedLimiter) take(ctx context.Context, class, subject string) (decision, bool) {
	lim, ok := l.limits[class]
	if !ok {
		return decision{}, false
	}
	res, err := l.st.TakeToken(ctx, "ratelimit:"+class+":"+subject, lim.N, lim.Window, l.now())
	if err != nil {
		return l.local.take(ctx, class, subject)
	}
	d := decision{limit: lim, remaining: res.Remaining, reset: res.Reset, allowed: res.Allowed}
	if !res.Allowed && res.RetryAfter > 0 {
		d.reset = res.RetryAfter
	}
	return d, true
}

// rateLimiter counts requests in fixed windows per (class, subject). State
// is in memory: each replica enforces its own share.
type rateLimiter struct {
	limits map[string]Limit
	now    func() time.Time

	mu      sync.Mutex
	windows map[windowKey]*window
	sweep   time.Time
}

// windowKey is one class and subject (a struct: no key string to build
// per request).
type windowKey struct{ class, subject string }

type window struct {
	start time.Time
	count int
}

func newRateLimiter(limits map[string]Limit, now func() time.Time) *rateLimiter {
	return &rateLimiter{limits: limits, now: now, windows: map[windowKey]*window{}}
}

// decision is the outcome of one take.
type decision struct {
	limit     Limit
	remaining int
	reset     time.Duration
	allowed   bool
}

// take counts one request for class and subject. ok is false when the
// class is not limited.
func (l *rateLimiter) take(_ context.Context, class, subject string) (decision, bool) {
	lim, ok := l.limits[class]
	if !ok {
		return decision{}, false
	}
	now := l.now()
	key := windowKey{class, subject}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > time.Minute {
		for k, w := range l.windows {
			if now.Sub(w.start) >= l.limits[k.class].Window {
				delete(l.windows, k)
			}
		}
		l.sweep = now
	}
	w := l.windows[key]
	if w == nil || now.Sub(w.start) >= lim.Window {
		w = &window{start: now}
		l.windows[key] = w
	}
	d := decision{limit: lim, reset: w.start.Add(lim.Window).Sub(now)}
	if w.count >= lim.N {
		d.remaining = 0
		return d, true
	}
	w.count++
	d.allowed = true
	d.remaining = lim.N - w.count
	return d, true
}

// rateLimit enforces class for the request, keyed by tenant when the
// request is authenticated and by client IP otherwise. It sets the
// RateLimit-Policy and RateLimit headers (draft-ietf-httpapi-ratelimit-
// headers-10) and answers 429 with Retry-After when the window is spent.
func (s *Server) rateLimit(class string, next http.Handler) http.Handler {
	if class == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.limiter == nil {
			next.ServeHTTP(w, r)
			return
		}
		ri := info(r.Context())
		subject := "ip:" + ri.clientIP
		if ri.tenantID != "" {
			subject = "tenant:" + ri.tenantID
		}
		d, limited := s.limiter.take(r.Context(), class, subject)
		if !limited {
			next.ServeHTTP(w, r)
			return
		}
		secs := int64((d.reset + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		// fmt.Sprintf("%q;q=%d;w=%d") and ("%q;r=%d;t=%d"), appended into
		// one buffer: these go out with every limited request.
		var buf [128]byte
		b := strconv.AppendQuote(buf[:0], class)
		b = append(b, ";q="...)
		b = strconv.AppendInt(b, int64(d.limit.N), 10)
		b = append(b, ";w="...)
		b = strconv.AppendInt(b, int64(d.limit.Window/time.Second), 10)
		policy := len(b)
		b = strconv.AppendQuote(b, class)
		b = append(b, ";r="...)
		b = strconv.AppendInt(b, int64(d.remaining), 10)
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, secs, 10)
		both := string(b)
		h := w.Header()
		h["Ratelimit-Policy"] = []string{both[:policy]}
		h["Ratelimit"] = []string{both[policy:]}
		if !d.allowed {
			s.metrics.rateLimited.WithLabelValues(class).Inc()
			p := Errorf(CodeRateLimited, "rate limit %q of %d requests per %s exceeded; retry in %d s", class, d.limit.N, d.limit.Window, secs)
			p.Extra = map[string]any{"retry_after": secs, "scope": class}
			h.Set("Retry-After", strconv.FormatInt(secs, 10))
			writeProblem(w, r, p)
			return
		}
		next.ServeHTTP(w, r)
	})
}
