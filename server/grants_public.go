package server

import (
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// grantState is the server's in-memory state for the public grant side:
// unknown-token misses per client IP. Each replica counts its own share.
// The zero value is ready to use.
type grantState struct {
	mu     sync.Mutex
	misses map[string]*window
	sweep  time.Time
}

// missLimit is the effective miss limit, ok false when off.
func (s *Server) missLimit() (Limit, bool) {
	l := s.cfg.Grants.MissLimit
	switch {
	case l.N < 0:
		return l, false
	case l.N > 0:
		if l.Window <= 0 {
			l.Window = time.Minute
		}
		return l, true
	case s.cfg.RateLimits == nil:
		return l, false
	}
	return Limit{N: 20, Window: time.Minute}, true
}

// blocked returns a 429 problem when ip has spent its misses.
func (g *grantState) blocked(s *Server, ip string) *Problem {
	lim, on := s.missLimit()
	if !on {
		return nil
	}
	now := s.now()
	g.mu.Lock()
	w := g.misses[ip]
	var reset time.Duration
	if w != nil && now.Sub(w.start) < lim.Window && w.count >= lim.N {
		reset = w.start.Add(lim.Window).Sub(now)
	}
	g.mu.Unlock()
	if reset <= 0 {
		return nil
	}
	secs := max(int64((reset+time.Second-1)/time.Second), 1)
	p := Errorf(CodeRateLimited, "too many unknown links from your address; retry in %d s", secs)
	p.Extra = map[string]any{"retry_after": secs, "scope": ClassRedeem}
	p.Header = http.Header{
		"Retry-After":      {strconv.FormatInt(secs, 10)},
		"Ratelimit-Policy": {fmt.Sprintf("%q;q=%d;w=%d", ClassRedeem, lim.N, int64(lim.Window/time.Second))},
		"Ratelimit":        {fmt.Sprintf("%q;r=0;t=%d", ClassRedeem, secs)},
	}
	s.metrics.rateLimited.WithLabelValues(ClassRedeem).Inc()
	return p
}

// miss counts one unknown-token request from ip.
func (g *grantState) miss(s *Server, ip string) {
	lim, on := s.missLimit()
	if !on {
		return
	}
	now := s.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.misses == nil {
		g.misses = map[string]*window{}
	}
	if now.Sub(g.sweep) > lim.Window {
		for k, w := range g.misses {
			if now.Sub(w.start) >= lim.Window {
				delete(g.misses, k)
			}
		}
		g.sweep = now
	}
	w := g.misses[ip]
	if w == nil || now.Sub(w.start) >= lim.Window {
		w = &window{start: now}
		g.misses[ip] = w
	}
	w.count++
}

// prefersHTML reports whether the request's Accept ranks text/html above
// JSON (browsers do; curl and API clients do not).
func prefersHTML(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return false
	}
	best := func(types ...string) float64 {
		q := -1.0
		for _, part := range strings.Split(accept, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			for _, t := range types {
				if mt == t {
					v := 1.0
					if qs, ok := params["q"]; ok {
						if f, err := strconv.ParseFloat(qs, 64); err == nil {
							v = f
						}
					}
					q = max(q, v)
				}
			}
		}
		return q
	}
	html := best("text/html", "application/xhtml+xml")
	json := best("application/json")
	return html > 0 && html > json
}

var grantPage = template.Must(template.New("grant").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>{{.Filename}} — shared download</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem;word-break:break-all}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}
dt{color:#666}
.status{font-weight:bold}
.active{color:#176f2c}.gone{color:#a61b1b}
a.button{display:inline-block;margin-top:1.2rem;padding:.6rem 1.2rem;background:#176f2c;color:#fff;text-decoration:none;border-radius:.3rem}
</style>
</head>
<body>
<h1>{{if .Filename}}{{.Filename}}{{else}}Shared file{{end}}</h1>
<dl>
<dt>Status</dt><dd class="status {{if .Active}}active{{else}}gone{{end}}">{{.StatusText}}</dd>
<dt>Downloads remaining</dt><dd>{{.Remaining}}</dd>
<dt>{{if .Active}}Expires{{else}}Expiry{{end}}</dt><dd><time datetime="{{.ExpiresISO}}">{{.ExpiresText}}</time>{{if .Active}} ({{.ExpiresIn}}){{end}}</dd>
{{if .Size}}<dt>Size</dt><dd>{{.Size}}</dd>{{end}}
</dl>
{{if .Active}}<a class="button" href="{{.Link}}" rel="nofollow">Download</a>{{end}}
</body>
</html>
`))

// writeGrantPage renders the recipient's HTML view of a grant.
func writeGrantPage(w http.ResponseWriter, in grantInfoJSON, link string, now time.Time) error {
	data := struct {
		Filename, StatusText, Remaining, ExpiresISO, ExpiresText, ExpiresIn, Size, Link string
		Active                                                                          bool
	}{
		Filename:    in.Filename,
		Active:      in.Status == "active",
		ExpiresISO:  in.AccessExpiresAt.Format(time.RFC3339),
		ExpiresText: in.AccessExpiresAt.Format("2 January 2006, 15:04 MST"),
		ExpiresIn:   "in " + humanDuration(in.AccessExpiresAt.Sub(now)),
		Link:        link,
	}
	switch in.Status {
	case "active":
		data.StatusText = "Available"
	case "consumed":
		data.StatusText = "Used up: no downloads left"
	case "expired":
		data.StatusText = "Expired"
	case "revoked":
		data.StatusText = "Revoked by the sender"
	default:
		data.StatusText = in.Status
	}
	switch {
	case in.DownloadsRemaining == nil:
		data.Remaining = "unlimited"
	default:
		data.Remaining = strconv.Itoa(*in.DownloadsRemaining)
	}
	if in.Size != nil {
		data.Size = humanBytes(*in.Size)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if err := grantPage.Execute(w, data); err != nil {
		return fmt.Errorf("render grant page: %w", err)
	}
	return nil
}

// humanDuration is a rough "3 days", "5 hours", "12 minutes".
func humanDuration(d time.Duration) string {
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return strconv.Itoa(n) + " " + unit + "s"
	}
	switch {
	case d >= 48*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	case d >= 2*time.Hour:
		return plural(int(d/time.Hour), "hour")
	case d >= time.Minute:
		return plural(int(d/time.Minute), "minute")
	case d > 0:
		return "less than a minute"
	}
	return "no time"
}

// humanBytes is a size in binary units, "1.5 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// redactGrantToken hides the secret of a /g/{token}… path in logs: the
// token is the whole credential of a link.
func redactGrantToken(p string) string {
	rest, ok := strings.CutPrefix(p, "/g/")
	if !ok || rest == "" {
		return p
	}
	token, tail, _ := strings.Cut(rest, "/")
	if len(token) > 4 {
		token = token[:4] + "…"
	}
	if tail != "" {
		return "/g/" + token + "/" + tail
	}
	return "/g/" + token
}
