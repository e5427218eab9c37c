package store

import (
	"context"
	"encoding/json"
	"time"
)

// AssetState is where an asset is in its life:
// created → uploaded → scanning → available | quarantined, later deleted.
type AssetState string

// Asset states.
const (
	AssetCreated     AssetState = "created"
	AssetUploaded    AssetState = "uploaded"
	AssetScanning    AssetState = "scanning"
	AssetAvailable   AssetState = "available"
	AssetQuarantined AssetState = "quarantined"
	AssetDeleted     AssetState = "deleted"
)

// Redistribution values of Rights.
const (
	RedistributionInternal = "internal"
	RedistributionPartner  = "partner"
	RedistributionPublic   = "public"
)

// Rights say who may download an asset and how. The JSON form is the
// API's.
type Rights struct {
	Downloadable bool `json:"downloadable"`
	// AllowedFormats, when non-empty, limits the formats downloads may use.
	AllowedFormats []string `json:"allowed_formats,omitempty"`
	// AvailableUntil, when set, ends downloads at that time.
	AvailableUntil *time.Time `json:"available_until,omitempty"`
	// Redistribution is internal, partner or public.
	Redistribution string `json:"redistribution,omitempty"`
}

// Asset is an uploaded file and what is known about it.
type Asset struct {
	// ID is "ast_…".
	ID          string
	TenantID    string
	Title       string
	Filename    string
	ContentType string
	// Tags are kept in the order given, without duplicates.
	Tags   []string
	Rights Rights
	State  AssetState
	// StateReason says why the asset is quarantined (or any other note on
	// the last state change).
	StateReason string
	// Size, Checksum and BlobKey are set once the content is uploaded.
	// Checksum is "sha256:<hex>"; BlobKey is the blob store key (hex sha256).
	Size     int64
	Checksum string
	BlobKey  string
	// Media is the probe result, opaque to the store (JSON object or nil).
	Media              json.RawMessage
	LegalHold          bool
	RetentionExpiresAt time.Time // zero: kept until deleted
	DeletedAt          time.Time // zero: not deleted
	PurgedAt           time.Time // zero: bytes not yet purged
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Page asks for one page of a list ordered by ID ascending.
type Page struct {
	// After is the cursor: the last ID of the previous page ("" for the
	// first page). Listings return the next cursor, "" after the last page.
	After string
	// Limit is the page size; 0 means 100, and backends cap it at 1000.
	Limit int
}

// DefaultPageLimit and MaxPageLimit bound Page.Limit.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

// PageLimit returns the effective limit of p.
func (p Page) PageLimit() int {
	switch {
	case p.Limit <= 0:
		return DefaultPageLimit
	case p.Limit > MaxPageLimit:
		return MaxPageLimit
	}
	return p.Limit
}

// AssetFilter narrows ListAssets.
type AssetFilter struct {
	// Tag, when set, keeps assets carrying this tag.
	Tag string
	// States, when non-empty, keeps assets in one of these states;
	// otherwise deleted assets are left out.
	States []AssetState
	Page
}

// Rendition is a derived file of an asset in one format (the original is
// the asset itself and has no rendition).
type Rendition struct {
	// ID is "rnd_…".
	ID       string
	TenantID string
	AssetID  string
	Format   string
	// PresetVersion changes when a preset's settings change, so old
	// renditions are not served for the new settings.
	PresetVersion int
	BlobKey       string
	Size          int64
	// Checksum is "sha256:<hex>".
	Checksum    string
	ContentType string
	// Metadata is preset-specific JSON (width, height, duration, …).
	Metadata   json.RawMessage
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// AssetStore keeps assets.
type AssetStore interface {
	// CreateAsset stores a, filling ID, State (created), CreatedAt and
	// UpdatedAt when empty. The tenant must exist.
	CreateAsset(ctx context.Context, a *Asset) error
	// GetAsset returns one of the tenant's assets (deleted ones too);
	// ENOTFOUND when absent or another tenant's.
	GetAsset(ctx context.Context, tenantID, id string) (*Asset, error)
	// GetAssets returns those of ids that are the tenant's assets (any
	// state), in the order of ids; unknown ids are left out, so callers find
	// them by comparing. Duplicated ids are returned once.
	GetAssets(ctx context.Context, tenantID string, ids []string) ([]*Asset, error)
	// ListAssets returns one page of the tenant's assets by ID, and the
	// cursor of the next page ("" when done).
	ListAssets(ctx context.Context, tenantID string, f AssetFilter) ([]*Asset, string, error)
	// UpdateAsset reads the asset, lets fn change it, and writes it back in
	// one transaction (fn's error aborts and is returned as is). ID,
	// TenantID and CreatedAt cannot change; UpdatedAt is set to now.
	// ENOTFOUND when absent or another tenant's.
	UpdateAsset(ctx context.Context, tenantID, id string, now time.Time, fn func(*Asset) error) (*Asset, error)

	// ListRetentionDue returns up to limit assets of any tenant, not deleted
	// and not on legal hold, whose RetentionExpiresAt is at or before now.
	ListRetentionDue(ctx context.Context, now time.Time, limit int) ([]*Asset, error)
	// ListPurgeDue returns up to limit deleted assets of any tenant, not on
	// legal hold and not yet purged, whose DeletedAt is at or before
	// deletedBefore.
	ListPurgeDue(ctx context.Context, deletedBefore time.Time, limit int) ([]*Asset, error)
	// BlobReferenced reports whether an unpurged asset or any rendition
	// uses the blob key. Garbage collection must also spare young blobs: an
	// upload stores its blob before the asset names it.
	BlobReferenced(ctx context.Context, key string) (bool, error)
}

// RenditionStore keeps renditions.
type RenditionStore interface {
	// PutRendition stores r, replacing the rendition of the same asset,
	// format and preset version if any (ID kept then). Fills ID, CreatedAt
	// and LastUsedAt when empty. ENOTFOUND unless the asset is the tenant's.
	PutRendition(ctx context.Context, r *Rendition) error
	// GetRendition returns the rendition of an asset in a format and preset
	// version; ENOTFOUND when there is none.
	GetRendition(ctx context.Context, tenantID, assetID, format string, presetVersion int) (*Rendition, error)
	// GetRenditionByID returns a rendition by ID; ENOTFOUND when absent.
	GetRenditionByID(ctx context.Context, tenantID, id string) (*Rendition, error)
	// ListRenditions returns the renditions of an asset, by ID.
	ListRenditions(ctx context.Context, tenantID, assetID string) ([]*Rendition, error)
	// TouchRendition records a use at now (for the unused-rendition purge).
	// Backends may skip the write when the recorded use is less than a
	// minute old, so a download need not take a write lock.
	TouchRendition(ctx context.Context, id string, now time.Time) error
	// DeleteRendition removes a rendition and forgets the succeeded job that
	// made it (see JobStore.CreateJob), so the next request builds it again.
	DeleteRendition(ctx context.Context, tenantID, id string) error
	// ListRenditionsUnusedSince returns up to limit renditions of any tenant
	// whose LastUsedAt is before the given time, oldest use first.
	ListRenditionsUnusedSince(ctx context.Context, before time.Time, limit int) ([]*Rendition, error)
}
