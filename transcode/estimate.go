package transcode

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sync"
)

// startupSeconds is the fixed cost of a job (claim, probe, store).
const startupSeconds = 1.0

// speedWindow is how many recent jobs per preset the estimate averages.
const speedWindow = 10

// defaultSpeed is the assumed speed (source seconds per second) of a
// preset before any job of it was measured.
func defaultSpeed(format string) float64 {
	switch format {
	case "mp4_1080p":
		return 1
	case "mp4_720p":
		return 2
	case "mp4_480p":
		return 4
	case "audio_m4a":
		return 30
	case "thumbnail_jpg":
		return 1000
	}
	return 1
}

// speedTable keeps the measured speeds of recent jobs per preset, seeded
// from the store's recent jobs the first time a preset is estimated.
type speedTable struct {
	mu     sync.Mutex
	recent map[string][]float64
	seeded map[string]bool
}

func newSpeedTable() *speedTable {
	return &speedTable{recent: map[string][]float64{}, seeded: map[string]bool{}}
}

// record adds one measured speed.
func (t *speedTable) record(format string, speed float64) {
	if speed <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	r := append(t.recent[format], speed)
	if len(r) > speedWindow {
		r = r[len(r)-speedWindow:]
	}
	t.recent[format] = r
}

// speed returns the average recent speed of the preset.
func (t *speedTable) speed(ctx context.Context, s *Service, format string) float64 {
	t.mu.Lock()
	seeded := t.seeded[format]
	t.seeded[format] = true
	t.mu.Unlock()
	if !seeded {
		t.seed(ctx, s, format)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.recent[format]
	if len(r) == 0 {
		return defaultSpeed(format)
	}
	var sum float64
	for _, v := range r {
		sum += v
	}
	return sum / float64(len(r))
}

// seed loads the speeds of the preset's recent jobs (any replica's) from
// the store.
func (t *speedTable) seed(ctx context.Context, s *Service, format string) {
	jobs, err := s.store.ListRecentJobs(ctx, format, speedWindow)
	if err != nil {
		s.log.WarnContext(ctx, "load recent jobs for estimates", "format", format, "err", err)
		return
	}
	var speeds []float64
	for i := len(jobs) - 1; i >= 0; i-- {
		j := jobs[i]
		r, err := s.store.GetRenditionByID(ctx, j.TenantID, j.RenditionID)
		if err != nil {
			continue
		}
		if speed, ok := measuredSpeed(r.Metadata); ok {
			speeds = append(speeds, speed)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.recent[format] = append(speeds, t.recent[format]...)
	if r := t.recent[format]; len(r) > speedWindow {
		t.recent[format] = r[len(r)-speedWindow:]
	}
}

// measuredSpeed reads the speed of the encode that made a rendition
// (source seconds per second of encoding) from its metadata.
func measuredSpeed(metadata []byte) (float64, bool) {
	var m struct {
		SourceDuration float64 `json:"source_duration"`
		EncodeSeconds  float64 `json:"encode_seconds"`
	}
	if json.Unmarshal(metadata, &m) != nil || m.SourceDuration <= 0 || m.EncodeSeconds <= 0 {
		return 0, false
	}
	return m.SourceDuration / m.EncodeSeconds, true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
