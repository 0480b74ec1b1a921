package gcpfirestore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"tipoff/batch"
	"tipoff/batch/batchtest"
)

// BenchmarkCounting measures how the counts behind Recorded.Remaining are
// kept, on the emulator: 32 reporters record the outcomes of a 1,000-item
// batch.
//
//   - shards=N: the store as built, with N counter shards (read whole after
//     every outcome).
//   - count-query: no shards; after writing the outcome, a COUNT
//     aggregation query over the items without an outcome gives Remaining.
//
// One op is one outcome; outcomes/s is the rate. Run with:
//
//	go test -run='^$' -bench=Counting -benchtime=1x -count=5 ./gcpfirestore/
func BenchmarkCounting(b *testing.B) {
	batchtest.RequireEnv(b, "FIRESTORE_EMULATOR_HOST")
	const items, reporters = 1000, 32
	for _, shards := range []int{1, 4, 16, 64} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			benchCounting(b, shards, items, reporters, func(s *Store, rec batch.OutcomeRecord) (int, error) {
				r, err := s.RecordOutcome(b.Context(), rec)
				return r.Remaining, err
			})
		})
	}
	b.Run("count-query", func(b *testing.B) {
		benchCounting(b, 1, items, reporters, recordCounting)
	})
}

func benchCounting(b *testing.B, shards, items, reporters int, record func(*Store, batch.OutcomeRecord) (int, error)) {
	var elapsed time.Duration
	outcomes := 0
	for b.Loop() {
		s := benchStore(b, shards)
		sp := batch.Spec{Key: batch.Key{Date: "2026-01-15", Run: "counting"}}
		for i := range items {
			sp.Items = append(sp.Items, batch.NewItem{ID: fmt.Sprintf("p%04d", i), Request: []byte(`{}`)})
		}
		bt, _, err := s.CreateBatch(b.Context(), "b1", sp, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		var next, zero atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range reporters {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= items {
						return
					}
					rem, err := record(s, batch.OutcomeRecord{BatchID: bt.ID, ItemID: fmt.Sprintf("p%04d", i),
						Outcome: batch.OutcomeSucceeded, Result: []byte(`{"points":21.5}`), At: time.Now()})
					if err != nil {
						b.Errorf("record p%04d: %v", i, err)
						return
					}
					if rem == 0 {
						zero.Add(1)
					}
				}
			})
		}
		wg.Wait()
		elapsed += time.Since(start)
		outcomes += items
		if zero.Load() == 0 {
			b.Errorf("no outcome saw 0 remaining")
		}
	}
	b.ReportMetric(float64(outcomes)/elapsed.Seconds(), "outcomes/s")
}

func benchStore(b *testing.B, shards int) *Store {
	host := batchtest.RequireEnv(b, "FIRESTORE_EMULATOR_HOST")
	s, err := Open(b.Context(), Config{ProjectID: batchtest.UniqueID(b), Shards: shards})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		s.Close()
		clearProject(b, host, s.cfg.ProjectID)
	})
	return s
}

// recordCounting writes an outcome the way RecordOutcome does but without a
// counter, then counts the items without an outcome with an aggregation
// query.
func recordCounting(s *Store, rec batch.OutcomeRecord) (int, error) {
	ctx := context.Background()
	l, err := s.layoutOf(ctx, rec.BatchID)
	if err != nil {
		return 0, err
	}
	col := s.itemsOf(rec.BatchID, l)
	ref := col.Doc(rec.ItemID)
	err = s.retry(ctx, "record", func() error {
		snaps, err := s.client.GetAll(ctx, []*firestore.DocumentRef{ref})
		if err != nil {
			return err
		}
		if snaps[0].Data()["outcome"] != "" {
			return nil
		}
		return s.tx(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
			if _, err := tx.GetAll([]*firestore.DocumentRef{s.batchRef(rec.BatchID)}); err != nil {
				return err
			}
			return tx.Update(ref, []firestore.Update{
				{Path: "outcome", Value: string(rec.Outcome)},
				{Path: "result", Value: rec.Result},
				{Path: "completed_at", Value: nanos(rec.At)},
			}, firestore.LastUpdateTime(snaps[0].UpdateTime))
		})
	})
	if err != nil {
		return 0, err
	}
	q := col.Where("outcome", "==", "")
	res, err := q.NewAggregationQuery().WithCount("n").Get(ctx)
	if err != nil {
		return 0, err
	}
	n, err := countValue(res["n"])
	return n, err
}

// countValue reads a COUNT aggregation result.
func countValue(v any) (int, error) {
	switch n := v.(type) {
	case int64:
		return int(n), nil
	case interface{ GetIntegerValue() int64 }:
		return int(n.GetIntegerValue()), nil
	}
	return 0, fmt.Errorf("count result %T", v)
}
