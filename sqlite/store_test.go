package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/sqlite"
)

// mustOpenStore opens a fresh SQLite file in a temporary directory, so WAL
// and the separate read and write connections behave as in production.
func mustOpenStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	db, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "tipoff.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return sqlite.NewStore(db)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	batchtest.RunStoreTests(t, func(t *testing.T) batch.Store { return mustOpenStore(t) })
}

// BenchmarkStore runs the shared store workloads: BenchmarkStore/RecordOutcome
// (64 callers, 500-byte results, outcomes/s), BenchmarkStore/CreateBatch
// (100,000 items) and BenchmarkStore/Progress (100,000 items).
func BenchmarkStore(b *testing.B) {
	batchtest.RunStoreBenchmarks(b, func(b *testing.B) batch.Store { return mustOpenStore(b) })
}

func TestStore_RecordOutcomeCancelled(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	spec := batch.Spec{Key: batch.Key{Date: "2026-01-15", Run: "daily"}, Items: []batch.NewItem{{ID: "p1"}, {ID: "p2"}}}
	if _, _, err := s.CreateBatch(t.Context(), "b1", spec, time.Now()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.RecordOutcome(ctx, batch.OutcomeRecord{BatchID: "b1", ItemID: "p1", Outcome: batch.OutcomeSucceeded})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("RecordOutcome with a cancelled context: got %v, want %v", err, context.Canceled)
	}
	b, err := s.GetBatch(t.Context(), "b1")
	if err != nil {
		t.Fatal(err)
	}
	if b.Counts.Done() != 0 {
		t.Fatalf("a cancelled RecordOutcome was recorded: %+v", b.Counts)
	}
}

// TestStore_Reopen checks that what was acknowledged survives closing and
// reopening the file, as after a restart.
func TestStore_Reopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tipoff.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	s := sqlite.NewStore(db)
	spec := batch.Spec{Key: batch.Key{Date: "2026-01-15", Run: "daily"}, Items: []batch.NewItem{{ID: "p1"}, {ID: "p2"}, {ID: "p3"}}}
	if _, _, err := s.CreateBatch(t.Context(), "b1", spec, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"p1", "p3"} {
		if _, err := s.RecordOutcome(t.Context(), batch.OutcomeRecord{BatchID: "b1", ItemID: id, Outcome: batch.OutcomeSucceeded,
			Result: []byte(`{"item":"` + id + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := sqlite.NewStore(db).Progress(t.Context(), "b1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if p.Batch.Counts.Succeeded != 2 || p.Remaining != 1 || len(p.Missing) != 1 || p.Missing[0] != "p2" {
		t.Fatalf("after reopening: counts %+v, remaining %d, missing %v; want 2 succeeded, p2 missing", p.Batch.Counts, p.Remaining, p.Missing)
	}
}
