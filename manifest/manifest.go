// Package manifest owns the file format shared by haul's client and server:
// the JSON manifest (version 1) of files to download, the plain URL list that
// haul fetch also accepts, their validation, and the safety rules for the
// untrusted filenames they carry. It imports nothing outside the standard
// library.
package manifest

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Version is the only manifest version this package reads and writes.
const Version = 1

// Manifest statuses.
const (
	StatusProcessing = "processing"
	StatusReady      = "ready"
	StatusPartial    = "partial"
	StatusFailed     = "failed"
)

// Item statuses. An item without a status is ready.
const (
	ItemQueued     = "queued"
	ItemProcessing = "processing"
	ItemReady      = "ready"
	ItemFailed     = "failed"
)

// ErrInvalid marks manifest-level errors: malformed JSON, an unsupported
// version, a missing items list. Commands exit 2 on them.
var ErrInvalid = errors.New("invalid manifest")

// Manifest is a list of files to download (SPEC section 1).
type Manifest struct {
	// Version is always 1.
	Version int `json:"version"`
	// ID identifies the export the manifest belongs to, when there is one.
	ID string `json:"id,omitempty"`
	// Status is processing, ready, partial or failed.
	Status string `json:"status,omitempty"`
	// Self is where a fresh copy (with fresh URLs) can be fetched.
	Self string `json:"self,omitempty"`
	// ExpiresAt is when the URLs in this copy stop working.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Items are the files.
	Items []Item `json:"items"`
}

// Item is one file of a manifest.
type Item struct {
	// ID is unique within the manifest when set.
	ID string `json:"id,omitempty"`
	// AssetID is the server's asset the file was made from.
	AssetID string `json:"asset_id,omitempty"`
	// Format is the rendition preset, e.g. mp4_720p.
	Format string `json:"format,omitempty"`
	// Status is queued, processing, ready or failed; empty means ready.
	Status string `json:"status,omitempty"`
	// Filename is the untrusted relative target path; derived from URL when
	// empty (see TargetName).
	Filename string `json:"filename,omitempty"`
	// URL is where the bytes are; required when the item is ready.
	URL string `json:"url,omitempty"`
	// Size is the length in bytes; 0 means unknown.
	Size int64 `json:"size,omitempty"`
	// Checksum is "sha256:<64 hex>", empty when unknown.
	Checksum string `json:"checksum,omitempty"`
	// ExpiresAt is when URL stops working.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Error says why a failed item failed.
	Error *ItemError `json:"error,omitempty"`
	// Metadata is free-form data a server may attach; kept as is.
	Metadata json.RawMessage `json:"metadata,omitempty"`
	// Media is probe information a server may attach; kept as is.
	Media json.RawMessage `json:"media,omitempty"`
}

// ItemError is the error of a failed item.
type ItemError struct {
	// Code is a stable machine code.
	Code string `json:"code"`
	// Detail is a human explanation.
	Detail string `json:"detail,omitempty"`
}

// Error implements error.
func (e *ItemError) Error() string {
	if e.Detail == "" {
		return e.Code
	}
	return e.Code + ": " + e.Detail
}

// EffectiveStatus returns the item's status, ready when unset.
func (it *Item) EffectiveStatus() string {
	if it.Status == "" {
		return ItemReady
	}
	return it.Status
}

// Key identifies the item within its manifest: its ID when set, else its
// filename, else its URL.
func (it *Item) Key() string {
	switch {
	case it.ID != "":
		return it.ID
	case it.Filename != "":
		return it.Filename
	default:
		return it.URL
	}
}

// SHA256 returns the lower-case hex digest from Checksum, or "" when the
// checksum is absent. It does not validate; Validate does.
func (it *Item) SHA256() string {
	h, ok := strings.CutPrefix(it.Checksum, "sha256:")
	if !ok {
		return ""
	}
	return strings.ToLower(h)
}

// Validate checks the item on its own: status, URL, checksum syntax and size.
// Filename safety depends on the output directory and is checked by Targets.
func (it *Item) Validate() error {
	switch it.EffectiveStatus() {
	case ItemReady:
		if it.URL == "" {
			return errors.New("ready item has no url")
		}
	case ItemQueued, ItemProcessing, ItemFailed:
	default:
		return fmt.Errorf("unknown item status %q", it.Status)
	}
	if it.URL != "" {
		if err := checkURL(it.URL); err != nil {
			return err
		}
	}
	if it.Size < 0 {
		return fmt.Errorf("negative size %d", it.Size)
	}
	if it.Checksum != "" {
		if err := CheckChecksum(it.Checksum); err != nil {
			return err
		}
	}
	return nil
}

// CheckChecksum reports whether s is a well-formed "sha256:<64 hex>" checksum.
func CheckChecksum(s string) error {
	algo, h, ok := strings.Cut(s, ":")
	if !ok {
		return fmt.Errorf("checksum %q has no algorithm prefix (want sha256:<hex>)", s)
	}
	if algo != "sha256" {
		return fmt.Errorf("unsupported checksum algorithm %q (want sha256)", algo)
	}
	if len(h) != 64 {
		return fmt.Errorf("sha256 checksum must have 64 hex digits, got %d", len(h))
	}
	if _, err := hex.DecodeString(h); err != nil {
		return fmt.Errorf("sha256 checksum is not hex: %q", h)
	}
	return nil
}

// Validate checks the manifest-level rules: the version, the status and the
// self URL. Problems of single items are left to Item.Validate so
// that the other items can proceed.
func (m *Manifest) Validate() error {
	if m.Version != Version {
		return fmt.Errorf("%w: unsupported version %d (this haul reads version %d)", ErrInvalid, m.Version, Version)
	}
	switch m.Status {
	case "", StatusProcessing, StatusReady, StatusPartial, StatusFailed:
	default:
		return fmt.Errorf("%w: unknown status %q", ErrInvalid, m.Status)
	}
	if m.Self != "" {
		if err := checkURL(m.Self); err != nil {
			return fmt.Errorf("%w: self: %v", ErrInvalid, err)
		}
	}
	return nil
}
