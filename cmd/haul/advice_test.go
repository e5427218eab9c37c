package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/haulhq/haul/downloader"
)

func TestFailureAdvice(t *testing.T) {
	full := &fs.PathError{Op: "write", Path: "/out/.haul/x.part", Err: syscall.ENOSPC}
	tests := []struct {
		name string
		errs []error
		want string
	}{
		{"disk full wins", []error{errors.New("boom"), fmt.Errorf("write part file: %w", full)}, "disk is full"},
		{"quota", []error{fmt.Errorf("write part file: %w", syscall.EDQUOT)}, "disk is full"},
		{"refused", []error{&downloader.HTTPError{StatusCode: 403, Status: "403 Forbidden"}}, "access was refused"},
		{"changed", []error{fmt.Errorf("f: %w", downloader.ErrChecksumMismatch)}, "fresh manifest"},
		{"other", []error{errors.New("connection reset")}, "run the same command again"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var failed []downloader.Result
			for _, err := range tc.errs {
				failed = append(failed, downloader.Result{Err: err})
			}
			if got := failureAdvice(failed); !strings.Contains(got, tc.want) {
				t.Errorf("failureAdvice = %q, want it to contain %q", got, tc.want)
			}
		})
	}
}

func TestListenErrorAdvice(t *testing.T) {
	taken := &net.OpError{Op: "listen", Net: "tcp", Err: &os.SyscallError{Syscall: "bind", Err: syscall.EADDRINUSE}}
	if got := listenError("127.0.0.1:8080", taken).Error(); !strings.Contains(got, "choose another --addr") {
		t.Errorf("port taken: %q", got)
	}
	denied := &net.OpError{Op: "listen", Net: "tcp", Err: &os.SyscallError{Syscall: "bind", Err: syscall.EACCES}}
	if got := listenError(":80", denied).Error(); !strings.Contains(got, "1024") {
		t.Errorf("privileged port: %q", got)
	}
	if got := listenError("x", errors.New("boom")).Error(); got != "listen on x: boom" {
		t.Errorf("other: %q", got)
	}
}

func TestMakeOutputDir(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{file, filepath.Join(file, "sub")} {
		if err := makeOutputDir(dir); exitCodeOf(err) != exitUsage {
			t.Errorf("makeOutputDir(%s) = %v (exit %d), want a usage error", dir, err, exitCodeOf(err))
		}
	}
	nested := filepath.Join(root, "a", "b")
	if err := makeOutputDir(nested); err != nil {
		t.Fatalf("makeOutputDir(new nested dir) = %v", err)
	}
	if fi, err := os.Stat(nested); err != nil || !fi.IsDir() {
		t.Errorf("%s not created: %v", nested, err)
	}
	if err := makeOutputDir(nested); err != nil {
		t.Errorf("makeOutputDir(existing dir) = %v", err)
	}
}
