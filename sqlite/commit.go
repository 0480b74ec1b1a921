package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"

	"tipoff/batch"
)

// maxGroup caps how many callers share one transaction.
const maxGroup = 512

// writeReq is one caller's share of a group commit.
type writeReq struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan error
}

// Write runs fn in a write transaction that it may share with other callers
// waiting at the same time (group commit): one BEGIN IMMEDIATE, each caller's
// fn inside its own SAVEPOINT, one COMMIT and so one fsync for all of them.
// If fn returns an error only its own changes are rolled back and Write
// returns that error; otherwise Write returns once the transaction is
// committed and durable. fn must not keep tx or run for long: every caller in
// the group waits for it. A caller whose ctx ends before its fn runs gets
// ctx's error and fn does not run.
func (db *DB) Write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if db.readOnly {
		return fmt.Errorf("%s: %w", db.path, ErrReadOnly)
	}
	req := writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case db.writes <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.closed:
		return errClosed
	}
	// Once queued, the request runs or fails; wait for its answer so the
	// caller never returns while its changes might still commit.
	select {
	case err := <-req.done:
		return db.noSpace(err)
	case <-db.writerDone:
		select {
		case err := <-req.done:
			return db.noSpace(err)
		default:
			return errClosed
		}
	}
}

// noSpace marks an error that comes from the file's disk being full, or
// the file reaching its size limit, with [batch.ErrNoSpace] and says so,
// naming the file. Other errors come back unchanged.
func (db *DB) noSpace(err error) error {
	if err == nil || errors.Is(err, batch.ErrNoSpace) {
		return err
	}
	full := errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EFBIG)
	switch sqliteCode(err) & 0xff {
	case codeFull:
		full = true
	case codeIOErr:
		free, ok := diskFree(filepath.Dir(db.path))
		full = full || (ok && free < lowSpace)
	}
	if !full {
		return err
	}
	e, ok := explain(db.path, err)
	if !ok {
		e = fmt.Errorf("%s: no space left on its disk: %w", db.path, err)
	}
	return noSpaceError{e}
}

// noSpaceError is an error of a full disk, explained; it wraps
// [batch.ErrNoSpace] without repeating its text.
type noSpaceError struct{ err error }

func (e noSpaceError) Error() string {
	return e.err.Error() + "; free space there (or use another file with --db) and run the command again: what was recorded is kept"
}

func (e noSpaceError) Unwrap() []error { return []error{batch.ErrNoSpace, e.err} }

var errClosed = errors.New("sqlite: database is closed")

// writer is the single goroutine that owns the write connection's
// transactions. It takes whatever requests are waiting and commits them
// together.
func (db *DB) writer() {
	defer close(db.writerDone)
	group := make([]writeReq, 0, maxGroup)
	for {
		var first writeReq
		select {
		case first = <-db.writes:
		case <-db.closed:
			db.drain()
			return
		}
		group = append(group[:0], first)
	fill:
		for len(group) < maxGroup {
			select {
			case r := <-db.writes:
				group = append(group, r)
			default:
				break fill
			}
		}
		db.commitGroup(group)
	}
}

// drain fails requests still queued at close.
func (db *DB) drain() {
	for {
		select {
		case r := <-db.writes:
			r.done <- errClosed
		default:
			return
		}
	}
}

func (db *DB) commitGroup(group []writeReq) {
	errs := make([]error, len(group))
	fail := func(err error) {
		for _, r := range group {
			r.done <- err
		}
	}
	tx, err := db.write.BeginTx(context.Background(), nil)
	if err != nil {
		fail(fmt.Errorf("begin write: %w", err))
		return
	}
	ran := 0
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if len(group) == 1 {
			errs[i] = r.fn(tx)
			if errs[i] != nil {
				tx.Rollback()
				r.done <- errs[i]
				return
			}
			ran++
			continue
		}
		if _, err := tx.Exec("SAVEPOINT w"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("savepoint: %w", err))
			return
		}
		if errs[i] = r.fn(tx); errs[i] != nil {
			if _, err := tx.Exec("ROLLBACK TO w"); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("rollback to savepoint: %w (after %w)", err, errs[i]))
				return
			}
		} else {
			ran++
		}
		if _, err := tx.Exec("RELEASE w"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if ran == 0 {
		tx.Rollback()
	} else if err := tx.Commit(); err != nil {
		// SQLite may leave the transaction open after a failed COMMIT (a
		// full disk, say), and database/sql forgets it either way: roll it
		// back, or every later BEGIN on the connection fails. The error
		// when SQLite already rolled back is expected.
		db.write.Exec("ROLLBACK")
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	for i, r := range group {
		r.done <- errs[i]
	}
}
