package main

import (
	"net/url"

	"github.com/haulhq/haul/manifest"
)

// stripManifestURLs returns a copy of m fit to keep on disk: the signing
// query (signature, expiry) is cut from every URL, so no usable credential
// is left behind, while each item keeps a well-formed URL naming where it
// came from. A fresh copy is one GET of m.Self away.
func stripManifestURLs(m *manifest.Manifest) *manifest.Manifest {
	out := *m
	out.Items = make([]manifest.Item, len(m.Items))
	for i, it := range m.Items {
		it.URL = stripQuery(it.URL)
		out.Items[i] = it
	}
	return &out
}

func stripQuery(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}
