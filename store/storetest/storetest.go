// Package storetest is the contract suite every store.Store backend
// passes: the same tests for SQLite and PostgreSQL, so no behaviour exists
// in one backend only. A backend's test calls Run with a function that
// returns a fresh, empty, migrated store.
package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/haulhq/haul/store"
)

// Opener returns a new empty store for one test; the suite closes it.
type Opener func(t *testing.T) store.Store

// Run runs the whole contract suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Tenants", testTenants},
		{"APIKeys", testAPIKeys},
		{"Settings", testSettings},
		{"SigningKeys", testSigningKeys},
		{"AssetsCreateGet", testAssetsCreateGet},
		{"AssetsUpdate", testAssetsUpdate},
		{"AssetsListPagination", testAssetsListPagination},
		{"AssetsListTagAndState", testAssetsListTagAndState},
		{"AssetsGetMany", testAssetsGetMany},
		{"AssetsLifecycleQueries", testAssetsLifecycleQueries},
		{"Renditions", testRenditions},
		{"JobsCreateDedupe", testJobsCreateDedupe},
		{"JobsCreateConcurrent", testJobsCreateConcurrent},
		{"JobsClaimLifecycle", testJobsClaimLifecycle},
		{"JobsClaimExclusive", testJobsClaimExclusive},
		{"JobsLeaseExpiry", testJobsLeaseExpiry},
		{"JobsFailAndRetry", testJobsFailAndRetry},
		{"Exports", testExports},
		{"ExportsCompleteOnce", testExportsCompleteOnce},
		{"GrantsOneTime", testGrantsOneTime},
		{"GrantsRedeemConcurrent", testGrantsRedeemConcurrent},
		{"GrantsRedeemRowLockTx", testGrantsRedeemRowLockTx},
		{"GrantsLimitedAndRenewable", testGrantsLimitedAndRenewable},
		{"GrantsRevokeAndExpire", testGrantsRevokeAndExpire},
		{"GrantsList", testGrantsList},
		{"Events", testEvents},
		{"EventsConcurrentPaging", testEventsConcurrentPaging},
		{"WithTxRollback", testWithTxRollback},
		{"Webhooks", testWebhooks},
		{"WebhookOutbox", testWebhookOutbox},
		{"WebhookClaimExclusive", testWebhookClaimExclusive},
		{"WebhookFairness", testWebhookFairness},
		{"WebhookReplay", testWebhookReplay},
		{"Idempotency", testIdempotency},
		{"IdempotencyConcurrentBegin", testIdempotencyConcurrentBegin},
		{"Leases", testLeases},
		{"RateLimit", testRateLimit},
		{"TenantIsolation", testTenantIsolation},
		{"Ready", testReady},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

// t0 is the suite's fixed "now"; tests move time explicitly.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ctx(t *testing.T) context.Context { return t.Context() }

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantCode fails unless err carries the store error code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := store.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

// tenant creates a tenant.
func tenant(t *testing.T, s store.Store, name string) *store.Tenant {
	t.Helper()
	tn := &store.Tenant{Name: name}
	must(t, s.CreateTenant(ctx(t), tn))
	return tn
}

// asset creates an available asset of the tenant with tags.
func asset(t *testing.T, s store.Store, tenantID, title string, tags ...string) *store.Asset {
	t.Helper()
	a := &store.Asset{
		TenantID: tenantID, Title: title, Filename: title + ".mp4", ContentType: "video/mp4", Tags: tags,
		Rights: store.Rights{Downloadable: true, Redistribution: store.RedistributionInternal},
		State:  store.AssetAvailable, Size: 42, Checksum: "sha256:" + hex64('a'), BlobKey: hex64('a'),
	}
	must(t, s.CreateAsset(ctx(t), a))
	return a
}

// hex64 returns a 64-character key made of c.
func hex64(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

// sameTime fails unless a and b are the same instant to the microsecond.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want.Truncate(time.Microsecond)) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// parallel runs fn n times concurrently and returns the errors.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	done := make(chan int)
	for i := range n {
		go func() {
			<-start
			errs[i] = fn(i)
			done <- i
		}()
	}
	close(start)
	for range n {
		<-done
	}
	return errs
}

func firstErr(errs []error) error { return errors.Join(errs...) }
