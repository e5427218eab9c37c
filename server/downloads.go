package server

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/haulhq/haul/store"
)

// originalInfo describes the original format in GET /v1/formats.
var originalInfo = FormatInfo{Name: FormatOriginal, Description: "The uploaded file, unchanged", AppliesTo: "any"}

// formats lists every format this server offers, original first.
func (s *Server) formats() []FormatInfo {
	out := []FormatInfo{originalInfo}
	if s.renditions != nil {
		out = append(out, s.renditions.Formats()...)
	}
	return out
}

func (s *Server) formatNames() []string {
	var names []string
	for _, f := range s.formats() {
		names = append(names, f.Name)
	}
	return names
}

func (s *Server) formatInfo(name string) (FormatInfo, bool) {
	for _, f := range s.formats() {
		if f.Name == name {
			return f, true
		}
	}
	return FormatInfo{}, false
}

func (s *Server) knownFormat(name string) bool {
	_, ok := s.formatInfo(name)
	return ok
}

// allowedFormats are the formats that apply to a: original plus what the
// rendition side says.
func (s *Server) allowedFormats(a *store.Asset) []string {
	out := []string{FormatOriginal}
	if s.renditions != nil {
		for _, f := range s.renditions.Allowed(a) {
			if f != FormatOriginal && s.knownFormat(f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// checkFormat is 422 unsupported_format with allowed_formats when format
// is unknown or does not apply to a.
func (s *Server) checkFormat(a *store.Asset, format string) error {
	allowed := s.allowedFormats(a)
	if slices.Contains(allowed, format) {
		return nil
	}
	detail := fmt.Sprintf("format %q does not apply to asset %s", format, a.ID)
	if !s.knownFormat(format) {
		if u, ok := s.renditions.(UnavailableFormats); ok {
			if err := u.Unavailable(format); err != nil {
				return err
			}
		}
		detail = fmt.Sprintf("unknown format %q", format)
	}
	return Errorf(CodeUnsupportedFormat, "%s; allowed: %s", detail, strings.Join(allowed, ", ")).With("allowed_formats", allowed)
}

// checkRights is 403 rights_denied when a's rights forbid format now.
func checkRights(a *store.Asset, format string, now time.Time) error {
	r := a.Rights
	switch {
	case !r.Downloadable:
		return Errorf(CodeRightsDenied, "asset %s is not downloadable", a.ID)
	case r.AvailableUntil != nil && !now.Before(*r.AvailableUntil):
		return Errorf(CodeRightsDenied, "asset %s was available until %s", a.ID, r.AvailableUntil.UTC().Format(time.RFC3339))
	case len(r.AllowedFormats) > 0 && !slices.Contains(r.AllowedFormats, format):
		return Errorf(CodeRightsDenied, "the rights of asset %s allow only the formats %s", a.ID, strings.Join(r.AllowedFormats, ", ")).With("allowed_formats", r.AllowedFormats)
	}
	return nil
}

// checkAvailable is 409 not_ready unless a is available.
func checkAvailable(a *store.Asset) error {
	switch a.State {
	case store.AssetAvailable:
		return nil
	case store.AssetDeleted:
		return Errorf(CodeNotFound, "no asset %q", a.ID)
	case store.AssetQuarantined:
		return Errorf(CodeConflict, "asset %s is quarantined: %s", a.ID, a.StateReason).With("state", string(a.State))
	case store.AssetUploaded, store.AssetScanning:
		// The bytes are in and being checked: worth retrying shortly.
		p := Errorf(CodeNotReady, "asset %s is %s; it is available once the scan is done", a.ID, a.State).With("state", string(a.State))
		p.Header = http.Header{"Retry-After": {"2"}}
		return p
	default:
		return Errorf(CodeNotReady, "asset %s is %s; upload its content and wait until it is available", a.ID, a.State).With("state", string(a.State))
	}
}

// fileExt returns the extension for a's file in format, with the dot.
func (s *Server) fileExt(a *store.Asset, format string) string {
	if format != FormatOriginal {
		if fi, ok := s.formatInfo(format); ok && fi.Extension != "" {
			return "." + fi.Extension
		}
	}
	if ext := strings.ToLower(path.Ext(a.Filename)); len(ext) > 1 {
		return ext
	}
	return extForType(a.ContentType)
}

// typeExts maps the media types of common uploads to their usual
// extension: a fixed table, so names do not depend on the host's
// mime.types.
var typeExts = map[string]string{
	"video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm", "video/x-matroska": ".mkv",
	"video/x-msvideo": ".avi", "video/mpeg": ".mpg", "video/mp2t": ".ts",
	"audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/aac": ".aac", "audio/wav": ".wav", "audio/x-wav": ".wav",
	"audio/wave": ".wav", "audio/flac": ".flac", "audio/ogg": ".ogg", "audio/opus": ".opus", "audio/webm": ".weba",
	"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp", "image/avif": ".avif",
	"image/tiff": ".tif", "image/svg+xml": ".svg", "image/heic": ".heic",
	"application/pdf": ".pdf", "application/zip": ".zip", "application/json": ".json", "application/xml": ".xml",
	"application/gzip": ".gz", "application/x-tar": ".tar",
	"text/plain": ".txt", "text/csv": ".csv", "text/html": ".html", "text/xml": ".xml", "text/markdown": ".md",
	"text/vtt": ".vtt", "application/x-subrip": ".srt",
}

// extForType is the extension, with the dot, for a media type such as
// "video/mp4" (parameters ignored); ".bin" when unknown or absent.
func extForType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ".bin"
	}
	if ext, ok := typeExts[mt]; ok {
		return ext
	}
	return ".bin"
}

// downloadFilename is the default name of a's file in format: the
// original keeps its uploaded name; a rendition is <stem>_<format>.<ext>,
// so that the original and each rendition saved side by side never share
// a name.
func (s *Server) downloadFilename(a *store.Asset, format string) string {
	if format == FormatOriginal {
		return a.Filename
	}
	stem := strings.TrimSuffix(a.Filename, path.Ext(a.Filename))
	if stem == "" {
		stem = slug(a.Title)
	}
	return stem + "_" + format + s.fileExt(a, format)
}

// downloadJSON is a ready download (SPEC: Downloads and jobs).
type downloadJSON struct {
	DownloadURL string    `json:"download_url"`
	ExpiresAt   time.Time `json:"expires_at"`
	Checksum    string    `json:"checksum"`
	Size        int64     `json:"size"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Format      string    `json:"format"`
}

// download signs a URL for a in format (rend is nil for original).
func (s *Server) download(base string, a *store.Asset, format string, rend *store.Rendition, filename string, ttl time.Duration, grantID string) downloadJSON {
	if filename == "" {
		filename = s.downloadFilename(a, format)
	}
	d := downloadJSON{Checksum: a.Checksum, Size: a.Size, Filename: filename, ContentType: a.ContentType, Format: format}
	if rend != nil {
		d.Checksum, d.Size, d.ContentType = rend.Checksum, rend.Size, rend.ContentType
	}
	if d.ContentType == "" {
		d.ContentType = "application/octet-stream"
	}
	exp := s.now().Add(ttl).Truncate(time.Second).UTC()
	d.ExpiresAt = exp
	d.DownloadURL = base + s.signer.Sign(DeliveryTarget{TenantID: a.TenantID, AssetID: a.ID, Format: format, Filename: filename, Disposition: DispositionAttachment, GrantID: grantID, Expires: exp})
	return d
}

// jobJSON is GET /v1/jobs/{id} and the 202 of downloads.
type jobJSON struct {
	ID               string        `json:"id"`
	Status           string        `json:"status"`
	Progress         float64       `json:"progress"`
	AssetID          string        `json:"asset_id"`
	Format           string        `json:"format"`
	EstimatedSeconds int           `json:"estimated_seconds,omitempty"`
	Result           *downloadJSON `json:"result,omitempty"`
	Error            *errorJSON    `json:"error,omitempty"`
	CreatedAt        time.Time     `json:"created_at"`
	FinishedAt       *time.Time    `json:"finished_at,omitempty"`
}

type errorJSON struct {
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

func (s *Server) handleDownloadCreate() http.Handler {
	type request struct {
		Format   string `json:"format"`
		Filename string `json:"filename"`
	}
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[request](r)
		if err != nil {
			return err
		}
		if req.Format == "" {
			req.Format = FormatOriginal
		}
		if strings.ContainsAny(req.Filename, "/\\\x00") || len(req.Filename) > 255 {
			return Errorf(CodeValidationFailed, "filename must be a plain file name, at most 255 bytes")
		}
		a, err := s.getAssetCached(r)
		if err != nil {
			return err
		}
		if a.State == store.AssetDeleted {
			return Errorf(CodeNotFound, "no asset %q", a.ID)
		}
		if awaitingScan(a) && s.knownFormat(req.Format) {
			// Which formats apply is known once the scan has probed the
			// media: until then the answer is "not ready, retry".
			if err := checkRights(a, req.Format, s.now()); err != nil {
				return err
			}
			return checkAvailable(a)
		}
		if err := s.checkFormat(a, req.Format); err != nil {
			return err
		}
		if err := checkRights(a, req.Format, s.now()); err != nil {
			return err
		}
		if err := checkAvailable(a); err != nil {
			return err
		}
		base := s.baseURL(r)
		if req.Format == FormatOriginal {
			return encode(w, http.StatusOK, s.download(base, a, FormatOriginal, nil, req.Filename, s.cfg.DownloadURLTTL, ""))
		}
		rend, job, err := s.renditions.Ensure(r.Context(), a, req.Format)
		if err != nil {
			return err
		}
		if rend != nil {
			return encode(w, http.StatusOK, s.download(base, a, req.Format, rend, req.Filename, s.cfg.DownloadURLTTL, ""))
		}
		if job == nil {
			return fmt.Errorf("renditions: Ensure returned neither rendition nor job for %s/%s", a.ID, req.Format)
		}
		est := s.renditions.EstimateSeconds(r.Context(), job)
		if est < 1 {
			est = 1
		}
		w.Header().Set("Location", "/v1/jobs/"+job.ID)
		w.Header().Set("Retry-After", strconv.Itoa(min(est, 30)))
		v := s.viewJob(r, job, nil)
		v.EstimatedSeconds = est
		return encode(w, http.StatusAccepted, struct {
			JobID string `json:"job_id"`
			jobJSON
		}{job.ID, v})
	})
}

// viewJob renders a job; a succeeded job gets a fresh download URL when
// the caller may download.
func (s *Server) viewJob(r *http.Request, j *store.Job, a *store.Asset) jobJSON {
	v := jobJSON{ID: j.ID, Status: string(j.Status), Progress: j.Progress, AssetID: j.AssetID, Format: j.Format, CreatedAt: j.CreatedAt.UTC(), FinishedAt: timePtr(j.FinishedAt)}
	if j.Status == store.JobFailed {
		v.Error = &errorJSON{Code: "job_failed", Detail: j.Error}
	}
	if j.Status == store.JobSucceeded && a != nil {
		if k := keyOf(r.Context()); k != nil && hasScope(k.Scopes, store.ScopeExport) {
			rend, err := s.store.GetRenditionByID(r.Context(), j.TenantID, j.RenditionID)
			if err == nil {
				d := s.download(s.baseURL(r), a, j.Format, rend, "", s.cfg.DownloadURLTTL, "")
				v.Result = &d
			} else if !errors.Is(err, store.ErrNotFound) {
				s.log.ErrorContext(r.Context(), "get rendition of job", "job", j.ID, "err", err)
			}
		}
	}
	return v
}

func (s *Server) handleJobGet() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		tenant := tenantOf(r.Context())
		j, err := s.store.GetJob(r.Context(), tenant, r.PathValue("id"))
		if errors.Is(err, store.ErrNotFound) {
			return Errorf(CodeNotFound, "no job %q", r.PathValue("id"))
		}
		if err != nil {
			return err
		}
		var a *store.Asset
		if j.Status == store.JobSucceeded {
			if a, err = s.store.GetAsset(r.Context(), tenant, j.AssetID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		if !j.Terminal() {
			w.Header().Set("Retry-After", "2")
		}
		return encode(w, http.StatusOK, s.viewJob(r, j, a))
	})
}

func (s *Server) handleFormats() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		return encode(w, http.StatusOK, newList(s.formats(), ""))
	})
}
