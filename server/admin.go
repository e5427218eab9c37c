package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/haulhq/haul/store"
)

// Tenants and API keys through the API, for admin keys (the same as
// `haul admin` on the data dir). Admin keys of the operator tenant
// ("default", made at bootstrap) manage every tenant; admin keys of other
// tenants manage their own tenant's keys only, so one customer's admin can
// never mint a key for another.

// isOperator reports whether the caller belongs to the operator tenant.
func (s *Server) isOperator(r *http.Request) (bool, error) {
	t, err := s.store.GetTenantByName(r.Context(), DefaultTenant)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return t.ID == tenantOf(r.Context()), nil
}

func (s *Server) requireOperator(r *http.Request) error {
	ok, err := s.isOperator(r)
	if err != nil {
		return err
	}
	if !ok {
		return Errorf(CodeForbidden, "only admin keys of the %q tenant manage tenants", DefaultTenant)
	}
	return nil
}

type tenantJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

type keyJSON struct {
	ID         string     `json:"id"`
	TenantID   string     `json:"tenant_id"`
	Name       string     `json:"name,omitempty"`
	Scopes     []string   `json:"scopes"`
	Prefix     string     `json:"prefix"`
	Key        string     `json:"key,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

func viewKey(k *store.APIKey) keyJSON {
	return keyJSON{ID: k.ID, TenantID: k.TenantID, Name: k.Name, Scopes: k.Scopes, Prefix: k.Prefix,
		CreatedAt: k.CreatedAt.UTC(), LastUsedAt: timePtr(k.LastUsedAt), RevokedAt: timePtr(k.RevokedAt)}
}

// ValidTenantName reports whether name can name a tenant.
func ValidTenantName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ParseScopes splits "read,write" into validated scopes.
func ParseScopes(list []string) ([]string, error) {
	var out []string
	for _, item := range list {
		for _, s := range splitComma(item) {
			s = strings.ToLower(s)
			if !store.ValidScope(s) {
				return nil, fmt.Errorf("unknown scope %q (known: admin, write, export, read)", s)
			}
			if !strings.Contains(","+strings.Join(out, ",")+",", ","+s+",") {
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("at least one scope is required (admin, write, export, read)")
	}
	return out, nil
}

func (s *Server) handleTenantList() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.requireOperator(r); err != nil {
			return err
		}
		page, err := pageOf(r, store.PrefixTenant)
		if err != nil {
			return err
		}
		list, err := s.store.ListTenants(r.Context())
		if err != nil {
			return err
		}
		list, next := pageSlice(list, page, func(t *store.Tenant) string { return t.ID })
		out := make([]tenantJSON, 0, len(list))
		for _, t := range list {
			out = append(out, tenantJSON{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt.UTC()})
		}
		return encode(w, http.StatusOK, newList(out, next))
	})
}

func (s *Server) handleTenantCreate() http.Handler {
	type request struct {
		Name string `json:"name"`
	}
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.requireOperator(r); err != nil {
			return err
		}
		req, err := decode[request](r)
		if err != nil {
			return err
		}
		if !ValidTenantName(req.Name) {
			return Errorf(CodeValidationFailed, "name must be 1 to 64 of a-z, 0-9, '-' and '_'")
		}
		t := &store.Tenant{Name: req.Name}
		if err := s.store.CreateTenant(r.Context(), t); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return Errorf(CodeConflict, "tenant %q exists already", req.Name)
			}
			return err
		}
		return encode(w, http.StatusCreated, tenantJSON{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt.UTC()})
	})
}

// tenantParam resolves ?tenant= (a name or an ID) or the caller's tenant.
func (s *Server) tenantParam(r *http.Request, v string) (*store.Tenant, error) {
	if v == "" {
		return s.store.GetTenant(r.Context(), tenantOf(r.Context()))
	}
	t, err := s.store.GetTenantByName(r.Context(), v)
	if errors.Is(err, store.ErrNotFound) {
		t, err = s.store.GetTenant(r.Context(), v)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, Errorf(CodeNotFound, "no tenant %q", v)
	}
	if err != nil {
		return nil, err
	}
	if t.ID != tenantOf(r.Context()) {
		if op, err := s.isOperator(r); err != nil {
			return nil, err
		} else if !op {
			return nil, Errorf(CodeNotFound, "no tenant %q", v)
		}
	}
	return t, nil
}

func (s *Server) handleKeyList() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		t, err := s.tenantParam(r, r.URL.Query().Get("tenant"))
		if err != nil {
			return err
		}
		page, err := pageOf(r, store.PrefixAPIKey)
		if err != nil {
			return err
		}
		keys, err := s.store.ListAPIKeys(r.Context(), t.ID)
		if err != nil {
			return err
		}
		keys, next := pageSlice(keys, page, func(k *store.APIKey) string { return k.ID })
		out := make([]keyJSON, 0, len(keys))
		for _, k := range keys {
			out = append(out, viewKey(k))
		}
		return encode(w, http.StatusOK, newList(out, next))
	})
}

func (s *Server) handleKeyCreate() http.Handler {
	type request struct {
		Tenant string   `json:"tenant"`
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](r)
		if err != nil {
			return err
		}
		scopes, err := ParseScopes(req.Scopes)
		if err != nil {
			return Errorf(CodeValidationFailed, "%v", err)
		}
		t, err := s.tenantParam(r, req.Tenant)
		if err != nil {
			return err
		}
		secret, k, err := NewAPIKey(t.ID, req.Name, scopes)
		if err != nil {
			return err
		}
		if err := s.store.CreateAPIKey(r.Context(), k); err != nil {
			return err
		}
		v := viewKey(k)
		v.Key = secret
		w.Header().Set("Cache-Control", "no-store")
		return encode(w, http.StatusCreated, v)
	})
}

func (s *Server) handleKeyRevoke() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		t, err := s.tenantParam(r, r.URL.Query().Get("tenant"))
		if err != nil {
			return err
		}
		k, err := s.store.RevokeAPIKey(r.Context(), t.ID, r.PathValue("id"), s.now())
		if errors.Is(err, store.ErrNotFound) {
			return Errorf(CodeNotFound, "no key %q in tenant %s", r.PathValue("id"), t.Name)
		}
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, viewKey(k))
	})
}
