package server

import (
	"context"
	"net/http"
	"time"
)

func (s *Server) handleHealthz() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-store")
		return encode(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadyz reports 200 when the store answers and the blob store is
// writable, else 503 with what failed.
func (s *Server) handleReadyz() http.Handler {
	return s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		checks := map[string]string{}
		ok := true
		if err := s.store.Ready(ctx); err != nil {
			checks["store"], ok = err.Error(), false
		} else {
			checks["store"] = "ok"
		}
		if err := s.blobs.Ready(ctx); err != nil {
			checks["blobs"], ok = err.Error(), false
		} else {
			checks["blobs"] = "ok"
		}
		if s.renditions == nil {
			checks["renditions"] = "unavailable: only the original format is served"
		} else if len(s.renditions.Formats()) == 0 {
			checks["renditions"] = "unavailable: ffmpeg not found"
		} else {
			checks["renditions"] = "ok"
		}
		w.Header().Set("Cache-Control", "no-store")
		status, word := http.StatusOK, "ready"
		if !ok {
			status, word = http.StatusServiceUnavailable, "not ready"
		}
		return encode(w, status, map[string]any{"status": word, "checks": checks})
	})
}
