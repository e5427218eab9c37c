// Command gofloor is the benchmark's reference for the least a Go program
// must do to produce what `haul fetch` produces: every file of a haul
// manifest fetched over net/http by N workers, hashed with crypto/sha256,
// written to a temporary name and renamed into place once its checksum
// matches. It has none of haul's other duties (resume journal, retries,
// host gates, stall detection, progress, filename safety), so the gap
// between it and haul is what those cost, and the gap between it and curl
// or wget2 is what Go's HTTP client, scheduler and hashing cost.
//
// It is a measuring tool for bench/fetch.sh, not part of haul.
//
// Usage: gofloor [-j N] [-o DIR] MANIFEST
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

type item struct {
	Filename string `json:"filename"`
	URL      string `json:"url"`
	Checksum string `json:"checksum"`
}

func main() {
	jobs := flag.Int("j", 8, "files fetched at once")
	out := flag.String("o", ".", "output directory")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gofloor [-j N] [-o DIR] MANIFEST")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *out, *jobs); err != nil {
		fmt.Fprintln(os.Stderr, "gofloor:", err)
		os.Exit(1)
	}
}

func run(manifestPath, dir string, jobs int) error {
	raw, err := os.ReadFile(manifestPath)
	if err != nil {
		return err
	}
	var m struct {
		Items []item `json:"items"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: jobs * 2,
		DisableCompression:  true,
		ReadBufferSize:      64 << 10,
	}}
	work := make(chan item)
	errs := make(chan error, jobs)
	var wg sync.WaitGroup
	for range jobs {
		wg.Go(func() {
			buf := make([]byte, 512<<10)
			for it := range work {
				if err := fetch(client, it, dir, buf); err != nil {
					errs <- fmt.Errorf("%s: %w", it.Filename, err)
					return
				}
			}
		})
	}
	var ferr error
feed:
	for _, it := range m.Items {
		select {
		case work <- it:
		case ferr = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if ferr != nil {
		return ferr
	}
	return <-errs
}

func fetch(client *http.Client, it item, dir string, buf []byte) error {
	resp, err := client.Get(it.URL)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	final := filepath.Join(dir, filepath.FromSlash(it.Filename))
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return err
	}
	part := final + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.CopyBuffer(io.MultiWriter(f, h), resp.Body, buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if want, ok := strings.CutPrefix(it.Checksum, "sha256:"); ok && hex.EncodeToString(h.Sum(nil)) != want {
		os.Remove(part)
		return errors.New("checksum mismatch")
	}
	return os.Rename(part, final)
}
