package sqlite

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"tipoff/batch"
	"tipoff/predict"
)

// DataFile reads the data set of the tipoff database at a path through a
// private copy of it: the file may be on a read-only mount or one without
// SQLite's locking (a network or FUSE mount of a bucket), and opening a
// database may write to it. The file itself is only read. The copy is kept
// open while the file is unchanged (the same size, modification time and
// inode), so a date's batch reads just its rows ([DB.LoadDay]) without
// copying anything, and the calibrations in the copy ([DB.Calibration]: the
// file's own, and those fitted since, which are kept in the copy alone)
// serve every batch built on that data. When the file changes, the next
// read copies it again. It is safe for concurrent use; Close removes the
// copy.
type DataFile struct {
	path string
	mu   sync.Mutex
	dir  string // the copy's directory; empty before the first copy
	db   *DB
	at   fileStamp
}

// fileStamp is what tells that a file changed.
type fileStamp struct {
	size  int64
	mtime time.Time
	ino   uint64
}

var _ predict.CalibrationStore = (*DataFile)(nil)

// NewDataFile returns a reader of the database at path; it reads nothing
// yet.
func NewDataFile(path string) *DataFile { return &DataFile{path: path} }

// Path returns the path the file is read from.
func (f *DataFile) Path() string { return f.path }

// with runs fn on the copy of the file as it is now, copying it first if
// it changed since the last copy.
func (f *DataFile) with(ctx context.Context, fn func(db *DB) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s: %w: a directory, not a database file", f.path, batch.ErrInvalid)
	}
	at := fileStamp{size: fi.Size(), mtime: fi.ModTime(), ino: inode(fi)}
	if f.db == nil || at != f.at {
		if err := f.closeCopy(); err != nil {
			return err
		}
		tmp, err := os.MkdirTemp("", "tipoff-data-")
		if err != nil {
			return err
		}
		local := filepath.Join(tmp, "data.db")
		db, err := func() (*DB, error) {
			if err := copyFile(f.path, local); err != nil {
				return nil, err
			}
			return Open(ctx, local)
		}()
		if err != nil {
			os.RemoveAll(tmp)
			return err
		}
		f.dir, f.db, f.at = tmp, db, at
	}
	return fn(f.db)
}

// closeCopy closes and removes the copy, if there is one.
func (f *DataFile) closeCopy() error {
	if f.db == nil {
		return nil
	}
	err := f.db.Close()
	if rerr := os.RemoveAll(f.dir); err == nil {
		err = rerr
	}
	f.db, f.dir = nil, ""
	return err
}

// Load reads the whole data set (see [DB.LoadDataset]).
func (f *DataFile) Load(ctx context.Context) (ds *predict.Dataset, err error) {
	err = f.with(ctx, func(db *DB) error {
		ds, err = db.LoadDataset(ctx)
		return err
	})
	return ds, err
}

// LoadDay reads the rows date's batch reads (see [DB.LoadDay]).
func (f *DataFile) LoadDay(ctx context.Context, date predict.Date, sel predict.SelectOptions, ro predict.RequestOptions) (ds *predict.Dataset, err error) {
	err = f.with(ctx, func(db *DB) error {
		ds, err = db.LoadDay(ctx, date, sel, ro)
		return err
	})
	return ds, err
}

// Calibration returns the calibration kept in the copy (see
// [DB.Calibration]).
func (f *DataFile) Calibration(ctx context.Context, version string, date predict.Date, key string) (cal *predict.Calibration, err error) {
	err = f.with(ctx, func(db *DB) error {
		cal, err = db.Calibration(ctx, version, date, key)
		return err
	})
	return cal, err
}

// PutCalibration keeps a calibration in the copy, never in the file (see
// [DB.PutCalibration]): it serves until the file changes or f is closed.
func (f *DataFile) PutCalibration(ctx context.Context, version string, date predict.Date, key string, cal *predict.Calibration) error {
	return f.with(ctx, func(db *DB) error { return db.PutCalibration(ctx, version, date, key, cal) })
}

// Close closes and removes the copy.
func (f *DataFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closeCopy()
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
