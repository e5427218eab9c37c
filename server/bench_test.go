package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuPerOp measures the process CPU time (user + system) until the
// returned function is called and reports it per operation as
// "cpu-ns/op": unlike ns/op it barely moves when other work shares the
// machine. Client and server run in the process, so it counts both.
func cpuPerOp(b *testing.B) (stop func()) {
	b.Helper()
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() { b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op") }
}

// BenchmarkDeliverySmall measures GET of a 64 KiB asset by signed URL.
func BenchmarkDeliverySmall(b *testing.B) {
	e := newEnvB(b)
	a := e.upload(e.admin, map[string]any{"filename": "s.bin"}, bytes.Repeat([]byte("x"), 64<<10))
	u := e.do("POST", "/v1/assets/"+a["id"].(string)+"/downloads", e.admin, map[string]any{}).obj()["download_url"].(string)
	client := e.ts.Client()
	defer cpuPerOp(b)()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(u)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// BenchmarkDownloadSign measures POST /v1/assets/{id}/downloads.
func BenchmarkDownloadSign(b *testing.B) {
	e := newEnvB(b)
	a := e.upload(e.admin, map[string]any{"filename": "s.bin"}, []byte("x"))
	url := e.ts.URL + "/v1/assets/" + a["id"].(string) + "/downloads"
	client := e.ts.Client()
	defer cpuPerOp(b)()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", url, strings.NewReader(`{"format":"original"}`))
			req.Header.Set("Authorization", "Bearer "+e.admin)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

// BenchmarkRateLimit measures the rate-limit middleware of a limited
// class on its own (the bucket never runs out).
func BenchmarkRateLimit(b *testing.B) {
	e := newEnvB(b, func(d *Deps) {
		d.Config.RateLimits = map[string]Limit{ClassDelivery: {N: 1 << 40, Window: time.Hour}}
	})
	h := e.srv.rateLimit(ClassDelivery, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	ctx := context.WithValue(context.Background(), ctxRequestInfo, &requestInfo{clientIP: "127.0.0.1"})
	r := httptest.NewRequestWithContext(ctx, "GET", "/dl/x", nil)
	w := &headerProbe{header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.header)
		h.ServeHTTP(w, r)
	}
}
