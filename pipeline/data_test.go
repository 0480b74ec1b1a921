package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/pipeline"
	"tipoff/predict"
	"tipoff/predict/systems"
	"tipoff/sqlite"
)

// A load whose caller went away (a /start client that disconnected) is
// not the data's fault: it is logged below ERROR and leaves the last
// load's verdict, which /health reports, as it was.
func TestDataSource_CallerGone(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(t.Context())
	read := func(ctx context.Context, path string) (*predict.Dataset, error) {
		cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	d := pipeline.NewDataSource(pipeline.DataSourceConfig{Path: "/data/nba", Read: read, Log: log})
	before := d.Info()
	if _, err := d.Load(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Load with its caller gone: %v, want context.Canceled", err)
	}
	if got := d.Info(); got != before {
		t.Errorf("Info after an abandoned load: %+v, want %+v", got, before)
	}
	if strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "data load abandoned") {
		t.Errorf("logged:\n%s\nwant the abandoned load below ERROR", logs.String())
	}
}

// versioned is a data source's files as a test sees them: a version that
// can change or fail, and reads that are counted.
type versioned struct {
	mu       sync.Mutex
	version  string
	err      error
	readErr  error                       // what a read returns, when set
	data     map[string]*predict.Dataset // by version
	reads    atomic.Int32
	versions atomic.Int32
}

func (v *versioned) set(version string, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.version, v.err = version, err
}

func (v *versioned) source(t *testing.T) *pipeline.DataSource {
	return pipeline.NewDataSource(pipeline.DataSourceConfig{Path: "gs://bucket/nba", Keep: true,
		Version: func(ctx context.Context, path string) (string, error) {
			v.versions.Add(1)
			v.mu.Lock()
			defer v.mu.Unlock()
			return v.version, v.err
		},
		Read: func(ctx context.Context, path string) (*predict.Dataset, error) {
			v.reads.Add(1)
			v.mu.Lock()
			defer v.mu.Unlock()
			if v.readErr != nil {
				return nil, v.readErr
			}
			if v.data[v.version] == nil {
				t.Errorf("read of version %q, which the test has no data for", v.version)
			}
			return v.data[v.version], nil
		},
		Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func syntheticLeague(t *testing.T, seed int64) *predict.Dataset {
	t.Helper()
	ds, err := dataimport.Synthetic(seed, dataimport.SyntheticOptions{From: predict.MustParseDate("2025-10-21"),
		To: predict.MustParseDate("2025-12-31"), Teams: 6})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// A kept data set is read once per version: loads on one version, at once
// or one after another, read it once; a new version is read on the next
// load; a failed version check fails the load, whatever is kept, and shows
// in Info until a check works.
func TestDataSource_KeptWhileVersionHolds(t *testing.T) {
	t.Parallel()
	a, b := syntheticLeague(t, 1), syntheticLeague(t, 2)
	v := &versioned{version: "v1", data: map[string]*predict.Dataset{"v1": a, "v2": b}}
	d := v.source(t)

	if err := d.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := d.Info(); got.Source != "v1" || got.CheckedAt.IsZero() || got.Version != "" || !got.LoadedAt.IsZero() || got.Problem != "" ||
		v.reads.Load() != 0 {
		t.Fatalf("after a check: info %+v, %d reads; want the source version and nothing read", got, v.reads.Load())
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if ds, err := d.Load(t.Context()); err != nil || ds != a {
				t.Errorf("load of v1: %v, want the v1 data set", err)
			}
		})
	}
	wg.Wait()
	if ds, err := d.Load(t.Context()); err != nil || ds != a {
		t.Fatalf("load of v1 again: %v", err)
	}
	if n := v.reads.Load(); n != 1 {
		t.Fatalf("five loads of one version read it %d times, want once", n)
	}
	if got := d.Info(); got.Version != a.Version() || got.Source != "v1" || got.LoadedAt.IsZero() || got.Changed {
		t.Fatalf("info after loads of v1: %+v", got)
	}

	v.set("v2", nil)
	if err := d.Check(t.Context()); err != nil || !d.Info().Changed || d.Info().Version != a.Version() {
		t.Fatalf("check of a new version: %v, info %+v; want it marked changed, the loaded version still v1's", err, d.Info())
	}
	if ds, err := d.Load(t.Context()); err != nil || ds != b || v.reads.Load() != 2 {
		t.Fatalf("load after the version changed: %v, %d reads; want the v2 data set, read", err, v.reads.Load())
	}
	if got := d.Info(); got.Version != b.Version() || got.Source != "v2" || got.Changed {
		t.Fatalf("info after loading v2: %+v", got)
	}

	v.set("", errors.New("storage: 503 backend unavailable"))
	ds, err := d.Load(t.Context())
	if err == nil || ds != nil || !strings.Contains(err.Error(), "503 backend unavailable") {
		t.Fatalf("load with the version unknown: %v (data %v), want the check's error and no data", err, ds != nil)
	}
	if got := d.Info(); !strings.Contains(got.Problem, "check the data version at gs://bucket/nba") || !strings.Contains(got.Problem, "503") {
		t.Fatalf("info after a failed check: %+v, want the problem named", got)
	}
	if n := v.reads.Load(); n != 2 {
		t.Fatalf("a failed check read the data (%d reads, want 2)", n)
	}
	v.set("v2", nil)
	if ds, err := d.Load(t.Context()); err != nil || ds != b || v.reads.Load() != 2 || d.Info().Problem != "" {
		t.Fatalf("load once the check works: %v, %d reads, info %+v; want the kept v2 data set, unread, no problem", err, v.reads.Load(), d.Info())
	}
}

// Data that changed but cannot be read shows as changed for as long as it
// cannot: the data set read last stays the loaded version, and the problem
// is named.
func TestDataSource_UnreadableNewVersionIsChanged(t *testing.T) {
	t.Parallel()
	a := syntheticLeague(t, 1)
	v := &versioned{version: "v1", data: map[string]*predict.Dataset{"v1": a}}
	d := v.source(t)
	if ds, err := d.Load(t.Context()); err != nil || ds != a {
		t.Fatalf("load of v1: %v", err)
	}
	v.set("v2", nil)
	v.mu.Lock()
	v.readErr = errors.New("games.csv line 7: bad date")
	v.mu.Unlock()
	for i := range 2 {
		if _, err := d.Load(t.Context()); err == nil {
			t.Fatalf("load %d of unreadable v2 worked", i+1)
		}
		if got := d.Info(); !got.Changed || got.Source != "v2" || got.Version != a.Version() || !strings.Contains(got.Problem, "bad date") {
			t.Fatalf("info after failed load %d of v2: %+v; want changed, source v2, loaded version v1's, the problem named", i+1, got)
		}
	}
}

// countedPuts counts the fits stored in a calibration store.
type countedPuts struct {
	predict.CalibrationStore
	puts atomic.Int32
}

func (c *countedPuts) PutCalibration(ctx context.Context, version string, date predict.Date, key string, cal *predict.Calibration) error {
	c.puts.Add(1)
	return c.CalibrationStore.PutCalibration(ctx, version, date, key, cal)
}

// A starter on a kept data source reads the data and fits a date's
// calibration once per data version: a second new batch of the date (another
// run label) reads nothing and reuses the fit, a start of an existing key
// does not even check the version, and new data is read and fitted again.
func TestStarter_KeptDataAndFits(t *testing.T) {
	t.Parallel()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tipoff.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, b := syntheticLeague(t, 3), syntheticLeague(t, 4)
	v := &versioned{version: "v1", data: map[string]*predict.Dataset{"v1": a, "v2": b}}
	d := v.source(t)
	cals := &countedPuts{CalibrationStore: d}
	store := sqlite.NewStore(db)
	starter := pipeline.NewStarter(pipeline.StarterConfig{Engine: batch.NewEngine(store, sqlite.NewQueue(db, sqlite.QueueConfig{}), nil, batch.EngineConfig{}),
		Store: store, Load: d.Load, Calibrations: cals,
		Settings: pipeline.Settings{Run: "daily", Policy: batch.Policy{}.WithDefaults(),
			Select: predict.SelectOptions{MinGames: 3, MinMinutes: 12}, Request: predict.RequestOptions{Books: predict.DefaultBooks}}})
	start := func(run string, wantCreated bool) batch.Batch {
		t.Helper()
		bt, created, err := starter.Start(t.Context(), pipeline.StartRequest{Date: gameDay, Run: run})
		if err != nil || created != wantCreated || bt.Total == 0 {
			t.Fatalf("start %s: created %v with %d items, %v; want created %v with items", run, created, bt.Total, err, wantCreated)
		}
		return bt
	}
	first := start("first", true)
	second := start("second", true)
	if v.reads.Load() != 1 || cals.puts.Load() != 1 {
		t.Fatalf("two new batches on one data version: %d reads, %d fits stored; want 1 and 1", v.reads.Load(), cals.puts.Load())
	}
	if first.Meta["data_version"] != a.Version() || second.Meta["data_version"] != a.Version() {
		t.Fatalf("batches built on data %s and %s, want %s", first.Meta["data_version"], second.Meta["data_version"], a.Version())
	}
	checks := v.versions.Load()
	start("first", false)
	if v.reads.Load() != 1 || v.versions.Load() != checks || cals.puts.Load() != 1 {
		t.Fatalf("a start of an existing key touched the data: %d reads, %d version checks (want %d), %d fits",
			v.reads.Load(), v.versions.Load(), checks, cals.puts.Load())
	}

	v.set("v2", nil)
	third := start("third", true)
	if v.reads.Load() != 2 || cals.puts.Load() != 2 || third.Meta["data_version"] != b.Version() {
		t.Fatalf("a new batch after the data changed: %d reads, %d fits, data %s; want 2, 2 and %s",
			v.reads.Load(), cals.puts.Load(), third.Meta["data_version"], b.Version())
	}
	key, err := predict.CalibrationKey(systems.Default(), predict.CalibrateOptions{Select: predict.SelectOptions{MinGames: 3, MinMinutes: 12},
		Request: predict.RequestOptions{Books: predict.DefaultBooks}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Calibration(t.Context(), b.Version(), predict.MustParseDate(gameDay), key); err != nil {
		t.Errorf("the fit on the new data: %v", err)
	}
	if _, err := d.Calibration(t.Context(), a.Version(), predict.MustParseDate(gameDay), key); !errors.Is(err, batch.ErrNotFound) {
		t.Errorf("a fit on the replaced data: %v, want ErrNotFound (dropped with its data set)", err)
	}
}
