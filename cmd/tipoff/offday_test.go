package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/health"
)

// Christmas Eve 2025 has no games in the real schedule: run records the
// day and exits 0 saying so, again when repeated, and health finds it
// healthy with "no games scheduled".
func TestRun_OffDay_RealDay(t *testing.T) {
	t.Parallel()
	dbPath := realDataDB(t)
	exports := filepath.Join(t.TempDir(), "exports")
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
	if out, err := runMain(t, "status", "--db", dbPath, "--date", day); err != nil || !strings.Contains(out, "no games scheduled on "+day) {
		t.Fatalf("status of %s: %v\n%s\nwant it to say there are no games", day, err, out)
	}
	// A date past the data's schedule is not a quiet day: it fails.
	if out, err := runMain(t, "run", "--db", dbPath, "--date", "2026-08-24", "--export-dir", exports); err == nil ||
		!strings.Contains(err.Error(), "no schedule for 2026-08-24") {
		t.Fatalf("run past the schedule: %v\n%s; want an error saying the data has no schedule for the date", err, out)
	}
}

// A run that finds its batch finalizing under another process's lease
// says once whose lease it is and until when, then finishes the batch when
// the lease expires; the progress line is not repeated while it waits.
func TestRun_WaitsForAnotherFinalizer(t *testing.T) {
	t.Parallel()
	e := newHealthEnv(t)
	now := time.Now()
	b := e.create(t, "daily", 1, batch.Policy{}, now, now)
	e.record(t, b.ID, 0, 1, batch.OutcomeSkipped)
	const other = "otherhost:4242/1"
	if _, err := e.app.store.AcquireFinalize(t.Context(), b.ID, other, time.Now(), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	out, err := runMain(t, "run", "--db", e.db, "--date", today(), "--export-dir", e.exports)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if n := strings.Count(out, other+" holds the finalize lease until"); n != 1 {
		t.Errorf("the run named the other finalizer's lease %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "progress 1/1 players"); n > 1 {
		t.Errorf("the unchanged progress line was written %d times:\n%s", n, out)
	}
	if got := onlyBatch(t, e.db, today()); got.State != batch.Finalized {
		t.Errorf("batch after the run: %s, want finalized", got.State)
	}
	if !strings.Contains(out, "export: "+filepath.Join(e.exports, today()+".json")) {
		t.Errorf("run does not say where the export went:\n%s", out)
	}
}

// An export directory that cannot be written does not hold back the run:
// the batch finalizes and is published, run exits 2 naming the failure,
// health is degraded and says why; run again once the directory can be
// written, and the export is written and the run exits 0.
func TestRun_ExportFails(t *testing.T) {
	t.Parallel()
	e := newHealthEnv(t)
	now := time.Now()
	b := e.create(t, "daily", 2, batch.Policy{}, now, now)
	e.record(t, b.ID, 0, 2, batch.OutcomeSkipped)
	blocker := filepath.Join(t.TempDir(), "exports")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	exports := filepath.Join(blocker, "picks")
	out, err := runMain(t, "run", "--db", e.db, "--date", today(), "--export-dir", exports)
	var ec exitCodeError
	if !errors.As(err, &ec) || ec.code != 2 || !strings.Contains(err.Error(), "not a directory") ||
		!strings.Contains(out, "export to "+filepath.Join(exports, today()+".json")+" FAILED") {
		t.Fatalf("run with an unwritable export directory: %v\n%s\nwant exit 2 naming the export failure", err, out)
	}
	if got := onlyBatch(t, e.db, today()); got.State != batch.Finalized || got.Result != batch.ResultSucceeded {
		t.Fatalf("batch: %s/%s, want finalized/succeeded", got.State, got.Result)
	}
	r, code := runHealthJSON(t, "--db", e.db, "--export-dir", exports, "--date", today())
	if c := checkOf(r, "export"); code != 2 || c.Level != health.Warn || !strings.Contains(c.Message, "not a directory") {
		t.Fatalf("health: exit %d, export %s %q; want 2 (degraded) and a warning naming the failure:\n%s", code, c.Level, c.Message, describe(r))
	}
	if out, err := runMain(t, "status", "--db", e.db, "--date", today()); err != nil || !strings.Contains(out, "FAILING") ||
		!strings.Contains(out, "not a directory") {
		t.Fatalf("status: %v\n%s\nwant the failing export and its cause", err, out)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	out, err = runMain(t, "run", "--db", e.db, "--date", today(), "--export-dir", exports)
	if err != nil || !strings.Contains(out, "export: "+filepath.Join(exports, today()+".json")) {
		t.Fatalf("run again: %v\n%s\nwant exit 0 and the export written", err, out)
	}
	if r, code := runHealthJSON(t, "--db", e.db, "--export-dir", exports, "--date", today()); code != 0 {
		t.Fatalf("health after the export was written: exit %d:\n%s", code, describe(r))
	}
}
