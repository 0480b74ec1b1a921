package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"tipoff/batch"
	"tipoff/predict"
)

// DataInfo says which input data a coordinator reads: what the last check
// of its version found and what the last load read.
type DataInfo struct {
	Path string `json:"path"`
	// Version and LoadedAt are the data set's version ([predict.Dataset.Version])
	// and the time of the last load that read it; empty before any.
	Version  string    `json:"version,omitempty"`
	LoadedAt time.Time `json:"loaded_at,omitzero"`
	// Source is the version of the data at Path that the last check found
	// without reading it (its files' names, sizes and modification times,
	// its objects' generations), and CheckedAt when; empty when the source
	// has no such check.
	Source    string    `json:"source_version,omitempty"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
	// Changed says that the last check found other data than the last load
	// read: the next new batch reads it.
	Changed bool `json:"changed,omitempty"`
	// Problem is why the last check or load failed; empty when it worked.
	Problem string `json:"problem,omitempty"`
}

// ReadFunc reads the data set at path.
type ReadFunc func(ctx context.Context, path string) (*predict.Dataset, error)

// VersionFunc says which version of the data is at path without reading
// the data: a string that changes whenever the data does.
type VersionFunc func(ctx context.Context, path string) (string, error)

// DataSourceConfig configures a [DataSource]. Path and Read are required.
type DataSourceConfig struct {
	Path string
	Read ReadFunc
	// Version, when set, says cheaply which version is at Path: [DataSource.Check]
	// reports it, and with Keep every load checks it first.
	Version VersionFunc
	// Keep keeps the last data set read (and the calibrations fitted on
	// it, see [DataSource.Calibration]) while Version finds the same
	// version, so that new batches on unchanged data read and parse it
	// once. It needs Version.
	Keep bool
	Log  *slog.Logger
}

// DataSource reads the input data at a path for each load, so each new
// batch is built from the data as it is then, and remembers what the last
// check and load found, for health. With [DataSourceConfig.Keep] it reads
// the data again only when its version changed since the data set it
// keeps was read, checking the version on every load; it keeps one data
// set at most and drops it before reading another. Loads run one at a
// time: two runs starting at once read once each (once between them when
// the data set is kept), and the source itself holds one data set at most
// (a batch still being built from the one it dropped holds that one).
type DataSource struct {
	cfg   DataSourceConfig
	log   *slog.Logger
	loads sync.Mutex
	mu    sync.Mutex
	last  DataInfo
	// kept is the data set kept, keptAt the source version it was read
	// at, and fits the calibrations fitted on it, by date and key.
	kept   *predict.Dataset
	keptAt string
	fits   map[string]*predict.Calibration
	// readAt is the source version the last good read was of; unlike
	// keptAt it outlives a drop, so a failed read of newer data still
	// shows as a change.
	readAt string
}

var _ predict.CalibrationStore = (*DataSource)(nil)

// NewDataSource returns a source of cfg. It panics without a path, a read
// function, or with Keep but no Version: a wiring mistake.
func NewDataSource(cfg DataSourceConfig) *DataSource {
	if cfg.Path == "" || cfg.Read == nil || cfg.Keep && cfg.Version == nil {
		panic("pipeline: NewDataSource needs Path and Read, and Version to Keep")
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DataSource{cfg: cfg, log: log, last: DataInfo{Path: cfg.Path}}
}

// Path returns the path the source reads.
func (d *DataSource) Path() string { return d.cfg.Path }

// Load reads the data set, a [LoadFunc]; with Keep, only when its version
// changed since the data set kept was read.
func (d *DataSource) Load(ctx context.Context) (*predict.Dataset, error) {
	d.loads.Lock()
	defer d.loads.Unlock()
	if !d.cfg.Keep {
		return d.load(ctx, func() (*predict.Dataset, error) { return d.cfg.Read(ctx, d.cfg.Path) })
	}
	v, err := d.check(ctx)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	ds := d.kept
	if ds != nil && d.keptAt == v {
		d.mu.Unlock()
		d.log.Debug("data unchanged", "path", d.cfg.Path, "data_version", ds.Version(), "source_version", v)
		return ds, nil
	}
	// Dropped before the next is read: one data set at a time.
	d.kept, d.keptAt, d.fits = nil, "", nil
	d.mu.Unlock()
	// Read after the check: if the data changes in between, what is read
	// is newer than v, and the next check reads again; never older.
	ds, err = d.load(ctx, func() (*predict.Dataset, error) { return d.cfg.Read(ctx, d.cfg.Path) })
	if err == nil {
		d.mu.Lock()
		d.kept, d.keptAt, d.readAt = ds, v, v
		d.mu.Unlock()
	}
	return ds, err
}

// Check finds the version of the data at the path without reading the
// data, and remembers it for [DataSource.Info]: a failed check is a
// problem until the next check or load works. Without a Version function
// it does nothing.
func (d *DataSource) Check(ctx context.Context) error {
	if d.cfg.Version == nil {
		return nil
	}
	d.loads.Lock()
	defer d.loads.Unlock()
	v, err := d.check(ctx)
	if err == nil {
		d.log.Info("data version checked", "path", d.cfg.Path, "source_version", v)
	}
	return err
}

// check is [DataSource.Check] under the loads lock.
func (d *DataSource) check(ctx context.Context) (string, error) {
	v, err := d.cfg.Version(ctx, d.cfg.Path)
	now := time.Now().UTC()
	if err != nil && ctx.Err() != nil {
		d.log.Info("data version check abandoned", "path", d.cfg.Path, "err", err)
		return "", fmt.Errorf("check the data version at %s: %w", d.cfg.Path, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last.CheckedAt = now
	if err != nil {
		err = fmt.Errorf("check the data version at %s: %w", d.cfg.Path, err)
		d.last.Problem = err.Error()
		d.log.Error("data version cannot be checked", "path", d.cfg.Path, "err", err)
		return "", err
	}
	d.last.Source, d.last.Problem = v, ""
	d.last.Changed = d.readAt != "" && d.readAt != v
	return v, nil
}

// DayLoader returns a [LoadDayFunc] that reads the part of the data at the
// source's path a date's batch needs with read (a [LoadDayFunc] on that
// data, such as a SQLite file's), its loads one at a time with the
// others and remembered as theirs are.
func (d *DataSource) DayLoader(read LoadDayFunc) LoadDayFunc {
	return func(ctx context.Context, date predict.Date, sel predict.SelectOptions, ro predict.RequestOptions) (*predict.Dataset, error) {
		d.loads.Lock()
		defer d.loads.Unlock()
		return d.load(ctx, func() (*predict.Dataset, error) { return read(ctx, date, sel, ro) })
	}
}

// load runs read, under the loads lock, and remembers what it found.
func (d *DataSource) load(ctx context.Context, read func() (*predict.Dataset, error)) (*predict.Dataset, error) {
	start := time.Now()
	ds, err := read()
	if err != nil && ctx.Err() != nil {
		// The caller gave up (a client that went away, a shutdown): that
		// says nothing about the data, so the last load's verdict stands.
		d.log.Info("data load abandoned", "path", d.cfg.Path, "err", err)
		return nil, fmt.Errorf("load data from %s: %w", d.cfg.Path, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("load data from %s: %w", d.cfg.Path, err)
		d.last.Problem = err.Error()
		d.log.Error("data cannot be loaded", "path", d.cfg.Path, "err", err)
		return nil, err
	}
	d.last.Version, d.last.LoadedAt, d.last.Problem, d.last.Changed = ds.Version(), time.Now().UTC(), "", false
	d.log.Info("data loaded", "path", d.cfg.Path, "data_version", ds.Version(), "source_version", d.last.Source, "games", len(ds.Games()),
		"partial", ds.Partial(), "took", time.Since(start).Round(time.Millisecond).String())
	return ds, nil
}

// Info is what the last check and load found; before any, just the path.
func (d *DataSource) Info() DataInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last
}

// Calibration returns a calibration fitted on the data set kept, while it
// is kept (see [predict.CalibrationStore]); it is dropped with the data set.
func (d *DataSource) Calibration(_ context.Context, version string, date predict.Date, key string) (*predict.Calibration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cal, ok := d.fits[date.String()+" "+key]
	if !ok || d.kept == nil || d.kept.Version() != version {
		return nil, fmt.Errorf("calibration for %s on data %s: %w", date, version, batch.ErrNotFound)
	}
	return cal.Clone(), nil
}

// PutCalibration keeps a calibration with the data set kept, if version is
// its version; otherwise it keeps nothing.
func (d *DataSource) PutCalibration(_ context.Context, version string, date predict.Date, key string, cal *predict.Calibration) error {
	if cal == nil {
		return errors.New("put calibration: nil")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.kept == nil || d.kept.Version() != version {
		return nil
	}
	if d.fits == nil {
		d.fits = map[string]*predict.Calibration{}
	}
	d.fits[date.String()+" "+key] = cal.Clone()
	return nil
}
