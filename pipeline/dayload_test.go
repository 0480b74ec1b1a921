package pipeline_test

import (
	"bytes"
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/pipeline"
	"tipoff/predict"
	"tipoff/predict/systems"
	"tipoff/sqlite"
)

// A starter that reads just the date's rows and keeps calibrations in the
// file builds the very batch the whole data set gives: the same players
// and requests, with the calibration a fresh fit gives. Only the first
// batch of the date reads the whole data set (to fit); the next ones read
// the stored fit, until an import of other data drops it.
func TestStarter_DayDataStoredCalibration(t *testing.T) {
	t.Parallel()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tipoff.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	league, err := dataimport.Synthetic(3, dataimport.SyntheticOptions{From: predict.MustParseDate("2025-10-21"),
		To: predict.MustParseDate("2025-12-31"), Teams: 6})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ImportDataset(t.Context(), league); err != nil {
		t.Fatal(err)
	}
	store := sqlite.NewStore(db)
	eng := batch.NewEngine(store, sqlite.NewQueue(db, sqlite.QueueConfig{}), nil, batch.EngineConfig{})
	settings := pipeline.Settings{Run: "daily", Policy: batch.Policy{}.WithDefaults(),
		Select: predict.SelectOptions{MinGames: 3, MinMinutes: 12}, Request: predict.RequestOptions{Books: predict.DefaultBooks}}
	var full, days atomic.Int32
	cals := &countedCalibrations{CalibrationStore: db}
	starter := pipeline.NewStarter(pipeline.StarterConfig{Engine: eng, Store: store, Settings: settings,
		Load: func(ctx context.Context) (*predict.Dataset, error) {
			full.Add(1)
			return db.LoadDataset(ctx)
		},
		LoadDay: func(ctx context.Context, date predict.Date, sel predict.SelectOptions, ro predict.RequestOptions) (*predict.Dataset, error) {
			days.Add(1)
			return db.LoadDay(ctx, date, sel, ro)
		},
		Calibrations: cals})

	date := predict.MustParseDate(gameDay)
	opts := predict.CalibrateOptions{Select: settings.Select, Request: settings.Request}
	fresh, err := predict.Calibrate(league, date, systems.Default(), opts)
	if err != nil {
		t.Fatal(err)
	}
	wantSettings := settings
	wantSettings.Request.Calibration = fresh
	want, err := pipeline.BuildSpec(league, batch.Key{Date: gameDay, Run: "daily"}, wantSettings, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Items) == 0 {
		t.Fatal("no player on the game day: the test checks nothing")
	}
	items := func(b batch.Batch) []batch.NewItem {
		t.Helper()
		got, err := store.Items(t.Context(), b.ID, batch.ItemsOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := make([]batch.NewItem, len(got))
		for i, it := range got {
			out[i] = batch.NewItem{ID: it.ID, Request: it.Request}
		}
		return out
	}
	key, err := predict.CalibrationKey(systems.Default(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, run := range []string{"first", "second"} {
		b, created, err := starter.Start(t.Context(), pipeline.StartRequest{Date: gameDay, Run: run})
		if err != nil || !created {
			t.Fatalf("start %s: created %v, %v", run, created, err)
		}
		got := items(b)
		if len(got) != len(want.Items) {
			t.Fatalf("run %s: %d items, want %d", run, len(got), len(want.Items))
		}
		for j := range got {
			if got[j].ID != want.Items[j].ID || !bytes.Equal(got[j].Request, want.Items[j].Request) {
				t.Fatalf("run %s: item %d is %s with request\n%s\nwant %s with\n%s", run, j, got[j].ID, got[j].Request, want.Items[j].ID, want.Items[j].Request)
			}
		}
		if n := full.Load(); n != 1 {
			t.Errorf("after %d batches of the date: the whole data set was read %d times, want once (to fit)", i+1, n)
		}
		stored, err := db.Calibration(t.Context(), league.Version(), date, key)
		if err != nil {
			t.Fatalf("run %s: stored calibration: %v", run, err)
		}
		if d := cmp.Diff(fresh, stored); d != "" {
			t.Errorf("run %s: stored calibration (-fresh +stored):\n%s", run, d)
		}
	}

	// A start of an existing key touches no data: no rows, no fit.
	loaded, calReads := days.Load(), cals.reads.Load()
	if b, created, err := starter.Start(t.Context(), pipeline.StartRequest{Date: gameDay, Run: "first"}); err != nil || created || b.Total != len(want.Items) {
		t.Fatalf("start of the existing key: created %v, %d items, %v; want the first batch", created, b.Total, err)
	}
	if full.Load() != 1 || days.Load() != loaded || cals.reads.Load() != calReads {
		t.Errorf("a start of an existing key read data: whole %d (want 1), day rows %d (want %d), calibrations %d (want %d)",
			full.Load(), days.Load(), loaded, cals.reads.Load(), calReads)
	}

	// Other data replaces the fits: the next batch fits again, on it.
	other, err := dataimport.Synthetic(4, dataimport.SyntheticOptions{From: predict.MustParseDate("2025-10-21"),
		To: predict.MustParseDate("2025-12-31"), Teams: 6})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ImportDataset(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	if _, _, err := starter.Start(t.Context(), pipeline.StartRequest{Date: gameDay, Run: "third"}); err != nil {
		t.Fatal(err)
	}
	if n := full.Load(); n != 2 {
		t.Errorf("after an import of other data: the whole data set was read %d times in all, want twice", n)
	}
	refit, err := predict.Calibrate(other, date, systems.Default(), opts)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := db.Calibration(t.Context(), other.Version(), date, key)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(refit, stored); d != "" {
		t.Errorf("after the import: stored calibration (-fresh +stored):\n%s", d)
	}
}

// countedCalibrations counts the reads of a calibration store.
type countedCalibrations struct {
	predict.CalibrationStore
	reads atomic.Int32
}

func (c *countedCalibrations) Calibration(ctx context.Context, version string, date predict.Date, key string) (*predict.Calibration, error) {
	c.reads.Add(1)
	return c.CalibrationStore.Calibration(ctx, version, date, key)
}
