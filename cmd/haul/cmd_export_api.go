package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/haulhq/haul/client"
	"github.com/haulhq/haul/manifest"
)

// apiClientFunc builds the API client a command talks to. Commands keep it
// in their options so tests can point them at an httptest server.
type apiClientFunc func() (*client.Client, error)

// apiClient returns the constructor of the API client for app: server URL
// and token from the configuration (flag > env > file), haul's user agent,
// the app's logger, and a note on stderr when the server makes the client
// wait (Retry-After).
func apiClient(app *App) apiClientFunc {
	return func() (*client.Client, error) {
		cfg := app.Config()
		if cfg.Server == "" {
			return nil, usageErrorf("no server configured: pass --server URL or set HAUL_SERVER")
		}
		errOut := &lockedWriter{w: app.IO.ErrOut}
		c, err := client.New(client.Options{
			BaseURL:   cfg.Server,
			Token:     cfg.Token,
			UserAgent: userAgent(),
			Logger:    app.Logger(),
			OnRetry:   retryNotice(errOut),
		})
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		return c, nil
	}
}

// retryNotice tells the user when the server asked the client to wait, so
// a pause is never silent; short backoffs stay in the debug log.
func retryNotice(w io.Writer) func(client.RetryInfo) {
	return func(ri client.RetryInfo) {
		if !ri.RetryAfter || ri.Wait < time.Second {
			return
		}
		what := "server busy"
		if ri.Status == http.StatusTooManyRequests {
			what = "rate limited"
			if ri.Scope != "" {
				what += " (" + ri.Scope + " limit)"
			}
		}
		fmt.Fprintf(w, "haul: %s; waiting %s as the server asked\n", what, ri.Wait.Round(time.Second))
	}
}

// lockedWriter serialises writes from concurrent goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// hintedError appends advice to an error's message, keeping it unwrappable.
type hintedError struct {
	err  error
	hint string
}

func (h *hintedError) Error() string { return h.err.Error() + h.hint }
func (h *hintedError) Unwrap() error { return h.err }

// apiFailure maps an API error to the command's exit code and adds advice:
// 401 and 403 exit 4, invalid requests (400, 422) and invalid manifests
// exit 2, the rest exit 1.
// rateHint is appended to a rate-limit message (e.g. " or lower -j").
func apiFailure(err error, rateHint string) error {
	if err == nil {
		return nil
	}
	var ce *codedError
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, manifest.ErrInvalid) {
		return withExit(exitUsage, err)
	}
	ae, ok := client.AsAPIError(err)
	if !ok {
		return err
	}
	switch {
	case ae.Status == http.StatusUnauthorized:
		return withExit(exitAuth, &hintedError{err, "; check the API key (--token or HAUL_TOKEN)"})
	case ae.Status == http.StatusForbidden && ae.Code == client.CodeRightsDenied:
		return withExit(exitAuth, err)
	case ae.Status == http.StatusForbidden:
		return withExit(exitAuth, &hintedError{err, "; use an API key with the scope this command needs"})
	case ae.Status == http.StatusTooManyRequests:
		return &hintedError{err, rateHint}
	case ae.Code == client.CodeDigestMismatch:
		return err
	case ae.Status == http.StatusBadRequest || ae.Status == http.StatusUnprocessableEntity || ae.Status == http.StatusRequestEntityTooLarge:
		return withExit(exitUsage, err)
	}
	return err
}
