package store

import (
	"context"
	"time"
)

// ExportStatus is where a batch export is.
type ExportStatus string

// Export statuses: processing while any item is queued or processing,
// completed when every item is ready or failed.
const (
	ExportProcessing ExportStatus = "processing"
	ExportCompleted  ExportStatus = "completed"
)

// ItemStatus is where one export item is.
type ItemStatus string

// Export item statuses.
const (
	ItemQueued     ItemStatus = "queued"
	ItemProcessing ItemStatus = "processing"
	ItemReady      ItemStatus = "ready"
	ItemFailed     ItemStatus = "failed"
)

// Export is a batch of assets to deliver in a format.
type Export struct {
	// ID is "exp_…".
	ID       string
	TenantID string
	Name     string
	// Format is the export's default format; items may override it.
	Format string
	Status ExportStatus
	// Counts is filled by GetExport and ListExports.
	Counts      ItemCounts
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt time.Time
}

// ItemCounts counts an export's items per status.
type ItemCounts struct {
	Total      int
	Queued     int
	Processing int
	Ready      int
	Failed     int
}

// ExportItem is one asset of an export in one format.
type ExportItem struct {
	ExportID string
	// Position is the item's place in the export, from 0, set by
	// CreateExport from the order given.
	Position      int
	AssetID       string
	Format        string
	PresetVersion int
	Status        ItemStatus
	// JobID names the rendition job the item waits for, if any.
	JobID     string
	Error     string
	UpdatedAt time.Time
}

// ExportEntry is an item with what a manifest needs to describe it.
type ExportEntry struct {
	Item  ExportItem
	Asset *Asset
	// Rendition is the item's rendition (asset, format, preset version) if
	// it exists; nil for the original format or while it is being made.
	Rendition *Rendition
}

// ExportStore keeps exports and their items.
type ExportStore interface {
	// CreateExport stores e and its items (Position assigned in order,
	// ExportID set, Status queued when empty), filling ID, Status
	// (processing) and times. The tenant's assets must exist (ENOTFOUND).
	CreateExport(ctx context.Context, e *Export, items []ExportItem) error
	// GetExport returns an export with its item counts; ENOTFOUND otherwise.
	GetExport(ctx context.Context, tenantID, id string) (*Export, error)
	// ListExports returns one page of the tenant's exports with counts.
	ListExports(ctx context.Context, tenantID string, p Page) ([]*Export, string, error)
	// ListExportEntries returns every item of an export by position, with
	// its asset and rendition (the manifest's input, in one query).
	ListExportEntries(ctx context.Context, tenantID, exportID string) ([]ExportEntry, error)
	// UpdateExportItem sets the status, job and error of one item.
	UpdateExportItem(ctx context.Context, tenantID, exportID string, position int, status ItemStatus, jobID, message string, now time.Time) error
	// UpdateExportItemsByJob sets the status (and error) of every item of
	// any export waiting for the job, and returns the IDs of the exports
	// touched, so the caller can try to complete them.
	UpdateExportItemsByJob(ctx context.Context, jobID string, status ItemStatus, message string, now time.Time) ([]string, error)
	// CompleteExport marks the export completed at now if every item is
	// ready or failed and it was not completed before; done reports whether
	// this call did it, so export.completed is recorded exactly once.
	CompleteExport(ctx context.Context, tenantID, id string, now time.Time) (done bool, err error)
}
