package sqlite

import (
	"context"
	"io"
	"os"
	"path/filepath"

	"tipoff/predict"
)

// LoadDatasetCopy reads the data set of the tipoff database at path
// through a private copy of it, which it removes afterwards: the file may
// be on a read-only mount or one without SQLite's locking (a network or
// FUSE mount of a bucket), and opening a database may write to it. The
// file itself is only read.
func LoadDatasetCopy(ctx context.Context, path string) (*predict.Dataset, error) {
	tmp, err := os.MkdirTemp("", "tipoff-data-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	local := filepath.Join(tmp, "data.db")
	if err := copyFile(path, local); err != nil {
		return nil, err
	}
	db, err := Open(ctx, local)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return db.LoadDataset(ctx)
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
