package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/url"
	"time"
)

// Asset states (SPEC section 3, Assets).
const (
	AssetCreated     = "created"
	AssetUploaded    = "uploaded"
	AssetScanning    = "scanning"
	AssetAvailable   = "available"
	AssetQuarantined = "quarantined"
	AssetDeleted     = "deleted"
)

// Asset is a stored file with its rights and metadata.
type Asset struct {
	// ID is the asset id ("ast_…").
	ID string `json:"id"`
	// Title is the human title; export filenames are built from its slug.
	Title string `json:"title"`
	// Filename is the original file name.
	Filename string `json:"filename,omitempty"`
	// ContentType is the declared or detected media type.
	ContentType string `json:"content_type,omitempty"`
	// Tags label the asset; exports can select by tag.
	Tags []string `json:"tags,omitempty"`
	// Rights say who may download it, in which formats, until when.
	Rights *Rights `json:"rights,omitempty"`
	// State is created, uploaded, scanning, available, quarantined or deleted.
	State string `json:"state"`
	// Size is the content length in bytes, once uploaded.
	Size int64 `json:"size,omitempty"`
	// Checksum is "sha256:<hex>" of the content, once uploaded.
	Checksum string `json:"checksum,omitempty"`
	// Media holds probe results (duration, width, height, codecs, …) for
	// audio and video.
	Media map[string]any `json:"media,omitempty"`
	// LegalHold keeps the asset from deletion and purging.
	LegalHold bool `json:"legal_hold,omitempty"`
	// RetentionExpiresAt is when the lifecycle worker soft-deletes it.
	RetentionExpiresAt *time.Time `json:"retention_expires_at,omitempty"`
	// UploadURL is the absolute URL to PUT the content to.
	UploadURL string `json:"upload_url,omitempty"`
	// CreatedAt is when the asset was created.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when it last changed, when the server reports it.
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	// DeletedAt is when it was soft-deleted.
	DeletedAt *time.Time `json:"deleted_at,omitempty"`

	raw json.RawMessage // the server's JSON, see raw.go
}

// Redistribution levels of Rights.
const (
	RedistributionInternal = "internal"
	RedistributionPartner  = "partner"
	RedistributionPublic   = "public"
)

// Rights restrict downloads of an asset; downloads outside them are 403
// rights_denied.
type Rights struct {
	// Downloadable allows downloads at all.
	Downloadable bool `json:"downloadable"`
	// AllowedFormats limits the formats; all when empty.
	AllowedFormats []string `json:"allowed_formats,omitempty"`
	// AvailableUntil ends downloads at that time.
	AvailableUntil *time.Time `json:"available_until,omitempty"`
	// Redistribution is internal, partner or public.
	Redistribution string `json:"redistribution,omitempty"`
}

// CreateAssetRequest is the body of POST /v1/assets.
type CreateAssetRequest struct {
	// Title is required.
	Title string `json:"title"`
	// Filename is the original file name (required).
	Filename string `json:"filename"`
	// ContentType is the media type; detected when empty.
	ContentType string `json:"content_type,omitempty"`
	// Tags label the asset.
	Tags []string `json:"tags,omitempty"`
	// Rights; the server's defaults when nil.
	Rights *Rights `json:"rights,omitempty"`
}

// UpdateAssetRequest is the body of PATCH /v1/assets/{id}: only the fields
// that are set change.
type UpdateAssetRequest struct {
	// Title replaces the title.
	Title *string `json:"title,omitempty"`
	// Tags replace the tags (an empty, non-nil slice clears them).
	Tags *[]string `json:"tags,omitempty"`
	// Rights replace the rights, whole: members left empty (no allowed
	// formats, no end) are sent as null so the server's merge patch clears
	// them.
	Rights *Rights `json:"rights,omitempty"`
	// LegalHold sets or clears the legal hold.
	LegalHold *bool `json:"legal_hold,omitempty"`
	// RetentionExpiresAt sets the retention end.
	RetentionExpiresAt *time.Time `json:"retention_expires_at,omitempty"`
	// ClearRetention removes the retention end (sent as null).
	ClearRetention bool `json:"-"`
}

// MarshalJSON writes retention_expires_at as null when ClearRetention is
// set, and Rights whole (see wholeRights).
func (r UpdateAssetRequest) MarshalJSON() ([]byte, error) {
	type plain UpdateAssetRequest
	p := plain(r)
	p.Rights = nil
	data, err := json.Marshal(p)
	if err != nil || (!r.ClearRetention && r.Rights == nil) {
		return data, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if r.ClearRetention {
		m["retention_expires_at"] = json.RawMessage("null")
	}
	if r.Rights != nil {
		if m["rights"], err = json.Marshal(wholeRights(*r.Rights)); err != nil {
			return nil, err
		}
	}
	return json.Marshal(m)
}

// wholeRights is Rights with every member present: the server merges a
// PATCH's rights into the current ones (RFC 7396), so an empty member must
// be sent as null to clear it.
func wholeRights(r Rights) any {
	return struct {
		Downloadable   bool       `json:"downloadable"`
		AllowedFormats []string   `json:"allowed_formats"`
		AvailableUntil *time.Time `json:"available_until"`
		Redistribution *string    `json:"redistribution"`
	}{r.Downloadable, nilIfEmpty(r.AllowedFormats), r.AvailableUntil, nilIfBlank(r.Redistribution)}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func nilIfBlank(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// AssetListOptions filter GET /v1/assets.
type AssetListOptions struct {
	ListOptions
	// Tag keeps only assets with this tag.
	Tag string
}

// CreateAsset creates an asset record; upload its bytes next with
// UploadContent or UploadFile.
func (c *Client) CreateAsset(ctx context.Context, req CreateAssetRequest, opts ...CallOption) (*Asset, error) {
	var a Asset
	if _, err := c.call(ctx, &request{method: "POST", path: "/v1/assets", body: req, call: applyOptions(opts)}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// GetAsset returns one asset.
func (c *Client) GetAsset(ctx context.Context, id string) (*Asset, error) {
	var a Asset
	if _, err := c.call(ctx, &request{method: "GET", path: "/v1/assets/" + pathEscape(id)}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// UpdateAsset changes the fields set in req and returns the updated asset.
func (c *Client) UpdateAsset(ctx context.Context, id string, req UpdateAssetRequest) (*Asset, error) {
	var a Asset
	if _, err := c.call(ctx, &request{method: "PATCH", path: "/v1/assets/" + pathEscape(id), body: req}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// DeleteAsset soft-deletes an asset; its bytes are purged after the grace
// period unless it is on legal hold.
func (c *Client) DeleteAsset(ctx context.Context, id string) error {
	_, err := c.call(ctx, &request{method: "DELETE", path: "/v1/assets/" + pathEscape(id)}, nil)
	return err
}

func (o AssetListOptions) values() url.Values {
	q := o.ListOptions.values()
	if o.Tag != "" {
		q.Set("tag", o.Tag)
	}
	return q
}

// ListAssetsPage returns one page of assets.
func (c *Client) ListAssetsPage(ctx context.Context, opts AssetListOptions) (*Page[Asset], error) {
	return listPage[Asset](ctx, c, "/v1/assets", opts.values())
}

// ListAssets iterates over all assets matching opts, page by page.
func (c *Client) ListAssets(ctx context.Context, opts AssetListOptions) iter.Seq2[Asset, error] {
	return listAll[Asset](ctx, c, "/v1/assets", opts.values())
}
