package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/haulhq/haul/downloader"
	"github.com/haulhq/haul/manifest"
)

// verifyOptions are the parsed flags of haul verify.
type verifyOptions struct {
	IO *IOStreams

	Target string // DIR or MANIFEST (a path, "-" for stdin, or an http(s) URL)
	Dir    string // where the files are; "" = next to the manifest
	Jobs   int
	JSON   bool
	// Server and Token: the Bearer token goes with a manifest URL on the
	// configured server's host, as with haul fetch.
	Server string
	Token  string
}

func newVerifyCmd(app *App) *cobra.Command {
	opts := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify DIR|MANIFEST",
		Short: "Re-hash downloaded files against their manifest",
		Long: `Re-hash files against the checksums of a manifest and report every file
that is missing or does not match.

DIR means DIR/manifest.json, or DIR/SHA256SUMS when there is no manifest.json,
or else the journal haul fetch keeps of the files it completed (DIR/.haul).
MANIFEST is a manifest file (JSON or a URL list with checksums) or a
SHA256SUMS file; its files are looked up next to it unless --dir says where.
Like haul fetch, MANIFEST may also be "-" (stdin) or an http(s) URL; its
files are then looked up in --dir, by default the current directory.
Items without a checksum are only checked for presence and size.

With --json, one JSON object per file and a final summary are printed on
stdout, one per line.

EXIT STATUS
  0    every file present and matching
  1    runtime error
  2    usage or manifest error
  3    some files are missing or do not match`,
		Example: `  haul verify downloads
  haul verify downloads/manifest.json
  haul verify manifest.json --dir /mnt/media -j 4
  haul verify downloads/SHA256SUMS --json
  haul verify https://media.example.com/v1/exports/exp_01/manifest --dir out`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := app.Config()
			opts.IO = app.IO
			opts.Target = args[0]
			opts.Dir = cfg.String("dir")
			opts.JSON = cfg.JSON
			opts.Server, opts.Token = cfg.Server, cfg.Token
			var err error
			if opts.Jobs, err = cfg.Int("jobs"); err != nil || opts.Jobs < 0 {
				return usageErrorf("-j/--jobs must be 0 (one per CPU) or more")
			}
			return runVerify(cmd.Context(), opts)
		},
	}
	cmd.Flags().String("dir", "", "directory holding the files (default: the manifest's directory)")
	cmd.Flags().IntP("jobs", "j", 0, "files hashed at once (default: one per CPU)")
	return cmd
}

// verifyEntry is one file to check.
type verifyEntry struct {
	Name   string
	SHA256 string
	Size   int64
	err    error // refused name
}

// verifyResult is one line of --json output.
type verifyResult struct {
	Type     string `json:"type"`
	Name     string `json:"name"`
	Status   string `json:"status"` // ok, mismatch, missing, unchecked, error
	SHA256   string `json:"sha256,omitempty"`
	Expected string `json:"expected,omitempty"`
	Size     int64  `json:"size,omitempty"`
	Error    string `json:"error,omitempty"`
}

// verifySummary is the last line of --json output.
type verifySummary struct {
	Type      string `json:"type"`
	Files     int    `json:"files"`
	OK        int    `json:"ok"`
	Mismatch  int    `json:"mismatch"`
	Missing   int    `json:"missing"`
	Unchecked int    `json:"unchecked"`
	Errors    int    `json:"errors"`
}

func runVerify(ctx context.Context, opts *verifyOptions) error {
	var entries []verifyEntry
	var dir string
	var err error
	if isRemoteManifest(opts.Target) {
		entries, err = loadRemoteVerifyEntries(ctx, opts)
		dir = opts.Dir
		if dir == "" {
			dir = "."
		}
	} else {
		entries, dir, err = loadVerifyEntries(opts.Target, opts.Dir)
	}
	if err != nil {
		return err
	}
	jobs := opts.Jobs
	if jobs == 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	results := make([]verifyResult, len(entries))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(jobs, max(len(entries), 1)) {
		wg.Go(func() {
			for i := range work {
				results[i] = verifyOne(ctx, dir, entries[i])
			}
		})
	}
	for i := range entries {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return withExit(exitInterrupted, err)
	}

	sum := verifySummary{Type: "summary", Files: len(results)}
	enc := json.NewEncoder(opts.IO.Out)
	enc.SetEscapeHTML(false)
	for _, r := range results {
		switch r.Status {
		case "ok":
			sum.OK++
		case "mismatch":
			sum.Mismatch++
		case "missing":
			sum.Missing++
		case "unchecked":
			sum.Unchecked++
		default:
			sum.Errors++
		}
		if opts.JSON {
			_ = enc.Encode(r)
			continue
		}
		switch r.Status {
		case "ok":
			fmt.Fprintf(opts.IO.Out, "OK        %s\n", r.Name)
		case "unchecked":
			fmt.Fprintf(opts.IO.Out, "UNCHECKED %s (no checksum in the manifest)\n", r.Name)
		case "mismatch":
			fmt.Fprintf(opts.IO.Out, "MISMATCH  %s: %s\n", r.Name, r.Error)
		case "missing":
			fmt.Fprintf(opts.IO.Out, "MISSING   %s\n", r.Name)
		default:
			fmt.Fprintf(opts.IO.Out, "ERROR     %s: %s\n", r.Name, r.Error)
		}
	}
	if opts.JSON {
		_ = enc.Encode(sum)
	} else {
		fmt.Fprintf(opts.IO.ErrOut, "%d files: %d ok, %d mismatched, %d missing, %d unchecked, %d errors\n",
			sum.Files, sum.OK, sum.Mismatch, sum.Missing, sum.Unchecked, sum.Errors)
	}
	if bad := sum.Mismatch + sum.Missing + sum.Errors; bad > 0 {
		return withExit(exitPartial, fmt.Errorf("%d of %d files failed verification", bad, sum.Files))
	}
	return nil
}

func verifyOne(ctx context.Context, dir string, e verifyEntry) verifyResult {
	r := verifyResult{Type: "file", Name: e.Name, Expected: e.SHA256}
	if e.err != nil {
		r.Status, r.Error = "error", e.err.Error()
		return r
	}
	path, err := manifest.SafePath(dir, e.Name)
	if err != nil {
		r.Status, r.Error = "error", err.Error()
		return r
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		r.Status = "missing"
		return r
	}
	if err != nil {
		r.Status, r.Error = "error", err.Error()
		return r
	}
	r.Size = fi.Size()
	if e.Size > 0 && fi.Size() != e.Size {
		r.Status, r.Error = "mismatch", fmt.Sprintf("size %d, manifest says %d", fi.Size(), e.Size)
		return r
	}
	if e.SHA256 == "" {
		r.Status = "unchecked"
		return r
	}
	sum, err := downloader.HashFile(ctx, path)
	if err != nil {
		r.Status, r.Error = "error", err.Error()
		return r
	}
	r.SHA256 = sum
	if sum != e.SHA256 {
		r.Status, r.Error = "mismatch", fmt.Sprintf("sha256:%s, want sha256:%s", sum, e.SHA256)
		return r
	}
	r.Status = "ok"
	return r
}

// loadVerifyEntries reads the files to check and the directory they are
// in.
func loadVerifyEntries(target, dirFlag string) ([]verifyEntry, string, error) {
	fi, err := os.Stat(target)
	if err != nil {
		return nil, "", withExit(exitUsage, fmt.Errorf("verify: %w", err))
	}
	path := target
	if fi.IsDir() {
		path = filepath.Join(target, "manifest.json")
		if _, err := os.Stat(path); err != nil {
			path = filepath.Join(target, "SHA256SUMS")
			if _, err := os.Stat(path); err != nil {
				// A directory filled by haul fetch has only the journal.
				entries, jerr := journalEntries(target)
				if jerr != nil {
					return nil, "", usageErrorf("verify: %s has neither manifest.json, SHA256SUMS nor a %s journal", target, downloader.StateDir)
				}
				return entries, target, nil
			}
		}
	}
	dir := dirFlag
	if dir == "" {
		dir = filepath.Dir(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", withExit(exitUsage, fmt.Errorf("verify: %w", err))
	}
	defer f.Close()
	if strings.EqualFold(filepath.Base(path), "SHA256SUMS") || strings.HasSuffix(strings.ToLower(path), ".sha256") {
		sums, err := manifest.ParseSHA256Sums(f)
		if err != nil {
			return nil, "", withExit(exitUsage, fmt.Errorf("verify %s: %w", path, err))
		}
		return sumsEntries(sums), dir, nil
	}
	m, err := manifest.Parse(f)
	if err != nil {
		return nil, "", withExit(exitUsage, fmt.Errorf("verify %s: %w", path, err))
	}
	return manifestEntries(m), dir, nil
}

// isRemoteManifest reports whether ref is read as haul fetch reads it
// rather than as a local path: stdin or an http(s) URL.
func isRemoteManifest(ref string) bool {
	return ref == "-" || strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://")
}

// loadRemoteVerifyEntries reads the manifest from stdin or a URL: a JSON
// manifest, a URL list, or (from stdin) SHA256SUMS lines.
func loadRemoteVerifyEntries(ctx context.Context, opts *verifyOptions) ([]verifyEntry, error) {
	src := &manifestSource{client: downloader.NewHTTPClient(2), server: opts.Server, token: opts.Token}
	body, what, err := src.open(ctx, opts.Target, opts.IO.In)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, maxVerifyManifest+1))
	if err != nil {
		return nil, fmt.Errorf("verify: read manifest %s: %w", what, err)
	}
	if len(data) > maxVerifyManifest {
		return nil, usageErrorf("verify: manifest %s is larger than %d bytes", what, maxVerifyManifest)
	}
	m, perr := manifest.Parse(bytes.NewReader(data))
	if perr == nil {
		return manifestEntries(m), nil
	}
	if sums, err := manifest.ParseSHA256Sums(bytes.NewReader(data)); err == nil && len(sums) > 0 {
		return sumsEntries(sums), nil
	}
	return nil, withExit(exitUsage, fmt.Errorf("verify %s: %w", what, perr))
}

// maxVerifyManifest caps a manifest read from stdin or a URL.
const maxVerifyManifest = 256 << 20

// manifestEntries lists the ready items of m.
func manifestEntries(m *manifest.Manifest) []verifyEntry {
	var entries []verifyEntry
	seen := map[string]bool{}
	for i := range m.Items {
		it := &m.Items[i]
		if it.EffectiveStatus() != manifest.ItemReady {
			continue
		}
		name, err := manifest.Name(it)
		e := verifyEntry{Name: name, SHA256: it.SHA256(), Size: it.Size, err: err}
		if err != nil {
			e.Name = it.Key()
		} else {
			e.err = duplicate(seen, name)
		}
		entries = append(entries, e)
	}
	return entries
}

// duplicate refuses a later entry for a name already listed, compared
// like haul fetch compares targets (manifest.FoldName): fetch refused
// that item, so verify reports it once as an error instead of checking
// the first item's file twice.
func duplicate(seen map[string]bool, name string) error {
	k := manifest.FoldName(name)
	if seen[k] {
		return fmt.Errorf("%w %q: an earlier item already uses this name", manifest.ErrDuplicate, name)
	}
	seen[k] = true
	return nil
}

// journalEntries reads DIR/.haul/done.ndjson, the log haul fetch appends a
// line to for every file it completed and verified ({name, size, sha256}),
// so that haul verify DIR works on any download directory. The last line of
// a name wins.
func journalEntries(dir string) ([]verifyEntry, error) {
	f, err := os.Open(filepath.Join(dir, downloader.StateDir, "done.ndjson"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var entries []verifyEntry
	index := map[string]int{}
	dec := json.NewDecoder(f)
	for {
		var rec struct {
			Name   string `json:"name"`
			Size   int64  `json:"size"`
			SHA256 string `json:"sha256"`
		}
		if err := dec.Decode(&rec); err != nil {
			break // end of log, or a torn last line
		}
		e := verifyEntry{Name: rec.Name, SHA256: rec.SHA256, Size: rec.Size}
		if _, err := manifest.CleanName(e.Name); err != nil {
			e.err = err
		}
		if i, ok := index[e.Name]; ok {
			entries[i] = e
			continue
		}
		index[e.Name] = len(entries)
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("no completed files in the journal")
	}
	return entries, nil
}

// sumsEntries lists the lines of a SHA256SUMS file.
func sumsEntries(sums []manifest.Sum) []verifyEntry {
	entries := make([]verifyEntry, 0, len(sums))
	seen := map[string]bool{}
	for _, s := range sums {
		e := verifyEntry{Name: strings.TrimPrefix(s.Name, "./"), SHA256: s.SHA256}
		if name, err := manifest.CleanName(e.Name); err != nil {
			e.err = err
		} else {
			e.err = duplicate(seen, name)
		}
		entries = append(entries, e)
	}
	return entries
}
