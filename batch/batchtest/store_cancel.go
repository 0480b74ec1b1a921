package batchtest

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tipoff/batch"
)

func testCancel(t *testing.T, newStore NewStoreFunc) {
	t.Run("Running", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 5)
		mustRecord(t, s, outcomeRec(b.ID, 0, batch.OutcomeSucceeded, at(time.Minute)))
		mustRecord(t, s, outcomeRec(b.ID, 1, batch.OutcomeFailed, at(time.Minute)))
		now := at(2 * time.Minute)
		ev := cancelEvent(b.ID, now)
		got, err := s.Cancel(t.Context(), b.ID, "schedule changed", ev, now)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != batch.Finalized || got.Result != batch.ResultCancelled || got.CancelReason != "schedule changed" ||
			!got.FinalizedAt.Equal(now) || got.Counts != (batch.Counts{Succeeded: 1, Failed: 1}) {
			t.Fatalf("cancelled batch = %+v; want finalized, cancelled, reason kept, counts kept", got)
		}
		wantSame(t, "stored cancelled batch", mustGet(t, s, b.ID), got)
		wantSame(t, "events", batchEvents(t, s, b.ID), []batch.Event{ev})
		items := itemMap(t, s, b.ID)
		if items["p0000"].Outcome != batch.OutcomeSucceeded || items["p0002"].Outcome != batch.OutcomeNone {
			t.Fatalf("cancel changed item outcomes: p0000 %q, p0002 %q", items["p0000"].Outcome, items["p0002"].Outcome)
		}

		_, err = s.Cancel(t.Context(), b.ID, "again", cancelEvent(b.ID, at(3*time.Minute)), at(3*time.Minute))
		wantErr(t, err, batch.ErrFinalized, "Cancel twice")
		_, err = s.AcquireFinalize(t.Context(), b.ID, "f1", at(3*time.Minute), time.Minute)
		wantErr(t, err, batch.ErrFinalized, "AcquireFinalize of a cancelled batch")
		if n := len(batchEvents(t, s, b.ID)); n != 1 {
			t.Fatalf("%d events after a second cancel, want 1", n)
		}
	})

	t.Run("Finalizing", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 2)
		completeAll(t, s, b.ID, batch.OutcomeSucceeded, at(time.Minute))
		if _, err := s.AcquireFinalize(t.Context(), b.ID, "f1", at(2*time.Minute), time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Cancel(t.Context(), b.ID, "operator", cancelEvent(b.ID, at(3*time.Minute)), at(3*time.Minute)); err != nil {
			t.Fatalf("Cancel of a finalizing batch: %v", err)
		}
		_, err := s.CompleteFinalize(t.Context(), lease(b.ID, "f1", 1), batch.ResultSucceeded, finalEvent(b.ID, at(4*time.Minute)), at(4*time.Minute))
		wantErr(t, err, batch.ErrFinalized, "CompleteFinalize after a cancel")
		if evs := batchEvents(t, s, b.ID); len(evs) != 1 || evs[0].Type != batch.EventCancelled {
			t.Fatalf("events %+v, want only the cancel", evs)
		}
	})

	t.Run("AfterFinalize", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 2)
		completeAll(t, s, b.ID, batch.OutcomeSucceeded, at(time.Minute))
		if _, err := s.AcquireFinalize(t.Context(), b.ID, "f1", at(2*time.Minute), time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CompleteFinalize(t.Context(), lease(b.ID, "f1", 1), batch.ResultSucceeded, finalEvent(b.ID, at(2*time.Minute)), at(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		_, err := s.Cancel(t.Context(), b.ID, "late", cancelEvent(b.ID, at(3*time.Minute)), at(3*time.Minute))
		wantErr(t, err, batch.ErrFinalized, "Cancel of a finalized batch")
		if got := mustGet(t, s, b.ID); got.Result != batch.ResultSucceeded {
			t.Fatalf("a refused cancel changed the result to %s", got.Result)
		}
	})

	t.Run("RacesOutcomes", func(t *testing.T) { testCancelRacesOutcomes(t, newStore(t)) })

	t.Run("Invalid", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 2)
		bad := cancelEvent("b2", at(time.Minute))
		_, err := s.Cancel(t.Context(), b.ID, "x", bad, at(time.Minute))
		wantErr(t, err, batch.ErrInvalid, "Cancel with another batch's event")
		_, err = s.Cancel(t.Context(), b.ID, "x", batch.Event{}, at(time.Minute))
		wantErr(t, err, batch.ErrInvalid, "Cancel with an empty event")
		if got := mustGet(t, s, b.ID); got.State != batch.Running {
			t.Fatalf("a refused cancel moved the batch to %s", got.State)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Cancel(t.Context(), "nope", "x", cancelEvent("nope", t0), t0)
		wantErr(t, err, batch.ErrNotFound, "Cancel of an unknown batch")
	})
}

// testCancelRacesOutcomes cancels a batch while 8 goroutines record its
// outcomes. Every outcome either lands before the cancel, and is in the
// counts Cancel returns, or is refused with ErrFinalized and leaves its
// item without an outcome; no outcome lands after the cancel, so the
// counts never move again.
func testCancelRacesOutcomes(t *testing.T, s batch.Store) {
	const n = 240
	b := mustCreateN(t, s, n)
	kinds := []batch.Outcome{batch.OutcomeSucceeded, batch.OutcomeFailed, batch.OutcomeSkipped, batch.OutcomeTimedOut}
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				_, errs[i] = s.RecordOutcome(t.Context(), outcomeRec(b.ID, i, kinds[i%len(kinds)], at(time.Minute)))
			}
		})
	}
	for next.Load() < n/3 {
		runtime.Gosched()
	}
	now := at(2 * time.Minute)
	cancelled, err := s.Cancel(t.Context(), b.ID, "raced", cancelEvent(b.ID, now), now)
	wg.Wait()
	if err != nil {
		t.Fatalf("Cancel while outcomes are recorded: %v", err)
	}

	var want batch.Counts
	for _, it := range mustItems(t, s, b.ID, batch.ItemsOptions{}) {
		var i int
		if _, err := fmt.Sscanf(it.ID, "p%04d", &i); err != nil || i >= n {
			t.Fatalf("unexpected item %s", it.ID)
		}
		switch {
		case errs[i] == nil && it.Outcome != kinds[i%len(kinds)]:
			t.Fatalf("item %s: RecordOutcome returned nil but the item has outcome %q", it.ID, it.Outcome)
		case errs[i] != nil && !errors.Is(errs[i], batch.ErrFinalized):
			t.Fatalf("item %s: RecordOutcome = %v, want nil or one wrapping %q", it.ID, errs[i], batch.ErrFinalized)
		case errs[i] != nil && it.Outcome != batch.OutcomeNone:
			t.Fatalf("item %s: RecordOutcome was refused but the item has outcome %q", it.ID, it.Outcome)
		}
		switch it.Outcome {
		case batch.OutcomeSucceeded:
			want.Succeeded++
		case batch.OutcomeFailed:
			want.Failed++
		case batch.OutcomeSkipped:
			want.Skipped++
		case batch.OutcomeTimedOut:
			want.TimedOut++
		}
	}
	if cancelled.Counts != want {
		t.Fatalf("Cancel returned counts %+v, but the items hold %+v", cancelled.Counts, want)
	}
	if got := mustGet(t, s, b.ID); got.Counts != cancelled.Counts || got.State != batch.Finalized || got.Result != batch.ResultCancelled {
		t.Fatalf("after the race the batch is %s/%s with counts %+v; want finalized, cancelled, %+v", got.State, got.Result, got.Counts, cancelled.Counts)
	}
	t.Logf("%d of %d outcomes landed before the cancel", want.Done(), n)
}
