package server

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/haulhq/haul/store"
)

func TestCursorValidation(t *testing.T) {
	e := newEnv(t, func(d *Deps) { d.Config.Webhooks.AllowPrivate = true })
	a := e.upload(e.admin, map[string]any{"filename": "a.txt"}, []byte("a"))
	hook := e.do("POST", "/v1/webhooks", e.admin, map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"*"}})
	e.want(hook, http.StatusCreated)
	whk := hook.obj()["id"].(string)

	lists := []struct{ path, prefix string }{
		{"/v1/assets", store.PrefixAsset},
		{"/v1/exports", store.PrefixExport},
		{"/v1/grants?asset_id=" + a["id"].(string) + "&", store.PrefixGrant},
		{"/v1/webhooks", store.PrefixWebhook},
		{"/v1/webhooks/" + whk + "/deliveries", store.PrefixAttempt},
		{"/v1/events", store.PrefixEvent},
	}
	for _, l := range lists {
		sep := "?"
		if l.path[len(l.path)-1] == '&' {
			sep = ""
		}
		other := store.PrefixTenant
		for _, bad := range []string{"garbage", l.prefix + "_short", l.prefix + "_0000000000000000000000000!", store.NewID(other)} {
			e.want(e.do("GET", l.path+sep+"cursor="+bad, e.admin, nil), http.StatusUnprocessableEntity, CodeValidationFailed)
		}
		// A well-formed cursor of the list's kind pages on.
		r := e.do("GET", l.path+sep+"cursor="+store.NewID(l.prefix), e.admin, nil)
		e.want(r, http.StatusOK)
		var page struct {
			Data []any `json:"data"`
		}
		if r.json(&page); page.Data == nil {
			t.Errorf("%s: page %s", l.path, r.body)
		}
	}
}

// TestAdminListsPaginate pages through /v1/tenants and /v1/keys with
// ?limit= and next_cursor (SPEC: every list is cursor-paginated) and sees
// every object exactly once, in ID order.
func TestAdminListsPaginate(t *testing.T) {
	e := newEnv(t)
	for i := range 4 {
		e.want(e.do("POST", "/v1/tenants", e.admin, map[string]any{"name": fmt.Sprintf("t%d", i)}), http.StatusCreated)
		e.want(e.do("POST", "/v1/keys", e.admin, map[string]any{"scopes": []string{"read"}, "name": fmt.Sprintf("k%d", i)}), http.StatusCreated)
	}
	for _, l := range []struct {
		path   string
		prefix string
		want   int // tenants: default + 4; keys: the admin key + 4
	}{
		{"/v1/tenants", store.PrefixTenant, 5},
		{"/v1/keys", store.PrefixAPIKey, 5},
	} {
		var ids []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatalf("%s: more than 10 pages of 2", l.path)
			}
			path := l.path + "?limit=2"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			r := e.do("GET", path, e.admin, nil)
			e.want(r, http.StatusOK)
			var page struct {
				Data []struct {
					ID string `json:"id"`
				} `json:"data"`
				NextCursor *string `json:"next_cursor"`
			}
			r.json(&page)
			if len(page.Data) > 2 {
				t.Fatalf("%s: %d items on a page of 2", l.path, len(page.Data))
			}
			for _, d := range page.Data {
				ids = append(ids, d.ID)
			}
			if page.NextCursor == nil {
				break
			}
			cursor = *page.NextCursor
		}
		if len(ids) != l.want || !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Errorf("%s: paged ids %v, want %d distinct in order", l.path, ids, l.want)
		}
		e.want(e.do("GET", l.path+"?cursor=garbage", e.admin, nil), http.StatusUnprocessableEntity, CodeValidationFailed)
		e.want(e.do("GET", l.path+"?limit=0", e.admin, nil), http.StatusUnprocessableEntity, CodeValidationFailed)
	}
}
