package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/haulhq/haul/blob"
	"github.com/haulhq/haul/config"
	"github.com/haulhq/haul/server"
	"github.com/haulhq/haul/store"
	"github.com/haulhq/haul/webhook"
)

// accessServeOptions are the `haul serve` flags of grants, webhooks and
// the lifecycle worker.
type accessServeOptions struct {
	GrantURLTTL         time.Duration
	GrantMaxTTL         time.Duration
	WebhookAllowPrivate bool
	LifecycleInterval   time.Duration
	PurgeAfter          time.Duration
}

// addAccessServeFlags adds the flags of accessServeOptions to serve.
func addAccessServeFlags(f *pflag.FlagSet) {
	f.Duration("grant-url-ttl", 5*time.Minute, "life of the signed URL a grant link redirects to")
	f.Duration("grant-max-ttl", 90*24*time.Hour, "longest access period a grant may have")
	f.Bool("webhook-allow-private", false, "allow webhook URLs on loopback, private and link-local addresses")
	f.Duration("lifecycle-interval", time.Minute, "time between lifecycle passes (grant expiry, retention, purge, blob GC)")
	f.Duration("purge-after", 7*24*time.Hour, "grace period between deleting an asset and removing its bytes")
}

// readAccessServeOptions reads those flags through the configuration, so
// HAUL_* variables and the config file apply.
func readAccessServeOptions(cfg *config.Config) (accessServeOptions, error) {
	var o accessServeOptions
	var err error
	for key, dst := range map[string]*time.Duration{
		"grant_url_ttl": &o.GrantURLTTL, "grant_max_ttl": &o.GrantMaxTTL,
		"lifecycle_interval": &o.LifecycleInterval, "purge_after": &o.PurgeAfter,
	} {
		if *dst, err = cfg.Duration(key); err != nil {
			return o, withExit(exitUsage, err)
		}
		if *dst <= 0 {
			return o, usageErrorf("--%s must be positive", dashed(key))
		}
	}
	if o.WebhookAllowPrivate, err = cfg.Bool("webhook_allow_private"); err != nil {
		return o, withExit(exitUsage, err)
	}
	return o, nil
}

func dashed(key string) string {
	b := []byte(key)
	for i, c := range b {
		if c == '_' {
			b[i] = '-'
		}
	}
	return string(b)
}

func (o accessServeOptions) grantConfig() server.GrantConfig {
	return server.GrantConfig{URLTTL: o.GrantURLTTL, MaxTTL: o.GrantMaxTTL}
}

func (o accessServeOptions) webhookConfig() server.WebhookConfig {
	return server.WebhookConfig{AllowPrivate: o.WebhookAllowPrivate}
}

// startAccessWorkers runs the webhook dispatcher and the lifecycle worker
// until ctx ends; the returned function stops them and waits.
func startAccessWorkers(ctx context.Context, st store.Store, blobs blob.Store, log *slog.Logger, o accessServeOptions) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	d := server.NewWebhookDispatcher(st, webhook.Options{
		Client:    webhook.NewClient(webhook.ClientOptions{AllowPrivate: o.WebhookAllowPrivate, UserAgent: userAgent() + " (webhooks)"}),
		Logger:    log.With("component", "webhooks"),
		UserAgent: userAgent(),
	})
	lc := server.NewLifecycle(server.LifecycleOptions{
		Store: st, Blobs: blobs, Logger: log.With("component", "lifecycle"),
		Interval: o.LifecycleInterval, PurgeAfter: o.PurgeAfter,
	})
	wg.Add(2)
	go func() { defer wg.Done(); _ = d.Run(ctx) }()
	go func() { defer wg.Done(); _ = lc.Run(ctx) }()
	return func() {
		cancel()
		wg.Wait()
	}
}
