package batchtest

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tipoff/batch"
)

// Benchmark sizes: the production shape is a few hundred players a day, the
// targets are set at 100,000 items so a backend has room to spare.
const (
	benchCallers   = 64      // concurrent RecordOutcome callers
	benchResult    = 500     // bytes of result per outcome
	benchBatchSize = 100_000 // items in the create and progress batches
)

// RunStoreBenchmarks runs the same workloads on every backend:
//
//   - RecordOutcome: 64 goroutines record outcomes, each with a 500-byte
//     result, into one batch; reports outcomes/s (one op is one outcome).
//   - CreateBatch: creates a 100,000-item batch in one atomic step (one op
//     is one batch).
//   - Progress: reads the progress of a 100,000-item batch of which half has
//     an outcome, with the first 100 missing items (one op is one read).
//   - Unpublished: reads the dispatch outbox of a 100,000-item batch whose
//     last 100 items are unpublished, as every sweep does (one op is one
//     read).
//
// newStore returns an empty store and registers its own cleanup.
func RunStoreBenchmarks(b *testing.B, newStore func(b *testing.B) batch.Store) {
	b.Run("RecordOutcome", func(b *testing.B) { benchRecordOutcome(b, newStore(b)) })
	b.Run("CreateBatch", func(b *testing.B) { benchCreateBatch(b, newStore(b)) })
	b.Run("Progress", func(b *testing.B) { benchProgress(b, newStore(b)) })
	b.Run("Unpublished", func(b *testing.B) { benchUnpublished(b, newStore(b)) })
}

// benchResultBytes returns a JSON result of exactly benchResult bytes.
func benchResultBytes() []byte {
	const head, tail = `{"predictions":"`, `"}`
	return []byte(head + strings.Repeat("x", benchResult-len(head)-len(tail)) + tail)
}

// benchItemID numbers bench items with six digits, so ID order is numeric
// order up to 1,000,000 items.
func benchItemID(i int) string { return fmt.Sprintf("p%06d", i) }

// benchSpec returns a spec of n items whose requests are about 200 bytes,
// the size of a real prediction request's header and recent games.
func benchSpec(run string, n int) batch.Spec {
	items := make([]batch.NewItem, n)
	for i := range items {
		id := benchItemID(i)
		items[i] = batch.NewItem{ID: id, Request: []byte(`{"player":"` + id +
			`","team":"BOS","opponent":"NYK","home":true,"lines":[24.5],"recent":[31,18,22,27,19,25,30,21,17,26],"minutes":[34,31,36,33,30,35,37,32,29,34]}`)}
	}
	return batch.Spec{Key: batch.Key{Date: testDate, Run: run}, Items: items}
}

func benchCreate(b *testing.B, s batch.Store, id, run string, n int) batch.Batch {
	b.Helper()
	bt, created, err := s.CreateBatch(b.Context(), id, benchSpec(run, n), t0)
	if err != nil || !created {
		b.Fatalf("CreateBatch(%s, %d items) = created %v, %v", id, n, created, err)
	}
	return bt
}

func benchRecordOutcome(b *testing.B, s batch.Store) {
	const perBatch = 50_000
	result := benchResultBytes()
	type job struct{ batchID, itemID string }
	jobs := make(chan job)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range benchCallers {
		wg.Go(func() {
			for j := range jobs {
				_, err := s.RecordOutcome(b.Context(), batch.OutcomeRecord{BatchID: j.batchID, ItemID: j.itemID,
					Outcome: batch.OutcomeSucceeded, Result: result, At: t0.Add(time.Minute)})
				if err != nil && failed.Add(1) == 1 {
					b.Errorf("RecordOutcome %s/%s: %v", j.batchID, j.itemID, err)
				}
			}
		})
	}
	seq := 0
	cur := benchCreate(b, s, "bench-0", "r0", perBatch)
	next := 0
	for b.Loop() {
		if next == perBatch {
			b.StopTimer()
			seq++
			cur = benchCreate(b, s, fmt.Sprintf("bench-%d", seq), fmt.Sprintf("r%d", seq), perBatch)
			next = 0
			b.StartTimer()
		}
		// Items go out in ID order, as a dispatcher publishes them; the 64
		// callers finish them in whatever order they do.
		jobs <- job{cur.ID, benchItemID(next)}
		next++
	}
	close(jobs)
	wg.Wait()
	if sec := b.Elapsed().Seconds(); sec > 0 {
		b.ReportMetric(float64(b.N)/sec, "outcomes/s")
	}
}

func benchCreateBatch(b *testing.B, s batch.Store) {
	specs := make(chan batch.Spec, 1)
	run := 0
	nextSpec := func() batch.Spec {
		run++
		return benchSpec(fmt.Sprintf("r%d", run), benchBatchSize)
	}
	specs <- nextSpec()
	for b.Loop() {
		sp := <-specs
		bt, created, err := s.CreateBatch(b.Context(), "bench-"+sp.Key.Run, sp, t0)
		if err != nil || !created || bt.Total != benchBatchSize {
			b.Fatalf("CreateBatch = created %v, total %d, %v", created, bt.Total, err)
		}
		b.StopTimer()
		specs <- nextSpec()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*benchBatchSize)/b.Elapsed().Seconds(), "items/s")
}

func benchProgress(b *testing.B, s batch.Store) {
	bt := benchCreate(b, s, "bench-progress", "progress", benchBatchSize)
	// Half the items get an outcome, the first half in ID order, so the
	// missing items sit behind 50,000 finished ones.
	var wg sync.WaitGroup
	var next atomic.Int64
	for range benchCallers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= benchBatchSize/2 {
					return
				}
				rec := batch.OutcomeRecord{BatchID: bt.ID, ItemID: benchItemID(i), Outcome: batch.OutcomeSucceeded,
					Result: benchResultBytes(), At: t0.Add(time.Minute)}
				if _, err := s.RecordOutcome(b.Context(), rec); err != nil {
					b.Errorf("RecordOutcome: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	for b.Loop() {
		p, err := s.Progress(b.Context(), bt.ID, 100)
		if err != nil {
			b.Fatal(err)
		}
		if p.Remaining != benchBatchSize/2 || len(p.Missing) != 100 || p.Missing[0] != benchItemID(benchBatchSize/2) {
			b.Fatalf("Progress = %d remaining, missing %v; want %d remaining, 100 missing from %s", p.Remaining, p.Missing, benchBatchSize/2, benchItemID(benchBatchSize/2))
		}
	}
}

func benchUnpublished(b *testing.B, s batch.Store) {
	bt := benchCreate(b, s, "bench-outbox", "outbox", benchBatchSize)
	const left = 100
	for from := 0; from < benchBatchSize-left; from += 1000 {
		ids := make([]string, 0, 1000)
		for i := from; i < min(from+1000, benchBatchSize-left); i++ {
			ids = append(ids, benchItemID(i))
		}
		if err := s.MarkPublished(b.Context(), bt.ID, ids, t0.Add(time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		items, err := s.Unpublished(b.Context(), bt.ID, 500)
		if err != nil {
			b.Fatal(err)
		}
		if len(items) != left || items[0].ID != benchItemID(benchBatchSize-left) {
			b.Fatalf("Unpublished returned %d items, want the last %d", len(items), left)
		}
	}
}
