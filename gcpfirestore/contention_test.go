package gcpfirestore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/gcpfirestore"
)

// BenchmarkContention runs one workload through three ways of keeping batch
// state in Firestore, in one process against the same emulator:
//
//   - replaced: the design tipoff replaces. One document per batch; every
//     completion is a transaction that reads it, appends the item to a list
//     and increments the count (5 attempts, the client's backoff).
//   - blind: the same document updated without a transaction, with
//     ArrayUnion and Increment, then read to see whether the batch is
//     complete.
//   - ours: gcpfirestore.Store driven by batch.Engine.Record, which records
//     the outcome and finalizes when it was the last.
//
// The workload is a batch of 120 or 2,000 items whose outcomes are
// delivered by 8, 32 or 128 concurrent reporters, 10% of the items twice,
// in random order. Each run reports:
//
//	completions/s  items durably recorded per second of delivery
//	failed         deliveries that returned an error after their retries
//	lost           items with no recorded outcome at the end
//	double         counted completions beyond the distinct items recorded
//	finalizes      times "complete" fired (downstream was triggered)
//	early          of those, times it fired before every item was recorded
//
// It needs the emulator (FIRESTORE_EMULATOR_HOST) and runs only with -bench:
//
//	go test -run='^$' -bench=Contention -benchtime=1x -timeout=60m ./gcpfirestore/
func BenchmarkContention(b *testing.B) {
	batchtest.RequireEnv(b, "FIRESTORE_EMULATOR_HOST")
	strategies := []struct {
		name string
		run  func(b *testing.B, deliveries []string, items, reporters int) cell
	}{
		{"replaced", runReplaced},
		{"blind", runBlind},
		{"ours", runOurs},
	}
	for _, st := range strategies {
		for _, items := range []int{120, 2000} {
			for _, reporters := range []int{8, 32, 128} {
				b.Run(fmt.Sprintf("%s/items=%d/reporters=%d", st.name, items, reporters), func(b *testing.B) {
					var sum cell
					runs := 0
					for b.Loop() {
						seed := uint64(time.Now().UnixNano())
						b.Logf("shuffle seed %d", seed)
						c := st.run(b, contentionDeliveries(items, seed), items, reporters)
						sum = sum.plus(c)
						runs++
					}
					sum.report(b, runs)
				})
			}
		}
	}
}

// cell is what one run of one strategy measured.
type cell struct {
	recorded  int // distinct items durably recorded
	elapsed   time.Duration
	failed    int
	lost      int
	double    int
	finalizes int
	early     int
}

func (c cell) plus(d cell) cell {
	return cell{c.recorded + d.recorded, c.elapsed + d.elapsed, c.failed + d.failed, c.lost + d.lost,
		c.double + d.double, c.finalizes + d.finalizes, c.early + d.early}
}

// report reports the mean over runs.
func (c cell) report(b *testing.B, runs int) {
	n := float64(runs)
	b.ReportMetric(float64(c.recorded)/c.elapsed.Seconds(), "completions/s")
	b.ReportMetric(float64(c.failed)/n, "failed")
	b.ReportMetric(float64(c.lost)/n, "lost")
	b.ReportMetric(float64(c.double)/n, "double")
	b.ReportMetric(float64(c.finalizes)/n, "finalizes")
	b.ReportMetric(float64(c.early)/n, "early")
}

// contentionDeliveries returns the item IDs in delivery order: every item
// once and a tenth of them (chosen at random) a second time, shuffled.
func contentionDeliveries(items int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 2))
	ds := make([]string, 0, items+items/10)
	for i := range items {
		ds = append(ds, fmt.Sprintf("p%04d", i))
	}
	for _, i := range rng.Perm(items)[:items/10] {
		ds = append(ds, ds[i])
	}
	rng.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	return ds
}

// deliver has reporters goroutines take deliveries in order and pass each
// to record, and returns how long it took and how many calls failed.
func deliver(deliveries []string, reporters int, record func(item string) error) (time.Duration, int) {
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range reporters {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(deliveries) {
					return
				}
				if record(deliveries[k]) != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), int(failed.Load())
}

// legacyDoc opens a store in a fresh emulator project (for its client and
// cleanup) and writes the one batch document of the old designs.
func legacyDoc(b *testing.B, items int) (*firestore.Client, *firestore.DocumentRef) {
	s := mustOpen(b, batchtest.UniqueID(b), gcpfirestore.Config{})
	c := s.Client()
	doc := c.Collection("legacy_batches").Doc("batch")
	if _, err := doc.Set(b.Context(), map[string]any{"total": items, "completed": 0, "items": []string{}}); err != nil {
		b.Fatalf("create legacy batch document: %v", err)
	}
	return c, doc
}

// legacyState reads the old designs' batch document.
func legacyState(b *testing.B, doc *firestore.DocumentRef) (completed int, items []string) {
	snap, err := doc.Get(b.Context())
	if err != nil {
		b.Fatalf("read legacy batch document: %v", err)
	}
	return legacyFields(snap)
}

func legacyFields(snap *firestore.DocumentSnapshot) (completed int, items []string) {
	n, _ := snap.Data()["completed"].(int64)
	list, _ := snap.Data()["items"].([]any)
	for _, v := range list {
		s, _ := v.(string)
		items = append(items, s)
	}
	return int(n), items
}

func runReplaced(b *testing.B, deliveries []string, items, reporters int) cell {
	ctx := b.Context()
	client, doc := legacyDoc(b, items)
	var fired atomic.Int64
	elapsed, failed := deliver(deliveries, reporters, func(item string) error {
		complete := false
		err := client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
			complete = false
			snap, err := tx.Get(doc)
			if err != nil {
				return err
			}
			completed, list := legacyFields(snap)
			if slices.Contains(list, item) {
				return nil
			}
			completed++
			complete = completed == items
			return tx.Update(doc, []firestore.Update{
				{Path: "items", Value: append(list, item)},
				{Path: "completed", Value: completed},
			})
		}, firestore.MaxAttempts(5))
		if err == nil && complete {
			fired.Add(1)
		}
		return err
	})
	completed, list := legacyState(b, doc)
	return cell{recorded: len(list), elapsed: elapsed, failed: failed, lost: items - len(list),
		double: completed - len(list), finalizes: int(fired.Load())}
}

func runBlind(b *testing.B, deliveries []string, items, reporters int) cell {
	ctx := b.Context()
	_, doc := legacyDoc(b, items)
	var fired, early atomic.Int64
	elapsed, failed := deliver(deliveries, reporters, func(item string) error {
		var err error
		for attempt := range 5 {
			_, err = doc.Update(ctx, []firestore.Update{
				{Path: "items", Value: firestore.ArrayUnion(item)},
				{Path: "completed", Value: firestore.Increment(1)},
			})
			if !retryable(err) {
				break
			}
			time.Sleep(time.Duration(rand.Int64N(int64(10*time.Millisecond) << attempt)))
		}
		if err != nil {
			return err
		}
		// The old "is complete?" check: a separate read of the counter.
		snap, err := doc.Get(ctx)
		if err != nil {
			return err
		}
		if completed, list := legacyFields(snap); completed >= items {
			fired.Add(1)
			if len(list) < items {
				early.Add(1)
			}
		}
		return nil
	})
	completed, list := legacyState(b, doc)
	return cell{recorded: len(list), elapsed: elapsed, failed: failed, lost: items - len(list),
		double: completed - len(list), finalizes: int(fired.Load()), early: int(early.Load())}
}

func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Aborted, codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return true
	}
	return false
}

func runOurs(b *testing.B, deliveries []string, items, reporters int) cell {
	ctx := b.Context()
	s := mustOpen(b, batchtest.UniqueID(b), gcpfirestore.Config{})
	var works atomic.Int64
	var early atomic.Int64
	e := batch.NewEngine(s, nil, nil, batch.EngineConfig{
		Finalize: func(ctx context.Context, bt batch.Batch) ([]byte, error) {
			works.Add(1)
			if bt.Remaining() != 0 {
				early.Add(1)
			}
			return nil, nil
		},
	})
	spec := batch.Spec{Key: batch.Key{Date: "2026-01-15", Run: "contention"}}
	for i := range items {
		id := fmt.Sprintf("p%04d", i)
		spec.Items = append(spec.Items, batch.NewItem{ID: id, Request: []byte(`{"player":"` + id + `"}`)})
	}
	bt, _, err := e.Create(ctx, spec)
	if err != nil {
		b.Fatalf("create batch: %v", err)
	}
	var firstErr atomic.Value
	elapsed, failed := deliver(deliveries, reporters, func(item string) error {
		_, err := e.Record(ctx, batch.OutcomeRecord{BatchID: bt.ID, ItemID: item, Outcome: batch.OutcomeSucceeded,
			Result: []byte(`{"player":"` + item + `","points":21.5,"pick":"OVER"}`)})
		if err != nil {
			firstErr.CompareAndSwap(nil, err)
		}
		return err
	})
	if err, _ := firstErr.Load().(error); err != nil {
		b.Logf("first failed delivery: %v", err)
	}
	final, err := s.GetBatch(ctx, bt.ID)
	if err != nil {
		b.Fatal(err)
	}
	pending, err := s.Items(ctx, bt.ID, batch.ItemsOptions{PendingOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	evs, err := s.PendingEvents(ctx, 100)
	if err != nil {
		b.Fatal(err)
	}
	events := 0
	for _, ev := range evs {
		if ev.BatchID == bt.ID && ev.Type == batch.EventFinalized {
			events++
		}
	}
	if w := int(works.Load()); w != events || final.State != batch.Finalized {
		b.Errorf("finalize work ran %d times, %d finalized events, batch %s", w, events, final.State)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		b.Fatal("benchmark context ended")
	}
	recorded := items - len(pending)
	return cell{recorded: recorded, elapsed: elapsed, failed: failed, lost: len(pending),
		double: final.Counts.Done() - recorded, finalizes: events, early: int(early.Load())}
}
