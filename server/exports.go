package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/haulhq/haul/store"
)

// exportJSON is GET /v1/exports/{id}.
type exportJSON struct {
	ID          string     `json:"id"`
	Name        string     `json:"name,omitempty"`
	Format      string     `json:"format"`
	Status      string     `json:"status"`
	Counts      countsJSON `json:"counts"`
	ManifestURL string     `json:"manifest_url"`
	CreatedAt   time.Time  `json:"created_at"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
}

type countsJSON struct {
	Total      int `json:"total"`
	Queued     int `json:"queued"`
	Processing int `json:"processing"`
	Ready      int `json:"ready"`
	Failed     int `json:"failed"`
}

// exportStatus maps item counts to the manifest's vocabulary:
// processing while any item is pending, then ready, partial or failed.
func exportStatus(c store.ItemCounts) string {
	switch {
	case c.Queued+c.Processing > 0:
		return "processing"
	case c.Failed == 0:
		return "ready"
	case c.Ready == 0:
		return "failed"
	default:
		return "partial"
	}
}

func (s *Server) viewExport(base string, e *store.Export) exportJSON {
	c := e.Counts
	return exportJSON{
		ID: e.ID, Name: e.Name, Format: e.Format, Status: exportStatus(c),
		Counts:      countsJSON{Total: c.Total, Queued: c.Queued, Processing: c.Processing, Ready: c.Ready, Failed: c.Failed},
		ManifestURL: base + "/v1/exports/" + e.ID + "/manifest",
		CreatedAt:   e.CreatedAt.UTC(), CompletedAt: timePtr(e.CompletedAt),
	}
}

func (s *Server) handleExportCreate() http.Handler {
	type item struct {
		AssetID string `json:"asset_id"`
		Format  string `json:"format"`
	}
	type request struct {
		Name   string `json:"name"`
		Format string `json:"format"`
		Items  []item `json:"items"`
		Tag    string `json:"tag"`
	}
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](r)
		if err != nil {
			return err
		}
		ctx, tenant := r.Context(), tenantOf(r.Context())
		if req.Format == "" {
			req.Format = FormatOriginal
		}
		if !s.knownFormat(req.Format) {
			return Errorf(CodeUnsupportedFormat, "unknown format %q", req.Format).With("allowed_formats", s.formatNames())
		}
		if len(req.Items) > s.cfg.MaxBatchItems {
			return Errorf(CodeTooManyItems, "an export takes at most %d items, got %d; split it into several exports", s.cfg.MaxBatchItems, len(req.Items))
		}
		if len(req.Items) == 0 && req.Tag == "" {
			return Errorf(CodeValidationFailed, "give items ([{asset_id, format?}]) or a tag")
		}
		if len(req.Items) > 0 && req.Tag != "" {
			return Errorf(CodeValidationFailed, "give either items or a tag, not both")
		}
		var assets map[string]*store.Asset
		if req.Tag != "" {
			req.Items = nil
			assets = map[string]*store.Asset{}
			page := store.Page{Limit: store.MaxPageLimit}
			for {
				list, next, err := s.store.ListAssets(ctx, tenant, store.AssetFilter{Tag: req.Tag, Page: page})
				if err != nil {
					return fmt.Errorf("list assets tagged %q: %w", req.Tag, err)
				}
				for _, a := range list {
					req.Items = append(req.Items, item{AssetID: a.ID})
					assets[a.ID] = a
				}
				if len(req.Items) > s.cfg.MaxBatchItems {
					return Errorf(CodeTooManyItems, "tag %q matches more than %d assets; an export takes at most %d items", req.Tag, s.cfg.MaxBatchItems, s.cfg.MaxBatchItems)
				}
				if next == "" {
					break
				}
				page.After = next
			}
			if len(req.Items) == 0 {
				return Errorf(CodeValidationFailed, "no asset carries the tag %q", req.Tag)
			}
		} else {
			ids := make([]string, 0, len(req.Items))
			for i, it := range req.Items {
				if it.AssetID == "" {
					return Errorf(CodeValidationFailed, "items[%d].asset_id is required", i)
				}
				if it.Format != "" && !s.knownFormat(it.Format) {
					return Errorf(CodeUnsupportedFormat, "items[%d]: unknown format %q", i, it.Format).With("allowed_formats", s.formatNames())
				}
				ids = append(ids, it.AssetID)
			}
			found, err := s.store.GetAssets(ctx, tenant, ids)
			if err != nil {
				return fmt.Errorf("look up export assets: %w", err)
			}
			assets = make(map[string]*store.Asset, len(found))
			for _, a := range found {
				if a.State != store.AssetDeleted {
					assets[a.ID] = a
				}
			}
			var unknown []string
			seen := map[string]bool{}
			for _, id := range ids {
				if assets[id] == nil && !seen[id] {
					unknown = append(unknown, id)
					seen[id] = true
				}
			}
			if len(unknown) > 0 {
				return Errorf(CodeValidationFailed, "%d asset id(s) are unknown: %s", len(unknown), strings.Join(first(unknown, 10), ", ")).With("unknown_assets", unknown)
			}
		}

		pairs := make([][2]string, len(req.Items))
		for i, it := range req.Items {
			format := it.Format
			if format == "" {
				format = req.Format
			}
			pairs[i] = [2]string{it.AssetID, format}
		}
		if err := s.checkExportFormats(pairs, assets); err != nil {
			return err
		}
		items := make([]store.ExportItem, 0, len(req.Items))
		dup := make(map[[2]string]bool, len(req.Items))
		for _, it := range req.Items {
			format := it.Format
			if format == "" {
				format = req.Format
			}
			// The same asset in the same format twice is one file: one item,
			// so the manifest never names one target file twice.
			k := [2]string{it.AssetID, format}
			if dup[k] {
				continue
			}
			dup[k] = true
			items = append(items, s.prepareItem(ctx, assets[it.AssetID], format))
		}
		e := &store.Export{TenantID: tenant, Name: req.Name, Format: req.Format, Status: store.ExportProcessing}
		if err := s.store.CreateExport(ctx, e, items); err != nil {
			return fmt.Errorf("create export: %w", err)
		}
		if err := s.completeExport(ctx, tenant, e.ID); err != nil {
			return err
		}
		got, err := s.store.GetExport(ctx, tenant, e.ID)
		if err != nil {
			return fmt.Errorf("read export back: %w", err)
		}
		v := s.viewExport(s.baseURL(r), got)
		w.Header().Set("Location", "/v1/exports/"+e.ID)
		if v.Status == "processing" {
			w.Header().Set("Retry-After", "2")
		}
		return encode(w, http.StatusAccepted, v)
	})
}

// checkExportFormats is 422 unsupported_format when no item of an export
// can take its format (pairs are asset id and effective format), with
// allowed_formats listing the formats every asset of the export can take.
// When some items can, the others fail one by one (202, failed items), so
// a tag mixing audio and video still exports what it can. An asset still
// being scanned may turn out to take the format: it counts as able to.
func (s *Server) checkExportFormats(pairs [][2]string, assets map[string]*store.Asset) error {
	var common []string
	seen := make(map[string]bool, len(pairs))
	for i, p := range pairs {
		a := assets[p[0]]
		if a == nil || awaitingScan(a) {
			return nil
		}
		allowed := s.allowedFormats(a)
		if slices.Contains(allowed, p[1]) {
			return nil
		}
		if seen[a.ID] {
			continue
		}
		seen[a.ID] = true
		if i == 0 {
			common = allowed
		} else {
			common = slices.DeleteFunc(common, func(f string) bool { return !slices.Contains(allowed, f) })
		}
	}
	formats := map[string]bool{}
	var names []string
	for _, p := range pairs {
		if !formats[p[1]] {
			formats[p[1]] = true
			names = append(names, strconv.Quote(p[1]))
		}
	}
	what := "the asset"
	if len(seen) > 1 {
		what = fmt.Sprintf("any of the %d assets", len(seen))
	}
	return Errorf(CodeUnsupportedFormat, "format %s does not apply to %s of this export; formats all of them take: %s",
		strings.Join(first(names, 5), ", "), what, strings.Join(common, ", ")).With("allowed_formats", common)
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "…")
	}
	return s
}

// prepareItem decides an item's initial status: ready when the bytes exist
// now, queued behind a rendition job, or failed with the reason.
func (s *Server) prepareItem(ctx context.Context, a *store.Asset, format string) store.ExportItem {
	it := store.ExportItem{AssetID: a.ID, Format: format, Status: store.ItemReady}
	if s.renditions != nil && format != FormatOriginal {
		it.PresetVersion = s.renditions.PresetVersion(format)
	}
	fail := func(err error) store.ExportItem {
		p := asProblem(err)
		it.Status, it.Error = store.ItemFailed, p.Code+": "+p.Detail
		return it
	}
	if awaitingScan(a) {
		// The bytes are in and being checked: the item waits (queued, no
		// job yet) and reconcile prepares it once the scan has decided.
		it.Status = store.ItemQueued
		return it
	}
	if err := s.checkFormat(a, format); err != nil {
		return fail(err)
	}
	if err := checkRights(a, format, s.now()); err != nil {
		return fail(err)
	}
	if err := checkAvailable(a); err != nil {
		return fail(err)
	}
	if format == FormatOriginal {
		return it
	}
	rend, job, err := s.renditions.Ensure(ctx, a, format)
	switch {
	case err != nil:
		return fail(err)
	case rend != nil:
		return it
	case job != nil:
		it.JobID = job.ID
		it.Status = store.ItemQueued
		if job.Status == store.JobProcessing {
			it.Status = store.ItemProcessing
		}
		return it
	}
	return fail(fmt.Errorf("no rendition and no job for %s/%s", a.ID, format))
}

// awaitingScan reports whether a's bytes are uploaded and still being
// scanned, so work on it waits instead of failing.
func awaitingScan(a *store.Asset) bool {
	return a.State == store.AssetUploaded || a.State == store.AssetScanning
}

// parseErrorField splits an item error stored as "code: detail".
func parseErrorField(s string) *errorJSON {
	if s == "" {
		return nil
	}
	code, detail, ok := strings.Cut(s, ": ")
	if !ok || strings.ContainsAny(code, " ") {
		return &errorJSON{Code: "failed", Detail: s}
	}
	return &errorJSON{Code: code, Detail: detail}
}

// completeExport marks the export completed once no item is pending and
// records export.completed exactly once, in the same transaction.
func (s *Server) completeExport(ctx context.Context, tenant, id string) error {
	var done bool
	err := s.store.WithTx(ctx, func(tx store.Tx) error {
		var err error
		done, err = tx.CompleteExport(ctx, tenant, id, s.now())
		if err != nil || !done {
			return err
		}
		e, err := tx.GetExport(ctx, tenant, id)
		if err != nil {
			return err
		}
		return appendEvent(ctx, tx, tenant, store.EventExportCompleted, s.viewExport(s.cfg.PublicURL, e))
	})
	if err != nil {
		return fmt.Errorf("complete export %s: %w", id, err)
	}
	if done {
		s.bus.Publish(ExportTopic(id))
	}
	return nil
}

// JobFinished is called by the rendition worker after a job succeeded or
// failed: it updates the export items waiting for it, completes exports
// whose items are all done (recording export.completed) and wakes
// manifest long-polls.
func (s *Server) JobFinished(ctx context.Context, job *store.Job) error {
	status, msg := store.ItemReady, ""
	switch job.Status {
	case store.JobSucceeded:
	case store.JobFailed:
		status, msg = store.ItemFailed, "job_failed: "+job.Error
	case store.JobProcessing:
		status = store.ItemProcessing
	default:
		return nil
	}
	ids, err := s.store.UpdateExportItemsByJob(ctx, job.ID, status, msg, s.now())
	if err != nil {
		return fmt.Errorf("update export items of job %s: %w", job.ID, err)
	}
	for _, id := range ids {
		if job.Terminal() {
			if err := s.completeExport(ctx, job.TenantID, id); err != nil {
				return err
			}
		}
		s.bus.Publish(ExportTopic(id))
	}
	return nil
}

// reconcile brings pending items of an export up to date with their jobs,
// so a missed JobFinished (a crash between the job and the export update)
// heals on the next read.
func (s *Server) reconcile(ctx context.Context, tenant string, entries []store.ExportEntry) (bool, error) {
	changed := false
	for _, en := range entries {
		it := en.Item
		if it.Status != store.ItemQueued && it.Status != store.ItemProcessing {
			continue
		}
		status, msg, jobID := it.Status, "", it.JobID
		switch {
		case en.Rendition != nil:
			status = store.ItemReady
		case it.JobID == "" && en.Asset != nil:
			// Waiting for the asset's scan: prepare the item once it is over.
			if awaitingScan(en.Asset) {
				continue
			}
			next := s.prepareItem(ctx, en.Asset, it.Format)
			status, msg, jobID = next.Status, next.Error, next.JobID
		case it.JobID != "":
			j, err := s.store.GetJob(ctx, tenant, it.JobID)
			if errors.Is(err, store.ErrNotFound) {
				status, msg = store.ItemFailed, "job_lost: the rendition job is gone; export again"
				break
			}
			if err != nil {
				return false, err
			}
			switch j.Status {
			case store.JobSucceeded:
				status = store.ItemReady
			case store.JobFailed:
				status, msg = store.ItemFailed, "job_failed: "+j.Error
			case store.JobProcessing:
				status = store.ItemProcessing
			}
		}
		if status != it.Status || jobID != it.JobID {
			if err := s.store.UpdateExportItem(ctx, tenant, it.ExportID, it.Position, status, jobID, msg, s.now()); err != nil {
				return false, err
			}
			changed = true
		}
	}
	return changed, nil
}

func (s *Server) getExport(r *http.Request) (*store.Export, error) {
	tenant := tenantOf(r.Context())
	e, err := s.store.GetExport(r.Context(), tenant, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, Errorf(CodeNotFound, "no export %q", r.PathValue("id"))
	}
	if err != nil {
		return nil, err
	}
	if e.Status != store.ExportCompleted {
		entries, err := s.store.ListExportEntries(r.Context(), tenant, e.ID)
		if err != nil {
			return nil, err
		}
		if changed, err := s.reconcile(r.Context(), tenant, entries); err != nil {
			return nil, err
		} else if changed {
			if err := s.completeExport(r.Context(), tenant, e.ID); err != nil {
				return nil, err
			}
			return s.store.GetExport(r.Context(), tenant, e.ID)
		}
	}
	return e, nil
}

func (s *Server) handleExportGet() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		e, err := s.getExport(r)
		if err != nil {
			return err
		}
		v := s.viewExport(s.baseURL(r), e)
		if v.Status == "processing" {
			w.Header().Set("Retry-After", "2")
		}
		return encode(w, http.StatusOK, v)
	})
}

func (s *Server) handleExportList() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		page, err := pageOf(r, store.PrefixExport)
		if err != nil {
			return err
		}
		list, next, err := s.store.ListExports(r.Context(), tenantOf(r.Context()), page)
		if err != nil {
			return err
		}
		base := s.baseURL(r)
		out := make([]exportJSON, 0, len(list))
		for _, e := range list {
			out = append(out, s.viewExport(base, e))
		}
		return encode(w, http.StatusOK, newList(out, next))
	})
}

// slug makes the title part of manifest filenames: lower-case ASCII
// letters, digits and '-', at most 80 characters, "asset" when empty.
func slug(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(title) {
		r = foldAccent(r)
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 80 {
			break
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 80 {
		out = strings.TrimRight(out[:80], "-")
	}
	if out == "" {
		return "asset"
	}
	return out
}

// foldAccent maps common accented Latin letters to their base letter.
func foldAccent(r rune) rune {
	if r < 0x80 || !unicode.IsLetter(r) {
		return r
	}
	const from = "àáâãäåçèéêëìíîïñòóôõöøùúûüýÿ"
	const to = "aaaaaaceeeeiiiinoooooouuuuyy"
	fr, tr := []rune(from), []rune(to)
	for i, c := range fr {
		if c == r {
			return tr[i]
		}
	}
	return r
}

// manifestFilename is <title-slug>_<asset_id>_<format>.<ext>.
func (s *Server) manifestFilename(a *store.Asset, format string) string {
	return slug(a.Title) + "_" + a.ID + "_" + format + s.fileExt(a, format)
}

// manifestJSON is the SPEC section 1 manifest.
type manifestJSON struct {
	Version   int                `json:"version"`
	ID        string             `json:"id"`
	Name      string             `json:"name,omitempty"`
	Status    string             `json:"status"`
	Self      string             `json:"self"`
	ExpiresAt *time.Time         `json:"expires_at,omitempty"`
	Items     []manifestItemJSON `json:"items"`
}

type manifestItemJSON struct {
	ID        string     `json:"id"`
	AssetID   string     `json:"asset_id"`
	Format    string     `json:"format"`
	Status    string     `json:"status"`
	Filename  string     `json:"filename"`
	URL       string     `json:"url,omitempty"`
	Size      *int64     `json:"size,omitempty"`
	Checksum  string     `json:"checksum,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Error     *errorJSON `json:"error,omitempty"`
	Title     string     `json:"title,omitempty"`
	Media     any        `json:"media,omitempty"`
}

func (s *Server) buildManifest(r *http.Request, e *store.Export, entries []store.ExportEntry) manifestJSON {
	base := s.baseURL(r)
	m := manifestJSON{Version: 1, ID: e.ID, Name: e.Name, Status: exportStatus(e.Counts), Self: base + "/v1/exports/" + e.ID + "/manifest", Items: []manifestItemJSON{}}
	for _, en := range entries {
		it, a := en.Item, en.Asset
		mi := manifestItemJSON{ID: fmt.Sprintf("itm_%d", it.Position), AssetID: it.AssetID, Format: it.Format, Status: string(it.Status)}
		if a == nil {
			mi.Status, mi.Error = string(store.ItemFailed), &errorJSON{Code: CodeNotFound, Detail: "asset no longer exists"}
			m.Items = append(m.Items, mi)
			continue
		}
		mi.Filename = s.manifestFilename(a, it.Format)
		mi.Title = a.Title
		if len(a.Media) > 0 && string(a.Media) != "null" {
			mi.Media = a.Media
		}
		if it.Status == store.ItemReady {
			err := checkAvailable(a)
			if err == nil {
				err = checkRights(a, it.Format, s.now())
			}
			if err == nil && it.Format != FormatOriginal && en.Rendition == nil {
				err = Errorf(CodeGone, "the rendition was purged; export again to rebuild it")
			}
			if err != nil {
				p := asProblem(err)
				mi.Status, mi.Error = string(store.ItemFailed), &errorJSON{Code: p.Code, Detail: p.Detail}
				m.Items = append(m.Items, mi)
				continue
			}
			d := s.download(base, a, it.Format, en.Rendition, mi.Filename, s.cfg.ManifestURLTTL, "")
			size := d.Size
			mi.URL, mi.Size, mi.Checksum, mi.ExpiresAt = d.DownloadURL, &size, d.Checksum, &d.ExpiresAt
			if m.ExpiresAt == nil || d.ExpiresAt.Before(*m.ExpiresAt) {
				exp := d.ExpiresAt
				m.ExpiresAt = &exp
			}
		}
		if it.Status == store.ItemFailed {
			mi.Error = parseErrorField(it.Error)
		}
		m.Items = append(m.Items, mi)
	}
	// Items can fail here, after the export completed (the asset was
	// deleted, its rights changed, a rendition was purged); the manifest's
	// status then follows its items, so "ready" never lists failed items.
	var c store.ItemCounts
	for _, mi := range m.Items {
		switch store.ItemStatus(mi.Status) {
		case store.ItemQueued:
			c.Queued++
		case store.ItemProcessing:
			c.Processing++
		case store.ItemReady:
			c.Ready++
		case store.ItemFailed:
			c.Failed++
		}
	}
	if c.Failed > e.Counts.Failed {
		m.Status = exportStatus(c)
	}
	return m
}

// parseWait reads ?wait= as a duration ("30s") or whole seconds.
func parseWait(v string, max time.Duration) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, err2 := strconv.Atoi(v)
		if err2 != nil {
			return 0, Errorf(CodeValidationFailed, "wait must be a duration like 30s or a number of seconds")
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 {
		return 0, Errorf(CodeValidationFailed, "wait must not be negative")
	}
	return min(d, max), nil
}

func (s *Server) handleManifest() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		wait, err := parseWait(r.URL.Query().Get("wait"), s.cfg.MaxWait)
		if err != nil {
			return err
		}
		ctx := r.Context()
		tenant := tenantOf(ctx)
		e, err := s.getExport(r)
		if err != nil {
			return err
		}
		if wait > 0 && e.Status != store.ExportCompleted {
			ch, cancel := s.bus.Subscribe(ExportTopic(e.ID))
			defer cancel()
			before := e.Counts
			deadline := time.NewTimer(wait)
			defer deadline.Stop()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
		poll:
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-s.draining:
					break poll
				case <-deadline.C:
					break poll
				case <-ch:
				case <-tick.C:
				}
				if e, err = s.getExport(r); err != nil {
					return err
				}
				if e.Counts != before || e.Status == store.ExportCompleted {
					break poll
				}
			}
		}
		entries, err := s.store.ListExportEntries(ctx, tenant, e.ID)
		if err != nil {
			return err
		}
		m := s.buildManifest(r, e, entries)
		w.Header().Set("Cache-Control", "no-store")
		if m.Status == "processing" {
			w.Header().Set("Retry-After", "2")
		}
		return encode(w, http.StatusOK, m)
	})
}
