package transcode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/haulhq/haul/blob"
	"github.com/haulhq/haul/store"
)

// RenditionMetadata is what a rendition records about itself (the
// store's Rendition.Metadata): the output's actual media properties, such
// as the size a never-upscaled video really got, and how it was made.
type RenditionMetadata struct {
	*Media
	// Preset and PresetVersion name the settings used.
	Preset        string `json:"preset"`
	PresetVersion int    `json:"preset_version"`
	// SourceWidth, SourceHeight and SourceDuration describe the original.
	SourceWidth    int     `json:"source_width,omitempty"`
	SourceHeight   int     `json:"source_height,omitempty"`
	SourceDuration float64 `json:"source_duration,omitempty"`
	// EncodeSeconds is how long ffmpeg took.
	EncodeSeconds float64 `json:"encode_seconds"`
}

// render makes the job's rendition: the original is probed, encoded into
// a temporary file, and stored in the blob store. The returned rendition
// is not yet recorded.
func (s *Service) render(ctx context.Context, job *store.Job, progress func(float64)) (*store.Rendition, error) {
	p, ok := Lookup(job.Format)
	if !ok || p.IsOriginal() {
		return nil, fmt.Errorf("unknown format %q", job.Format)
	}
	if p.Version != job.PresetVersion {
		return nil, fmt.Errorf("the %s preset is now version %d (job asked for %d); request the format again", p.Name, p.Version, job.PresetVersion)
	}
	a, err := s.store.GetAsset(ctx, job.TenantID, job.AssetID)
	if err != nil {
		return nil, fmt.Errorf("get asset: %w", err)
	}
	if a.State == store.AssetDeleted || a.BlobKey == "" {
		return nil, fmt.Errorf("asset %s has no content (state %s)", a.ID, a.State)
	}
	src, cleanup, err := s.localSource(ctx, a.BlobKey)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	media, err := s.tools.Probe(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("probe original: %w", err)
	}
	tmp, err := os.CreateTemp(s.cfg.TempDir, "haul-rendition-*."+p.Extension)
	if err != nil {
		return nil, fmt.Errorf("create temporary output: %w", err)
	}
	out := tmp.Name()
	tmp.Close()
	defer removeQuietly(out)
	res, err := s.tools.Run(ctx, p, src, out, RunOptions{Timeout: s.cfg.JobTimeout, Progress: progress, Source: media, Threads: s.cfg.Threads})
	if err != nil {
		return nil, err
	}
	info, err := s.putFile(ctx, out)
	if err != nil {
		return nil, err
	}
	meta, err := json.Marshal(RenditionMetadata{
		Media: res.Media, Preset: p.Name, PresetVersion: p.Version,
		SourceWidth: media.Width, SourceHeight: media.Height, SourceDuration: media.Duration,
		EncodeSeconds: res.Elapsed.Seconds(),
	})
	if err != nil {
		return nil, fmt.Errorf("encode rendition metadata: %w", err)
	}
	return &store.Rendition{
		TenantID: job.TenantID, AssetID: job.AssetID, Format: p.Name, PresetVersion: p.Version,
		BlobKey: info.Key, Size: info.Size, Checksum: "sha256:" + info.Key,
		ContentType: p.ContentType, Metadata: meta,
	}, nil
}

// putFile puts the file at path into the blob store (which hashes it).
func (s *Service) putFile(ctx context.Context, path string) (blob.Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return blob.Info{}, fmt.Errorf("open output: %w", err)
	}
	defer f.Close()
	size := int64(-1)
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	info, err := s.blobs.Put(ctx, f, blob.PutOptions{SizeHint: size})
	if err != nil {
		return blob.Info{}, fmt.Errorf("store output: %w", err)
	}
	return info, nil
}

// localSource returns a path ffmpeg can read the blob from: the blob's
// own file for file-backed stores, or else a temporary copy. cleanup
// closes or removes what it opened.
func (s *Service) localSource(ctx context.Context, key string) (path string, cleanup func(), err error) {
	obj, err := s.blobs.Open(ctx, key)
	if err != nil {
		return "", nil, fmt.Errorf("open original: %w", err)
	}
	if named, ok := obj.(interface{ Name() string }); ok {
		if fi, err := os.Stat(named.Name()); err == nil && fi.Mode().IsRegular() {
			return named.Name(), func() { obj.Close() }, nil
		}
	}
	defer obj.Close()
	tmp, err := os.CreateTemp(s.cfg.TempDir, "haul-source-*")
	if err != nil {
		return "", nil, fmt.Errorf("copy original: %w", err)
	}
	_, err = io.Copy(tmp, ctxReader{ctx, obj})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", nil, fmt.Errorf("copy original: %w", err)
	}
	return tmp.Name(), func() { os.Remove(tmp.Name()) }, nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Probe is the server's ingest hook: it probes the uploaded content and
// returns the asset's media JSON, or nil for content that is not media
// (and when ffmpeg is missing). obj's own file is used when it has one.
func (s *Service) Probe(ctx context.Context, a *store.Asset, obj blob.Object) (json.RawMessage, error) {
	if s.available != nil {
		s.markBackfill(ctx)
		return nil, nil
	}
	var path string
	if named, ok := obj.(interface{ Name() string }); ok {
		if fi, err := os.Stat(named.Name()); err == nil && fi.Mode().IsRegular() {
			path = named.Name()
		}
	}
	if path == "" {
		if _, err := obj.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("probe %s: rewind: %w", a.ID, err)
		}
		tmp, err := os.CreateTemp(s.cfg.TempDir, "haul-probe-*")
		if err != nil {
			return nil, fmt.Errorf("probe %s: %w", a.ID, err)
		}
		defer os.Remove(tmp.Name())
		_, err = io.Copy(tmp, ctxReader{ctx, obj})
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("probe %s: copy content: %w", a.ID, err)
		}
		path = tmp.Name()
	}
	m, err := s.tools.Probe(ctx, path)
	if errors.Is(err, ErrNotMedia) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("probe %s: %w", a.ID, err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("probe %s: encode: %w", a.ID, err)
	}
	return b, nil
}
