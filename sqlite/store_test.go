package sqlite_test

import (
	"path/filepath"
	"testing"

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
	batchtest.RunStoreTests(t, func(t *testing.T) batch.Store { return mustOpenStore(t) })
}

// BenchmarkStore runs the shared store workloads: BenchmarkStore/RecordOutcome
// (64 callers, 500-byte results, outcomes/s), BenchmarkStore/CreateBatch
// (100,000 items) and BenchmarkStore/Progress (100,000 items).
func BenchmarkStore(b *testing.B) {
	batchtest.RunStoreBenchmarks(b, func(b *testing.B) batch.Store { return mustOpenStore(b) })
}
