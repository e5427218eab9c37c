package server

import (
	"net/http"
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
