package server

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/haulhq/haul/blob"
	"github.com/haulhq/haul/store"
)

// content is one deliverable representation: an original or a rendition.
type content struct {
	// Key is the blob key (sha256 hex).
	Key string
	// Size is the length in bytes.
	Size int64
	// ContentType is the media type sent back.
	ContentType string
	// ModTime is sent as Last-Modified.
	ModTime time.Time
	// Filename is offered in Content-Disposition.
	Filename string
	// Disposition is attachment or inline.
	Disposition string
}

// reprDigest formats a sha256 hex digest as an RFC 9530 Repr-Digest value.
func reprDigest(sha256hex string) string {
	var raw [32]byte
	if len(sha256hex) != 2*len(raw) {
		other, err := hex.DecodeString(sha256hex)
		if err != nil {
			return ""
		}
		return "sha-256=:" + base64.StdEncoding.EncodeToString(other) + ":"
	}
	if _, err := hex.Decode(raw[:], []byte(sha256hex)); err != nil {
		return ""
	}
	var b [64]byte
	out := append(b[:0], "sha-256=:"...)
	out = base64.StdEncoding.AppendEncode(out, raw[:])
	return string(append(out, ':'))
}

// contentDisposition formats an RFC 6266 header: an ASCII fallback in
// filename and the exact UTF-8 name in filename* (RFC 8187).
func contentDisposition(disp, name string) string {
	if disp != DispositionInline {
		disp = DispositionAttachment
	}
	if name == "" {
		return disp
	}
	var buf [256]byte
	b := append(buf[:0], disp...)
	b = append(b, `; filename="`...)
	for _, r := range name {
		switch {
		case r == '"' || r == '\\' || r == '%' || r < 0x20 || r == 0x7f || r > 0x7e:
			b = append(b, '_')
		default:
			b = append(b, byte(r))
		}
	}
	b = append(b, `"; filename*=UTF-8''`...)
	const hexUpper = "0123456789ABCDEF"
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b = append(b, c)
		} else {
			b = append(b, '%', hexUpper[c>>4], hexUpper[c&0xf])
		}
	}
	return string(b)
}

// serveBlob sends c with full HTTP range semantics. When the blob store can
// hand out its own URL (S3), the client is redirected there instead and the
// bytes never pass through the server. Otherwise http.ServeContent does
// single and multi Range, 416, If-Range, conditional requests and HEAD, and
// a file-backed blob goes out with sendfile.
func (s *Server) serveBlob(w http.ResponseWriter, r *http.Request, c content) error {
	disp := contentDisposition(c.Disposition, c.Filename)
	if url, ok, err := s.blobs.PresignGet(r.Context(), c.Key, blob.PresignOptions{
		Expires: s.cfg.PresignTTL, ContentDisposition: disp, ContentType: c.ContentType,
	}); err != nil {
		return fmt.Errorf("presign %s: %w", c.Key, err)
	} else if ok {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, url, http.StatusFound)
		return nil
	}
	obj, err := s.blobs.Open(r.Context(), c.Key)
	if errors.Is(err, blob.ErrNotFound) {
		return Errorf(CodeGone, "the content of this asset is no longer stored")
	}
	if err != nil {
		return fmt.Errorf("open blob %s: %w", c.Key, err)
	}
	defer obj.Close()
	ct := c.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	// The headers go straight into the map under their canonical names,
	// their values sharing one backing array (h.Set allocates a slice per
	// header and canonicalizes each name).
	vals := make([]string, 7)
	vals[0] = `"` + c.Key + `"`
	vals[1] = "bytes"
	vals[2] = disp
	vals[3] = ct
	vals[4] = "nosniff"
	vals[5] = "private, max-age=0"
	vals[6] = reprDigest(c.Key)
	h := w.Header()
	h["Etag"] = vals[0:1:1]
	h["Accept-Ranges"] = vals[1:2:2]
	h["Content-Disposition"] = vals[2:3:3]
	h["Content-Type"] = vals[3:4:4]
	h["X-Content-Type-Options"] = vals[4:5:5]
	h["Cache-Control"] = vals[5:6:6]
	if vals[6] != "" {
		h["Repr-Digest"] = vals[6:7:7]
	}
	modTime := c.ModTime
	if modTime.IsZero() {
		modTime = obj.Info().ModTime
	}
	var body interface {
		Read([]byte) (int, error)
		Seek(int64, int) (int64, error)
	} = obj
	// A file-backed blob is handed over as its *os.File (or anything with
	// SyscallConn) so the response body goes out with sendfile.
	if f, ok := obj.(interface{ File() *os.File }); ok && f.File() != nil {
		body = f.File()
	}
	// A file of known size skips ServeContent's two lseek calls.
	if f, ok := body.(fileLike); ok && obj.Info().Size == c.Size {
		body = newSizedFile(f, obj.Info().Size)
	}
	sw, _ := w.(*statusWriter)
	var before int64
	if sw != nil {
		before = sw.written
	}
	http.ServeContent(w, r, "", modTime.UTC().Truncate(time.Second), body)
	if sw != nil {
		s.metrics.deliveredBytes.Add(float64(sw.written - before))
	}
	return nil
}

// handleDelivery serves GET|HEAD /dl/… for a signed URL.
func (s *Server) handleDelivery() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		t, err := s.signer.Verify(r.Method, r.URL.EscapedPath(), r.URL.RawQuery)
		if errors.Is(err, ErrBadSignature) && s.reloadSigner(r.Context()) {
			// Perhaps signed with a key another replica rotated to.
			t, err = s.signer.Verify(r.Method, r.URL.EscapedPath(), r.URL.RawQuery)
		}
		switch {
		case errors.Is(err, ErrURLExpired):
			return Errorf(CodeURLExpired, "this download URL expired at %s; ask for a new one", t.Expires.Format(time.RFC3339))
		case err != nil:
			return Errorf(CodeBadSignature, "this download URL is not valid (altered or not issued by this server)")
		}
		ctx := r.Context()
		info(ctx).tenantID = t.TenantID
		if t.GrantID != "" {
			if s.deliveries == nil {
				return Errorf(CodeForbidden, "grant-bound URLs cannot be served by this server")
			}
			if err := s.deliveries.CheckGrant(ctx, t.TenantID, t.GrantID); err != nil {
				return err
			}
		}
		a := s.assets.get(t.TenantID, t.AssetID, s.now())
		if a == nil {
			a, err = s.store.GetAsset(ctx, t.TenantID, t.AssetID)
			if err == nil {
				s.assets.put(a, s.now())
			}
		}
		if errors.Is(err, store.ErrNotFound) || (err == nil && a.State == store.AssetDeleted) {
			return Errorf(CodeGone, "asset %s no longer exists", t.AssetID)
		}
		if err != nil {
			return err
		}
		if a.State != store.AssetAvailable {
			return Errorf(CodeGone, "asset %s is %s", a.ID, a.State)
		}
		// Rights are checked again at delivery: a URL signed before they
		// changed (downloadable off, available_until passed, a format
		// withdrawn) is refused from then on.
		if err := checkRights(a, t.Format, s.now()); err != nil {
			return err
		}
		c := content{Key: a.BlobKey, Size: a.Size, ContentType: a.ContentType, ModTime: a.UpdatedAt, Filename: t.Filename, Disposition: t.Disposition}
		if t.Format != FormatOriginal {
			if s.renditions == nil {
				return Errorf(CodeGone, "format %s is not served here", t.Format)
			}
			rend, err := s.store.GetRendition(ctx, t.TenantID, a.ID, t.Format, s.renditions.PresetVersion(t.Format))
			if errors.Is(err, store.ErrNotFound) {
				return Errorf(CodeGone, "the %s rendition of asset %s is no longer stored; request the download again", t.Format, a.ID)
			}
			if err != nil {
				return err
			}
			c.Key, c.Size, c.ContentType, c.ModTime = rend.BlobKey, rend.Size, rend.ContentType, rend.CreatedAt
			if err := s.store.TouchRendition(ctx, rend.ID, s.now()); err != nil {
				s.log.WarnContext(ctx, "record rendition use", "err", err)
			}
		}
		sw, _ := w.(*statusWriter)
		var before int64
		if sw != nil {
			before = sw.written
		}
		err = s.serveBlob(w, r, c)
		// A HEAD sends no body: it is a look, not a delivery.
		if err == nil && s.deliveries != nil && sw != nil && r.Method != http.MethodHead {
			status := sw.status
			sent := sw.written - before
			s.deliveries.Delivered(context.WithoutCancel(ctx), Delivery{
				TenantID: t.TenantID, AssetID: a.ID, Format: t.Format, GrantID: t.GrantID,
				ClientIP: info(ctx).clientIP, Status: status, Bytes: sent, Size: c.Size,
				Range: r.Header.Get("Range"), Complete: status == http.StatusOK && sent == c.Size && r.Method == http.MethodGet, At: s.now(),
			})
		}
		return err
	})
}
