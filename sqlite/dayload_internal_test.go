package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tipoff/predict"
)

// A file imported before player histories were kept: its first LoadDay
// reads the whole data set, and writes the histories, so the next one
// reads the date's rows.
func TestDB_LoadDay_WithoutHistories(t *testing.T) {
	t.Parallel()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "tipoff.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ds := mustLeague(t, 5, 6, "2025-12-10")
	if err := db.ImportDataset(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	if _, err := db.write.ExecContext(t.Context(), "DELETE FROM data_players"); err != nil {
		t.Fatal(err)
	}
	date := predict.MustParseDate("2025-12-01")
	first, err := db.LoadDay(t.Context(), date, predict.SelectOptions{}, predict.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Partial() || first.Version() != ds.Version() {
		t.Fatalf("first LoadDay: partial %v, version %s; want the whole data set %s", first.Partial(), first.Version(), ds.Version())
	}
	var n int
	if err := db.read.QueryRowContext(t.Context(), "SELECT count(*) FROM data_players").Scan(&n); err != nil || n == 0 {
		t.Fatalf("after the first LoadDay: %d player histories (%v), want them written", n, err)
	}
	next, err := db.LoadDay(t.Context(), date, predict.SelectOptions{}, predict.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !next.Partial() {
		t.Fatal("second LoadDay read the whole data set again")
	}
	for _, c := range predict.SelectPlayers(ds, date, predict.SelectOptions{}) {
		want, _ := predict.BuildRequest(ds, date, c.PlayerID, predict.RequestOptions{})
		got, err := predict.BuildRequest(next, date, c.PlayerID, predict.RequestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("request of %s (-whole +partial):\n%s", c.PlayerID, d)
		}
	}
}
