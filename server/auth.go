package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/haulhq/haul/store"
)

// KeyPrefix starts every API key, so leaked keys are easy to recognise.
const KeyPrefix = "haul_"

// NewAPIKey makes a new random API key (32 bytes of entropy) and returns
// the secret to show once and the record to store (hash and prefix only).
func NewAPIKey(tenantID, name string, scopes []string) (secret string, k *store.APIKey, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	secret = KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, &store.APIKey{
		TenantID: tenantID, Name: name, Scopes: scopes,
		Hash: HashAPIKey(secret), Prefix: secret[:len(KeyPrefix)+6],
	}, nil
}

// HashAPIKey is how keys are stored: hex sha256 of the secret. Keys are
// 256-bit random, so a fast hash is enough (no password stretching).
func HashAPIKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// hasScope reports whether scopes grant want: admin grants everything,
// and write and export include read.
func hasScope(scopes []string, want string) bool {
	if slices.Contains(scopes, store.ScopeAdmin) || slices.Contains(scopes, want) {
		return true
	}
	if want == store.ScopeRead {
		return slices.Contains(scopes, store.ScopeWrite) || slices.Contains(scopes, store.ScopeExport)
	}
	return false
}

type ctxKeyAuth struct{}

// principal is the authenticated caller.
type principal struct {
	key *store.APIKey
}

func tenantOf(ctx context.Context) string {
	p, _ := ctx.Value(ctxKeyAuth{}).(*principal)
	if p == nil {
		return ""
	}
	return p.key.TenantID
}

func keyOf(ctx context.Context) *store.APIKey {
	p, _ := ctx.Value(ctxKeyAuth{}).(*principal)
	if p == nil {
		return nil
	}
	return p.key
}

// authenticate checks the Bearer key (401 when missing, unknown or
// revoked) and its scope (403), then records the tenant on the request.
func (s *Server) authenticate(scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		unauthorized := func(detail string) {
			p := Errorf(CodeUnauthorized, "%s", detail)
			p.Header = http.Header{"Www-Authenticate": {`Bearer realm="haul"`}}
			writeProblem(w, r, p)
		}
		authz := r.Header.Get("Authorization")
		scheme, token, ok := strings.Cut(authz, " ")
		token = strings.TrimSpace(token)
		if authz == "" {
			unauthorized("send an API key as Authorization: Bearer <key>")
			return
		}
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			unauthorized("the Authorization header must be: Bearer <key>")
			return
		}
		key, err := s.store.GetAPIKeyByHash(r.Context(), HashAPIKey(token))
		if errors.Is(err, store.ErrNotFound) || (err == nil && key.Revoked()) {
			unauthorized("the API key is invalid or revoked")
			return
		}
		if err != nil {
			s.log.ErrorContext(r.Context(), "look up API key", "err", err)
			writeProblem(w, r, Errorf(CodeUnavailable, "cannot check the API key right now"))
			return
		}
		ri := info(r.Context())
		ri.tenantID, ri.keyID = key.TenantID, key.ID
		if !hasScope(key.Scopes, scope) {
			writeProblem(w, r, Errorf(CodeForbidden, "this API key lacks the %q scope (it has: %s)", scope, strings.Join(key.Scopes, ", ")))
			return
		}
		s.touchKey(r.Context(), key.ID)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKeyAuth{}, &principal{key: key})))
	})
}

// touchKey records key use at most every five minutes per key, to keep
// writes off the hot path.
func (s *Server) touchKey(ctx context.Context, id string) {
	now := s.now()
	s.touchMu.Lock()
	last, seen := s.touched[id]
	if seen && now.Sub(last) < 5*time.Minute {
		s.touchMu.Unlock()
		return
	}
	s.touched[id] = now
	s.touchMu.Unlock()
	if err := s.store.TouchAPIKey(context.WithoutCancel(ctx), id, now); err != nil {
		s.log.WarnContext(ctx, "record API key use", "err", err)
	}
}

// storeCodes is the one table from store error codes to problems.
var storeCodes = map[string]string{
	store.ENOTFOUND:      CodeNotFound,
	store.ECONFLICT:      CodeConflict,
	store.EINVALID:       CodeValidationFailed,
	store.EGRANTCONSUMED: CodeGrantConsumed,
	store.EGRANTEXPIRED:  CodeGrantExpired,
	store.EGRANTREVOKED:  CodeGrantRevoked,
}

// problemFromStore maps a *store.Error to a problem; nil for other errors
// and for internal store errors (their text is not for callers).
func problemFromStore(err error) *Problem {
	var se *store.Error
	if !errors.As(err, &se) {
		return nil
	}
	code, ok := storeCodes[se.Code]
	if !ok {
		return nil
	}
	return Errorf(code, "%s", store.ErrorMessage(err))
}
