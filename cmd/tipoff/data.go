package main

import (
	"context"
	"io"
	"os"
	"path/filepath"

	"tipoff/dataimport"
	"tipoff/predict"
	"tipoff/sqlite"
)

// readData reads the data set at path: a CSV directory, or a SQLite file
// made by "tipoff import".
func readData(ctx context.Context, path string) (*predict.Dataset, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return dataimport.ReadDir(path)
	}
	// A SQLite file is opened from a private copy: the mount may be read
	// only or not support SQLite's locking, and opening it may write.
	tmp, err := os.MkdirTemp("", "tipoff-data-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	local := filepath.Join(tmp, "data.db")
	if err := copyFile(path, local); err != nil {
		return nil, err
	}
	db, err := sqlite.Open(ctx, local)
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
