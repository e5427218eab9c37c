package storetest

import (
	"testing"
	"time"

	"github.com/haulhq/haul/store"
)

// testTenantIsolation checks every tenant-scoped read and write with
// another tenant's IDs: each is ENOTFOUND (or empty), never the object.
func testTenantIsolation(t *testing.T, s store.Store) {
	a := tenant(t, s, "alpha")
	b := tenant(t, s, "beta")
	as := asset(t, s, a.ID, "secret", "tag-a")
	job, _, err := s.CreateJob(ctx(t), &store.Job{TenantID: a.ID, AssetID: as.ID, Format: "mp4_720p", PresetVersion: 1})
	must(t, err)
	exp := &store.Export{TenantID: a.ID, Format: "original"}
	must(t, s.CreateExport(ctx(t), exp, []store.ExportItem{{AssetID: as.ID}}))
	g := grant(t, s, a.ID, as.ID, store.GrantRenewable, 0, "iso")
	w := webhook(t, s, a.ID, "*")
	ev := event(t, s, a.ID, store.EventAssetCreated, t0)
	r := &store.Rendition{TenantID: a.ID, AssetID: as.ID, Format: "audio_m4a", PresetVersion: 1, BlobKey: hex64('9'), Size: 1}
	must(t, s.PutRendition(ctx(t), r))
	key := &store.APIKey{TenantID: a.ID, Scopes: []string{store.ScopeRead}, Hash: "iso-key"}
	must(t, s.CreateAPIKey(ctx(t), key))

	notFound := map[string]error{}
	_, notFound["GetAsset"] = s.GetAsset(ctx(t), b.ID, as.ID)
	_, notFound["UpdateAsset"] = s.UpdateAsset(ctx(t), b.ID, as.ID, t0, func(x *store.Asset) error { x.Title = "pwned"; return nil })
	_, notFound["GetJob"] = s.GetJob(ctx(t), b.ID, job.ID)
	_, _, notFound["CreateJob"] = s.CreateJob(ctx(t), &store.Job{TenantID: b.ID, AssetID: as.ID, Format: "mp4_480p"})
	_, notFound["GetExport"] = s.GetExport(ctx(t), b.ID, exp.ID)
	_, notFound["ListExportEntries"] = s.ListExportEntries(ctx(t), b.ID, exp.ID)
	notFound["UpdateExportItem"] = s.UpdateExportItem(ctx(t), b.ID, exp.ID, 0, store.ItemFailed, "", "", t0)
	_, notFound["CompleteExport"] = s.CompleteExport(ctx(t), b.ID, exp.ID, t0)
	notFound["CreateExport"] = s.CreateExport(ctx(t), &store.Export{TenantID: b.ID, Format: "original"}, []store.ExportItem{{AssetID: as.ID}})
	_, notFound["GetGrant"] = s.GetGrant(ctx(t), b.ID, g.ID)
	_, _, notFound["RevokeGrant"] = s.RevokeGrant(ctx(t), b.ID, g.ID, t0)
	_, notFound["RenewGrant"] = s.RenewGrant(ctx(t), b.ID, g.ID, t0.Add(48*time.Hour), t0)
	notFound["CreateGrant"] = s.CreateGrant(ctx(t), &store.Grant{TenantID: b.ID, AssetID: as.ID, Policy: store.GrantOneTime,
		TokenHash: "iso-b", AccessExpiresAt: t0.Add(time.Hour)})
	_, notFound["GetWebhook"] = s.GetWebhook(ctx(t), b.ID, w.ID)
	notFound["DeleteWebhook"] = s.DeleteWebhook(ctx(t), b.ID, w.ID)
	_, notFound["SetWebhookDisabled"] = s.SetWebhookDisabled(ctx(t), b.ID, w.ID, true, "x", t0)
	_, _, notFound["ListDeliveryAttempts"] = s.ListDeliveryAttempts(ctx(t), b.ID, w.ID, store.Page{})
	_, notFound["ReplayWebhook"] = s.ReplayWebhook(ctx(t), b.ID, w.ID, t0, t0)
	_, notFound["GetEvent"] = s.GetEvent(ctx(t), b.ID, ev.ID)
	_, notFound["GetRendition"] = s.GetRendition(ctx(t), b.ID, as.ID, "audio_m4a", 1)
	_, notFound["GetRenditionByID"] = s.GetRenditionByID(ctx(t), b.ID, r.ID)
	notFound["DeleteRendition"] = s.DeleteRendition(ctx(t), b.ID, r.ID)
	_, notFound["RevokeAPIKey"] = s.RevokeAPIKey(ctx(t), b.ID, key.ID, t0)
	for name, err := range notFound {
		if store.ErrorCode(err) != store.ENOTFOUND {
			t.Errorf("%s with another tenant: err = %v, want not_found", name, err)
		}
	}

	// Lists of the other tenant are empty.
	assets, _, err := s.ListAssets(ctx(t), b.ID, store.AssetFilter{Tag: "tag-a"})
	must(t, err)
	got, err := s.GetAssets(ctx(t), b.ID, []string{as.ID})
	must(t, err)
	jobs, err := s.ListJobs(ctx(t), b.ID, as.ID)
	must(t, err)
	exps, _, err := s.ListExports(ctx(t), b.ID, store.Page{})
	must(t, err)
	grants, _, err := s.ListGrants(ctx(t), b.ID, store.GrantFilter{AssetID: as.ID})
	must(t, err)
	hooks, _, err := s.ListWebhooks(ctx(t), b.ID, store.Page{})
	must(t, err)
	events, _, err := s.ListEvents(ctx(t), b.ID, store.EventFilter{})
	must(t, err)
	rends, err := s.ListRenditions(ctx(t), b.ID, as.ID)
	must(t, err)
	keys, err := s.ListAPIKeys(ctx(t), b.ID)
	must(t, err)
	if n := len(assets) + len(got) + len(jobs) + len(exps) + len(grants) + len(hooks) + len(events) + len(rends) + len(keys); n != 0 {
		t.Fatalf("another tenant's lists hold %d objects", n)
	}

	// Nothing changed for the owner.
	still, err := s.GetAsset(ctx(t), a.ID, as.ID)
	must(t, err)
	if still.Title != "secret" {
		t.Fatalf("title changed to %q", still.Title)
	}
	gg, err := s.GetGrant(ctx(t), a.ID, g.ID)
	must(t, err)
	if gg.Status != store.GrantActive {
		t.Fatalf("grant status %s", gg.Status)
	}
	ww, err := s.GetWebhook(ctx(t), a.ID, w.ID)
	must(t, err)
	if ww.Disabled {
		t.Fatal("webhook disabled by another tenant")
	}
	if _, err := s.GetRenditionByID(ctx(t), a.ID, r.ID); err != nil {
		t.Fatalf("rendition gone: %v", err)
	}
}
