package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/haulhq/haul/blob"
	"github.com/haulhq/haul/store"
)

// rightsInput is rights as sent by clients: downloadable defaults to true.
type rightsInput struct {
	Downloadable   *bool      `json:"downloadable"`
	AllowedFormats []string   `json:"allowed_formats"`
	AvailableUntil *time.Time `json:"available_until"`
	Redistribution string     `json:"redistribution"`
}

func (s *Server) rightsFrom(in *rightsInput) (store.Rights, error) {
	r := store.Rights{Downloadable: true, Redistribution: store.RedistributionInternal}
	if in == nil {
		return r, nil
	}
	if in.Downloadable != nil {
		r.Downloadable = *in.Downloadable
	}
	for _, f := range in.AllowedFormats {
		if !s.knownFormat(f) {
			return r, Errorf(CodeValidationFailed, "rights.allowed_formats: unknown format %q", f).With("allowed_formats", s.formatNames())
		}
	}
	r.AllowedFormats = in.AllowedFormats
	if in.AvailableUntil != nil {
		t := in.AvailableUntil.UTC()
		r.AvailableUntil = &t
	}
	switch in.Redistribution {
	case "":
	case store.RedistributionInternal, store.RedistributionPartner, store.RedistributionPublic:
		r.Redistribution = in.Redistribution
	default:
		return r, Errorf(CodeValidationFailed, "rights.redistribution must be internal, partner or public")
	}
	return r, nil
}

// mergeRights applies a JSON merge patch of rights to cur: the members of
// patch replace those of cur, a null member resets it to its default
// (downloadable, every format, no end, internal). A nil patch resets all.
func (s *Server) mergeRights(cur store.Rights, patch map[string]json.RawMessage) (store.Rights, error) {
	if patch == nil {
		return s.rightsFrom(nil)
	}
	in := rightsInput{Downloadable: &cur.Downloadable, AllowedFormats: cur.AllowedFormats,
		AvailableUntil: cur.AvailableUntil, Redistribution: cur.Redistribution}
	for k, v := range patch {
		null := string(v) == "null"
		var err error
		switch k {
		case "downloadable":
			in.Downloadable = nil
			if !null {
				var b bool
				err = json.Unmarshal(v, &b)
				in.Downloadable = &b
			}
		case "allowed_formats":
			in.AllowedFormats = nil
			if !null {
				err = json.Unmarshal(v, &in.AllowedFormats)
			}
		case "available_until":
			in.AvailableUntil = nil
			if !null {
				var t time.Time
				err = json.Unmarshal(v, &t)
				in.AvailableUntil = &t
			}
		case "redistribution":
			in.Redistribution = ""
			if !null {
				err = json.Unmarshal(v, &in.Redistribution)
			}
		}
		if err != nil {
			return cur, Errorf(CodeValidationFailed, "rights.%s: %v", k, err)
		}
	}
	return s.rightsFrom(&in)
}

func cleanTags(tags []string) ([]string, error) {
	out := []string{}
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > 100 || strings.ContainsAny(t, ",\x00") {
			return nil, Errorf(CodeValidationFailed, "tags must be non-empty, at most 100 characters, without commas")
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if len(out) > 100 {
		return nil, Errorf(CodeValidationFailed, "at most 100 tags per asset")
	}
	return out, nil
}

// appendEvent records an event in tx (the change's own transaction).
func appendEvent(ctx context.Context, tx store.Tx, tenantID, typ string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", typ, err)
	}
	if err := tx.AppendEvent(ctx, &store.Event{TenantID: tenantID, Type: typ, Data: raw}); err != nil {
		return fmt.Errorf("record %s event: %w", typ, err)
	}
	return nil
}

func (s *Server) handleAssetCreate() http.Handler {
	type request struct {
		Title       string       `json:"title"`
		Filename    string       `json:"filename"`
		ContentType string       `json:"content_type"`
		Tags        []string     `json:"tags"`
		Rights      *rightsInput `json:"rights"`
	}
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](r)
		if err != nil {
			return err
		}
		name := strings.TrimSpace(req.Filename)
		if name == "" || strings.ContainsAny(name, "/\\\x00") || name == "." || name == ".." || len(name) > 255 {
			return Errorf(CodeValidationFailed, "filename is required: a plain file name (no directories), at most 255 bytes")
		}
		title := strings.TrimSpace(req.Title)
		if title == "" {
			title = strings.TrimSuffix(name, path.Ext(name))
		}
		if len(title) > 1000 {
			return Errorf(CodeValidationFailed, "title is at most 1000 bytes")
		}
		ct := req.ContentType
		if ct != "" {
			mt, params, err := mime.ParseMediaType(ct)
			if err != nil {
				return Errorf(CodeValidationFailed, "content_type %q is not a media type", ct)
			}
			ct = mime.FormatMediaType(mt, params)
		} else if byExt := mime.TypeByExtension(path.Ext(name)); byExt != "" {
			ct = byExt
		}
		tags, err := cleanTags(req.Tags)
		if err != nil {
			return err
		}
		rights, err := s.rightsFrom(req.Rights)
		if err != nil {
			return err
		}
		a := &store.Asset{TenantID: tenantOf(r.Context()), Title: title, Filename: name, ContentType: ct, Tags: tags, Rights: rights, State: store.AssetCreated}
		err = s.store.WithTx(r.Context(), func(tx store.Tx) error {
			a.ID = ""
			if err := tx.CreateAsset(r.Context(), a); err != nil {
				return err
			}
			return appendEvent(r.Context(), tx, a.TenantID, store.EventAssetCreated, viewAsset(a, ""))
		})
		if err != nil {
			return fmt.Errorf("create asset: %w", err)
		}
		w.Header().Set("Location", "/v1/assets/"+a.ID)
		return encode(w, http.StatusCreated, viewAsset(a, s.baseURL(r)))
	})
}

func (s *Server) handleAssetList() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		page, err := pageOf(r, store.PrefixAsset)
		if err != nil {
			return err
		}
		f := store.AssetFilter{Tag: r.URL.Query().Get("tag"), Page: page}
		if st := r.URL.Query().Get("state"); st != "" {
			switch state := store.AssetState(st); state {
			case store.AssetCreated, store.AssetUploaded, store.AssetScanning, store.AssetAvailable, store.AssetQuarantined, store.AssetDeleted:
				f.States = []store.AssetState{state}
			default:
				return Errorf(CodeValidationFailed, "state must be one of created, uploaded, scanning, available, quarantined, deleted")
			}
		}
		assets, next, err := s.store.ListAssets(r.Context(), tenantOf(r.Context()), f)
		if err != nil {
			return fmt.Errorf("list assets: %w", err)
		}
		base := s.baseURL(r)
		out := make([]assetJSON, 0, len(assets))
		for _, a := range assets {
			out = append(out, viewAsset(a, base))
		}
		return encode(w, http.StatusOK, newList(out, next))
	})
}

// getAsset returns the caller's asset named in the path.
func (s *Server) getAsset(r *http.Request) (*store.Asset, error) {
	a, err := s.store.GetAsset(r.Context(), tenantOf(r.Context()), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, Errorf(CodeNotFound, "no asset %q", r.PathValue("id"))
	}
	return a, err
}

// getAssetCached is getAsset for the signing path: an asset read since the
// store's last commit (by any process) is taken from memory. The caller
// gets its own copy.
func (s *Server) getAssetCached(r *http.Request) (*store.Asset, error) {
	tenant, id := tenantOf(r.Context()), r.PathValue("id")
	tok, cacheable := s.requestToken(r.Context())
	if !cacheable || s.assetReads.changes == nil {
		return s.getAsset(r)
	}
	key := tenant + "/" + id
	a, ok := s.assetReads.get(key, tok, s.now())
	if !ok {
		var err error
		if a, err = s.getAsset(r); err != nil {
			return nil, err
		}
		s.assetReads.put(key, a, tok, s.now())
	}
	cp := *a
	return &cp, nil
}

func (s *Server) handleAssetGet() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		a, err := s.getAsset(r)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, viewAsset(a, s.baseURL(r)))
	})
}

func (s *Server) handleAssetPatch() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		fields, err := decode[map[string]json.RawMessage](r)
		if err != nil {
			return err
		}
		type patch struct {
			Title              *string         `json:"title"`
			Tags               *[]string       `json:"tags"`
			Rights             json.RawMessage `json:"rights"`
			LegalHold          *bool           `json:"legal_hold"`
			RetentionExpiresAt *time.Time      `json:"retention_expires_at"`
		}
		allowed := []string{"title", "tags", "rights", "legal_hold", "retention_expires_at"}
		for k := range fields {
			if !slices.Contains(allowed, k) {
				return Errorf(CodeValidationFailed, "field %q cannot be changed; PATCH accepts %s", k, strings.Join(allowed, ", "))
			}
		}
		raw, _ := json.Marshal(fields)
		var p patch
		if err := json.Unmarshal(raw, &p); err != nil {
			return Errorf(CodeValidationFailed, "invalid field: %v", err)
		}
		clearRetention := string(fields["retention_expires_at"]) == "null"
		var tags []string
		if p.Tags != nil {
			if tags, err = cleanTags(*p.Tags); err != nil {
				return err
			}
		}
		// rights is a JSON merge patch (RFC 7396) of the current rights:
		// members sent replace, members left out stay, null resets one to
		// its default; "rights": null resets them all.
		var rightsPatch map[string]json.RawMessage
		if p.Rights != nil && string(p.Rights) != "null" {
			if err := json.Unmarshal(p.Rights, &rightsPatch); err != nil {
				return Errorf(CodeValidationFailed, "rights must be an object: %v", err)
			}
			// Validate now, against the defaults, so a bad value is 422
			// before anything changes.
			if _, err := s.mergeRights(store.Rights{Downloadable: true, Redistribution: store.RedistributionInternal}, rightsPatch); err != nil {
				return err
			}
		}
		if p.Title != nil && (strings.TrimSpace(*p.Title) == "" || len(*p.Title) > 1000) {
			return Errorf(CodeValidationFailed, "title must be 1 to 1000 bytes")
		}
		a, err := s.store.UpdateAsset(r.Context(), tenantOf(r.Context()), r.PathValue("id"), s.now(), func(a *store.Asset) error {
			if a.State == store.AssetDeleted && (p.Title != nil || p.Tags != nil || p.Rights != nil) {
				return Errorf(CodeConflict, "asset %s is deleted; only legal_hold and retention_expires_at can change", a.ID)
			}
			if p.Title != nil {
				a.Title = strings.TrimSpace(*p.Title)
			}
			if p.Tags != nil {
				a.Tags = tags
			}
			if p.Rights != nil {
				r, err := s.mergeRights(a.Rights, rightsPatch)
				if err != nil {
					return err
				}
				a.Rights = r
			}
			if p.LegalHold != nil {
				a.LegalHold = *p.LegalHold
			}
			if p.RetentionExpiresAt != nil {
				a.RetentionExpiresAt = p.RetentionExpiresAt.UTC()
			} else if clearRetention {
				a.RetentionExpiresAt = time.Time{}
			}
			return nil
		})
		if errors.Is(err, store.ErrNotFound) {
			return Errorf(CodeNotFound, "no asset %q", r.PathValue("id"))
		}
		if err != nil {
			return err
		}
		s.assets.forget(a.TenantID, a.ID)
		return encode(w, http.StatusOK, viewAsset(a, s.baseURL(r)))
	})
}

// handleAssetDelete soft-deletes: the asset stops being listed and
// downloadable at once; its bytes are purged after a grace period by the
// lifecycle worker, never while it is on legal hold.
func (s *Server) handleAssetDelete() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		tenant, id := tenantOf(r.Context()), r.PathValue("id")
		defer s.assets.forget(tenant, id)
		err := s.store.WithTx(r.Context(), func(tx store.Tx) error {
			a, err := tx.UpdateAsset(r.Context(), tenant, id, s.now(), func(a *store.Asset) error {
				if a.State == store.AssetDeleted {
					return errAlreadyDeleted
				}
				a.State = store.AssetDeleted
				a.DeletedAt = s.now().UTC()
				return nil
			})
			if err != nil {
				return err
			}
			return appendEvent(r.Context(), tx, tenant, store.EventAssetDeleted, viewAsset(a, ""))
		})
		switch {
		case errors.Is(err, errAlreadyDeleted):
		case errors.Is(err, store.ErrNotFound):
			return Errorf(CodeNotFound, "no asset %q", id)
		case err != nil:
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

var errAlreadyDeleted = errors.New("already deleted")

// parseReprDigest returns the sha-256 digest of an RFC 9530 Repr-Digest
// header, nil when the header names no sha-256 value.
func parseReprDigest(h string) ([]byte, error) {
	for _, member := range splitComma(h) {
		name, value, ok := strings.Cut(member, "=")
		if !ok || strings.TrimSpace(strings.ToLower(name)) != "sha-256" {
			continue
		}
		value = strings.TrimSpace(value)
		if i := strings.IndexByte(value, ';'); i >= 0 {
			value = value[:i]
		}
		if len(value) < 2 || value[0] != ':' || value[len(value)-1] != ':' {
			return nil, Errorf(CodeBadRequest, "Repr-Digest: sha-256 must be a byte sequence, sha-256=:<base64>:")
		}
		sum, err := base64.StdEncoding.DecodeString(value[1 : len(value)-1])
		if err != nil || len(sum) != 32 {
			return nil, Errorf(CodeBadRequest, "Repr-Digest: sha-256 value is not 32 bytes of base64")
		}
		return sum, nil
	}
	return nil, nil
}

func (s *Server) handleAssetUpload() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		a, err := s.getAsset(r)
		if err != nil {
			return err
		}
		if a.State != store.AssetCreated {
			return Errorf(CodeConflict, "asset %s already has content (state %s); create a new asset for new content", a.ID, a.State)
		}
		want, err := parseReprDigest(r.Header.Get("Repr-Digest"))
		if err != nil {
			return err
		}
		if r.ContentLength > s.cfg.MaxUploadSize {
			return Errorf(CodeTooLarge, "content of %d bytes exceeds the upload limit of %d bytes", r.ContentLength, s.cfg.MaxUploadSize)
		}
		// The cap is enforced here, whatever the blob store does with MaxSize.
		body := &capReader{r: r.Body, left: s.cfg.MaxUploadSize, rc: http.NewResponseController(w), idle: s.cfg.UploadIdleTimeout}
		info, err := s.blobs.Put(r.Context(), body, blob.PutOptions{ExpectSHA256: want, SizeHint: r.ContentLength, MaxSize: s.cfg.MaxUploadSize + 1})
		switch {
		case body.over:
			return Errorf(CodeTooLarge, "content exceeds the upload limit of %d bytes; nothing was stored", s.cfg.MaxUploadSize)
		case errors.Is(err, blob.ErrDigestMismatch):
			return Errorf(CodeDigestMismatch, "the uploaded bytes do not match Repr-Digest; nothing was stored")
		case err != nil:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return Errorf(CodeRequestTimeout, "the upload stalled for %s; nothing was stored", s.cfg.UploadIdleTimeout)
			}
			if r.Context().Err() != nil || errors.Is(err, io.ErrUnexpectedEOF) {
				return Errorf(CodeBadRequest, "upload interrupted: %v", err)
			}
			return fmt.Errorf("store content of %s: %w", a.ID, err)
		}
		if r.ContentLength >= 0 && info.Size != r.ContentLength {
			return Errorf(CodeBadRequest, "received %d bytes but Content-Length said %d", info.Size, r.ContentLength)
		}
		a, err = s.store.UpdateAsset(r.Context(), a.TenantID, a.ID, s.now(), func(a *store.Asset) error {
			if a.State != store.AssetCreated {
				return Errorf(CodeConflict, "asset %s received content concurrently", a.ID)
			}
			a.State = store.AssetUploaded
			a.Size = info.Size
			a.BlobKey = info.Key
			a.Checksum = "sha256:" + info.Key
			return nil
		})
		if err != nil {
			return err
		}
		s.startScan(a.TenantID, a.ID)
		return encode(w, http.StatusOK, viewAsset(a, s.baseURL(r)))
	})
}

// capReader fails once more than left bytes are read, and says so in over.
// With rc set, each read first moves the connection's read deadline idle
// ahead: an upload may be slow, but one that stalls is cut off.
type capReader struct {
	r    io.Reader
	left int64
	over bool
	rc   *http.ResponseController
	idle time.Duration
}

var errUploadTooLarge = errors.New("upload exceeds the size limit")

func (c *capReader) Read(p []byte) (int, error) {
	if c.over {
		return 0, errUploadTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	if c.rc != nil && c.idle > 0 {
		_ = c.rc.SetReadDeadline(time.Now().Add(c.idle))
	}
	n, err := c.r.Read(p)
	if int64(n) > c.left {
		c.over = true
		return int(c.left), errUploadTooLarge
	}
	c.left -= int64(n)
	return n, err
}
