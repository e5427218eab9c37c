package client

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeError feeds untrusted error responses to the problem decoder:
// it must never panic, and must always produce an error with the status
// and a non-empty message.
func FuzzDecodeError(f *testing.F) {
	f.Add(422, "application/problem+json", `{"status":422,"code":"unsupported_format","allowed_formats":["original"]}`, "")
	f.Add(429, "application/problem+json", `{"code":"rate_limited","retry_after":40,"scope":"export"}`, "40")
	f.Add(429, "application/json", `{"retry_after":-1e309}`, "Tue, 24 Nov 2026 12:00:30 GMT")
	f.Add(502, "text/html", "<html>bad gateway</html>", "")
	f.Add(400, "text/plain", "\xff\xfe not utf-8", "")
	f.Add(403, "application/problem+json", `{"unknown_assets":[1,2],"errors":"x"}`, "")
	f.Add(0, "", "", "")
	f.Fuzz(func(t *testing.T, status int, ctype, body, retryAfter string) {
		if status < 100 || status > 999 {
			status = 500
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{}, Body: http.NoBody}
		resp.Header.Set("Content-Type", ctype)
		resp.Header.Set("Retry-After", retryAfter)
		resp.Body = readCloser{bytes.NewReader([]byte(body))}
		e := decodeError(resp, "GET", "/v1/x", time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
		if e.Status != status {
			t.Fatalf("status %d, want %d", e.Status, status)
		}
		if e.RetryAfter < 0 {
			t.Fatalf("negative RetryAfter %v", e.RetryAfter)
		}
		if strings.TrimSpace(e.Error()) == "" {
			t.Fatal("empty message")
		}
	})
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// FuzzParseRetryAfter: never panics, never negative.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "42", "1.5", "-3", "1e400", "NaN", "Tue, 24 Nov 2026 12:00:30 GMT", "Tuesday, 24-Nov-26 12:01:00 GMT", "Mon Jan  2 15:04:05 2006"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, now)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("parseRetryAfter(%q) = %v, %v", s, d, ok)
		}
	})
}

// FuzzJobJSON decodes untrusted job documents (error as object or string).
func FuzzJobJSON(f *testing.F) {
	f.Add(`{"id":"job_1","status":"failed","error":{"code":"x","detail":"y"}}`)
	f.Add(`{"id":"job_1","status":"failed","error":"ffmpeg exited 1"}`)
	f.Add(`{"error":{"message":"m"}}`)
	f.Add(`{"error":null,"progress":"x"}`)
	f.Fuzz(func(t *testing.T, s string) {
		var j Job
		if json.Unmarshal([]byte(s), &j) == nil && j.Error != nil {
			_ = j.Error.String()
		}
	})
}
