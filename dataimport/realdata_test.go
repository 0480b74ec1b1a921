package dataimport_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"tipoff/dataimport"
)

// realDataDir returns ../shared/data/nba relative to the repository root,
// skipping the test if it is absent.
func realDataDir(tb testing.TB) string {
	tb.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "shared", "data", "nba")
	if _, err := os.Stat(filepath.Join(dir, "schedule.csv")); err != nil {
		tb.Skipf("real data not found at %s: %v", dir, err)
	}
	return dir
}

func TestReadDir_RealData(t *testing.T) {
	ds, err := dataimport.ReadDir(realDataDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("games %d logs %d lines %d version %s", len(ds.Games()), len(ds.Logs()), len(ds.Lines()), ds.Version())
}
