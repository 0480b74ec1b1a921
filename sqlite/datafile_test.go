package sqlite_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/internal/realdata"
	"tipoff/predict"
	"tipoff/sqlite"
)

// A DataFile reads a date's rows of a database through a copy it keeps
// while the file is unchanged, with the calibrations fitted since kept in
// the copy alone; a changed file is copied again, and the file itself is
// never written.
func TestDataFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "data.db")
	importInto := func(ds *predict.Dataset) []byte {
		t.Helper()
		db, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.ImportDataset(t.Context(), ds); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := mustSynthetic(t, 3)
	before := importInto(first)
	f := sqlite.NewDataFile(path)
	defer f.Close()
	date := first.Games()[len(first.Games())/2].Date
	day, err := f.LoadDay(t.Context(), date, predict.SelectOptions{}, predict.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !day.Partial() || day.Version() != first.Version() || len(day.Logs()) == 0 || len(day.Logs()) >= len(first.Logs()) {
		t.Fatalf("day of %s: partial %v, version %s, %d of %d game logs; want a part of version %s",
			date, day.Partial(), day.Version(), len(day.Logs()), len(first.Logs()), first.Version())
	}
	cal := &predict.Calibration{From: date - 60, Through: date - 1}
	if err := f.PutCalibration(t.Context(), first.Version(), date, "k", cal); err != nil {
		t.Fatal(err)
	}
	if got, err := f.Calibration(t.Context(), first.Version(), date, "k"); err != nil || got.Through != cal.Through {
		t.Fatalf("calibration kept in the copy: %+v, %v", got, err)
	}
	after, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the file changed (%v)", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries after the reads, want the file alone", len(ents))
	}

	second := mustSynthetic(t, 4)
	importInto(second)
	all, err := f.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sameData(t, all, second)
	if _, err := f.Calibration(t.Context(), first.Version(), date, "k"); !errors.Is(err, batch.ErrNotFound) {
		t.Errorf("calibration of the replaced data: %v; want not found", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.NewDataFile(filepath.Join(dir, "missing.db")).LoadDay(t.Context(), date, predict.SelectOptions{}, predict.RequestOptions{}); err == nil {
		t.Error("LoadDay of a missing file: nil error")
	}
}

// BenchmarkDataFile_RealData measures what a cloud coordinator's start of
// a new batch of the busiest real day reads from a SQLite data file: the
// whole data set through a fresh copy (as every start did before the copy
// was kept), against the day's rows from the kept copy.
//
//	go test -run '^$' -bench DataFile_RealData -benchtime 5x ./sqlite
func BenchmarkDataFile_RealData(b *testing.B) {
	full, err := dataimport.ReadDir(realdata.Dir(b))
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "data.db")
	db, err := sqlite.Open(b.Context(), path)
	if err != nil {
		b.Fatal(err)
	}
	if err := db.ImportDataset(b.Context(), full); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	date := predict.MustParseDate("2025-12-23")
	b.Run("copy-and-load-all", func(b *testing.B) {
		for b.Loop() {
			f := sqlite.NewDataFile(path)
			if _, err := f.Load(b.Context()); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("day-from-kept-copy", func(b *testing.B) {
		f := sqlite.NewDataFile(path)
		defer f.Close()
		if _, err := f.LoadDay(b.Context(), date, predict.SelectOptions{}, predict.RequestOptions{}); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := f.LoadDay(b.Context(), date, predict.SelectOptions{}, predict.RequestOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
