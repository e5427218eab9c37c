package main

import (
	"crypto/tls"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/haulhq/haul/internal/testsvc"
)

func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := testsvc.SelfSignedCert(t, dir, "server")
	r, err := newCertReloader(certFile, keyFile, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r.every = 0 // look at the files on every handshake
	first, _ := r.GetCertificate(&tls.ClientHelloInfo{})

	// A renewal: new files in place of the old, with a later mtime.
	newCert, newKey := testsvc.SelfSignedCert(t, dir, "renewed")
	for _, p := range [][2]string{{newCert, certFile}, {newKey, keyFile}} {
		if err := os.Rename(p[0], p[1]); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Minute)
		if err := os.Chtimes(p[1], later, later); err != nil {
			t.Fatal(err)
		}
	}
	second, _ := r.GetCertificate(&tls.ClientHelloInfo{})
	if string(second.Certificate[0]) == string(first.Certificate[0]) {
		t.Fatal("renewed certificate not picked up")
	}

	// A broken renewal keeps the pair in use.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	evenLater := time.Now().Add(2 * time.Minute)
	os.Chtimes(certFile, evenLater, evenLater)
	third, err := r.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || string(third.Certificate[0]) != string(second.Certificate[0]) {
		t.Fatalf("broken renewal: %v, certificate changed: %v", err, third != second)
	}

	// At start a bad pair is an error.
	if _, err := newCertReloader(certFile, keyFile, r.log); err == nil {
		t.Fatal("newCertReloader accepted a broken certificate file")
	}
}
