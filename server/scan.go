package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os/exec"
	"path"
	"strings"
	"time"

	"github.com/haulhq/haul/store"
)

// The scan step moves an uploaded asset to available or quarantined. It
// runs in the background after each upload (and, for uploads a crash left
// half-scanned, at start): it checks the size limit, sniffs the content
// and compares it with the declared type, runs the optional external
// scanner, and probes media. The state change and its event commit in one
// transaction.

// scanVerdict is the outcome of scanning one asset.
type scanVerdict struct {
	clean       bool
	reason      string
	contentType string
	media       json.RawMessage
}

// startScan scans an asset in the background.
func (s *Server) startScan(tenantID, assetID string) {
	s.goBackground(func(ctx context.Context) {
		select {
		case s.scanSlots <- struct{}{}:
			defer func() { <-s.scanSlots }()
		case <-ctx.Done():
			return
		}
		for attempt, wait := 0, time.Second; attempt < 4; attempt, wait = attempt+1, wait*4 {
			err := s.scan(ctx, tenantID, assetID)
			if err == nil || ctx.Err() != nil {
				return
			}
			s.log.Error("scan asset", "asset", assetID, "attempt", attempt+1, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	})
}

// resumeScans restarts the scans a previous run left unfinished.
func (s *Server) resumeScans(ctx context.Context) {
	tenants, err := s.store.ListTenants(ctx)
	if err != nil {
		s.log.Error("list tenants to resume scans", "err", err)
		return
	}
	for _, t := range tenants {
		page := store.Page{Limit: store.MaxPageLimit}
		for {
			assets, next, err := s.store.ListAssets(ctx, t.ID, store.AssetFilter{States: []store.AssetState{store.AssetUploaded, store.AssetScanning}, Page: page})
			if err != nil {
				s.log.Error("list assets to resume scans", "tenant", t.ID, "err", err)
				break
			}
			for _, a := range assets {
				s.startScan(a.TenantID, a.ID)
			}
			if next == "" {
				break
			}
			page.After = next
		}
	}
}

func (s *Server) scan(ctx context.Context, tenantID, assetID string) error {
	a, err := s.store.UpdateAsset(ctx, tenantID, assetID, s.now(), func(a *store.Asset) error {
		if a.State != store.AssetUploaded && a.State != store.AssetScanning {
			return errNothingToScan
		}
		a.State = store.AssetScanning
		return nil
	})
	if errors.Is(err, errNothingToScan) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mark scanning: %w", err)
	}
	v, err := s.inspect(ctx, a)
	if err != nil {
		return err
	}
	return s.store.WithTx(ctx, func(tx store.Tx) error {
		a, err := tx.UpdateAsset(ctx, tenantID, assetID, s.now(), func(a *store.Asset) error {
			if a.State != store.AssetScanning {
				return errNothingToScan
			}
			if v.clean {
				a.State = store.AssetAvailable
				a.StateReason = ""
			} else {
				a.State = store.AssetQuarantined
				a.StateReason = v.reason
			}
			if a.ContentType == "" {
				a.ContentType = v.contentType
			}
			if len(v.media) > 0 {
				a.Media = v.media
			}
			return nil
		})
		if errors.Is(err, errNothingToScan) {
			return nil
		}
		if err != nil {
			return err
		}
		typ := store.EventAssetAvailable
		if !v.clean {
			typ = store.EventAssetQuarantined
		}
		return appendEvent(ctx, tx, tenantID, typ, viewAsset(a, ""))
	})
}

var errNothingToScan = errors.New("asset is not waiting for a scan")

// inspect decides whether the asset's content is clean.
func (s *Server) inspect(ctx context.Context, a *store.Asset) (scanVerdict, error) {
	obj, err := s.blobs.Open(ctx, a.BlobKey)
	if err != nil {
		return scanVerdict{}, fmt.Errorf("open content of %s: %w", a.ID, err)
	}
	defer obj.Close()
	if size := obj.Info().Size; size > s.cfg.MaxUploadSize {
		return scanVerdict{reason: fmt.Sprintf("size %d exceeds the limit of %d bytes", size, s.cfg.MaxUploadSize)}, nil
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(obj, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return scanVerdict{}, fmt.Errorf("read content of %s: %w", a.ID, err)
	}
	byContent := http.DetectContentType(head[:n])
	detected := sniff(byContent, a.Filename)
	v := scanVerdict{clean: true, contentType: detected}
	if reason := typeMismatch(a.ContentType, detected); reason != "" {
		return scanVerdict{reason: reason, contentType: detected}, nil
	}
	if s.cfg.ScanCommand != "" {
		if _, err := obj.Seek(0, io.SeekStart); err != nil {
			return scanVerdict{}, fmt.Errorf("rewind content of %s: %w", a.ID, err)
		}
		reason, err := s.runScanner(ctx, obj)
		if err != nil {
			return scanVerdict{}, err
		}
		if reason != "" {
			return scanVerdict{reason: reason, contentType: detected}, nil
		}
	}
	// Judged from the bytes alone: an extension can say text where the
	// content is a media stream (.ts is also a Qt translation file).
	if s.prober != nil && mayBeMedia(byContent) {
		if _, err := obj.Seek(0, io.SeekStart); err == nil {
			media, err := s.prober.Probe(ctx, a, obj)
			if err != nil {
				s.log.Warn("probe media", "asset", a.ID, "err", err)
			} else {
				v.media = media
			}
		}
	}
	return v, nil
}

// runScanner runs Config.ScanCommand with the content on stdin; a
// non-zero exit returns the reason to quarantine.
func (s *Server) runScanner(ctx context.Context, content io.Reader) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ScanTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", s.cfg.ScanCommand)
	cmd.Stdin = content
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "", nil
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("scanner timed out after %s", s.cfg.ScanTimeout), nil
	case errors.As(err, &ee):
		msg := strings.TrimSpace(out.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return fmt.Sprintf("scanner exited with status %d: %s", ee.ExitCode(), msg), nil
	default:
		return "", fmt.Errorf("run scanner: %w", err)
	}
}

// sniff is the content type of a file whose first bytes were detected as
// detected (http.DetectContentType), falling back to the file extension
// when the bytes say nothing specific.
func sniff(detected, filename string) string {
	if detected == "application/octet-stream" || strings.HasPrefix(detected, "text/plain") {
		if byExt := mime.TypeByExtension(path.Ext(filename)); byExt != "" && !strings.HasPrefix(detected, "text/plain") {
			return byExt
		}
	}
	return detected
}

// mayBeMedia reports whether content of the detected type could hold audio,
// video or images for the prober: anything but what is certainly not media
// (text, PDF, PostScript, fonts, archives, WebAssembly). Unknown binary
// content (application/octet-stream) is probed: raw streams such as MPEG-TS
// carry no signature the sniffer knows.
func mayBeMedia(detected string) bool {
	mt, _, err := mime.ParseMediaType(detected)
	if err != nil {
		return true
	}
	switch {
	case strings.HasPrefix(mt, "text/"), strings.HasPrefix(mt, "font/"):
		return false
	}
	switch mt {
	case "application/pdf", "application/postscript", "application/vnd.ms-fontobject", "application/x-gzip",
		"application/zip", "application/x-rar-compressed", "application/wasm", "application/json", "application/xml":
		return false
	}
	return true
}

// typeMismatch returns why declared and detected types conflict, or "".
// Only a confident detection of a different kind counts: HTML or script
// posing as media, an image claimed to be video and so on.
func typeMismatch(declared, detected string) string {
	if declared == "" {
		return ""
	}
	dt, _, err := mime.ParseMediaType(declared)
	if err != nil {
		return ""
	}
	gt, _, err := mime.ParseMediaType(detected)
	if err != nil || gt == "application/octet-stream" || gt == "text/plain" || dt == gt {
		return ""
	}
	major := func(t string) string { m, _, _ := strings.Cut(t, "/"); return m }
	dm, gm := major(dt), major(gt)
	dangerous := gt == "text/html" || gt == "text/xml" || gt == "application/x-msdownload"
	mediaish := func(m string) bool { return m == "video" || m == "audio" || m == "image" }
	switch {
	case dangerous && dt != gt:
		return fmt.Sprintf("declared %s but the content is %s", dt, gt)
	case mediaish(dm) && mediaish(gm) && dm != gm && !(gt == "video/webm" || gt == "application/ogg"):
		// audio declared as video container and the like are fine; an
		// image declared as video is not.
		if dm == "image" || gm == "image" {
			return fmt.Sprintf("declared %s but the content is %s", dt, gt)
		}
	case mediaish(dm) && !mediaish(gm) && gm != "application":
		return fmt.Sprintf("declared %s but the content is %s", dt, gt)
	}
	return ""
}
