package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haulhq/haul/downloader"
)

func getFixture(t *testing.T) (*fakeAPI, *getOptions, *strings.Builder, *strings.Builder, string) {
	t.Helper()
	f := newFakeAPI(t)
	id := f.uploadAsset("clip", []byte(strings.Repeat("frame-", 50000)))
	base, out, errOut := f.options(t, "tok-export")
	opts := &getOptions{apiOptions: base, AssetID: id, Format: "original", Dir: t.TempDir(),
		transferFlags: transferFlags{Jobs: 1, Connections: "auto", Retries: 3},
		engine: func(o *downloader.Options) {
			o.BackoffBase, o.BackoffMax = 5*time.Millisecond, 20*time.Millisecond
		}}
	return f, opts, out, errOut, id
}

func TestGetOriginal(t *testing.T) {
	_, opts, out, errOut, id := getFixture(t)
	if err := runGet(context.Background(), opts); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	want := filepath.Join(opts.Dir, "clip_"+id+"_original.bin")
	if out.String() != want+"\n" {
		t.Errorf("stdout %q, want the path %q", out, want)
	}
	if got, _ := os.ReadFile(want); string(got) != strings.Repeat("frame-", 50000) {
		t.Errorf("file has %d bytes", len(got))
	}
	if !strings.Contains(errOut.String(), "done  clip_"+id+"_original.bin  293.0 KiB  sha256:") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestGetWaitsForJobAndRefreshesExpiredURL(t *testing.T) {
	f, opts, out, errOut, id := getFixture(t)
	opts.Format = "mp4_720p"
	opts.Filename = "renamed/clip.mp4"
	f.expireOnce[id] = true
	if err := runGet(context.Background(), opts); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	want := filepath.Join(opts.Dir, "renamed", "clip.mp4")
	if out.String() != want+"\n" {
		t.Errorf("stdout %q", out)
	}
	for _, line := range []string{"job job_" + id + "_mp4_720p: queued 0%", "processing 50%", "succeeded 100%"} {
		if !strings.Contains(errOut.String(), line) {
			t.Errorf("stderr lacks %q:\n%s", line, errOut)
		}
	}
	if f.downloads[id] != 2 {
		t.Errorf("%d download requests, want 2 (expired, then fresh URL)", f.downloads[id])
	}
}

func TestGetExitCodes(t *testing.T) {
	f := newFakeAPI(t)
	id := f.uploadAsset("clip", []byte("x"))
	dir := t.TempDir()
	code, _, errOut := runAPICmd(t, f.srv.URL, "tok-export", "get", id, "--format", "mp4_9k", "-o", dir)
	if code != exitUsage || !strings.Contains(errOut, "allowed formats: original, mp4_720p") {
		t.Errorf("unsupported: exit %d, %q", code, errOut)
	}
	code, _, errOut = runAPICmd(t, f.srv.URL, "tok-read", "get", id, "-o", dir)
	if code != exitAuth {
		t.Errorf("read-only: exit %d, %q", code, errOut)
	}
	code, _, errOut = runAPICmd(t, f.srv.URL, "tok-export", "get", "ast_nope", "-o", dir)
	if code != exitError || !strings.Contains(errOut, "not found") {
		t.Errorf("missing: exit %d, %q", code, errOut)
	}
	code, _, errOut = runAPICmd(t, f.srv.URL, "tok-export", "get", id, "--format", "broken", "-o", dir)
	if code != exitPartial || !strings.Contains(errOut, "ffmpeg exited with status 1 (transcode_failed)") {
		t.Errorf("failed job: exit %d, %q", code, errOut)
	}
	code, _, errOut = runAPICmd(t, f.srv.URL, "tok-export", "get", id, "--filename", "../escape", "-o", dir)
	if code != exitUsage {
		t.Errorf("unsafe filename: exit %d, %q", code, errOut)
	}
}

func TestGetNeverReplacesADifferentFile(t *testing.T) {
	_, opts, out, errOut, id := getFixture(t)
	content := strings.Repeat("frame-", 50000)
	target := filepath.Join(opts.Dir, "clip_"+id+"_original.bin")
	if err := runGet(context.Background(), opts); err != nil {
		t.Fatalf("first get: %v\n%s", err, errOut)
	}

	// The same file again: already there, not an error.
	out.Reset()
	errOut.Reset()
	if err := runGet(context.Background(), opts); err != nil {
		t.Fatalf("identical file: %v\n%s", err, errOut)
	}
	if out.String() != target+"\n" || !strings.Contains(errOut.String(), "1 already complete") {
		t.Errorf("identical file: stdout %q stderr %q", out, errOut)
	}

	// A different file under that name (same size, then another size) is
	// refused, and left as it was.
	for _, other := range []string{strings.Repeat("FRAME-", 50000), "short"} {
		if err := os.WriteFile(target, []byte(other), 0o644); err != nil {
			t.Fatal(err)
		}
		err := runGet(context.Background(), opts)
		if err == nil || exitCodeOf(err) != exitError || !strings.Contains(err.Error(), "already exists and differs") || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("different file (%d bytes): err %v (exit %d)", len(other), err, exitCodeOf(err))
		}
		if got, _ := os.ReadFile(target); string(got) != other {
			t.Fatalf("the existing file was changed")
		}
	}

	// --force replaces it.
	opts.Force = true
	if err := runGet(context.Background(), opts); err != nil {
		t.Fatalf("--force: %v\n%s", err, errOut)
	}
	if got, _ := os.ReadFile(target); string(got) != content {
		t.Errorf("--force: file has %d bytes", len(got))
	}
}

func TestGetWaitsWhileTheAssetIsScanned(t *testing.T) {
	f, opts, out, errOut, id := getFixture(t)
	f.scanning[id] = 1
	start := time.Now()
	if err := runGet(context.Background(), opts); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if time.Since(start) < 900*time.Millisecond {
		t.Errorf("Retry-After: 1 was not honoured (%s)", time.Since(start))
	}
	if !strings.Contains(errOut.String(), "asset "+id+" is scanning; waiting until it is available") || f.scanning[id] != 0 {
		t.Errorf("stderr %q", errOut)
	}
	if want := filepath.Join(opts.Dir, "clip_"+id+"_original.bin"); out.String() != want+"\n" {
		t.Errorf("stdout %q", out)
	}

	// Interrupted while waiting: exit 130, nothing written.
	f.scanning[id] = 100
	opts.Dir = t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := runGet(ctx, opts); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("interrupted wait: %v", err)
	}
}
