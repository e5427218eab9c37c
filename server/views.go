package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/haulhq/haul/store"
)

// assetJSON is the API form of an asset (SPEC section 3, Assets).
type assetJSON struct {
	ID                 string          `json:"id"`
	Title              string          `json:"title"`
	Filename           string          `json:"filename"`
	ContentType        string          `json:"content_type,omitempty"`
	Tags               []string        `json:"tags"`
	Rights             store.Rights    `json:"rights"`
	State              string          `json:"state"`
	StateReason        string          `json:"state_reason,omitempty"`
	Size               *int64          `json:"size"`
	Checksum           *string         `json:"checksum"`
	Media              json.RawMessage `json:"media"`
	LegalHold          bool            `json:"legal_hold"`
	RetentionExpiresAt *time.Time      `json:"retention_expires_at"`
	CreatedAt          time.Time       `json:"created_at"`
	UpdatedAt          time.Time       `json:"updated_at"`
	DeletedAt          *time.Time      `json:"deleted_at,omitempty"`
	UploadURL          string          `json:"upload_url,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// viewAsset renders a; base is the absolute base URL for upload_url ("" to
// leave it out, e.g. in event payloads).
func viewAsset(a *store.Asset, base string) assetJSON {
	v := assetJSON{
		ID: a.ID, Title: a.Title, Filename: a.Filename, ContentType: a.ContentType,
		Tags: a.Tags, Rights: a.Rights, State: string(a.State), StateReason: a.StateReason,
		Media: a.Media, LegalHold: a.LegalHold, RetentionExpiresAt: timePtr(a.RetentionExpiresAt),
		CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(), DeletedAt: timePtr(a.DeletedAt),
	}
	if v.Tags == nil {
		v.Tags = []string{}
	}
	if len(v.Media) == 0 {
		v.Media = json.RawMessage("null")
	}
	if a.Checksum != "" {
		size, sum := a.Size, a.Checksum
		v.Size, v.Checksum = &size, &sum
	}
	if base != "" {
		v.UploadURL = base + "/v1/assets/" + a.ID + "/content"
	}
	return v
}

// listJSON is the envelope of every list (SPEC: cursor pagination).
type listJSON[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

func newList[T any](data []T, next string) listJSON[T] {
	if data == nil {
		data = []T{}
	}
	l := listJSON[T]{Data: data}
	if next != "" {
		l.NextCursor = &next
	}
	return l
}

// pageOf reads ?limit= and ?cursor=. A cursor is the last ID of the
// previous page, so anything but an ID with the list's prefix is 422
// validation_failed rather than a silently empty page.
func pageOf(r *http.Request, prefix string) (store.Page, error) {
	var p store.Page
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxPageLimit {
			return p, Errorf(CodeValidationFailed, "limit must be a whole number from 1 to %d", store.MaxPageLimit)
		}
		p.Limit = n
	}
	p.After = r.URL.Query().Get("cursor")
	if p.After != "" && !validID(p.After, prefix) {
		return p, Errorf(CodeValidationFailed, "cursor must be the next_cursor of a previous page (an %s_… id)", prefix)
	}
	return p, nil
}

// pageSlice cuts one page out of a short list the store returns whole
// (tenants, keys), sorted by ID: the items after p.After, at most
// p.PageLimit() of them, and the cursor of the next page ("" at the end).
func pageSlice[T any](items []T, p store.Page, id func(T) string) ([]T, string) {
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(id(a), id(b)) })
	if p.After != "" {
		i, _ := slices.BinarySearchFunc(items, p.After, func(x T, after string) int { return strings.Compare(id(x), after) })
		for i < len(items) && id(items[i]) <= p.After {
			i++
		}
		items = items[i:]
	}
	if limit := p.PageLimit(); len(items) > limit {
		return items[:limit], id(items[limit-1])
	}
	return items, ""
}

// validID reports whether id is an ID of the kind prefix: the prefix, "_"
// and 26 Crockford base32 digits.
func validID(id, prefix string) bool {
	if !store.HasPrefix(id, prefix) {
		return false
	}
	_, ok := store.IDTime(id)
	return ok
}
