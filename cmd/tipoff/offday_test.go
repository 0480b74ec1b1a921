package main

import (
	"path/filepath"
	"strings"
	"testing"

	"tipoff/batch"
	"tipoff/health"
)

// Christmas Eve 2025 has no games in the real schedule: run records the
// day and exits 0 saying so, again when repeated, and health finds it
// healthy with "no games scheduled".
func TestRun_OffDay_RealDay(t *testing.T) {
	t.Parallel()
	data := realData(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "tipoff.db")
	exports := filepath.Join(dir, "exports")
	if _, err := runMain(t, "import", "--db", dbPath, data); err != nil {
		t.Fatal(err)
	}
	const day = "2025-12-24"
	for i := range 2 {
		out, err := runMain(t, "run", "--db", dbPath, "--date", day, "--export-dir", exports)
		if err != nil || !strings.Contains(out, "no games scheduled on "+day) {
			t.Fatalf("run %d on %s: %v\n%s\nwant exit 0 and \"no games scheduled on %s\"", i, day, err, out, day)
		}
	}
	b := onlyBatch(t, dbPath, day)
	if b.State != batch.Finalized || b.Result != batch.ResultSucceeded || b.Total != 0 {
		t.Fatalf("batch of %s: %s/%s with %d items; want finalized/succeeded with none", day, b.State, b.Result, b.Total)
	}
	r, code := runHealthJSON(t, "--db", dbPath, "--export-dir", exports, "--date", day)
	if code != 0 || r.Status != health.Healthy || checkOf(r, "state").Message != "finalized: no games scheduled on "+day {
		t.Fatalf("health of %s: exit %d, %s; want 0, healthy, \"finalized: no games scheduled on %s\":\n%s", day, code, r.Status, day, describe(r))
	}
	// A date past the data's schedule is not a quiet day: it fails.
	if out, err := runMain(t, "run", "--db", dbPath, "--date", "2026-08-24", "--export-dir", exports); err == nil ||
		!strings.Contains(err.Error(), "no schedule for 2026-08-24") {
		t.Fatalf("run past the schedule: %v\n%s; want an error saying the data has no schedule for the date", err, out)
	}
}
