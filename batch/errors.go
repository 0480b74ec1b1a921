package batch

import (
	"errors"
	"fmt"
)

// The kinds of error callers act on. Backends wrap their own errors with one
// of these, keeping the cause; check with [errors.Is].
var (
	// ErrNotFound: the batch, item or event does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a create-if-absent or compare-and-set lost to another
	// writer (another outcome recorded first, a finalize lease held by
	// someone else).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input is malformed; retrying it cannot help.
	ErrInvalid = errors.New("invalid")
	// ErrFinalized: the batch is finalized (or cancelled) and takes no more
	// changes.
	ErrFinalized = errors.New("batch already finalized")
	// ErrPending: the batch cannot be finalized yet because some items have
	// no outcome.
	ErrPending = errors.New("batch has items without an outcome")
	// ErrLeaseLost: a write fenced by a finalize lease ([LeaseToken]) was
	// refused because the lease is no longer the caller's: another acquire
	// took it over (or the batch ended). Nothing was written. It is a kind
	// of [ErrConflict].
	ErrLeaseLost = fmt.Errorf("finalize lease lost: %w", ErrConflict)
	// ErrNoSpace: the store cannot write because its disk is full (or its
	// file reached a size limit). Nothing written before is lost, but no
	// work can be recorded until space is freed, so retrying at once is
	// futile: a one-shot run stops, naming the store's file.
	ErrNoSpace = errors.New("no space left")
)

// PermanentError marks an error that retrying cannot fix, such as a request
// a worker cannot decode. The item is recorded as failed and the message
// acknowledged.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a [PermanentError]. It returns nil for nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err, or anything it wraps, is a
// [PermanentError] or [ErrInvalid].
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p) || errors.Is(err, ErrInvalid)
}
