package sqlite_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/predict"
	"tipoff/sqlite"
)

func mustOpenDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "tipoff.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func mustSynthetic(tb testing.TB, seed int64) *predict.Dataset {
	tb.Helper()
	ds, err := dataimport.Synthetic(seed, dataimport.SyntheticOptions{
		From: predict.MustParseDate("2025-10-21"), To: predict.MustParseDate("2025-11-30"),
		PlayedThrough: predict.MustParseDate("2025-11-25"), Teams: 8,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return ds
}

func sameData(t *testing.T, got, want *predict.Dataset) {
	t.Helper()
	if got.Version() != want.Version() {
		t.Errorf("version: got %s, want %s", got.Version(), want.Version())
	}
	if d := cmp.Diff(want.Games(), got.Games()); d != "" {
		t.Errorf("games (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want.Logs(), got.Logs()); d != "" {
		t.Errorf("game logs (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want.Lines(), got.Lines()); d != "" {
		t.Errorf("prop lines (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want.Statuses(), got.Statuses(), cmp.Comparer(func(a, b predict.Status) bool { return a == b })); d != "" {
		t.Errorf("statuses (-want +got):\n%s", d)
	}
}

func TestDB_ImportDataset_RoundTrip(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	if _, err := db.LoadDataset(t.Context()); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("load before any import: got %v, want ErrNotFound", err)
	}
	want := mustSynthetic(t, 1)
	if err := db.ImportDataset(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	got, err := db.LoadDataset(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sameData(t, got, want)
	if len(got.Statuses()) == 0 || len(got.Lines()) == 0 {
		t.Fatalf("synthetic data set has %d statuses and %d lines; the round trip checks nothing", len(got.Statuses()), len(got.Lines()))
	}
}

func TestDB_ImportDataset_Idempotent(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	a := mustSynthetic(t, 1)
	for range 2 {
		if err := db.ImportDataset(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.LoadDataset(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sameData(t, got, a)
	// A different data set replaces the first completely.
	b := mustSynthetic(t, 2)
	if err := db.ImportDataset(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	got, err = db.LoadDataset(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sameData(t, got, b)
	if v, err := db.DatasetVersion(t.Context()); err != nil || v != b.Version() {
		t.Fatalf("DatasetVersion = %q, %v; want %q", v, err, b.Version())
	}
}

// A failing import must leave the previous data set as it was: the
// failure is forced by a trigger that rejects one prop line of the second
// data set, after its games and logs were already written.
func TestDB_ImportDataset_FailureKeepsPrevious(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tipoff.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := mustSynthetic(t, 1)
	if err := db.ImportDataset(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TRIGGER reject_boom BEFORE INSERT ON data_prop_lines WHEN NEW.book = 'boom'
		BEGIN SELECT RAISE(ABORT, 'boom rejected'); END`); err != nil {
		t.Fatal(err)
	}
	b := mustSynthetic(t, 2)
	lines := append([]predict.PropLine(nil), b.Lines()...)
	lines[len(lines)-1].Book = "boom"
	bad, err := predict.NewDataset(append([]predict.Game(nil), b.Games()...), append([]predict.GameLog(nil), b.Logs()...), lines, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ImportDataset(t.Context(), bad); err == nil {
		t.Fatal("import with a rejected row succeeded")
	}
	got, err := db.LoadDataset(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sameData(t, got, a)
}

func BenchmarkDB_LoadDataset(b *testing.B) {
	db := mustOpenDB(b)
	ds, err := dataimport.Synthetic(1, dataimport.SyntheticOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.ImportDataset(b.Context(), ds); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := db.LoadDataset(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

// withLogs returns ds with only its first n game logs.
func withLogs(tb testing.TB, ds *predict.Dataset, n int) *predict.Dataset {
	tb.Helper()
	out, err := predict.NewDataset(slices.Clone(ds.Games()), slices.Clone(ds.Logs()[:n]), slices.Clone(ds.Lines()), slices.Clone(ds.Statuses()))
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// An import that would leave a table with less than half of its stored
// rows is refused, naming the table and both counts, and changes nothing;
// AllowShrink lets it through.
func TestDB_Import_Shrink(t *testing.T) {
	a := mustSynthetic(t, 1)
	n := len(a.Logs())
	tests := []struct {
		name   string
		logs   int
		refuse bool
	}{
		{"empty", 0, true},
		{"less than half", (n - 1) / 2, true},
		{"half", (n + 1) / 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := mustOpenDB(t)
			if err := db.Import(t.Context(), a, sqlite.ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			b := withLogs(t, a, tt.logs)
			err := db.Import(t.Context(), b, sqlite.ImportOptions{})
			if !tt.refuse {
				if err != nil {
					t.Fatalf("import of %d of %d logs: %v", tt.logs, n, err)
				}
				got, err := db.LoadDataset(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				sameData(t, got, b)
				return
			}
			var se *sqlite.ShrinkError
			if !errors.As(err, &se) || !errors.Is(err, batch.ErrConflict) {
				t.Fatalf("import of %d of %d logs: got %v, want a ShrinkError wrapping ErrConflict", tt.logs, n, err)
			}
			want := []sqlite.TableShrink{{Table: sqlite.TableLogs, Stored: n, New: tt.logs}}
			if d := cmp.Diff(want, se.Tables); d != "" {
				t.Errorf("refused tables (-want +got):\n%s", d)
			}
			got, err := db.LoadDataset(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			sameData(t, got, a)
			if err := db.Import(t.Context(), b, sqlite.ImportOptions{AllowShrink: true}); err != nil {
				t.Fatalf("import with AllowShrink: %v", err)
			}
			if got, err = db.LoadDataset(t.Context()); err != nil {
				t.Fatal(err)
			}
			sameData(t, got, b)
		})
	}
}
