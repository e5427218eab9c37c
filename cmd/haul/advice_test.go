package main

import (
	"errors"
	"fmt"
	"io/fs"
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
