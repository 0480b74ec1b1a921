package batchtest

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tipoff/batch"
)

func testSweep(t *testing.T, newStore NewStoreFunc) {
	sweep := func(t *testing.T, e *batch.Engine, clk *ManualClock, now time.Time) batch.SweepReport {
		t.Helper()
		clk.Set(now)
		rep, err := e.Sweep(t.Context())
		if err != nil {
			t.Fatalf("Sweep at %v: %v", now.Sub(t0), err)
		}
		return rep
	}

	t.Run("RedriveThenTimeOut", func(t *testing.T) {
		// Items without an outcome are re-driven each item timeout until
		// they have used MaxAttempts, then time out; the batch, now
		// complete, finalizes as failed (4 of 10 succeeded).
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		var calls atomic.Int32
		e := newTestEngine(t, s, q, clk, "coord", countingFinalize(&calls))
		spec := newSpec(testDate, testRun, 10)
		spec.Policy = batch.Policy{ItemTimeout: time.Minute, MaxAttempts: 3, Deadline: time.Hour}
		b, _, err := e.Create(t.Context(), spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Dispatch(t.Context(), b.ID); err != nil {
			t.Fatal(err)
		}
		clk.Set(at(30 * time.Second))
		for i := range 4 {
			if _, err := e.Record(t.Context(), outcomeRec(b.ID, i, batch.OutcomeSucceeded, clk.Now())); err != nil {
				t.Fatal(err)
			}
		}
		if rep := sweep(t, e, clk, at(time.Minute)); rep != (batch.SweepReport{Batches: 1}) {
			t.Fatalf("sweep at the item timeout = %+v, want nothing done", rep)
		}
		if rep := sweep(t, e, clk, at(61*time.Second)); rep != (batch.SweepReport{Batches: 1, Redriven: 6, Dispatched: 6}) {
			t.Fatalf("first overdue sweep = %+v, want 6 re-driven and dispatched", rep)
		}
		msgs := q.messages(batch.TopicRequests)
		wantIDs(t, "re-dispatched items", messageItems(t, msgs[10:]), idRange(4, 10))
		for _, m := range msgs[10:] {
			if m.Attributes[batch.AttrAttempt] != "2" {
				t.Fatalf("re-dispatched message %s has attempt %s, want 2", m.ID, m.Attributes[batch.AttrAttempt])
			}
		}
		if rep := sweep(t, e, clk, at(2*time.Minute+2*time.Second)); rep.Redriven != 6 || rep.TimedOut != 0 {
			t.Fatalf("second overdue sweep = %+v, want 6 re-driven", rep)
		}
		rep := sweep(t, e, clk, at(3*time.Minute+3*time.Second))
		if rep != (batch.SweepReport{Batches: 1, TimedOut: 6, Finalized: 1}) {
			t.Fatalf("sweep after the last attempt = %+v, want 6 timed out and the batch finalized", rep)
		}
		got := mustGet(t, s, b.ID)
		if got.State != batch.Finalized || got.Result != batch.ResultFailed || got.Counts != (batch.Counts{Succeeded: 4, TimedOut: 6}) {
			t.Fatalf("batch = %s %s %+v; want finalized failed with 4 succeeded, 6 timed out", got.State, got.Result, got.Counts)
		}
		for _, id := range idRange(4, 10) {
			if it := mustItem(t, s, b.ID, id); it.Attempts != 3 || it.Outcome != batch.OutcomeTimedOut || !strings.Contains(it.Error, "3 attempts") {
				t.Fatalf("item %s = %d attempts, %q %q; want 3 attempts, timed out with why", id, it.Attempts, it.Outcome, it.Error)
			}
		}
		if calls.Load() != 1 || len(batchEvents(t, s, b.ID)) != 1 {
			t.Fatalf("finalize ran %d times with %d events, want 1 and 1", calls.Load(), len(batchEvents(t, s, b.ID)))
		}
	})

	deadline := func(t *testing.T, n, ok int, ratio float64, want batch.Result) {
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		e := newTestEngine(t, s, q, clk, "coord", nil)
		spec := newSpec(testDate, testRun, n)
		spec.Policy = batch.Policy{ItemTimeout: 2 * time.Hour, Deadline: time.Hour, MinSuccessRatio: ratio}
		b, _, err := e.Create(t.Context(), spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Dispatch(t.Context(), b.ID); err != nil {
			t.Fatal(err)
		}
		for i := range ok {
			o := batch.OutcomeSucceeded
			if i == 0 {
				o = batch.OutcomeSkipped
			}
			if _, err := e.Record(t.Context(), outcomeRec(b.ID, i, o, at(time.Minute))); err != nil {
				t.Fatal(err)
			}
		}
		if rep := sweep(t, e, clk, at(time.Hour-time.Millisecond)); rep.TimedOut != 0 || rep.Finalized != 0 {
			t.Fatalf("sweep before the deadline = %+v, want nothing timed out", rep)
		}
		rep := sweep(t, e, clk, at(time.Hour))
		if rep.TimedOut != n-ok || rep.Finalized != 1 {
			t.Fatalf("sweep at the deadline = %+v, want %d timed out and the batch finalized", rep, n-ok)
		}
		got := mustGet(t, s, b.ID)
		if got.State != batch.Finalized || got.Result != want || got.Counts.TimedOut != n-ok || got.Remaining() != 0 {
			t.Fatalf("batch = %s %s %+v; want finalized %s with %d timed out", got.State, got.Result, got.Counts, want, n-ok)
		}
		evs := batchEvents(t, s, b.ID)
		if len(evs) != 1 || !strings.Contains(string(evs[0].Payload), `"result":"`+string(want)+`"`) {
			t.Fatalf("events %+v, want one naming result %s", evs, want)
		}
	}
	// 14 of 25 is exactly the minimum share 0.56, where 0.56×25 rounds to
	// just above 14 in floating point.
	t.Run("DeadlinePartial", func(t *testing.T) { deadline(t, 25, 14, 0.56, batch.ResultPartial) })
	t.Run("DeadlineFailed", func(t *testing.T) { deadline(t, 10, 5, 0.9, batch.ResultFailed) })

	t.Run("DispatchOutbox", func(t *testing.T) {
		// Created, then the process died before dispatching: the sweep
		// publishes the whole manifest.
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		e := newTestEngine(t, s, q, clk, "coord", nil)
		if _, _, err := e.Create(t.Context(), newSpec(testDate, testRun, 25)); err != nil {
			t.Fatal(err)
		}
		if rep := sweep(t, e, clk, at(time.Second)); rep.Dispatched != 25 {
			t.Fatalf("sweep = %+v, want 25 dispatched", rep)
		}
		wantIDs(t, "dispatched", messageItems(t, q.messages(batch.TopicRequests)), idRange(0, 25))
		if rep := sweep(t, e, clk, at(2*time.Second)); rep.Dispatched != 0 {
			t.Fatalf("second sweep = %+v, want nothing dispatched again", rep)
		}
	})

	t.Run("LeaseTakeover", func(t *testing.T) {
		// A finalizer dies holding the lease (its finalize work fails and
		// it never completes); a sweep after the lease expired takes over.
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		died := errors.New("finalizer died")
		dead := newTestEngine(t, s, q, clk, "dead", func(context.Context, batch.Batch) ([]byte, error) { return nil, died })
		var calls atomic.Int32
		heir := newTestEngine(t, s, q, clk, "heir", countingFinalize(&calls))
		b, _, err := dead.Create(t.Context(), newSpec(testDate, testRun, 4))
		if err != nil {
			t.Fatal(err)
		}
		completeAll(t, s, b.ID, batch.OutcomeSucceeded, at(time.Minute))
		clk.Set(at(2 * time.Minute))
		if _, err := dead.Finalize(t.Context(), b.ID); !errors.Is(err, died) {
			t.Fatalf("Finalize with failing work = %v, want %v", err, died)
		}
		expiry := at(2*time.Minute + engineLeaseTTL)
		if rep := sweep(t, heir, clk, expiry.Add(-time.Second)); rep.Finalized != 0 {
			t.Fatalf("sweep before expiry = %+v, want no finalize", rep)
		}
		if got := mustGet(t, s, b.ID); got.State != batch.Finalizing || calls.Load() != 0 {
			t.Fatalf("before expiry: batch %s, heir's finalize ran %d times; want finalizing, 0", got.State, calls.Load())
		}
		if rep := sweep(t, heir, clk, expiry); rep.Finalized != 1 {
			t.Fatalf("sweep at expiry = %+v, want the batch finalized", rep)
		}
		got := mustGet(t, s, b.ID)
		if got.State != batch.Finalized || got.Result != batch.ResultSucceeded || got.FinalizeAttempts != 2 {
			t.Fatalf("batch = %s %s after %d attempts; want finalized succeeded after 2", got.State, got.Result, got.FinalizeAttempts)
		}
		if calls.Load() != 1 || len(batchEvents(t, s, b.ID)) != 1 {
			t.Fatalf("heir's finalize ran %d times, %d events; want 1 and 1", calls.Load(), len(batchEvents(t, s, b.ID)))
		}
	})

	t.Run("EndedBatches", func(t *testing.T) {
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		e := newTestEngine(t, s, q, clk, "coord", nil)
		b, _, err := e.Create(t.Context(), newSpec(testDate, testRun, 3))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Cancel(t.Context(), b.ID, "test"); err != nil {
			t.Fatal(err)
		}
		if rep := sweep(t, e, clk, at(24*time.Hour)); rep != (batch.SweepReport{}) {
			t.Fatalf("sweep with only a cancelled batch = %+v, want nothing", rep)
		}
		if it := mustItem(t, s, b.ID, "p0000"); it.Outcome != batch.OutcomeNone || it.Published {
			t.Fatalf("a sweep touched a cancelled batch's item: %+v", it)
		}
	})
}
