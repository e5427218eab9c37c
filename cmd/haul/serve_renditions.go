package main

import (
	"context"
	"errors"
	"strings"

	"github.com/haulhq/haul/server"
	"github.com/haulhq/haul/store"
	"github.com/haulhq/haul/transcode"
)

// renditionSeam adapts a *transcode.Service to the server's Renditions
// seam: it converts presets to server.FormatInfo and transcode errors to
// problems. It also implements server.UnavailableFormats, so media
// formats get a 503 telling to install ffmpeg when it is missing.
type renditionSeam struct {
	svc *transcode.Service
}

var (
	_ server.Renditions         = renditionSeam{}
	_ server.UnavailableFormats = renditionSeam{}
	_ server.Prober             = (*transcode.Service)(nil)
)

// Formats implements server.Renditions.
func (r renditionSeam) Formats() []server.FormatInfo {
	var out []server.FormatInfo
	for _, p := range r.svc.Presets() {
		out = append(out, server.FormatInfo{
			Name: p.Name, Description: p.Description, Container: p.Container,
			VideoCodec: p.VideoCodec, AudioCodec: p.AudioCodec,
			MaxWidth: p.MaxWidth, MaxHeight: p.MaxHeight,
			Extension: p.Extension, ContentType: p.ContentType, AppliesTo: string(p.AppliesTo),
		})
	}
	return out
}

// Allowed implements server.Renditions.
func (r renditionSeam) Allowed(a *store.Asset) []string { return r.svc.Allowed(a) }

// PresetVersion implements server.Renditions.
func (r renditionSeam) PresetVersion(format string) int { return r.svc.PresetVersion(format) }

// EstimateSeconds implements server.Renditions.
func (r renditionSeam) EstimateSeconds(ctx context.Context, job *store.Job) int {
	return r.svc.EstimateSeconds(ctx, job)
}

// Ensure implements server.Renditions.
func (r renditionSeam) Ensure(ctx context.Context, a *store.Asset, format string) (*store.Rendition, *store.Job, error) {
	rend, job, err := r.svc.Ensure(ctx, a, format)
	switch {
	case err == nil:
		return rend, job, nil
	case errors.Is(err, transcode.ErrUnavailable):
		return nil, nil, r.Unavailable(format)
	case errors.Is(err, transcode.ErrNotApplicable), errors.Is(err, transcode.ErrUnknownFormat):
		allowed := append([]string{transcode.Original}, r.svc.Allowed(a)...)
		return nil, nil, server.Errorf(server.CodeUnsupportedFormat, "format %q does not apply to asset %s; allowed: %s",
			format, a.ID, strings.Join(allowed, ", ")).With("allowed_formats", allowed)
	}
	return nil, nil, err
}

// Unavailable implements server.UnavailableFormats: a 503 for a media
// format when ffmpeg is missing, nil otherwise.
func (r renditionSeam) Unavailable(format string) error {
	p, ok := transcode.Lookup(format)
	if !ok || p.IsOriginal() || r.svc.Available() == nil {
		return nil
	}
	return server.Errorf(server.CodeUnavailable,
		"format %q needs ffmpeg, which is not installed on this server: install ffmpeg (e.g. `apt-get install ffmpeg`) so that ffmpeg and ffprobe are on PATH, and restart haul serve; only the original format is available until then", format)
}
