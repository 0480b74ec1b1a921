package batchtest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"tipoff/batch"
)

func testFinalize(t *testing.T, newStore NewStoreFunc) {
	const ttl = time.Minute

	t.Run("Pending", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 3)
		mustRecord(t, s, outcomeRec(b.ID, 0, batch.OutcomeSucceeded, at(time.Minute)))
		_, err := s.AcquireFinalize(t.Context(), b.ID, "f1", at(2*time.Minute), ttl)
		wantErr(t, err, batch.ErrPending, "AcquireFinalize with items pending")
		if got := mustGet(t, s, b.ID); got.State != batch.Running || got.FinalizeAttempts != 0 {
			t.Fatalf("a refused acquire changed the batch: state %s, attempts %d", got.State, got.FinalizeAttempts)
		}
	})

	t.Run("AcquireAndComplete", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 3)
		completeAll(t, s, b.ID, batch.OutcomeSucceeded, at(time.Minute))
		got, err := s.AcquireFinalize(t.Context(), b.ID, "f1", at(2*time.Minute), ttl)
		if err != nil {
			t.Fatal(err)
		}
		wantLease := batch.Lease{Owner: "f1", Expires: at(2*time.Minute + ttl)}
		if got.State != batch.Finalizing || got.Lease != wantLease || got.FinalizeAttempts != 1 || got.Counts.Succeeded != 3 {
			t.Fatalf("acquired batch = %s, lease %+v, attempts %d, counts %+v; want finalizing, %+v, 1, 3 succeeded",
				got.State, got.Lease, got.FinalizeAttempts, got.Counts, wantLease)
		}
		if stored := mustGet(t, s, b.ID); stored.State != batch.Finalizing || !stored.Lease.Expires.Equal(wantLease.Expires) {
			t.Fatalf("stored batch %s, lease %+v; want finalizing, %+v", stored.State, stored.Lease, wantLease)
		}
		ev := finalEvent(b.ID, at(3*time.Minute))
		done, err := s.CompleteFinalize(t.Context(), lease(b.ID, "f1", 1), batch.ResultSucceeded, ev, at(3*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if done.State != batch.Finalized || done.Result != batch.ResultSucceeded || !done.FinalizedAt.Equal(at(3*time.Minute)) {
			t.Fatalf("completed batch = %s %s at %v; want finalized succeeded at %v", done.State, done.Result, done.FinalizedAt, at(3*time.Minute))
		}
		wantSame(t, "stored finalized batch", mustGet(t, s, b.ID), done)
		wantSame(t, "events", batchEvents(t, s, b.ID), []batch.Event{ev})

		_, err = s.CompleteFinalize(t.Context(), lease(b.ID, "f1", 1), batch.ResultSucceeded, ev, at(4*time.Minute))
		wantErr(t, err, batch.ErrFinalized, "CompleteFinalize twice")
		_, err = s.AcquireFinalize(t.Context(), b.ID, "f2", at(4*time.Minute), ttl)
		wantErr(t, err, batch.ErrFinalized, "AcquireFinalize of a finalized batch")
		if n := len(batchEvents(t, s, b.ID)); n != 1 {
			t.Fatalf("%d events after repeated finalizes, want 1", n)
		}
	})

	t.Run("HeldByOther", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 2)
		completeAll(t, s, b.ID, batch.OutcomeSucceeded, at(time.Minute))
		if _, err := s.AcquireFinalize(t.Context(), b.ID, "f1", at(2*time.Minute), ttl); err != nil {
			t.Fatal(err)
		}
		_, err := s.AcquireFinalize(t.Context(), b.ID, "f2", at(2*time.Minute+ttl-time.Millisecond), ttl)
		wantErr(t, err, batch.ErrConflict, "AcquireFinalize while another owner's lease runs")
		if got := mustGet(t, s, b.ID); got.Lease.Owner != "f1" || got.FinalizeAttempts != 1 {
			t.Fatalf("a refused acquire changed the lease: %+v, attempts %d", got.Lease, got.FinalizeAttempts)
		}
		_, err = s.CompleteFinalize(t.Context(), lease(b.ID, "f2", 1), batch.ResultSucceeded, finalEvent(b.ID, at(3*time.Minute)), at(3*time.Minute))
		wantErr(t, err, batch.ErrConflict, "CompleteFinalize by a non-holder")
		if got := mustGet(t, s, b.ID); got.State != batch.Finalizing {
			t.Fatalf("a refused complete moved the batch to %s", got.State)
		}
		if n := len(batchEvents(t, s, b.ID)); n != 0 {
			t.Fatalf("a refused complete wrote %d events", n)
		}
	})

	t.Run("SameOwnerAgain", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 2)
		completeAll(t, s, b.ID, batch.OutcomeSucceeded, at(time.Minute))
		if _, err := s.AcquireFinalize(t.Context(), b.ID, "f1", at(2*time.Minute), ttl); err != nil {
			t.Fatal(err)
		}
		got, err := s.AcquireFinalize(t.Context(), b.ID, "f1", at(2*time.Minute+10*time.Second), ttl)
		if err != nil {
			t.Fatalf("re-acquire by the holder: %v", err)
		}
		if got.FinalizeAttempts != 2 || !got.Lease.Expires.Equal(at(2*time.Minute+10*time.Second+ttl)) {
			t.Fatalf("re-acquired lease %+v, attempts %d; want renewed to %v, 2 attempts", got.Lease, got.FinalizeAttempts, at(2*time.Minute+10*time.Second+ttl))
		}
	})

	t.Run("LeaseTakeover", func(t *testing.T) {
		// The first finalizer dies holding the lease; once it has expired
		// another takes over and the dead one can no longer complete.
		s := newStore(t)
		b := mustCreateN(t, s, 3)
		completeAll(t, s, b.ID, batch.OutcomeFailed, at(time.Minute))
		if _, err := s.AcquireFinalize(t.Context(), b.ID, "dead", at(2*time.Minute), ttl); err != nil {
			t.Fatal(err)
		}
		expiry := at(2*time.Minute + ttl)
		_, err := s.AcquireFinalize(t.Context(), b.ID, "heir", expiry.Add(-time.Millisecond), ttl)
		wantErr(t, err, batch.ErrConflict, "takeover a millisecond before expiry")
		got, err := s.AcquireFinalize(t.Context(), b.ID, "heir", expiry, ttl)
		if err != nil {
			t.Fatalf("takeover at expiry: %v", err)
		}
		if got.Lease.Owner != "heir" || got.FinalizeAttempts != 2 || got.State != batch.Finalizing {
			t.Fatalf("after takeover: lease %+v, attempts %d, state %s; want heir, 2, finalizing", got.Lease, got.FinalizeAttempts, got.State)
		}
		_, err = s.CompleteFinalize(t.Context(), lease(b.ID, "dead", 1), batch.ResultFailed, finalEvent(b.ID, expiry), expiry)
		wantErr(t, err, batch.ErrConflict, "CompleteFinalize by the owner whose lease was taken over")
		if _, err := s.CompleteFinalize(t.Context(), lease(b.ID, "heir", 2), batch.ResultFailed, finalEvent(b.ID, expiry), expiry); err != nil {
			t.Fatal(err)
		}
		if n := len(batchEvents(t, s, b.ID)); n != 1 {
			t.Fatalf("%d finalized events, want 1", n)
		}
	})

	t.Run("ExpiredNotTakenOver", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 2)
		completeAll(t, s, b.ID, batch.OutcomeSucceeded, at(time.Minute))
		if _, err := s.AcquireFinalize(t.Context(), b.ID, "slow", at(2*time.Minute), ttl); err != nil {
			t.Fatal(err)
		}
		late := at(2*time.Minute + 10*ttl)
		if _, err := s.CompleteFinalize(t.Context(), lease(b.ID, "slow", 1), batch.ResultSucceeded, finalEvent(b.ID, late), late); err != nil {
			t.Fatalf("complete after the lease expired with no takeover: %v", err)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 2)
		completeAll(t, s, b.ID, batch.OutcomeSucceeded, at(time.Minute))
		_, err := s.AcquireFinalize(t.Context(), b.ID, "", at(2*time.Minute), ttl)
		wantErr(t, err, batch.ErrInvalid, "AcquireFinalize without an owner")
		_, err = s.AcquireFinalize(t.Context(), b.ID, "f1", at(2*time.Minute), 0)
		wantErr(t, err, batch.ErrInvalid, "AcquireFinalize with a zero ttl")
		if _, err := s.AcquireFinalize(t.Context(), b.ID, "f1", at(2*time.Minute), ttl); err != nil {
			t.Fatal(err)
		}
		now := at(3 * time.Minute)
		good := finalEvent(b.ID, now)
		for _, res := range []batch.Result{"", batch.ResultCancelled, "great"} {
			_, err := s.CompleteFinalize(t.Context(), lease(b.ID, "f1", 1), res, good, now)
			wantErr(t, err, batch.ErrInvalid, fmt.Sprintf("CompleteFinalize with result %q", res))
		}
		for name, ev := range map[string]batch.Event{
			"no id":         {Type: batch.EventFinalized, BatchID: b.ID, CreatedAt: now},
			"no type":       {ID: good.ID, BatchID: b.ID, CreatedAt: now},
			"another batch": {ID: good.ID, Type: batch.EventFinalized, BatchID: "b2", CreatedAt: now},
		} {
			_, err := s.CompleteFinalize(t.Context(), lease(b.ID, "f1", 1), batch.ResultSucceeded, ev, now)
			wantErr(t, err, batch.ErrInvalid, "CompleteFinalize with an event with "+name)
		}
		if got := mustGet(t, s, b.ID); got.State != batch.Finalizing {
			t.Fatalf("refused completes moved the batch to %s", got.State)
		}
		if n := len(batchEvents(t, s, b.ID)); n != 0 {
			t.Fatalf("refused completes wrote %d events", n)
		}
	})

	t.Run("CompleteRunning", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 2)
		completeAll(t, s, b.ID, batch.OutcomeSucceeded, at(time.Minute))
		_, err := s.CompleteFinalize(t.Context(), lease(b.ID, "f1", 1), batch.ResultSucceeded, finalEvent(b.ID, at(2*time.Minute)), at(2*time.Minute))
		wantErr(t, err, batch.ErrConflict, "CompleteFinalize without acquiring")
		if got := mustGet(t, s, b.ID); got.State != batch.Running {
			t.Fatalf("batch moved to %s", got.State)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.AcquireFinalize(t.Context(), "nope", "f1", t0, ttl)
		wantErr(t, err, batch.ErrNotFound, "AcquireFinalize of an unknown batch")
		_, err = s.CompleteFinalize(t.Context(), lease("nope", "f1", 1), batch.ResultSucceeded, finalEvent("nope", t0), t0)
		wantErr(t, err, batch.ErrNotFound, "CompleteFinalize of an unknown batch")
	})

	t.Run("Concurrent", func(t *testing.T) {
		// 8 finalizers race for one batch: one acquires, the rest are
		// refused; only the holder completes; one event is written.
		s := newStore(t)
		b := mustCreateN(t, s, 5)
		completeAll(t, s, b.ID, batch.OutcomeSucceeded, at(time.Minute))
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.AcquireFinalize(t.Context(), b.ID, fmt.Sprintf("f%d", i), at(2*time.Minute), ttl)
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("finalizers f%d and f%d both acquired the lease", winner, i)
			case err == nil:
				winner = i
			default:
				wantErr(t, err, batch.ErrConflict, fmt.Sprintf("losing finalizer f%d", i))
			}
		}
		if winner < 0 {
			t.Fatal("no finalizer acquired the lease")
		}
		now := at(3 * time.Minute)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.CompleteFinalize(t.Context(), lease(b.ID, fmt.Sprintf("f%d", i), 1), batch.ResultSucceeded, finalEvent(b.ID, now), now)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if i == winner && err != nil {
				t.Fatalf("the lease holder f%d could not complete: %v", i, err)
			}
			if i != winner && err == nil {
				t.Fatalf("f%d completed without the lease", i)
			}
		}
		if evs := batchEvents(t, s, b.ID); len(evs) != 1 || evs[0].Type != batch.EventFinalized {
			t.Fatalf("events after a finalize race: %+v, want exactly one %s", evs, batch.EventFinalized)
		}
		if got := mustGet(t, s, b.ID); got.State != batch.Finalized || got.FinalizeAttempts != 1 {
			t.Fatalf("batch %s with %d finalize attempts, want finalized after 1", got.State, got.FinalizeAttempts)
		}
	})
}
