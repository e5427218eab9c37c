package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
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

// verifyReference is Verify as first written, on url.ParseQuery and
// DeliveryPath: the optimized Verify must decide exactly like it.
func verifyReference(s *Signer, method, escapedPath, rawQuery string) (DeliveryTarget, error) {
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
	mac := func(secret []byte) bool {
		h := hmac.New(sha256.New, secret)
		fmt.Fprintf(h, "GET\n%s\n%s\n%s\n%s", canonical, exp, disp, grant)
		return hmac.Equal(h.Sum(nil), given)
	}
	s.mu.RLock()
	ok := mac(s.current)
	now := s.now()
	for _, r := range s.retired {
		if ok {
			break
		}
		if now.Before(r.until) {
			ok = mac(r.secret)
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

// referenceSigner has a current and a retired secret, and signed URLs of
// both, with and without grant, to mutate.
func referenceSigner() (*Signer, []string) {
	now := time.Unix(1_800_000_000, 0)
	s := NewSigner([]byte("old-secret"), func() time.Time { return now })
	var urls []string
	sign := func(name, grant, disp string, exp time.Duration) {
		urls = append(urls, s.Sign(DeliveryTarget{TenantID: "ten_1", AssetID: "ast_01", Format: "original", Filename: name, GrantID: grant, Disposition: disp, Expires: now.Add(exp)}))
	}
	sign("a b.mp4", "", "", time.Minute)
	s.Rotate([]byte("new-secret"), time.Hour)
	sign("a b.mp4", "grt_1", "inline", time.Minute)
	sign("ünï;cödé%.txt", "grt 2&x", "attachment", -time.Minute)
	sign("plain.bin", "", "attachment", time.Hour)
	return s, urls
}

// TestVerifyMatchesReference checks the optimized Verify against the
// reference on signed URLs and many systematic mutations of them.
func TestVerifyMatchesReference(t *testing.T) {
	s, urls := referenceSigner()
	check := func(method, p, q string) {
		t.Helper()
		got, gerr := s.Verify(method, p, q)
		want, werr := verifyReference(s, method, p, q)
		if got != want || !errors.Is(gerr, werr) || (gerr == nil) != (werr == nil) {
			t.Fatalf("Verify(%q, %q, %q) = %+v, %v; reference %+v, %v", method, p, q, got, gerr, want, werr)
		}
	}
	edits := []func(string) string{
		func(s string) string { return s },
		func(s string) string { return s + "&x=1" },
		func(s string) string { return s + "&sig=AAAA" },
		func(s string) string { return s + "&g=" },
		func(s string) string { return s + "&disp=inline" },
		func(s string) string { return s + ";" },
		func(s string) string { return s + "&%zz" },
		func(s string) string { return "&&" + s + "&" },
		func(s string) string { return strings.Replace(s, "exp=", "e%78p=", 1) },
		func(s string) string { return strings.Replace(s, "sig=", "sig=%0A", 1) },
		func(s string) string { return strings.Replace(s, "disp=attachment", "disp=", 1) },
		func(s string) string { return strings.Replace(s, "disp=", "disp=+", 1) },
		func(s string) string { return strings.Replace(s, "exp=", "exp=0", 1) },
		func(s string) string { return strings.Replace(s, "&", "&&", -1) },
		func(s string) string { return s[:len(s)-1] },
		func(s string) string { return s[:len(s)/2] },
	}
	pathEdits := []func(string) string{
		func(s string) string { return s },
		func(s string) string { return s + "/" },
		func(s string) string { return s + "/x" },
		func(s string) string { return strings.Replace(s, "/dl/", "/dl//", 1) },
		func(s string) string { return strings.Replace(s, "ast_01", "ast_%30%31", 1) },
		func(s string) string { return strings.Replace(s, "ast_01", "ast_%zz", 1) },
		func(s string) string { return strings.Replace(s, "original", "%6Friginal", 1) },
		func(s string) string { return strings.Replace(s, "/dl/", "/dx/", 1) },
		func(s string) string { return s[:strings.LastIndexByte(s, '/')] + "/.." },
		func(s string) string { return s[:strings.LastIndexByte(s, '/')] + "/a%2Fb" },
		func(s string) string { return s[:strings.LastIndexByte(s, '/')] + "/a%5Cb" },
		func(s string) string { return strings.ToLower(s) },
	}
	for _, u := range urls {
		p, q, _ := strings.Cut(u, "?")
		for _, method := range []string{"GET", "HEAD", "POST"} {
			for _, pe := range pathEdits {
				for _, qe := range edits {
					check(method, pe(p), qe(q))
				}
			}
		}
	}
}

// FuzzVerifyMatchesReference: on any input the optimized Verify decides
// like the reference.
func FuzzVerifyMatchesReference(f *testing.F) {
	s, urls := referenceSigner()
	for _, u := range urls {
		p, q, _ := strings.Cut(u, "?")
		f.Add("GET", p, q)
	}
	f.Add("GET", "/dl/a/b/c/d", "exp=1&disp=inline&sig=%0A")
	f.Fuzz(func(t *testing.T, method, p, q string) {
		got, gerr := s.Verify(method, p, q)
		want, werr := verifyReference(s, method, p, q)
		if got != want || !errors.Is(gerr, werr) || (gerr == nil) != (werr == nil) {
			t.Fatalf("Verify(%q, %q, %q) = %+v, %v; reference %+v, %v", method, p, q, got, gerr, want, werr)
		}
	})
}

// BenchmarkVerify measures checking one signed URL.
func BenchmarkVerify(b *testing.B) {
	s, urls := referenceSigner()
	p, q, _ := strings.Cut(urls[3], "?")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify("GET", p, q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyReference measures the reference, for comparison.
func BenchmarkVerifyReference(b *testing.B) {
	s, urls := referenceSigner()
	p, q, _ := strings.Cut(urls[3], "?")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := verifyReference(s, "GET", p, q); err != nil {
			b.Fatal(err)
		}
	}
}
