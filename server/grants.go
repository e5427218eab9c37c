package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/haulhq/haul/store"
)

// GrantConfig tunes access grants; zero values take the defaults.
type GrantConfig struct {
	// URLTTL is the life of the signed URL a redemption redirects to
	// (default 5 min). It is cut short by the grant's own expiry.
	URLTTL time.Duration
	// MaxTTL caps access_expires_at, counted from creation or renewal
	// (default 90 days).
	MaxTTL time.Duration
	// DefaultTTL is the access period when a request names none
	// (default 7 days).
	DefaultTTL time.Duration
	// MissLimit caps unknown-token requests per client IP on /g/…; once
	// spent, every /g/ request from that IP gets 429 until the window ends,
	// so tokens cannot be guessed. Zero takes 20 per minute when rate
	// limiting is on; a negative N turns it off.
	MissLimit Limit
}

func (c GrantConfig) urlTTL() time.Duration {
	if c.URLTTL <= 0 {
		return 5 * time.Minute
	}
	return c.URLTTL
}

func (c GrantConfig) maxTTL() time.Duration {
	if c.MaxTTL <= 0 {
		return 90 * 24 * time.Hour
	}
	return c.MaxTTL
}

func (c GrantConfig) defaultTTL() time.Duration {
	if c.DefaultTTL <= 0 {
		return min(7*24*time.Hour, c.maxTTL())
	}
	return min(c.DefaultTTL, c.maxTTL())
}

// EventGrantRenewed is the audit-log entry of a renewal (not a webhook
// event type: SPEC lists none for renewals).
const EventGrantRenewed = "grant.renewed"

// grantTokenBytes is the entropy of a grant token: 256 bits.
const grantTokenBytes = 32

// newGrantToken returns a random token for /g/{token} and the hash stored
// in its place.
func newGrantToken() (token, hash string, err error) {
	b := make([]byte, grantTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("make grant token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashGrantToken(token), nil
}

// hashGrantToken is how tokens are stored and looked up: hex sha256. The
// token is 256-bit random, so no stretching is needed.
func hashGrantToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// wellFormedToken reports whether s could be a token we issued, so junk is
// refused without a store lookup.
func wellFormedToken(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(grantTokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// grantJSON is the API form of a grant. Token and URL appear only in the
// response that created it: only the token's hash is stored.
type grantJSON struct {
	ID                 string     `json:"id"`
	AssetID            string     `json:"asset_id"`
	Policy             string     `json:"policy"`
	Status             string     `json:"status"`
	MaxDownloads       *int       `json:"max_downloads"`
	DownloadsUsed      int        `json:"downloads_used"`
	DownloadsRemaining *int       `json:"downloads_remaining"`
	AccessExpiresAt    time.Time  `json:"access_expires_at"`
	Format             string     `json:"format"`
	Recipient          string     `json:"recipient,omitempty"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
	LastAccessedAt     *time.Time `json:"last_accessed_at,omitempty"`
	RevokedAt          *time.Time `json:"revoked_at,omitempty"`
	Token              string     `json:"token,omitempty"`
	URL                string     `json:"url,omitempty"`
	ShareURL           string     `json:"share_url,omitempty"`
}

// viewGrant renders g as of now (an active grant past its expiry shows
// expired before the lifecycle worker records it).
func viewGrant(g *store.Grant, now time.Time) grantJSON {
	v := grantJSON{
		ID: g.ID, AssetID: g.AssetID, Policy: string(g.Policy), Status: string(g.EffectiveStatus(now)),
		DownloadsUsed: g.DownloadsUsed, AccessExpiresAt: g.AccessExpiresAt.UTC(), Format: g.Format,
		Recipient: g.Recipient, CreatedAt: g.CreatedAt.UTC(), UpdatedAt: g.UpdatedAt.UTC(),
		LastAccessedAt: timePtr(g.LastAccessedAt), RevokedAt: timePtr(g.RevokedAt),
	}
	if v.Format == "" {
		v.Format = FormatOriginal
	}
	if g.MaxDownloads > 0 {
		m, rem := g.MaxDownloads, g.Remaining()
		v.MaxDownloads, v.DownloadsRemaining = &m, &rem
	}
	return v
}

// grantEvent is the data of grant.* events: the grant, and for accesses
// the client that redeemed it.
type grantEvent struct {
	grantJSON
	ClientIP string `json:"client_ip,omitempty"`
}

// grantExpiry resolves expires_in / access_expires_at into an expiry,
// capped by the server maximum and the asset's available_until.
func (s *Server) grantExpiry(expiresIn *int64, at *time.Time, a *store.Asset, now time.Time) (time.Time, error) {
	var exp time.Time
	switch {
	case expiresIn != nil && at != nil:
		return exp, Errorf(CodeValidationFailed, "give either expires_in or access_expires_at, not both")
	case expiresIn != nil:
		if *expiresIn <= 0 {
			return exp, Errorf(CodeValidationFailed, "expires_in must be a positive number of seconds")
		}
		secs := min(*expiresIn, int64(s.cfg.Grants.maxTTL()/time.Second)+1)
		exp = now.Add(time.Duration(secs) * time.Second)
	case at != nil:
		if !at.After(now) {
			return exp, Errorf(CodeValidationFailed, "access_expires_at must be in the future")
		}
		exp = *at
	default:
		exp = now.Add(s.cfg.Grants.defaultTTL())
	}
	if limit := now.Add(s.cfg.Grants.maxTTL()); exp.After(limit) {
		exp = limit
	}
	if until := a.Rights.AvailableUntil; until != nil && exp.After(*until) {
		exp = *until
	}
	return exp.UTC().Truncate(time.Second), nil
}

func (s *Server) handleGrantCreate() http.Handler {
	type request struct {
		Policy          string     `json:"policy"`
		MaxDownloads    *int       `json:"max_downloads"`
		ExpiresIn       *int64     `json:"expires_in"`
		AccessExpiresAt *time.Time `json:"access_expires_at"`
		Format          string     `json:"format"`
		Recipient       string     `json:"recipient"`
	}
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](r)
		if err != nil {
			return err
		}
		g := &store.Grant{Policy: store.GrantPolicy(req.Policy), Format: req.Format, Recipient: strings.TrimSpace(req.Recipient)}
		switch g.Policy {
		case store.GrantOneTime:
			if req.MaxDownloads != nil && *req.MaxDownloads != 1 {
				return Errorf(CodeValidationFailed, "a one_time grant allows exactly one download; leave max_downloads out")
			}
			g.MaxDownloads = 1
		case store.GrantLimited:
			if req.MaxDownloads == nil || *req.MaxDownloads < 1 {
				return Errorf(CodeValidationFailed, "a limited grant needs max_downloads ≥ 1")
			}
			g.MaxDownloads = *req.MaxDownloads
		case store.GrantRenewable:
			if req.MaxDownloads != nil {
				if *req.MaxDownloads < 0 {
					return Errorf(CodeValidationFailed, "max_downloads must be ≥ 1, or 0 / absent for unlimited")
				}
				g.MaxDownloads = *req.MaxDownloads
			}
		default:
			return Errorf(CodeValidationFailed, "policy must be one_time, limited or renewable").With("allowed_policies", []string{"one_time", "limited", "renewable"})
		}
		if len(g.Recipient) > 200 {
			return Errorf(CodeValidationFailed, "recipient is a label of at most 200 bytes")
		}
		if g.Format == "" {
			g.Format = FormatOriginal
		}
		a, err := s.getAsset(r)
		if err != nil {
			return err
		}
		switch a.State {
		case store.AssetDeleted:
			return Errorf(CodeNotFound, "no asset %q", a.ID)
		case store.AssetQuarantined:
			return checkAvailable(a)
		case store.AssetAvailable:
		default:
			// Sharing an upload that is still being scanned is fine for the
			// original; renditions need the probed media.
			if g.Format != FormatOriginal {
				return checkAvailable(a)
			}
		}
		if g.Format != FormatOriginal || a.State == store.AssetAvailable {
			if err := s.checkFormat(a, g.Format); err != nil {
				return err
			}
		}
		now := s.now()
		if err := checkRights(a, g.Format, now); err != nil {
			return err
		}
		g.AccessExpiresAt, err = s.grantExpiry(req.ExpiresIn, req.AccessExpiresAt, a, now)
		if err != nil {
			return err
		}
		token, hash, err := newGrantToken()
		if err != nil {
			return err
		}
		g.TenantID, g.AssetID, g.TokenHash = a.TenantID, a.ID, hash
		err = s.store.WithTx(r.Context(), func(tx store.Tx) error {
			g.ID = ""
			if err := tx.CreateGrant(r.Context(), g); err != nil {
				return err
			}
			return appendEvent(r.Context(), tx, g.TenantID, store.EventGrantCreated, grantEvent{grantJSON: viewGrant(g, now)})
		})
		if err != nil {
			return fmt.Errorf("create grant: %w", err)
		}
		v := viewGrant(g, now)
		v.Token, v.URL, v.ShareURL = token, "/g/"+token, s.baseURL(r)+"/g/"+token
		w.Header().Set("Location", "/v1/grants/"+g.ID)
		return encode(w, http.StatusCreated, v)
	})
}

// getGrant returns the caller's grant named in the path.
func (s *Server) getGrant(r *http.Request) (*store.Grant, error) {
	g, err := s.store.GetGrant(r.Context(), tenantOf(r.Context()), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, Errorf(CodeNotFound, "no grant %q", r.PathValue("id"))
	}
	return g, err
}

func (s *Server) handleGrantGet() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		g, err := s.getGrant(r)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, viewGrant(g, s.now()))
	})
}

func (s *Server) handleGrantList() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		p, err := pageOf(r, store.PrefixGrant)
		if err != nil {
			return err
		}
		gs, next, err := s.store.ListGrants(r.Context(), tenantOf(r.Context()), store.GrantFilter{AssetID: r.URL.Query().Get("asset_id"), Page: p})
		if err != nil {
			return err
		}
		now := s.now()
		out := make([]grantJSON, 0, len(gs))
		for _, g := range gs {
			out = append(out, viewGrant(g, now))
		}
		return encode(w, http.StatusOK, newList(out, next))
	})
}

// handleGrantRevoke revokes a grant: new redemptions fail at once, and
// signed URLs already issued through it stop working (delivery checks the
// grant). A consumed or expired grant keeps that status (revoked_at says
// it was revoked). Revoking twice is not an error: 200 with the grant.
func (s *Server) handleGrantRevoke() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		tenant, id := tenantOf(r.Context()), r.PathValue("id")
		now := s.now()
		var g *store.Grant
		err := s.store.WithTx(r.Context(), func(tx store.Tx) error {
			var changed bool
			var err error
			g, changed, err = tx.RevokeGrant(r.Context(), tenant, id, now)
			if err != nil || !changed {
				return err
			}
			return appendEvent(r.Context(), tx, tenant, store.EventGrantRevoked, grantEvent{grantJSON: viewGrant(g, now)})
		})
		if errors.Is(err, store.ErrNotFound) {
			return Errorf(CodeNotFound, "no grant %q", id)
		}
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, viewGrant(g, now))
	})
}

// handleGrantRenew extends a renewable grant's access period (and revives
// an expired one).
func (s *Server) handleGrantRenew() http.Handler {
	type request struct {
		ExpiresIn       *int64     `json:"expires_in"`
		AccessExpiresAt *time.Time `json:"access_expires_at"`
	}
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		var req request
		if r.ContentLength != 0 {
			var err error
			if req, err = decode[request](r); err != nil {
				return err
			}
		}
		g, err := s.getGrant(r)
		if err != nil {
			return err
		}
		if g.Policy != store.GrantRenewable {
			return Errorf(CodeConflict, "grant %s is %s; only renewable grants can be renewed", g.ID, g.Policy)
		}
		a, err := s.store.GetAsset(r.Context(), g.TenantID, g.AssetID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && a.State == store.AssetDeleted) {
			return Errorf(CodeConflict, "the asset of grant %s no longer exists", g.ID)
		}
		if err != nil {
			return err
		}
		now := s.now()
		if err := checkRights(a, g.Format, now); err != nil {
			return err
		}
		exp, err := s.grantExpiry(req.ExpiresIn, req.AccessExpiresAt, a, now)
		if err != nil {
			return err
		}
		tenant, id := g.TenantID, g.ID // WithTx may run the function again
		err = s.store.WithTx(r.Context(), func(tx store.Tx) error {
			renewed, err := tx.RenewGrant(r.Context(), tenant, id, exp, now)
			if err != nil {
				return err
			}
			g = renewed
			return appendEvent(r.Context(), tx, tenant, EventGrantRenewed, grantEvent{grantJSON: viewGrant(renewed, now)})
		})
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, viewGrant(g, now))
	})
}

// grantByToken finds the grant of a /g/{token} request and its asset.
// Unknown and malformed tokens count as misses of the client IP.
func (s *Server) grantByToken(r *http.Request) (*store.Grant, *store.Asset, error) {
	ip := info(r.Context()).clientIP
	if p := s.grants.blocked(s, ip); p != nil {
		return nil, nil, p
	}
	token := r.PathValue("token")
	miss := func() error {
		s.grants.miss(s, ip)
		return Errorf(CodeNotFound, "no such link; check that it was copied whole")
	}
	if !wellFormedToken(token) {
		return nil, nil, miss()
	}
	g, err := s.store.GetGrantByTokenHash(r.Context(), hashGrantToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, miss()
	}
	if err != nil {
		return nil, nil, err
	}
	info(r.Context()).tenantID = g.TenantID
	a, err := s.store.GetAsset(r.Context(), g.TenantID, g.AssetID)
	if errors.Is(err, store.ErrNotFound) {
		return g, nil, nil
	}
	return g, a, err
}

// grantStatusProblem is the 410 for a grant that cannot be redeemed.
func grantStatusProblem(g *store.Grant, st store.GrantStatus) error {
	switch st {
	case store.GrantConsumed:
		return Errorf(CodeGrantConsumed, "this link has been used up (%d of %d downloads)", g.DownloadsUsed, g.MaxDownloads)
	case store.GrantExpired:
		return Errorf(CodeGrantExpired, "this link expired at %s", g.AccessExpiresAt.UTC().Format(time.RFC3339))
	case store.GrantRevoked:
		return Errorf(CodeGrantRevoked, "this link was revoked by its owner")
	}
	return nil
}

// handleGrantRedeem is GET /g/{token}: it counts one download atomically
// and redirects to a short-lived signed URL bound to the grant. HEAD
// reports whether the link works without using it.
func (s *Server) handleGrantRedeem() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		g, a, err := s.grantByToken(r)
		if err != nil {
			return err
		}
		now := s.now()
		if err := grantStatusProblem(g, g.EffectiveStatus(now)); err != nil {
			return err
		}
		if a == nil || a.State == store.AssetDeleted {
			return Errorf(CodeGone, "the shared file no longer exists")
		}
		format := g.Format
		if format == "" {
			format = FormatOriginal
		}
		if err := checkAvailable(a); err != nil {
			return err
		}
		if err := checkRights(a, format, now); err != nil {
			return err
		}
		// Make sure the file can be served before a download is counted.
		var rend *store.Rendition
		if format != FormatOriginal {
			if s.renditions == nil || s.checkFormat(a, format) != nil {
				return Errorf(CodeGone, "format %s of the shared file is no longer offered", format)
			}
			var job *store.Job
			rend, job, err = s.renditions.Ensure(r.Context(), a, format)
			if err != nil {
				return err
			}
			if rend == nil {
				est := 1
				if job != nil {
					est = max(s.renditions.EstimateSeconds(r.Context(), job), 1)
				}
				p := Errorf(CodeNotReady, "the %s version of this file is being prepared; try again in %d s", format, est)
				p.Header = http.Header{"Retry-After": {fmt.Sprint(min(est, 60))}}
				return p
			}
		}
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusOK)
			return nil
		}
		ip := info(r.Context()).clientIP
		// A conditional row update and event appends: row locks suffice, so
		// many recipients redeeming one grant at once wait in turn instead
		// of failing serialization. The function may still run again (on a
		// deadlock), so it reads only what it was given and sets g last.
		tokenHash := g.TokenHash
		err = s.store.WithRowLockTx(r.Context(), func(tx store.Tx) error {
			redeemed, err := tx.RedeemGrant(r.Context(), tokenHash, now)
			if redeemed != nil {
				g = redeemed
			}
			if err != nil {
				return err
			}
			ev := grantEvent{grantJSON: viewGrant(redeemed, now), ClientIP: ip}
			if err := appendEvent(r.Context(), tx, redeemed.TenantID, store.EventGrantAccessed, ev); err != nil {
				return err
			}
			if redeemed.Status == store.GrantConsumed {
				return appendEvent(r.Context(), tx, redeemed.TenantID, store.EventGrantConsumed, ev)
			}
			return nil
		})
		var se *store.Error
		if errors.As(err, &se) && g != nil {
			switch se.Code {
			case store.EGRANTCONSUMED:
				return grantStatusProblem(g, store.GrantConsumed)
			case store.EGRANTEXPIRED:
				return grantStatusProblem(g, store.GrantExpired)
			case store.EGRANTREVOKED:
				return grantStatusProblem(g, store.GrantRevoked)
			}
		}
		if err != nil {
			return err
		}
		ttl := min(s.cfg.Grants.urlTTL(), g.AccessExpiresAt.Sub(now))
		d := s.download(s.baseURL(r), a, format, rend, "", ttl, g.ID)
		http.Redirect(w, r, d.DownloadURL, http.StatusFound)
		return nil
	})
}

// grantInfoJSON is GET /g/{token}/info: what a recipient may know.
type grantInfoJSON struct {
	Status             string    `json:"status"`
	AccessExpiresAt    time.Time `json:"access_expires_at"`
	DownloadsRemaining *int      `json:"downloads_remaining"`
	Filename           string    `json:"filename"`
	Size               *int64    `json:"size"`
	Format             string    `json:"format"`
	Policy             string    `json:"policy"`
}

// handleGrantInfo is GET /g/{token}/info: 200 in every status, so a
// recipient can see why a link no longer works; HTML for browsers.
func (s *Server) handleGrantInfo() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		g, a, err := s.grantByToken(r)
		if err != nil {
			return err
		}
		now := s.now()
		v := viewGrant(g, now)
		in := grantInfoJSON{Status: v.Status, AccessExpiresAt: v.AccessExpiresAt, DownloadsRemaining: v.DownloadsRemaining, Format: v.Format, Policy: v.Policy}
		if a != nil {
			in.Filename = s.downloadFilename(a, v.Format)
			if a.State == store.AssetDeleted {
				in.Status = string(store.GrantExpired)
			}
			if v.Format == FormatOriginal && a.Checksum != "" {
				size := a.Size
				in.Size = &size
			} else if v.Format != FormatOriginal && s.renditions != nil {
				if rend, err := s.store.GetRendition(r.Context(), a.TenantID, a.ID, v.Format, s.renditions.PresetVersion(v.Format)); err == nil {
					size := rend.Size
					in.Size = &size
				}
			}
		}
		w.Header().Add("Vary", "Accept")
		if prefersHTML(r) {
			return writeGrantPage(w, in, "/g/"+r.PathValue("token"), now)
		}
		return encode(w, http.StatusOK, in)
	})
}

// checkGrantDelivery refuses /dl URLs issued through a grant that has
// since been revoked (or removed). A consumed grant's URL keeps working
// until it expires, so an interrupted transfer can resume with Range.
func (s *Server) checkGrantDelivery(ctx context.Context, tenantID, grantID string) error {
	g, err := s.store.GetGrant(ctx, tenantID, grantID)
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(CodeGrantRevoked, "the link this URL came from no longer exists")
	}
	if err != nil {
		return err
	}
	if g.Status == store.GrantRevoked || !g.RevokedAt.IsZero() {
		return Errorf(CodeGrantRevoked, "the link this URL came from was revoked")
	}
	return nil
}
