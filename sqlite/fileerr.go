package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	msqlite "modernc.org/sqlite"
)

// SQLite primary result codes explained by [explain]
// (https://sqlite.org/rescode.html).
const (
	codeReadOnly = 8
	codeIOErr    = 10
	codeFull     = 13
	codeCantOpen = 14
	codeNotADB   = 26
)

// lowSpace is the free space below which an I/O error is blamed on a full
// disk: SQLite needs at least a 32 KiB wal-index and room for the WAL.
const lowSpace = 1 << 20

// sqliteCode returns the extended result code of an SQLite error, or 0.
func sqliteCode(err error) int {
	var e *msqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// explain turns an SQLite error on the file at path into one that names the
// file and says what is wrong with it: no space left, read-only, not a
// database. Other errors come back unchanged, with ok false.
func explain(path string, err error) (_ error, ok bool) {
	switch sqliteCode(err) & 0xff {
	case codeFull:
		return fmt.Errorf("%s: no space left: its disk is full or the file reached its size limit: %w", path, err), true
	case codeIOErr:
		// A full disk often shows as an I/O error: SQLite could not grow
		// the wal-index (-shm) or the WAL.
		if free, ok := diskFree(filepath.Dir(path)); ok && free < lowSpace {
			return fmt.Errorf("%s: no space left on its disk (%d bytes free): %w", path, free, err), true
		}
	case codeReadOnly, codeCantOpen:
		if ro := readOnlyCause(path); ro != nil {
			return fmt.Errorf("%w: %w", ro, err), true
		}
	case codeNotADB:
		return fmt.Errorf("%s is not a SQLite database: %w", path, err), true
	}
	return err, false
}

// explainOr returns explain's error if it has one, or err wrapped as
// "what path: err".
func explainOr(what, path string, err error) error {
	if e, ok := explain(path, err); ok {
		return e
	}
	return fmt.Errorf("%s %s: %w", what, path, err)
}

// readOnlyCause returns an error naming the file as read-only if the file,
// or its directory (where SQLite creates the -wal and -shm files), cannot be
// written by this process, and nil otherwise.
func readOnlyCause(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		f.Close()
	} else if notWritable(err) {
		return fmt.Errorf("%s is read-only (%v)", path, err)
	}
	dir := filepath.Dir(path)
	f, err = os.CreateTemp(dir, ".tipoff-write-check-*")
	if err != nil {
		if notWritable(err) {
			return fmt.Errorf("%s is read-only: its directory %s does not let this process create %s-wal and -shm beside it (%v)",
				path, dir, filepath.Base(path), err)
		}
		return nil
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

func notWritable(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
}

// onReadOnlyFS reports whether dir is on a file system mounted read-only.
func onReadOnlyFS(dir string) bool {
	f, err := os.CreateTemp(dir, ".tipoff-write-check-*")
	if err != nil {
		return errors.Is(err, syscall.EROFS)
	}
	f.Close()
	os.Remove(f.Name())
	return false
}
