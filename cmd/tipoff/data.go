package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"tipoff/dataimport"
	"tipoff/httpapi"
	"tipoff/predict"
	"tipoff/sqlite"
)

// dataSource reads the coordinator's input data, afresh on every load, and
// remembers what the last load found for /health.
type dataSource struct {
	path string
	log  *slog.Logger
	// loads serializes loads: two runs starting at once read once each,
	// but never hold two copies of a SQLite file at the same time.
	loads sync.Mutex
	mu    sync.Mutex
	last  httpapi.DataInfo
}

// load reads the data set at the path: a CSV directory, or a SQLite file.
func (d *dataSource) load(ctx context.Context) (*predict.Dataset, error) {
	d.loads.Lock()
	defer d.loads.Unlock()
	start := time.Now()
	ds, err := d.read(ctx)
	info := httpapi.DataInfo{Path: d.path, LoadedAt: time.Now().UTC()}
	if err != nil {
		err = fmt.Errorf("load data from %s: %w", d.path, err)
		info.Problem = err.Error()
		d.log.Error("data cannot be loaded", "path", d.path, "err", err)
	} else {
		info.Version = ds.Version()
		d.log.Info("data loaded", "path", d.path, "data_version", info.Version, "games", len(ds.Games()), "took", time.Since(start).Round(time.Millisecond).String())
	}
	d.mu.Lock()
	d.last = info
	d.mu.Unlock()
	return ds, err
}

func (d *dataSource) read(ctx context.Context) (*predict.Dataset, error) {
	st, err := os.Stat(d.path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return dataimport.ReadDir(d.path)
	}
	// A SQLite file is opened from a private copy: the mount may be read
	// only or not support SQLite's locking, and opening it may write.
	tmp, err := os.MkdirTemp("", "tipoff-data-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	local := filepath.Join(tmp, "data.db")
	if err := copyFile(d.path, local); err != nil {
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

// info is what the last load found; before any, just the path.
func (d *dataSource) info() httpapi.DataInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last.Path == "" {
		return httpapi.DataInfo{Path: d.path}
	}
	return d.last
}
