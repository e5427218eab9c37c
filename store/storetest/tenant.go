package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/haulhq/haul/store"
)

func testTenants(t *testing.T, s store.Store) {
	a := tenant(t, s, "default")
	if !store.HasPrefix(a.ID, store.PrefixTenant) || a.CreatedAt.IsZero() {
		t.Fatalf("created tenant = %+v", a)
	}
	wantCode(t, s.CreateTenant(ctx(t), &store.Tenant{Name: "default"}), store.ECONFLICT)
	wantCode(t, s.CreateTenant(ctx(t), &store.Tenant{}), store.EINVALID)
	b := tenant(t, s, "acme")

	got, err := s.GetTenant(ctx(t), a.ID)
	must(t, err)
	if got.Name != "default" || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("GetTenant = %+v, want %+v", got, a)
	}
	got, err = s.GetTenantByName(ctx(t), "acme")
	must(t, err)
	if got.ID != b.ID {
		t.Fatalf("GetTenantByName = %+v", got)
	}
	_, err = s.GetTenant(ctx(t), "ten_missing")
	wantCode(t, err, store.ENOTFOUND)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatal("errors.Is(ErrNotFound) is false")
	}
	_, err = s.GetTenantByName(ctx(t), "nobody")
	wantCode(t, err, store.ENOTFOUND)

	all, err := s.ListTenants(ctx(t))
	must(t, err)
	if len(all) != 2 || all[0].ID != a.ID || all[1].ID != b.ID {
		t.Fatalf("ListTenants = %+v", all)
	}
}

func testAPIKeys(t *testing.T, s store.Store) {
	tn := tenant(t, s, "default")
	other := tenant(t, s, "other")
	k := &store.APIKey{TenantID: tn.ID, Name: "admin", Scopes: []string{store.ScopeAdmin}, Hash: "h1", Prefix: "hk_abcd"}
	must(t, s.CreateAPIKey(ctx(t), k))
	if !store.HasPrefix(k.ID, store.PrefixAPIKey) {
		t.Fatalf("key id %q", k.ID)
	}
	wantCode(t, s.CreateAPIKey(ctx(t), &store.APIKey{TenantID: tn.ID, Hash: "h1", Scopes: []string{"read"}}), store.ECONFLICT)
	wantCode(t, s.CreateAPIKey(ctx(t), &store.APIKey{TenantID: tn.ID, Hash: "h2", Scopes: []string{"root"}}), store.EINVALID)
	wantCode(t, s.CreateAPIKey(ctx(t), &store.APIKey{TenantID: "ten_missing", Hash: "h3", Scopes: []string{"read"}}), store.ENOTFOUND)
	k2 := &store.APIKey{TenantID: tn.ID, Name: "ci", Scopes: []string{store.ScopeRead, store.ScopeExport}, Hash: "h4", Prefix: "hk_efgh"}
	must(t, s.CreateAPIKey(ctx(t), k2))
	must(t, s.CreateAPIKey(ctx(t), &store.APIKey{TenantID: other.ID, Name: "o", Scopes: []string{store.ScopeRead}, Hash: "h5"}))

	got, err := s.GetAPIKeyByHash(ctx(t), "h4")
	must(t, err)
	if got.ID != k2.ID || got.TenantID != tn.ID || !slices.Equal(got.Scopes, k2.Scopes) || got.Prefix != "hk_efgh" || got.Revoked() {
		t.Fatalf("GetAPIKeyByHash = %+v", got)
	}
	if !got.LastUsedAt.IsZero() {
		t.Fatal("new key has LastUsedAt")
	}
	_, err = s.GetAPIKeyByHash(ctx(t), "nope")
	wantCode(t, err, store.ENOTFOUND)

	must(t, s.TouchAPIKey(ctx(t), k2.ID, t0))
	got, err = s.GetAPIKeyByHash(ctx(t), "h4")
	must(t, err)
	sameTime(t, "LastUsedAt", got.LastUsedAt, t0)

	keys, err := s.ListAPIKeys(ctx(t), tn.ID)
	must(t, err)
	if len(keys) != 2 || keys[0].ID != k.ID || keys[1].ID != k2.ID {
		t.Fatalf("ListAPIKeys = %+v", keys)
	}

	_, err = s.RevokeAPIKey(ctx(t), other.ID, k2.ID, t0)
	wantCode(t, err, store.ENOTFOUND)
	r, err := s.RevokeAPIKey(ctx(t), tn.ID, k2.ID, t0)
	must(t, err)
	if !r.Revoked() {
		t.Fatal("key not revoked")
	}
	r, err = s.RevokeAPIKey(ctx(t), tn.ID, k2.ID, t0.Add(time.Hour))
	must(t, err)
	sameTime(t, "RevokedAt after second revoke", r.RevokedAt, t0)
	got, err = s.GetAPIKeyByHash(ctx(t), "h4")
	must(t, err)
	if !got.Revoked() {
		t.Fatal("revocation not stored")
	}
}

func testSettings(t *testing.T, s store.Store) {
	_, err := s.GetSetting(ctx(t), "bootstrap")
	wantCode(t, err, store.ENOTFOUND)
	v, created, err := s.PutSettingIfAbsent(ctx(t), "bootstrap", []byte("one"))
	must(t, err)
	if !created || string(v) != "one" {
		t.Fatalf("first PutSettingIfAbsent = %q, %v", v, created)
	}
	v, created, err = s.PutSettingIfAbsent(ctx(t), "bootstrap", []byte("two"))
	must(t, err)
	if created || string(v) != "one" {
		t.Fatalf("second PutSettingIfAbsent = %q, %v", v, created)
	}
	must(t, s.PutSetting(ctx(t), "bootstrap", []byte("three")))
	v, err = s.GetSetting(ctx(t), "bootstrap")
	must(t, err)
	if string(v) != "three" {
		t.Fatalf("GetSetting = %q", v)
	}

	// Concurrent bootstrap: everyone agrees on one value.
	vals := make([][]byte, 10)
	errs := parallel(10, func(i int) error {
		v, _, err := s.PutSettingIfAbsent(ctx(t), "race", []byte{byte('a' + i)})
		vals[i] = v
		return err
	})
	must(t, firstErr(errs))
	for _, v := range vals {
		if !bytes.Equal(v, vals[0]) {
			t.Fatalf("racers disagree: %q vs %q", v, vals[0])
		}
	}
}

func testSigningKeys(t *testing.T, s store.Store) {
	keys, err := s.SigningKeys(ctx(t), t0)
	must(t, err)
	if len(keys) != 0 {
		t.Fatalf("fresh store has keys: %v", keys)
	}
	k1, err := s.EnsureSigningKey(ctx(t), []byte("secret-1"), t0)
	must(t, err)
	again, err := s.EnsureSigningKey(ctx(t), []byte("secret-other"), t0.Add(time.Second))
	must(t, err)
	if again.ID != k1.ID || string(again.Secret) != "secret-1" {
		t.Fatalf("EnsureSigningKey made a second key: %+v", again)
	}
	t1 := t0.Add(time.Hour)
	k2, err := s.RotateSigningKey(ctx(t), []byte("secret-2"), 10*time.Minute, t1)
	must(t, err)
	keys, err = s.SigningKeys(ctx(t), t1.Add(time.Minute))
	must(t, err)
	if len(keys) != 2 || keys[0].ID != k2.ID || string(keys[0].Secret) != "secret-2" || keys[1].ID != k1.ID {
		t.Fatalf("keys during grace = %+v", keys)
	}
	if !keys[0].ExpiresAt.IsZero() {
		t.Fatal("current key has an expiry")
	}
	sameTime(t, "retired key expiry", keys[1].ExpiresAt, t1.Add(10*time.Minute))
	keys, err = s.SigningKeys(ctx(t), t1.Add(11*time.Minute))
	must(t, err)
	if len(keys) != 1 || keys[0].ID != k2.ID {
		t.Fatalf("keys after grace = %+v", keys)
	}
	_, err = s.RotateSigningKey(ctx(t), nil, time.Minute, t1)
	wantCode(t, err, store.EINVALID)

	// Concurrent bootstrap agrees on one key.
	s2 := make([]store.SigningKey, 8)
	must(t, firstErr(parallel(8, func(i int) error {
		k, err := s.EnsureSigningKey(ctx(t), []byte{byte(i + 1)}, t1)
		s2[i] = k
		return err
	})))
	for _, k := range s2 {
		if k.ID != k2.ID {
			t.Fatalf("EnsureSigningKey with a current key returned %s, want %s", k.ID, k2.ID)
		}
	}
}
