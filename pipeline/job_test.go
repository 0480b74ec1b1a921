package pipeline_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/pipeline"
	"tipoff/predict"
	"tipoff/sqlite"
)

// An export that cannot be written does not hold back the finalize: the
// batch finalizes and is published, the failure is recorded with its
// cause, and RetryExports writes the file once it can (after its backoff).
func TestJob_ExportFailureDoesNotBlockFinalize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, "tipoff.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// A file where the export directory should be: mkdir fails, even as root.
	blocker := filepath.Join(dir, "exports")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	exportDir := filepath.Join(blocker, "picks")
	now := time.Date(2026, 1, 15, 17, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	store := sqlite.NewStore(db)
	job := pipeline.NewJob(pipeline.JobConfig{Store: store, Publisher: db, Exports: db, ExportDir: exportDir, NowFunc: clock})
	eng := batch.NewEngine(store, sqlite.NewQueue(db, sqlite.QueueConfig{}), nil, batch.EngineConfig{Finalize: job.Finalize, NowFunc: clock})
	b, _, err := eng.Create(t.Context(), batch.Spec{Key: batch.Key{Date: "2026-01-15", Run: "daily"},
		Items: []batch.NewItem{{ID: "p1", Request: []byte(`{}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Record(t.Context(), batch.OutcomeRecord{BatchID: b.ID, ItemID: "p1", Outcome: batch.OutcomeSkipped}); err != nil {
		t.Fatal(err)
	}
	got, err := store.GetBatch(t.Context(), b.ID)
	if err != nil || got.State != batch.Finalized || got.Result != batch.ResultSucceeded {
		t.Fatalf("batch after its last outcome: %s/%s, %v; want finalized/succeeded", got.State, got.Result, err)
	}
	date := predict.MustParseDate("2026-01-15")
	if pub, err := db.Published(t.Context(), date); err != nil || pub.BatchID != b.ID {
		t.Fatalf("publication: %v; want batch %s's", err, b.ID)
	}
	st, err := db.ExportState(t.Context(), date)
	if err != nil || !st.Failing() || !strings.Contains(st.Error, "not a directory") || st.Failures != 1 ||
		st.Path != pipeline.ExportPath(exportDir, date) || !st.FailingSince.Equal(now) {
		t.Fatalf("export state %+v, %v; want failing once since %v with the mkdir error and the path", st, err, now)
	}

	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if n, err := job.RetryExports(t.Context()); err != nil || n != 1 {
		t.Fatalf("RetryExports within the backoff = %d, %v; want 1 still failing, not retried", n, err)
	}
	now = now.Add(time.Minute)
	if n, err := job.RetryExports(t.Context()); err != nil || n != 0 {
		t.Fatalf("RetryExports after the backoff = %d, %v; want 0 failing", n, err)
	}
	if st, err := db.ExportState(t.Context(), date); err != nil || st.Failing() || st.Failures != 0 {
		t.Fatalf("export state after the retry %+v, %v; want ok", st, err)
	}
	if _, err := os.Stat(pipeline.ExportPath(exportDir, date)); err != nil {
		t.Fatalf("export file after the retry: %v", err)
	}
}
