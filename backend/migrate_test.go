package backend_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/haulhq/haul/backend"
	"github.com/haulhq/haul/blob"
	"github.com/haulhq/haul/internal/testsvc"
	"github.com/haulhq/haul/store"
)

// seedEmbedded fills an embedded install with one of everything.
func seedEmbedded(t *testing.T, data string) (tenantID string, assets []*store.Asset, content map[string][]byte) {
	t.Helper()
	ctx := testCtx(t)
	b, err := backend.Open(ctx, backend.Options{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st := b.Store
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tn := &store.Tenant{Name: "default"}
	must(st.CreateTenant(ctx, tn))
	must(st.CreateAPIKey(ctx, &store.APIKey{TenantID: tn.ID, Name: "admin", Scopes: []string{store.ScopeAdmin}, Hash: "h1", Prefix: "hk_"}))
	_, err = st.EnsureSigningKey(ctx, []byte("secret-0123456789"), time.Now())
	must(err)
	must(st.PutSetting(ctx, "bootstrapped", []byte("yes")))
	content = map[string][]byte{}
	for i := range 3 {
		data := bytes.Repeat([]byte(fmt.Sprintf("asset %d;", i)), 5000+i)
		info, err := b.Blobs.Put(ctx, bytes.NewReader(data), blob.PutOptions{SizeHint: -1})
		must(err)
		a := &store.Asset{TenantID: tn.ID, Title: fmt.Sprintf("Clip %d", i), Filename: "c.mp4", ContentType: "video/mp4",
			Tags: []string{"s1", fmt.Sprintf("t%d", i)}, State: store.AssetAvailable, Size: info.Size,
			Checksum: "sha256:" + info.Key, BlobKey: info.Key, Media: json.RawMessage(`{"duration":1.5}`), LegalHold: i == 1,
			Rights: store.Rights{Downloadable: true, AllowedFormats: []string{"original"}}}
		must(st.CreateAsset(ctx, a))
		assets = append(assets, a)
		content[info.Key] = data
	}
	rdata := []byte("a rendition")
	rinfo, err := b.Blobs.Put(ctx, bytes.NewReader(rdata), blob.PutOptions{SizeHint: -1})
	must(err)
	content[rinfo.Key] = rdata
	j, _, err := st.CreateJob(ctx, &store.Job{TenantID: tn.ID, AssetID: assets[0].ID, Format: "mp4_720p", PresetVersion: 1})
	must(err)
	j, err = st.ClaimJob(ctx, "w1", time.Now(), time.Minute)
	must(err)
	_, err = st.CompleteJob(ctx, j.ID, "w1", &store.Rendition{BlobKey: rinfo.Key, Size: rinfo.Size, Checksum: "sha256:" + rinfo.Key, ContentType: "video/mp4", Metadata: json.RawMessage(`{"height":720}`)}, time.Now())
	must(err)
	must(st.CreateExport(ctx, &store.Export{TenantID: tn.ID, Name: "e", Format: "original"},
		[]store.ExportItem{{AssetID: assets[0].ID}, {AssetID: assets[1].ID, Format: "mp4_720p", PresetVersion: 1}}))
	must(st.CreateGrant(ctx, &store.Grant{TenantID: tn.ID, AssetID: assets[2].ID, Policy: store.GrantLimited, MaxDownloads: 3, TokenHash: "tok", AccessExpiresAt: time.Now().Add(time.Hour)}))
	_, err = st.RedeemGrant(ctx, "tok", time.Now())
	must(err)
	must(st.CreateWebhook(ctx, &store.WebhookEndpoint{TenantID: tn.ID, URL: "https://example.com/hook", Events: []string{"*"}, Secret: "whsec_x"}))
	for _, typ := range []string{store.EventAssetCreated, store.EventGrantCreated, "delivery"} {
		must(st.AppendEvent(ctx, &store.Event{TenantID: tn.ID, Type: typ, Data: json.RawMessage(`{"k":1}`)}))
	}
	_, _, err = st.BeginIdempotency(ctx, &store.IdempotencyRecord{TenantID: tn.ID, Key: "k1", Fingerprint: "fp", ExpiresAt: time.Now().Add(24 * time.Hour)}, time.Minute)
	must(err)
	must(st.CompleteIdempotency(ctx, tn.ID, "k1", 202, map[string][]string{"Location": {"/x"}}, []byte(`{"ok":true}`), time.Now()))
	return tn.ID, assets, content
}

func TestMigrateStore(t *testing.T) {
	ctx := testCtx(t)
	data := t.TempDir()
	tenantID, assets, content := seedEmbedded(t, data)
	dsn := testsvc.PostgreSQL(t)
	bucket := testsvc.S3(t)
	for _, kv := range bucket.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	var log strings.Builder
	rep, err := backend.MigrateStore(ctx, backend.MigrateOptions{
		From: data, ToDB: dsn, ToBlobs: bucket.URL("haul"),
		Progress: func(f string, a ...any) { fmt.Fprintf(&log, f+"\n", a...) },
	})
	if err != nil {
		t.Fatalf("MigrateStore: %v\n%s", err, log.String())
	}
	want := map[string]int64{"tenants": 1, "api_keys": 1, "assets": 3, "asset_tags": 6, "renditions": 1, "jobs": 1,
		"exports": 1, "export_items": 2, "grants": 1, "webhooks": 1, "idempotency_keys": 1, "signing_keys": 1}
	for table, n := range want {
		if rep.Rows[table] != n {
			t.Errorf("%s: %d rows copied, want %d", table, rep.Rows[table], n)
		}
	}
	if rep.Rows["events"] != 3 || rep.Rows["deliveries"] != 2 {
		t.Errorf("events %d, deliveries %d; want 3 and 2", rep.Rows["events"], rep.Rows["deliveries"])
	}
	if rep.Blobs != 4 || rep.BlobsCopied != 4 || rep.Referenced != 4 {
		t.Errorf("blobs: %d listed, %d copied, %d referenced; want 4 each", rep.Blobs, rep.BlobsCopied, rep.Referenced)
	}

	// The scale-out install reads back the same objects and bytes.
	src, err := backend.Open(ctx, backend.Options{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := backend.Open(ctx, backend.Options{Data: t.TempDir(), DB: dsn, Blobs: bucket.URL("haul")})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	for _, a := range assets {
		got, err := dst.Store.GetAsset(ctx, tenantID, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		exp, _ := src.Store.GetAsset(ctx, tenantID, a.ID)
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("asset %s differs after migration:\n got %+v\nwant %+v", a.ID, got, exp)
		}
	}
	for key, data := range content {
		obj, err := dst.Blobs.Open(ctx, key)
		if err != nil {
			t.Fatalf("blob %s: %v", key, err)
		}
		b, _ := io.ReadAll(obj)
		obj.Close()
		if !bytes.Equal(b, data) {
			t.Errorf("blob %s differs after migration", key)
		}
	}
	g, err := dst.Store.GetGrantByTokenHash(ctx, "tok")
	if err != nil || g.DownloadsUsed != 1 || g.Remaining() != 2 {
		t.Errorf("grant after migration: %+v, %v", g, err)
	}
	keys, err := dst.Store.SigningKeys(ctx, time.Now())
	if err != nil || len(keys) != 1 || string(keys[0].Secret) != "secret-0123456789" {
		t.Errorf("signing keys after migration: %v, %v", keys, err)
	}
	srcEvents, _, _ := src.Store.ListEvents(ctx, tenantID, store.EventFilter{})
	ev := &store.Event{TenantID: tenantID, Type: store.EventAssetDeleted}
	if err := dst.Store.AppendEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if last := srcEvents[len(srcEvents)-1].ID; ev.ID <= last {
		t.Errorf("new event %s does not sort after the migrated %s", ev.ID, last)
	}

	// A second run refuses a target that holds data.
	if _, err := backend.MigrateStore(ctx, backend.MigrateOptions{From: data, ToDB: dsn, ToBlobs: bucket.URL("haul")}); err == nil || !strings.Contains(err.Error(), "holds haul data") {
		t.Errorf("second migration: err = %v, want a refusal", err)
	}
}
