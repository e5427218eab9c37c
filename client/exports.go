package client

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"time"

	"github.com/haulhq/haul/manifest"
)

// CreateExportRequest is the body of POST /v1/exports: explicit items, or
// every asset with a tag.
type CreateExportRequest struct {
	// Name labels the export.
	Name string `json:"name,omitempty"`
	// Format is the default format of every item (required).
	Format string `json:"format"`
	// Items are the assets to export; each may override the format.
	Items []ExportItem `json:"items,omitempty"`
	// Tag selects every asset with this tag instead of Items.
	Tag string `json:"tag,omitempty"`
}

// ExportItem is one asset of an export request.
type ExportItem struct {
	// AssetID is the asset to export.
	AssetID string `json:"asset_id"`
	// Format overrides the export's format for this asset.
	Format string `json:"format,omitempty"`
}

// Export statuses as the API reports them (the manifest's statuses, plus
// "completed" which some servers use for a finished export).
const (
	ExportProcessing = "processing"
	ExportReady      = "ready"
	ExportPartial    = "partial"
	ExportFailed     = "failed"
	ExportCompleted  = "completed"
)

// Export is a batch export.
type Export struct {
	// ID is the export id ("exp_…").
	ID string `json:"id"`
	// Name is the label given at creation.
	Name string `json:"name,omitempty"`
	// Format is the export's default format.
	Format string `json:"format,omitempty"`
	// Tag is the tag the export selected, if any.
	Tag string `json:"tag,omitempty"`
	// Status is processing while items are being prepared, then final.
	Status string `json:"status"`
	// ManifestURL is where the manifest is (absolute or server-relative).
	ManifestURL string `json:"manifest_url,omitempty"`
	// Counts counts the items per status.
	Counts *ExportCounts `json:"counts,omitempty"`
	// CreatedAt, UpdatedAt and CompletedAt are the export's milestones.
	CreatedAt   *time.Time `json:"created_at,omitempty"`
	UpdatedAt   *time.Time `json:"updated_at,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`

	raw json.RawMessage // the server's JSON, see raw.go
}

// Finished reports whether every item of the export is ready or failed.
func (e *Export) Finished() bool {
	switch e.Status {
	case ExportReady, ExportPartial, ExportFailed, ExportCompleted:
		return true
	}
	return false
}

// ExportCounts counts an export's items per status.
type ExportCounts struct {
	Total      int `json:"total"`
	Queued     int `json:"queued"`
	Processing int `json:"processing"`
	Ready      int `json:"ready"`
	Failed     int `json:"failed"`
}

// CreateExport starts a batch export (always 202). Pass
// WithIdempotencyKey with a key derived from the request to make re-running
// the same request attach to the same export. An unknown asset id is a 422
// validation_failed whose APIError lists UnknownAssets.
func (c *Client) CreateExport(ctx context.Context, req CreateExportRequest, opts ...CallOption) (*Export, error) {
	var e Export
	if _, err := c.call(ctx, &request{method: "POST", path: "/v1/exports", body: req, call: applyOptions(opts)}, &e); err != nil {
		return nil, err
	}
	if e.ID == "" {
		return nil, fmt.Errorf("create export: response has no id")
	}
	return &e, nil
}

// GetExport returns an export's status and counts.
func (c *Client) GetExport(ctx context.Context, id string) (*Export, error) {
	var e Export
	if _, err := c.call(ctx, &request{method: "GET", path: "/v1/exports/" + pathEscape(id)}, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// ListExportsPage returns one page of exports.
func (c *Client) ListExportsPage(ctx context.Context, opts ListOptions) (*Page[Export], error) {
	return listPage[Export](ctx, c, "/v1/exports", opts.values())
}

// ListExports iterates over every export.
func (c *Client) ListExports(ctx context.Context, opts ListOptions) iter.Seq2[Export, error] {
	return listAll[Export](ctx, c, "/v1/exports", opts.values())
}

// ManifestOptions adjust GetManifest.
type ManifestOptions struct {
	// Wait long-polls: the server answers when something changed or after
	// this long (sent as ?wait=30s). 0 answers at once.
	Wait time.Duration
}

// GetManifest returns the export's manifest with freshly signed URLs for
// ready items. With opts.Wait the call is a long poll.
func (c *Client) GetManifest(ctx context.Context, exportID string, opts ManifestOptions) (*manifest.Manifest, error) {
	return c.FetchManifest(ctx, "/v1/exports/"+pathEscape(exportID)+"/manifest", opts)
}

// FetchManifest GETs a manifest from a URL the server gave (an export's
// manifest_url or a manifest's self), absolute or server-relative, with
// the client's credentials, and validates it.
func (c *Client) FetchManifest(ctx context.Context, ref string, opts ManifestOptions) (*manifest.Manifest, error) {
	u, err := url.Parse(c.ResolveURL(ref))
	if err != nil {
		return nil, fmt.Errorf("manifest URL %q: %w", ref, err)
	}
	q := url.Values{}
	if opts.Wait > 0 {
		q.Set("wait", formatWait(opts.Wait))
		u.RawQuery = stripParam(u.RawQuery, "wait")
	}
	r := &request{method: "GET", path: u.String(), query: q, extraWait: opts.Wait}
	var raw json.RawMessage
	if _, err := c.call(ctx, r, &raw); err != nil {
		return nil, err
	}
	var m manifest.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: decode manifest: %v", manifest.ErrInvalid, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// WatchManifest long-polls an export's manifest and yields every version
// the server returns, starting with the current one, until the manifest's
// status is final (ready, partial or failed), the consumer stops, or an
// error (yielded once). Each poll waits at most wait.
func (c *Client) WatchManifest(ctx context.Context, exportID string, wait time.Duration) iter.Seq2[*manifest.Manifest, error] {
	return func(yield func(*manifest.Manifest, error) bool) {
		opts := ManifestOptions{}
		for {
			m, err := c.GetManifest(ctx, exportID, opts)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(m, nil) {
				return
			}
			if ManifestFinished(m) {
				return
			}
			opts.Wait = wait
		}
	}
}

// ManifestFinished reports whether no item of m is still queued or
// processing.
func ManifestFinished(m *manifest.Manifest) bool {
	switch m.Status {
	case manifest.StatusReady, manifest.StatusPartial, manifest.StatusFailed:
		return true
	case manifest.StatusProcessing:
		return false
	}
	for i := range m.Items {
		switch m.Items[i].EffectiveStatus() {
		case manifest.ItemQueued, manifest.ItemProcessing:
			return false
		}
	}
	return true
}

func formatWait(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int64(d/time.Second))
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

func stripParam(rawQuery, name string) string {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return rawQuery
	}
	q.Del(name)
	return q.Encode()
}
