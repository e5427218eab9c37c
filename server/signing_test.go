package server

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

func splitSigned(t *testing.T, signed string) (string, string) {
	t.Helper()
	u, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	return u.EscapedPath(), u.RawQuery
}

func TestSignerRoundTrip(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	s := NewSigner([]byte("secret-one"), clock.now)
	target := DeliveryTarget{TenantID: "ten_1", AssetID: "ast_01", Format: "original", Filename: "Résumé final.pdf", Disposition: DispositionAttachment, GrantID: "grt_9", Expires: clock.t.Add(5 * time.Minute)}
	signed := s.Sign(target)
	if !strings.HasPrefix(signed, "/dl/ten_1/ast_01/original/R%C3%A9sum%C3%A9%20final.pdf?") {
		t.Fatalf("signed = %s", signed)
	}
	p, q := splitSigned(t, signed)
	for _, m := range []string{"GET", "HEAD"} {
		got, err := s.Verify(m, p, q)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if got.AssetID != "ast_01" || got.Format != "original" || got.Filename != "Résumé final.pdf" || got.GrantID != "grt_9" || !got.Expires.Equal(target.Expires) {
			t.Fatalf("%s: target = %+v", m, got)
		}
	}
	if _, err := s.Verify("POST", p, q); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("POST: %v", err)
	}
	// Another spelling of the same path (a proxy re-encoding it) verifies.
	alt := strings.Replace(p, "R%C3%A9sum%C3%A9%20final.pdf", "R%c3%a9sum%c3%a9%20fin%61l.pdf", 1)
	if got, err := s.Verify("GET", alt, q); err != nil || got.Filename != "Résumé final.pdf" {
		t.Fatalf("re-encoded path: %+v %v", got, err)
	}
}

func TestSignerRejectsTampering(t *testing.T) {
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	s := NewSigner([]byte("k"), clock.now)
	signed := s.Sign(DeliveryTarget{TenantID: "ten_1", AssetID: "ast_1", Format: "original", Filename: "a.bin", GrantID: "grt_1", Expires: clock.t.Add(time.Minute)})
	p, q := splitSigned(t, signed)
	vals, _ := url.ParseQuery(q)
	tamper := func(k, v string) string {
		c := url.Values{}
		for kk, vv := range vals {
			c[kk] = append([]string(nil), vv...)
		}
		if v == "" {
			c.Del(k)
		} else {
			c.Set(k, v)
		}
		return c.Encode()
	}
	cases := []struct {
		name, path, query string
	}{
		{"other asset", strings.Replace(p, "ast_1", "ast_2", 1), q},
		{"other format", strings.Replace(p, "original", "mp4_720p", 1), q},
		{"other filename", strings.Replace(p, "a.bin", "b.bin", 1), q},
		{"directory smuggled into the filename", strings.Replace(p, "a.bin", "x%2Fa.bin", 1), q},
		{"backslash smuggled into the filename", strings.Replace(p, "a.bin", "x%5Ca.bin", 1), q},
		{"longer expiry", p, tamper("exp", "1900000000")},
		{"inline", p, tamper("disp", "inline")},
		{"grant removed", p, tamper("g", "")},
		{"other grant", p, tamper("g", "grt_2")},
		{"no sig", p, tamper("sig", "")},
		{"garbage sig", p, tamper("sig", "!!!")},
		{"short sig", p, tamper("sig", "AAAA")},
		{"duplicate exp", p, q + "&exp=1"},
		{"bad query", p, "%zz"},
	}
	for _, c := range cases {
		if _, err := s.Verify("GET", c.path, c.query); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: err = %v, want ErrBadSignature", c.name, err)
		}
	}
	other := NewSigner([]byte("other"), clock.now)
	if _, err := other.Verify("GET", p, q); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other secret: %v", err)
	}
}

func TestSignerExpiryAndRotation(t *testing.T) {
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	s := NewSigner([]byte("old"), clock.now)
	signed := s.Sign(DeliveryTarget{TenantID: "ten_1", AssetID: "ast_1", Format: "original", Filename: "a", Expires: clock.t.Add(10 * time.Minute)})
	p, q := splitSigned(t, signed)

	s.Rotate([]byte("new"), 5*time.Minute)
	if _, err := s.Verify("GET", p, q); err != nil {
		t.Fatalf("within grace: %v", err)
	}
	fresh := s.Sign(DeliveryTarget{TenantID: "ten_1", AssetID: "ast_1", Format: "original", Filename: "a", Expires: clock.t.Add(time.Hour)})
	fp, fq := splitSigned(t, fresh)

	clock.t = clock.t.Add(6 * time.Minute)
	if _, err := s.Verify("GET", p, q); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("after grace: %v, want ErrBadSignature", err)
	}
	if _, err := s.Verify("GET", fp, fq); err != nil {
		t.Fatalf("new secret: %v", err)
	}
	clock.t = clock.t.Add(time.Hour)
	if _, err := s.Verify("GET", fp, fq); !errors.Is(err, ErrURLExpired) {
		t.Fatalf("expired: %v, want ErrURLExpired", err)
	}
}

// FuzzVerifySignedURL feeds arbitrary paths and queries to Verify: it must
// never panic, and must accept only what Sign produced.
func FuzzVerifySignedURL(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	s := NewSigner([]byte("fuzz-secret"), func() time.Time { return now })
	good := s.Sign(DeliveryTarget{TenantID: "ten_1", AssetID: "ast_01", Format: "original", Filename: "a b.mp4", GrantID: "grt_1", Expires: now.Add(time.Minute)})
	gp, gq, _ := strings.Cut(good, "?")
	f.Add("GET", gp, gq)
	f.Add("HEAD", gp, gq)
	f.Add("GET", "/dl/ten_1/ast_01/original/x", "exp=1&disp=attachment&sig=")
	f.Add("GET", "/dl/ten_1/%zz/original/x", gq)
	f.Add("GET", "/dl/a/b/c/d", "exp=99999999999999999999&disp=inline&sig=AAAA")
	f.Add("PUT", gp, gq+"&sig=x")
	f.Fuzz(func(t *testing.T, method, path, query string) {
		target, err := s.Verify(method, path, query)
		if err != nil {
			if !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrURLExpired) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		// Accepted: the target is one Sign made, so re-signing it gives a
		// URL that verifies to the very same target.
		again := s.Sign(target)
		p, q, _ := strings.Cut(again, "?")
		back, err := s.Verify("GET", p, q)
		if err != nil || back != target {
			t.Fatalf("accepted %q ? %q as %+v, but its re-signed form %q gives %+v, %v", path, query, target, again, back, err)
		}
	})
}
