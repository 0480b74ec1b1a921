package sqlite_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/internal/realdata"
	"tipoff/predict"
	"tipoff/sqlite"
)

// dayOptions are the option sets LoadDay is checked under: the defaults
// and ones that move every window it depends on.
var dayOptions = []struct {
	name string
	sel  predict.SelectOptions
	ro   predict.RequestOptions
}{
	{"defaults", predict.SelectOptions{}, predict.RequestOptions{}},
	{"short windows", predict.SelectOptions{Window: 3, MinGames: 1, MinMinutes: 5},
		predict.RequestOptions{History: 5, EstimateGames: 3, Offsets: []float64{1, 2}}},
	{"long windows, other books", predict.SelectOptions{Window: 20, IgnoreLines: true, Books: []string{"fanduel"}},
		predict.RequestOptions{History: 80, Books: []string{"fanduel", "bovada", "draftkings"}}},
}

// sameDay checks that date's selection and every selected player's
// request are the same from the partial data set part as from the whole
// data set full.
func sameDay(t *testing.T, full, part *predict.Dataset, date predict.Date, sel predict.SelectOptions, ro predict.RequestOptions) int {
	t.Helper()
	if !part.Partial() || part.Version() != full.Version() {
		t.Fatalf("LoadDay(%s): partial %v, version %s; want a partial data set of version %s", date, part.Partial(), part.Version(), full.Version())
	}
	want := predict.SelectPlayers(full, date, sel)
	if d := cmp.Diff(want, predict.SelectPlayers(part, date, sel)); d != "" {
		t.Fatalf("SelectPlayers(%s) (-whole +partial):\n%s", date, d)
	}
	if d := cmp.Diff(full.Books(), part.Books()); d != "" {
		t.Errorf("Books (-whole +partial):\n%s", d)
	}
	for _, c := range want {
		wr, werr := predict.BuildRequest(full, date, c.PlayerID, ro)
		gr, gerr := predict.BuildRequest(part, date, c.PlayerID, ro)
		if fmt.Sprint(werr) != fmt.Sprint(gerr) {
			t.Fatalf("BuildRequest(%s, %s): error %v from the partial data set, want %v", date, c.PlayerID, gerr, werr)
		}
		if d := cmp.Diff(wr, gr); d != "" {
			t.Fatalf("BuildRequest(%s, %s) (-whole +partial):\n%s", date, c.PlayerID, d)
		}
	}
	return len(want)
}

func TestDB_LoadDay(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	if _, err := db.LoadDay(t.Context(), predict.MustParseDate("2025-11-01"), predict.SelectOptions{}, predict.RequestOptions{}); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("LoadDay before any import: %v, want ErrNotFound", err)
	}
	full, err := dataimport.Synthetic(7, dataimport.SyntheticOptions{
		From: predict.MustParseDate("2025-10-21"), To: predict.MustParseDate("2025-12-10"),
		PlayedThrough: predict.MustParseDate("2025-12-05"), Teams: 8, Books: []string{"draftkings", "fanduel", "bovada"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ImportDataset(t.Context(), full); err != nil {
		t.Fatal(err)
	}
	players := 0
	for _, o := range dayOptions {
		for d := predict.MustParseDate("2025-10-20"); d <= predict.MustParseDate("2025-12-11"); d++ {
			part, err := db.LoadDay(t.Context(), d, o.sel, o.ro)
			if err != nil {
				t.Fatalf("%s: LoadDay(%s): %v", o.name, d, err)
			}
			players += sameDay(t, full, part, d, o.sel, o.ro)
		}
	}
	if players == 0 {
		t.Fatal("no player selected on any date: the test checks nothing")
	}
}

// TestDB_LoadDay_RealData checks LoadDay against the whole real data set
// on dates that test its windows: a season's first days (last season's
// averages), the busiest day, a day without prop lines, playoffs.
func TestDB_LoadDay_RealData(t *testing.T) {
	full, err := dataimport.ReadDir(realdata.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	db := mustOpenDB(t)
	if err := db.ImportDataset(t.Context(), full); err != nil {
		t.Fatal(err)
	}
	for _, day := range []string{"2022-10-20", "2023-01-10", "2024-04-30", "2024-10-23", "2025-03-15", "2025-10-22", "2025-12-23", "2025-12-31", "2026-01-15"} {
		date := predict.MustParseDate(day)
		for _, o := range dayOptions {
			part, err := db.LoadDay(t.Context(), date, o.sel, o.ro)
			if err != nil {
				t.Fatalf("%s: LoadDay(%s): %v", o.name, day, err)
			}
			n := sameDay(t, full, part, date, o.sel, o.ro)
			t.Logf("%s %s: %d players, %d of %d game logs, %d of %d prop lines", day, o.name, n,
				len(part.Logs()), len(full.Logs()), len(part.Lines()), len(full.Lines()))
		}
	}
}

func TestDB_Calibration(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	ds := mustSynthetic(t, 1)
	if err := db.ImportDataset(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	date := predict.MustParseDate("2025-11-20")
	cal := &predict.Calibration{From: date - 60, Through: date - 1, Systems: []predict.SystemCalibration{{
		System: "baseline", Market: [3]float64{0.1234567, 1.0000001, -0.3333333}, MarketRows: 120,
		NoMarket: [2]float64{-0.012, 0.987654321}, NoMarketRows: 300, Move: 0.25,
		Record: predict.PickRecord{Picks: 101, Hits: 55, Stated: 53.123456, Profit: 2.5}, Earned: true,
	}}}
	if _, err := db.Calibration(t.Context(), ds.Version(), date, "k"); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("Calibration before any is stored: %v, want ErrNotFound", err)
	}
	if err := db.PutCalibration(t.Context(), ds.Version(), date, "k", cal); err != nil {
		t.Fatal(err)
	}
	got, err := db.Calibration(t.Context(), ds.Version(), date, "k")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(cal, got); d != "" {
		t.Errorf("stored calibration read back (-put +got):\n%s", d)
	}
	for _, k := range []struct {
		version, key string
		date         predict.Date
	}{{ds.Version(), "other", date}, {ds.Version(), "k", date + 1}, {"sha256:other", "k", date}} {
		if _, err := db.Calibration(t.Context(), k.version, k.date, k.key); !errors.Is(err, batch.ErrNotFound) {
			t.Errorf("Calibration(%s, %s, %s): %v, want ErrNotFound", k.version, k.date, k.key, err)
		}
	}

	// A fit of data that is not the stored data is not kept.
	if err := db.PutCalibration(t.Context(), "sha256:other", date, "k", cal); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Calibration(t.Context(), "sha256:other", date, "k"); !errors.Is(err, batch.ErrNotFound) {
		t.Errorf("a calibration of another data version was stored: %v", err)
	}

	// An import of other data drops the fits of the data it replaces, and
	// the partial data set refuses to be calibrated on.
	other := mustSynthetic(t, 2)
	if err := db.ImportDataset(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Calibration(t.Context(), ds.Version(), date, "k"); !errors.Is(err, batch.ErrNotFound) {
		t.Errorf("after importing other data: %v, want ErrNotFound", err)
	}
	if err := db.PutCalibration(t.Context(), ds.Version(), date, "k", cal); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Calibration(t.Context(), ds.Version(), date, "k"); !errors.Is(err, batch.ErrNotFound) {
		t.Errorf("a calibration of replaced data was stored after the import: %v", err)
	}
	part, err := db.LoadDay(t.Context(), date, predict.SelectOptions{}, predict.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := predict.Calibrate(part, date, nil, predict.CalibrateOptions{}); !errors.Is(err, batch.ErrInvalid) {
		t.Errorf("Calibrate on a partial data set: %v, want ErrInvalid", err)
	}
}

var _ predict.CalibrationStore = (*sqlite.DB)(nil)
