package store

import (
	"errors"
	"fmt"
)

// Error codes. Callers branch on them (the server maps each to an HTTP
// status and a problem code in one table); backends return them wrapped in
// an *Error.
const (
	// ENOTFOUND: no such object, or it belongs to another tenant.
	ENOTFOUND = "not_found"
	// ECONFLICT: the object exists already, or its state forbids the change
	// (a lease lost, a grant that is not renewable, a duplicate name).
	ECONFLICT = "conflict"
	// EINVALID: the input is malformed (an empty required field, a bad value).
	EINVALID = "invalid"
	// EINTERNAL: anything else; the message is not meant for users.
	EINTERNAL = "internal"
	// EGRANTCONSUMED: a grant has no downloads left.
	EGRANTCONSUMED = "grant_consumed"
	// EGRANTEXPIRED: a grant's access_expires_at has passed.
	EGRANTEXPIRED = "grant_expired"
	// EGRANTREVOKED: a grant was revoked.
	EGRANTREVOKED = "grant_revoked"
)

// Error is a store error with a machine code and a human message.
// errors.Is(err, ErrNotFound) matches any *Error with the same code, so
// callers can either test a sentinel or read the code with ErrorCode.
type Error struct {
	// Code is one of the E* constants.
	Code string
	// Message says what happened, safe to show to the API caller.
	Message string
	// Err is the underlying cause, when there is one.
	Err error
}

// Error implements the error interface.
func (e *Error) Error() string {
	switch {
	case e.Message != "" && e.Err != nil:
		return fmt.Sprintf("store %s: %s: %v", e.Code, e.Message, e.Err)
	case e.Message != "":
		return fmt.Sprintf("store %s: %s", e.Code, e.Message)
	case e.Err != nil:
		return fmt.Sprintf("store %s: %v", e.Code, e.Err)
	}
	return "store " + e.Code
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so that the
// sentinels below match errors carrying a message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrNotFound      = &Error{Code: ENOTFOUND}
	ErrConflict      = &Error{Code: ECONFLICT}
	ErrInvalid       = &Error{Code: EINVALID}
	ErrInternal      = &Error{Code: EINTERNAL}
	ErrGrantConsumed = &Error{Code: EGRANTCONSUMED}
	ErrGrantExpired  = &Error{Code: EGRANTEXPIRED}
	ErrGrantRevoked  = &Error{Code: EGRANTREVOKED}
)

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for
// nil, and EINTERNAL for any other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, or
// a generic text for other errors (their details are not for users).
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "internal error"
}
