package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Signed delivery URLs look like
//
//	/dl/{tenant_id}/{asset_id}/{format}/{filename}?exp=UNIX&disp=attachment[&g=GRANT]&sig=B64URL
//
// sig is HMAC-SHA256 over "GET\n{escaped path}\n{exp}\n{disp}\n{grant}" with
// the server's URL-signing secret. HEAD is verified as GET so that one URL
// serves both. Binding the asset, the format (rendition) and the grant into
// the path and the MAC means a URL can neither be pointed at another file
// nor detached from the grant it was issued through.

// ErrURLExpired is returned by Verify for an authentic URL past its expiry.
var ErrURLExpired = errors.New("signed URL expired")

// ErrBadSignature is returned by Verify for a URL that was not produced by
// this server's secret (tampered, truncated or forged).
var ErrBadSignature = errors.New("signed URL signature invalid")

// Disposition values for signed URLs.
const (
	DispositionAttachment = "attachment"
	DispositionInline     = "inline"
)

// DeliveryTarget is what a signed URL grants access to.
type DeliveryTarget struct {
	// TenantID owns the asset.
	TenantID string
	// AssetID is the asset whose bytes are served.
	AssetID string
	// Format is the rendition ("original" for the uploaded bytes).
	Format string
	// Filename is the name offered in Content-Disposition.
	Filename string
	// Disposition is "attachment" or "inline".
	Disposition string
	// GrantID, when set, is the grant the URL was issued through; delivery
	// checks the grant is still valid.
	GrantID string
	// Expires is when the URL stops working.
	Expires time.Time
}

// Signer makes and checks signed delivery URLs. The current secret signs;
// retired secrets stay accepted until the end of their grace period, so
// URLs handed out just before a rotation keep working.
type Signer struct {
	now func() time.Time

	mu      sync.RWMutex
	current []byte
	retired []retiredSecret
}

type retiredSecret struct {
	secret []byte
	until  time.Time
}

// NewSigner returns a Signer using secret. now may be nil (time.Now).
func NewSigner(secret []byte, now func() time.Time) *Signer {
	if now == nil {
		now = time.Now
	}
	return &Signer{now: now, current: append([]byte(nil), secret...)}
}

// Rotate makes next the signing secret; the old one is still accepted for
// grace, so outstanding URLs stay valid until they expire.
func (s *Signer) Rotate(next []byte, grace time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired = append(s.retired, retiredSecret{secret: s.current, until: s.now().Add(grace)})
	s.current = append([]byte(nil), next...)
}

// AddRetired installs an older secret accepted until until; used at start
// for keys the store still holds inside their grace period.
func (s *Signer) AddRetired(secret []byte, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired = append(s.retired, retiredSecret{secret: append([]byte(nil), secret...), until: until})
}

// Replace installs a new current secret and retired set at once (a reload
// from the store, after another process rotated).
func (s *Signer) Replace(current []byte, retired map[string]time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current = append([]byte(nil), current...)
	s.retired = s.retired[:0]
	for secret, until := range retired {
		s.retired = append(s.retired, retiredSecret{secret: []byte(secret), until: until})
	}
}

// DeliveryPath returns the unsigned path of a target.
func DeliveryPath(t DeliveryTarget) string {
	name := path.Base(strings.ReplaceAll(t.Filename, "\\", "/"))
	if name == "." || name == "/" || name == "" {
		name = "download"
	}
	return "/dl/" + url.PathEscape(t.TenantID) + "/" + url.PathEscape(t.AssetID) + "/" + url.PathEscape(t.Format) + "/" + url.PathEscape(name)
}

// Sign returns the signed path and query ("/dl/…?exp=…&sig=…") for t.
func (s *Signer) Sign(t DeliveryTarget) string {
	disp := t.Disposition
	if disp == "" {
		disp = DispositionAttachment
	}
	p := DeliveryPath(t)
	exp := strconv.FormatInt(t.Expires.Unix(), 10)
	s.mu.RLock()
	sig := mac(s.current, p, exp, disp, t.GrantID)
	s.mu.RUnlock()
	q := "exp=" + exp + "&disp=" + disp
	if t.GrantID != "" {
		q += "&g=" + url.QueryEscape(t.GrantID)
	}
	return p + "?" + q + "&sig=" + sig
}

func mac(secret []byte, escapedPath, exp, disp, grant string) string {
	h := hmac.New(sha256.New, secret)
	fmt.Fprintf(h, "GET\n%s\n%s\n%s\n%s", escapedPath, exp, disp, grant)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// Verify checks a delivery request. escapedPath is the request's escaped
// path (r.URL.EscapedPath()), rawQuery its raw query. Only GET and HEAD are
// deliverable. It returns ErrBadSignature for anything not signed by a
// current or in-grace secret, and ErrURLExpired for an authentic URL past
// its expiry; the signature is checked first so a forged expiry is 403.
func (s *Signer) Verify(method, escapedPath, rawQuery string) (DeliveryTarget, error) {
	var t DeliveryTarget
	if method != "GET" && method != "HEAD" {
		return t, ErrBadSignature
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return t, ErrBadSignature
	}
	exp, disp, grant, sig := q.Get("exp"), q.Get("disp"), q.Get("g"), q.Get("sig")
	if exp == "" || sig == "" || len(q["exp"]) != 1 || len(q["sig"]) != 1 || len(q["disp"]) > 1 || len(q["g"]) > 1 {
		return t, ErrBadSignature
	}
	if disp != DispositionAttachment && disp != DispositionInline {
		return t, ErrBadSignature
	}
	given, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(given) != sha256.Size {
		return t, ErrBadSignature
	}
	// The MAC covers the canonical path rebuilt from the decoded segments,
	// so clients and proxies that re-encode the path differently (%7E vs ~,
	// lower-case hex) still verify.
	rest, found := strings.CutPrefix(escapedPath, "/dl/")
	parts := strings.Split(rest, "/")
	if !found || len(parts) != 4 {
		return t, ErrBadSignature
	}
	var dec [4]string
	for i, p := range parts {
		v, err := url.PathUnescape(p)
		if err != nil || v == "" {
			return t, ErrBadSignature
		}
		dec[i] = v
	}
	if strings.ContainsAny(dec[3], "/\\") || dec[3] == "." || dec[3] == ".." {
		return t, ErrBadSignature
	}
	t = DeliveryTarget{TenantID: dec[0], AssetID: dec[1], Format: dec[2], Filename: dec[3], Disposition: disp, GrantID: grant}
	canonical := DeliveryPath(t)
	s.mu.RLock()
	ok := checkMAC(s.current, given, canonical, exp, disp, grant)
	now := s.now()
	for _, r := range s.retired {
		if ok {
			break
		}
		if now.Before(r.until) {
			ok = checkMAC(r.secret, given, canonical, exp, disp, grant)
		}
	}
	s.mu.RUnlock()
	if !ok {
		return DeliveryTarget{}, ErrBadSignature
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return DeliveryTarget{}, ErrBadSignature
	}
	t.Expires = time.Unix(secs, 0).UTC()
	if !s.now().Before(t.Expires) {
		return t, ErrURLExpired
	}
	return t, nil
}

func checkMAC(secret, given []byte, escapedPath, exp, disp, grant string) bool {
	want, _ := base64.RawURLEncoding.DecodeString(mac(secret, escapedPath, exp, disp, grant))
	return hmac.Equal(want, given)
}
