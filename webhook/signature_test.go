package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func TestNewSecretShape(t *testing.T) {
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, SecretPrefix) {
		t.Fatalf("secret %q lacks %s", s, SecretPrefix)
	}
	key, err := DecodeSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) < 24 || len(key) > 32 {
		t.Fatalf("key length %d, want 24..32", len(key))
	}
	s2, _ := NewSecret()
	if s == s2 {
		t.Fatal("two secrets are equal")
	}
}

func TestDecodeSecretRejects(t *testing.T) {
	for _, s := range []string{"", "whsec_", "whsec_!!!", "whsec_" + "c2hvcnQ=", "whsec_" + strings.Repeat("A", 200)} {
		if _, err := DecodeSecret(s); !errors.Is(err, ErrInvalidSecret) {
			t.Errorf("DecodeSecret(%q) = %v, want ErrInvalidSecret", s, err)
		}
	}
}

// TestOfficialLibraryVerifiesOurSignatures is the interoperability proof:
// what we sign, the Standard Webhooks reference library accepts, and the
// other way round.
func TestOfficialLibraryVerifiesOurSignatures(t *testing.T) {
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	ours, err := NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	official, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	body, err := EncodePayload("grant.consumed", time.Date(2026, 11, 29, 21, 0, 0, 0, time.UTC), []byte(`{"id":"grt_1","downloads_remaining":0}`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	h := http.Header{}
	ours.SetHeaders(h, "evt_01JDEMO", now, body)
	if err := official.Verify(body, h); err != nil {
		t.Fatalf("official library rejects our signature: %v", err)
	}
	// Tampering must be caught by the official library too.
	if err := official.Verify(append([]byte{}, append(body, ' ')...), h); err == nil {
		t.Fatal("official library accepted a tampered body")
	}

	// And we accept what the official library signs.
	sig, err := official.Sign("msg_2", now, body)
	if err != nil {
		t.Fatal(err)
	}
	h2 := http.Header{}
	h2.Set(HeaderID, "msg_2")
	h2.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h2.Set(HeaderSignature, sig)
	if sig != ours.Sign("msg_2", now, body) {
		t.Fatalf("signatures differ: official %q, ours %q", sig, ours.Sign("msg_2", now, body))
	}
	if _, _, err := ours.Verify(h2, body, now); err != nil {
		t.Fatalf("we reject the official library's signature: %v", err)
	}
}

func TestVerify(t *testing.T) {
	secret, _ := NewSecret()
	other, _ := NewSecret()
	s, _ := NewSigner(secret)
	o, _ := NewSigner(other)
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"type":"x","timestamp":"2026-01-01T00:00:00Z","data":{}}`)
	good := s.Sign("evt_1", now, body)
	bad := o.Sign("evt_1", now, body)
	tests := []struct {
		name    string
		id, ts  string
		sig     string
		body    []byte
		now     time.Time
		wantErr error
	}{
		{"valid", "evt_1", "1800000000", good, body, now, nil},
		{"several signatures, one matching", "evt_1", "1800000000", bad + " v1a,AAAA " + good, body, now, nil},
		{"unknown versions ignored", "evt_1", "1800000000", "v2,zzz " + good, body, now, nil},
		{"wrong secret", "evt_1", "1800000000", bad, body, now, ErrNoMatchingSignature},
		{"tampered body", "evt_1", "1800000000", good, []byte(`{}`), now, ErrNoMatchingSignature},
		{"other id", "evt_2", "1800000000", good, body, now, ErrNoMatchingSignature},
		{"missing id", "", "1800000000", good, body, now, ErrMissingHeaders},
		{"missing signature", "evt_1", "1800000000", "", body, now, ErrMissingHeaders},
		{"bad timestamp", "evt_1", "yesterday", good, body, now, ErrInvalidHeaders},
		{"too old", "evt_1", "1800000000", good, body, now.Add(5*time.Minute + time.Second), ErrTimestampTooOld},
		{"too new", "evt_1", "1800000000", good, body, now.Add(-5*time.Minute - time.Second), ErrTimestampTooNew},
		{"edge of tolerance", "evt_1", "1800000000", good, body, now.Add(5 * time.Minute), nil},
		{"only garbage signatures", "evt_1", "1800000000", "v1 v1, ,x", body, now, ErrInvalidHeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set(HeaderID, tt.id)
			h.Set(HeaderTimestamp, tt.ts)
			h.Set(HeaderSignature, tt.sig)
			id, _, err := s.Verify(h, tt.body, tt.now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
			if err == nil && id != tt.id {
				t.Fatalf("id %q, want %q", id, tt.id)
			}
		})
	}
}

func TestParseSignatureHeader(t *testing.T) {
	sigs, err := ParseSignatureHeader("v1,AAEC v1a,AwQ= v9,zz")
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 2 || sigs[0].Version != "v1" || string(sigs[0].Value) != "\x00\x01\x02" || sigs[1].Version != "v1a" {
		t.Fatalf("got %+v", sigs)
	}
	if _, err := ParseSignatureHeader(strings.Repeat("x,y ", 100) + "v1,AAAA"); err == nil {
		t.Fatal("entries past the cap were considered")
	}
}

func FuzzParseSignatureHeader(f *testing.F) {
	f.Add("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	f.Add("v1,AAAA v1a,BBBB v2,CCCC")
	f.Add("")
	f.Add(",,, v1, ,v1")
	f.Fuzz(func(t *testing.T, v string) {
		sigs, err := ParseSignatureHeader(v)
		if err != nil {
			if sigs != nil {
				t.Fatal("signatures returned with an error")
			}
			return
		}
		if len(sigs) == 0 || len(sigs) > maxSignatures {
			t.Fatalf("%d signatures", len(sigs))
		}
		for _, s := range sigs {
			if s.Version != "v1" && s.Version != "v1a" {
				t.Fatalf("version %q", s.Version)
			}
		}
		// Verification must never panic on any header either.
		s, _ := NewSigner("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
		h := http.Header{}
		h.Set(HeaderID, "evt")
		h.Set(HeaderTimestamp, "1800000000")
		h.Set(HeaderSignature, v)
		_, _, _ = s.Verify(h, []byte("{}"), time.Unix(1_800_000_000, 0))
	})
}
