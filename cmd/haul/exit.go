package main

import (
	"context"
	"errors"
	"fmt"
)

// Exit codes, fixed by SPEC section 2.
const (
	exitOK          = 0
	exitError       = 1   // runtime error
	exitUsage       = 2   // usage, config or manifest error
	exitPartial     = 3   // some items failed, the rest completed
	exitAuth        = 4   // authentication or permission refused
	exitInterrupted = 130 // interrupted; the journal is saved
)

// exitError carries the process exit code for an error. Commands wrap
// errors with withExit; everything else exits 1.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// withExit attaches an exit code to err. A nil err stays nil.
func withExit(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

// usageErrorf is an error that exits 2.
func usageErrorf(format string, args ...any) error {
	return withExit(exitUsage, fmt.Errorf(format, args...))
}

// exitCodeOf maps an error returned by a command to the process exit code.
func exitCodeOf(err error) int {
	if err == nil {
		return exitOK
	}
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	if errors.Is(err, context.Canceled) {
		return exitInterrupted
	}
	return exitError
}
