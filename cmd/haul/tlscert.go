package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certReloader serves a TLS certificate from a PEM certificate (chain) file
// and key file, and re-reads them when either changes on disk, so a renewed
// certificate (certbot, cert-manager, acme.sh) is picked up without a
// restart. A renewal that does not load keeps the previous pair and is
// logged.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time
	// every bounds how often the files are looked at.
	every time.Duration

	mu        sync.Mutex
	cert      *tls.Certificate
	certMod   time.Time
	keyMod    time.Time
	lastCheck time.Time
}

// newCertReloader loads the pair once; an unreadable or mismatched pair is
// an error at start, not at the first handshake.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log, now: time.Now, every: 10 * time.Second}
	if err := r.load(); err != nil {
		return nil, err
	}
	r.lastCheck = r.now()
	return r, nil
}

// load reads both files and replaces the pair in use.
func (r *certReloader) load() error {
	cm, km, err := r.modTimes()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.certMod, r.keyMod = &cert, cm, km
	return nil
}

func (r *certReloader) modTimes() (time.Time, time.Time, error) {
	cf, err := os.Stat(r.certFile)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("TLS certificate: %w", err)
	}
	kf, err := os.Stat(r.keyFile)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("TLS key: %w", err)
	}
	return cf.ModTime(), kf.ModTime(), nil
}

// GetCertificate is tls.Config.GetCertificate: the current pair, re-read
// first when the files changed since it was loaded.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.lastCheck) >= r.every {
		r.lastCheck = now
		cm, km, err := r.modTimes()
		if err == nil && (!cm.Equal(r.certMod) || !km.Equal(r.keyMod)) {
			err = r.load()
			if err == nil {
				r.log.Info("reloaded the TLS certificate", "cert", r.certFile)
			}
		}
		if err != nil {
			r.log.Warn("keeping the TLS certificate in use", "err", err)
		}
	}
	return r.cert, nil
}
