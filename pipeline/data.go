package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"tipoff/predict"
)

// DataInfo says which input data a coordinator reads and which version of
// it the last load found.
type DataInfo struct {
	Path     string    `json:"path"`
	Version  string    `json:"version,omitempty"`
	LoadedAt time.Time `json:"loaded_at,omitzero"`
	// Problem is why the last load failed; empty when it worked.
	Problem string `json:"problem,omitempty"`
}

// ReadFunc reads the data set at path.
type ReadFunc func(ctx context.Context, path string) (*predict.Dataset, error)

// DataSource reads the input data at a path afresh on every load, so each
// new batch is built from the data as it is then, and remembers what the
// last load found, for health. Loads run one at a time: two runs starting
// at once read once each, but never hold two copies of the data at once.
type DataSource struct {
	path  string
	read  ReadFunc
	log   *slog.Logger
	loads sync.Mutex
	mu    sync.Mutex
	last  DataInfo
}

// NewDataSource returns a source reading path with read.
func NewDataSource(path string, read ReadFunc, log *slog.Logger) *DataSource {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DataSource{path: path, read: read, log: log}
}

// Path returns the path the source reads.
func (d *DataSource) Path() string { return d.path }

// Load reads the data set, a [LoadFunc].
func (d *DataSource) Load(ctx context.Context) (*predict.Dataset, error) {
	return d.load(ctx, func() (*predict.Dataset, error) { return d.read(ctx, d.path) })
}

// DayLoader returns a [LoadDayFunc] that reads the part of the data at the
// source's path a date's batch needs with read (a [LoadDayFunc] on that
// data, such as a SQLite file's), its loads one at a time with the
// others and remembered as theirs are.
func (d *DataSource) DayLoader(read LoadDayFunc) LoadDayFunc {
	return func(ctx context.Context, date predict.Date, sel predict.SelectOptions, ro predict.RequestOptions) (*predict.Dataset, error) {
		return d.load(ctx, func() (*predict.Dataset, error) { return read(ctx, date, sel, ro) })
	}
}

// load runs read, one at a time, and remembers what it found.
func (d *DataSource) load(ctx context.Context, read func() (*predict.Dataset, error)) (*predict.Dataset, error) {
	d.loads.Lock()
	defer d.loads.Unlock()
	start := time.Now()
	ds, err := read()
	info := DataInfo{Path: d.path, LoadedAt: time.Now().UTC()}
	if err != nil && ctx.Err() != nil {
		// The caller gave up (a client that went away, a shutdown): that
		// says nothing about the data, so the last load's verdict stands.
		d.log.Info("data load abandoned", "path", d.path, "err", err)
		return nil, fmt.Errorf("load data from %s: %w", d.path, err)
	}
	if err != nil {
		err = fmt.Errorf("load data from %s: %w", d.path, err)
		info.Problem = err.Error()
		d.log.Error("data cannot be loaded", "path", d.path, "err", err)
	} else {
		info.Version = ds.Version()
		d.log.Info("data loaded", "path", d.path, "data_version", info.Version, "games", len(ds.Games()), "partial", ds.Partial(),
			"took", time.Since(start).Round(time.Millisecond).String())
	}
	d.mu.Lock()
	d.last = info
	d.mu.Unlock()
	return ds, err
}

// Info is what the last load found; before any, just the path.
func (d *DataSource) Info() DataInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last.Path == "" {
		return DataInfo{Path: d.path}
	}
	return d.last
}
