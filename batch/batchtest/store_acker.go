package batchtest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tipoff/batch"
)

// NewAckerPairFunc returns an empty store that implements
// [batch.OutcomeAcker] and a queue in the same database whose clock is
// clock and whose lease is [AckerLease], and registers their cleanup.
type NewAckerPairFunc = func(t *testing.T, clock *ManualClock) (batch.Store, batch.Queue)

// AckerLease is the lease of the queues [RunOutcomeAckerTests] runs on.
const AckerLease = 30 * time.Second

// RunOutcomeAckerTests runs the conformance suite of [batch.OutcomeAcker],
// the capability of a store whose database also holds the queue: outcomes
// and the acks of their requests are one atomic step. newPair returns an
// empty store that implements it and a queue in the same database, and
// registers their cleanup.
func RunOutcomeAckerTests(t *testing.T, newPair NewAckerPairFunc) {
	// Each subtest runs on its own clock, so moving it never expires
	// another's leases.
	pair := func(t *testing.T) (batch.OutcomeAcker, batch.Store, batch.Queue, *ManualClock) {
		clock := NewManualClock(t0)
		s, q := newPair(t, clock)
		a, ok := s.(batch.OutcomeAcker)
		if !ok {
			t.Fatalf("%T does not implement batch.OutcomeAcker", s)
		}
		if !a.AcksFor(q) {
			t.Fatalf("AcksFor(the queue of the store's own database) = false")
		}
		return a, s, q, clock
	}
	t.Run("RecordsAndAcksTogether", func(t *testing.T) {
		t.Parallel()
		a, s, q, clock := pair(t)
		b := mustCreateN(t, s, 3)
		ds := dispatchAll(t, s, q, b, 3)
		recs := []batch.OutcomeRecord{}
		for i := range 3 {
			recs = append(recs, outcomeRec(b.ID, i, batch.OutcomeSucceeded, at(time.Second)))
		}
		res := mustRecordAndAck(t, a, q, recs, ds)
		for i, r := range res.Recorded {
			if res.Errs[i] != nil || r.Duplicate || r.Remaining != 2-i {
				t.Fatalf("record %d: got %+v, %v; want recorded with %d remaining", i, r, res.Errs[i], 2-i)
			}
		}
		if res.Ack != nil {
			t.Fatalf("ack: %v", res.Ack)
		}
		got := mustGet(t, s, b.ID)
		wantSame(t, "counts", got.Counts, batch.Counts{Succeeded: 3})
		for i := range 3 {
			it := mustItem(t, s, b.ID, itemID(i))
			wantSame(t, "result of "+it.ID, string(it.Result), string(recs[i].Result))
		}
		// The deliveries are settled: acking them again is refused, and
		// nothing comes back after their leases.
		wantErr(t, q.Ack(t.Context(), ds...), batch.ErrConflict, "Ack after RecordAndAck")
		clock.Advance(2 * AckerLease)
		expectNoDelivery(t, q)
	})
	t.Run("AnswersEachRecord", func(t *testing.T) {
		t.Parallel()
		a, s, q, clock := pair(t)
		b := mustCreateN(t, s, 3)
		ds := dispatchAll(t, s, q, b, 3)
		mustRecord(t, s, outcomeRec(b.ID, 0, batch.OutcomeSucceeded, at(time.Second)))
		mustRecord(t, s, outcomeRec(b.ID, 1, batch.OutcomeSucceeded, at(time.Second)))
		recs := []batch.OutcomeRecord{
			outcomeRec(b.ID, 0, batch.OutcomeSucceeded, at(2*time.Second)), // duplicate
			outcomeRec(b.ID, 1, batch.OutcomeFailed, at(2*time.Second)),    // conflict
			outcomeRec(b.ID, 7, batch.OutcomeSucceeded, at(2*time.Second)), // no such item
			{BatchID: b.ID, ItemID: itemID(2), Outcome: "bogus"},           // invalid
			outcomeRec("no-such-batch", 2, batch.OutcomeSucceeded, at(2*time.Second)),
		}
		res := mustRecordAndAck(t, a, q, recs, ds)
		if r := res.Recorded[0]; res.Errs[0] != nil || !r.Duplicate || r.Existing != batch.OutcomeSucceeded {
			t.Fatalf("duplicate: got %+v, %v; want a duplicate of succeeded without error", r, res.Errs[0])
		}
		wantErr(t, res.Errs[1], batch.ErrConflict, "RecordAndAck of a different outcome")
		if !res.Recorded[1].Duplicate {
			t.Fatalf("conflict: got %+v, want Duplicate", res.Recorded[1])
		}
		wantErr(t, res.Errs[2], batch.ErrNotFound, "RecordAndAck of an unknown item")
		wantErr(t, res.Errs[3], batch.ErrInvalid, "RecordAndAck of an invalid outcome")
		wantErr(t, res.Errs[4], batch.ErrNotFound, "RecordAndAck of an unknown batch")
		if res.Ack != nil {
			t.Fatalf("ack: %v; want every delivery acked", res.Ack)
		}
		got := mustGet(t, s, b.ID)
		wantSame(t, "counts", got.Counts, batch.Counts{Succeeded: 2})
		if it := mustItem(t, s, b.ID, itemID(2)); it.Outcome != "" {
			t.Fatalf("item %s has outcome %s; the invalid record must write nothing", it.ID, it.Outcome)
		}
		clock.Advance(2 * AckerLease)
		expectNoDelivery(t, q)
	})
	t.Run("RepeatedItemInOneCall", func(t *testing.T) {
		t.Parallel()
		a, s, q, _ := pair(t)
		b := mustCreateN(t, s, 3)
		ds := dispatchAll(t, s, q, b, 3)
		recs := []batch.OutcomeRecord{
			outcomeRec(b.ID, 0, batch.OutcomeSucceeded, at(time.Second)),
			outcomeRec(b.ID, 1, batch.OutcomeSucceeded, at(time.Second)),
			outcomeRec(b.ID, 0, batch.OutcomeFailed, at(2*time.Second)),    // conflicts with the first
			outcomeRec(b.ID, 1, batch.OutcomeSucceeded, at(2*time.Second)), // a duplicate
			outcomeRec(b.ID, 2, batch.OutcomeSkipped, at(2*time.Second)),
		}
		res := mustRecordAndAck(t, a, q, recs, ds)
		for i, want := range []int{2, 1} {
			if r := res.Recorded[i]; res.Errs[i] != nil || r.Duplicate || r.Remaining != want {
				t.Fatalf("record %d: got %+v, %v; want recorded with %d remaining", i, r, res.Errs[i], want)
			}
		}
		wantErr(t, res.Errs[2], batch.ErrConflict, "a second outcome of an item in the same call")
		if r := res.Recorded[2]; !r.Duplicate || r.Existing != batch.OutcomeSucceeded || r.Remaining != 1 {
			t.Fatalf("conflict: got %+v, want a duplicate of succeeded with 1 remaining", r)
		}
		if r := res.Recorded[3]; res.Errs[3] != nil || !r.Duplicate || r.Existing != batch.OutcomeSucceeded || r.Remaining != 1 {
			t.Fatalf("duplicate: got %+v, %v; want a duplicate of succeeded with 1 remaining", r, res.Errs[3])
		}
		if r := res.Recorded[4]; res.Errs[4] != nil || r.Duplicate || r.Remaining != 0 {
			t.Fatalf("record 4: got %+v, %v; want recorded with none remaining", r, res.Errs[4])
		}
		wantSame(t, "counts", mustGet(t, s, b.ID).Counts, batch.Counts{Succeeded: 2, Skipped: 1})
		if it := mustItem(t, s, b.ID, itemID(0)); it.Outcome != batch.OutcomeSucceeded {
			t.Fatalf("item %s has outcome %s, want the first one, succeeded", it.ID, it.Outcome)
		}
	})
	t.Run("StaleDelivery", func(t *testing.T) {
		t.Parallel()
		a, s, q, clock := pair(t)
		b := mustCreateN(t, s, 1)
		first := dispatchAll(t, s, q, b, 1)
		clock.Advance(AckerLease + time.Second)
		again := receiveN(t, q, 1)
		res := mustRecordAndAck(t, a, q, []batch.OutcomeRecord{outcomeRec(b.ID, 0, batch.OutcomeSucceeded, at(time.Second))}, first)
		if res.Errs[0] != nil || res.Recorded[0].Remaining != 0 {
			t.Fatalf("record: got %+v, %v; want recorded", res.Recorded[0], res.Errs[0])
		}
		wantErr(t, res.Ack, batch.ErrConflict, "RecordAndAck with a delivery whose lease expired")
		wantSame(t, "counts", mustGet(t, s, b.ID).Counts, batch.Counts{Succeeded: 1})
		if err := q.Ack(t.Context(), again...); err != nil {
			t.Fatalf("Ack of the current delivery: %v", err)
		}
	})
	t.Run("OtherQueue", func(t *testing.T) {
		t.Parallel()
		a, s, _, _ := pair(t)
		_, other := newPair(t, NewManualClock(t0))
		if a.AcksFor(other) {
			t.Fatalf("AcksFor(a queue of another database) = true")
		}
		b := mustCreateN(t, s, 1)
		_, err := a.RecordAndAck(t.Context(), other, []batch.OutcomeRecord{outcomeRec(b.ID, 0, batch.OutcomeSucceeded, at(time.Second))}, nil)
		wantErr(t, err, batch.ErrInvalid, "RecordAndAck with another database's queue")
		wantSame(t, "counts", mustGet(t, s, b.ID).Counts, batch.Counts{})
	})
	t.Run("EngineFinalizes", func(t *testing.T) {
		t.Parallel()
		_, s, q, clock := pair(t)
		var finalizes atomic.Int32
		e := batch.NewEngine(s, q, testLogger(t), batch.EngineConfig{NowFunc: clock.Now,
			Finalize: func(context.Context, batch.Batch) ([]byte, error) { finalizes.Add(1); return nil, nil }})
		sink := batch.RecordAndAck(e, q)
		if sink == nil {
			t.Fatal("RecordAndAck(engine, the queue of its store's database) = nil")
		}
		if _, other := newPair(t, NewManualClock(t0)); batch.RecordAndAck(e, other) != nil {
			t.Fatal("RecordAndAck(engine, a queue of another database) != nil")
		}
		b, _, err := e.Create(t.Context(), newSpec(testDate, testRun, 4))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Dispatch(t.Context(), b.ID); err != nil {
			t.Fatal(err)
		}
		ds := receiveN(t, q, 4)
		msgs := make([]batch.OutcomeMessage, len(ds))
		for i, d := range ds {
			msgs[i] = batch.OutcomeMessage{BatchID: b.ID, ItemID: d.Attributes[batch.AttrItemID], Outcome: batch.OutcomeSucceeded,
				Result: []byte(`{}`), At: clock.Now()}
		}
		if err := sink(t.Context(), msgs[:3], ds[:3]); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, s, b.ID); got.State != batch.Running || finalizes.Load() != 0 {
			t.Fatalf("after 3 of 4 outcomes: batch %s, %d finalizes; want running, none", got.State, finalizes.Load())
		}
		if err := sink(t.Context(), msgs[3:], ds[3:]); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, s, b.ID)
		if got.State != batch.Finalized || got.Result != batch.ResultSucceeded || finalizes.Load() != 1 {
			t.Fatalf("after the last outcome: batch %s %s, %d finalizes; want finalized succeeded, 1", got.State, got.Result, finalizes.Load())
		}
		// Its duplicate changes nothing and finalizes nothing.
		if err := sink(t.Context(), msgs[3:], nil); err != nil {
			t.Fatal(err)
		}
		wantSame(t, "finalizes", finalizes.Load(), int32(1))
		clock.Advance(2 * AckerLease)
		expectNoDelivery(t, q)
	})
	t.Run("ConcurrentExact", func(t *testing.T) {
		t.Parallel()
		a, s, q, clock := pair(t)
		const n = 40
		b := mustCreateN(t, s, n)
		ds := dispatchAll(t, s, q, b, n)
		var (
			mu        sync.Mutex
			completed int
			wg        sync.WaitGroup
		)
		for i := range n {
			wg.Go(func() {
				// Each call records its own item and, again, item 0.
				recs := []batch.OutcomeRecord{
					outcomeRec(b.ID, i, batch.OutcomeSucceeded, at(time.Second)),
					outcomeRec(b.ID, 0, batch.OutcomeSucceeded, at(time.Second)),
				}
				res, err := a.RecordAndAck(t.Context(), q, recs, []batch.Delivery{ds[i]})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for k, r := range res.Recorded {
					if res.Errs[k] != nil {
						t.Errorf("record %s: %v", recs[k].ItemID, res.Errs[k])
					}
					if !r.Duplicate && r.Remaining == 0 {
						completed++
					}
				}
				if res.Ack != nil {
					t.Errorf("ack %s: %v", ds[i].ID, res.Ack)
				}
			})
		}
		wg.Wait()
		wantSame(t, "counts", mustGet(t, s, b.ID).Counts, batch.Counts{Succeeded: n})
		wantSame(t, "records that completed the batch", completed, 1)
		clock.Advance(2 * AckerLease)
		expectNoDelivery(t, q)
	})
}

// dispatchAll publishes the batch's n request messages, marks them
// published and receives them, in item order.
func dispatchAll(t *testing.T, s batch.Store, q batch.Queue, b batch.Batch, n int) []batch.Delivery {
	t.Helper()
	items := mustItems(t, s, b.ID, batch.ItemsOptions{})
	msgs := make([]batch.Message, len(items))
	for i, it := range items {
		msgs[i] = batch.RequestMessage(it, 1, "")
	}
	if err := q.Publish(t.Context(), batch.TopicRequests, msgs...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	mustPublish(t, s, b.ID, itemIDs(items), at(0))
	ds := receiveN(t, q, n)
	byItem := make(map[string]batch.Delivery, n)
	for _, d := range ds {
		byItem[d.Attributes[batch.AttrItemID]] = d
	}
	out := make([]batch.Delivery, n)
	for i := range n {
		d, ok := byItem[itemID(i)]
		if !ok {
			t.Fatalf("no delivery of item %s", itemID(i))
		}
		out[i] = d
	}
	return out
}

// receiveN receives exactly n request messages.
func receiveN(t *testing.T, q batch.Queue, n int) []batch.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var ds []batch.Delivery
	for len(ds) < n {
		got, err := q.Receive(ctx, batch.TopicRequests, n-len(ds))
		if err != nil {
			t.Fatalf("Receive: got %d of %d: %v", len(ds), n, err)
		}
		ds = append(ds, got...)
	}
	return ds
}

// expectNoDelivery checks that no request message is ready.
func expectNoDelivery(t *testing.T, q batch.Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if ds, err := q.Receive(ctx, batch.TopicRequests, 10); len(ds) > 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive: got %s, %v; want nothing ready", describeDeliveries(ds), err)
	}
}

func mustRecordAndAck(t *testing.T, a batch.OutcomeAcker, q batch.Queue, recs []batch.OutcomeRecord, ds []batch.Delivery) batch.AckedOutcomes {
	t.Helper()
	res, err := a.RecordAndAck(t.Context(), q, recs, ds)
	if err != nil {
		t.Fatalf("RecordAndAck(%d records, %d deliveries): %v", len(recs), len(ds), err)
	}
	if len(res.Recorded) != len(recs) || len(res.Errs) != len(recs) {
		t.Fatalf("RecordAndAck answered %d/%d of %d records", len(res.Recorded), len(res.Errs), len(recs))
	}
	return res
}
