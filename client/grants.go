package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/url"
	"strings"
	"time"
)

// Grant policies.
const (
	GrantOneTime   = "one_time"
	GrantLimited   = "limited"
	GrantRenewable = "renewable"
)

// Grant statuses.
const (
	GrantActive   = "active"
	GrantConsumed = "consumed"
	GrantExpired  = "expired"
	GrantRevoked  = "revoked"
)

// CreateGrantRequest is the body of POST /v1/assets/{id}/grants. Give
// either ExpiresIn or AccessExpiresAt.
type CreateGrantRequest struct {
	// Policy is one_time, limited or renewable.
	Policy string `json:"policy"`
	// MaxDownloads bounds a limited (or renewable) grant.
	MaxDownloads int `json:"max_downloads,omitempty"`
	// ExpiresIn is the access lifetime in whole seconds.
	ExpiresIn int64 `json:"expires_in,omitempty"`
	// AccessExpiresAt is an absolute end of access.
	AccessExpiresAt *time.Time `json:"access_expires_at,omitempty"`
	// Format is the format downloads use; the original when empty.
	Format string `json:"format,omitempty"`
	// Recipient is a label for who the link is for.
	Recipient string `json:"recipient,omitempty"`
}

// Grant is tokenized access to one asset.
type Grant struct {
	// ID is the grant id ("grt_…").
	ID string `json:"id"`
	// AssetID is the asset the grant opens.
	AssetID string `json:"asset_id,omitempty"`
	// Token is the secret of the link; only returned when the grant is
	// created.
	Token string `json:"token,omitempty"`
	// URL is the recipient's link, "/g/{token}" (see Client.ResolveURL);
	// only returned when the grant is created.
	URL string `json:"url,omitempty"`
	// ShareURL is the absolute form of URL, when the server knows its
	// public address.
	ShareURL string `json:"share_url,omitempty"`
	// Policy is one_time, limited or renewable.
	Policy string `json:"policy,omitempty"`
	// MaxDownloads is the download budget; nil when unlimited.
	MaxDownloads *int `json:"max_downloads,omitempty"`
	// DownloadsUsed counts redemptions so far.
	DownloadsUsed int `json:"downloads_used"`
	// DownloadsRemaining is what is left of the budget; nil when unlimited.
	DownloadsRemaining *int `json:"downloads_remaining"`
	// AccessExpiresAt is when the link stops working.
	AccessExpiresAt time.Time `json:"access_expires_at"`
	// Status is active, consumed, expired or revoked.
	Status string `json:"status"`
	// Format is the format downloads use.
	Format string `json:"format,omitempty"`
	// Recipient is the label given at creation.
	Recipient string `json:"recipient,omitempty"`
	// CreatedAt and UpdatedAt are when the grant was made and last changed.
	CreatedAt *time.Time `json:"created_at,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	// LastAccessedAt is the last redemption.
	LastAccessedAt *time.Time `json:"last_accessed_at,omitempty"`
	// RevokedAt is when it was revoked.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`

	raw json.RawMessage // the server's JSON, see raw.go
}

// GrantInfo is what a recipient sees at /g/{token}/info.
type GrantInfo struct {
	// Status is active, consumed, expired or revoked.
	Status string `json:"status"`
	// AccessExpiresAt is when the link stops working.
	AccessExpiresAt time.Time `json:"access_expires_at"`
	// DownloadsRemaining is nil when unlimited.
	DownloadsRemaining *int `json:"downloads_remaining"`
	// Filename and Size describe the file.
	Filename string `json:"filename,omitempty"`
	Size     int64  `json:"size,omitempty"`
	// Format and Policy are the grant's.
	Format string `json:"format,omitempty"`
	Policy string `json:"policy,omitempty"`
}

// RenewGrantRequest is the body of POST /v1/grants/{id}/renew.
type RenewGrantRequest struct {
	// ExpiresIn extends access to now + this many seconds.
	ExpiresIn int64 `json:"expires_in,omitempty"`
	// AccessExpiresAt sets an absolute end of access.
	AccessExpiresAt *time.Time `json:"access_expires_at,omitempty"`
}

// GrantListOptions filter GET /v1/grants.
type GrantListOptions struct {
	ListOptions
	// AssetID keeps the grants of one asset.
	AssetID string
}

func (o GrantListOptions) values() url.Values {
	q := o.ListOptions.values()
	if o.AssetID != "" {
		q.Set("asset_id", o.AssetID)
	}
	return q
}

// CreateGrant makes a link to asset id. The returned Token and URL are shown
// once.
func (c *Client) CreateGrant(ctx context.Context, assetID string, req CreateGrantRequest, opts ...CallOption) (*Grant, error) {
	var g Grant
	if _, err := c.call(ctx, &request{method: "POST", path: "/v1/assets/" + pathEscape(assetID) + "/grants", body: req, call: applyOptions(opts)}, &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// GetGrant returns a grant.
func (c *Client) GetGrant(ctx context.Context, id string) (*Grant, error) {
	var g Grant
	if _, err := c.call(ctx, &request{method: "GET", path: "/v1/grants/" + pathEscape(id)}, &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// ListGrantsPage returns one page of grants.
func (c *Client) ListGrantsPage(ctx context.Context, opts GrantListOptions) (*Page[Grant], error) {
	return listPage[Grant](ctx, c, "/v1/grants", opts.values())
}

// ListGrants iterates over every grant matching opts.
func (c *Client) ListGrants(ctx context.Context, opts GrantListOptions) iter.Seq2[Grant, error] {
	return listAll[Grant](ctx, c, "/v1/grants", opts.values())
}

// RevokeGrant revokes a grant: its link and the signed URLs already issued
// through it stop working.
func (c *Client) RevokeGrant(ctx context.Context, id string) error {
	_, err := c.call(ctx, &request{method: "DELETE", path: "/v1/grants/" + pathEscape(id)}, nil)
	return err
}

// RenewGrant extends a renewable grant.
func (c *Client) RenewGrant(ctx context.Context, id string, req RenewGrantRequest, opts ...CallOption) (*Grant, error) {
	var g Grant
	if _, err := c.call(ctx, &request{method: "POST", path: "/v1/grants/" + pathEscape(id) + "/renew", body: req, call: applyOptions(opts)}, &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// GrantInfo returns the public information of a link (GET /g/{token}/info),
// as its recipient sees it; it is answered in every status. token may be
// the bare token or the grant's URL.
func (c *Client) GrantInfo(ctx context.Context, token string) (*GrantInfo, error) {
	var info GrantInfo
	if _, err := c.call(ctx, &request{method: "GET", path: "/g/" + pathEscape(grantToken(token)) + "/info", noAuth: true}, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// grantToken extracts the token from a grant URL ("…/g/{token}").
func grantToken(s string) string {
	if i := strings.LastIndex(s, "/g/"); i >= 0 {
		t := s[i+len("/g/"):]
		if j := strings.IndexAny(t, "/?#"); j >= 0 {
			t = t[:j]
		}
		return t
	}
	return s
}
