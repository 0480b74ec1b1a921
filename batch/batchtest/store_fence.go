package batchtest

import (
	"context"
	"testing"
	"time"

	"tipoff/batch"
)

// lease returns the token of batchID's lease acquired by owner as the
// epoch-th acquire.
func lease(batchID, owner string, epoch int) batch.LeaseToken {
	return batch.LeaseToken{BatchID: batchID, Owner: owner, Epoch: epoch}
}

func mustAcquire(t testing.TB, s batch.Store, batchID, owner string, now time.Time) batch.Batch {
	t.Helper()
	b, err := s.AcquireFinalize(t.Context(), batchID, owner, now, fenceTTL)
	if err != nil {
		t.Fatalf("AcquireFinalize(%s, %s): %v", batchID, owner, err)
	}
	return b
}

const fenceTTL = time.Minute

// testFence checks that CompleteFinalize, and so the finalized event, is
// fenced by the lease's token: owner and epoch.
func testFence(t *testing.T, newStore NewStoreFunc) {
	t.Run("TokenIsAcquire", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 1)
		completeAll(t, s, b.ID, batch.OutcomeSucceeded, at(time.Minute))
		first := mustAcquire(t, s, b.ID, "f1", at(2*time.Minute))
		second := mustAcquire(t, s, b.ID, "f1", at(2*time.Minute+time.Second))
		if got, want := first.LeaseToken(), lease(b.ID, "f1", 1); got != want {
			t.Fatalf("first acquire's token %+v, want %+v", got, want)
		}
		if got, want := second.LeaseToken(), lease(b.ID, "f1", 2); got != want {
			t.Fatalf("the renewing acquire's token %+v, want %+v", got, want)
		}
	})

	t.Run("SameOwnerReacquireFencesFirst", func(t *testing.T) {
		// Two acquisitions under one owner name (two processes that share
		// a host name and pid): the older token is refused.
		s := newStore(t)
		b := mustCreateN(t, s, 2)
		completeAll(t, s, b.ID, batch.OutcomeSucceeded, at(time.Minute))
		old := mustAcquire(t, s, b.ID, "f1", at(2*time.Minute)).LeaseToken()
		cur := mustAcquire(t, s, b.ID, "f1", at(2*time.Minute+time.Second)).LeaseToken()
		now := at(3 * time.Minute)
		_, err := s.CompleteFinalize(t.Context(), old, batch.ResultSucceeded, finalEvent(b.ID, now), now)
		wantErr(t, err, batch.ErrLeaseLost, "CompleteFinalize under the renewed lease's older token")
		wantErr(t, err, batch.ErrConflict, "CompleteFinalize under a stale token")
		if got := mustGet(t, s, b.ID); got.State != batch.Finalizing {
			t.Fatalf("a refused complete moved the batch to %s", got.State)
		}
		if n := len(batchEvents(t, s, b.ID)); n != 0 {
			t.Fatalf("a refused complete wrote %d events", n)
		}
		if _, err := s.CompleteFinalize(t.Context(), cur, batch.ResultSucceeded, finalEvent(b.ID, now), now); err != nil {
			t.Fatalf("CompleteFinalize under the current token: %v", err)
		}
	})

	t.Run("TakeoverFencesFirst", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 2)
		completeAll(t, s, b.ID, batch.OutcomeSucceeded, at(time.Minute))
		old := mustAcquire(t, s, b.ID, "frozen", at(2*time.Minute)).LeaseToken()
		heir := mustAcquire(t, s, b.ID, "heir", at(2*time.Minute+fenceTTL)).LeaseToken()
		now := at(4 * time.Minute)
		_, err := s.CompleteFinalize(t.Context(), old, batch.ResultSucceeded, finalEvent(b.ID, now), now)
		wantErr(t, err, batch.ErrLeaseLost, "CompleteFinalize by the owner whose lease was taken over")
		if _, err := s.CompleteFinalize(t.Context(), heir, batch.ResultSucceeded, finalEvent(b.ID, now), now); err != nil {
			t.Fatalf("CompleteFinalize by the heir: %v", err)
		}
		_, err = s.CompleteFinalize(t.Context(), old, batch.ResultSucceeded, finalEvent(b.ID, now), now)
		wantErr(t, err, batch.ErrFinalized, "CompleteFinalize by the frozen owner after the heir finished")
		if n := len(batchEvents(t, s, b.ID)); n != 1 {
			t.Fatalf("%d finalized events, want 1", n)
		}
	})
}

// FencedWrite is a write a backend fences with the finalize lease, such as
// publishing a batch's predictions, for [RunFencedWriteTests].
type FencedWrite struct {
	// Store holds the batches whose leases fence the write.
	Store batch.Store
	// Write writes mark for batchID under lease; a zero lease writes
	// unfenced. It must return an error wrapping [batch.ErrLeaseLost], and
	// write nothing, when lease is not the batch's current lease.
	Write func(ctx context.Context, batchID string, lease batch.LeaseToken, mark string) error
	// Written returns the mark of the write for batchID that landed last,
	// or "" if none did.
	Written func(ctx context.Context, batchID string) (string, error)
}

// NewFencedWriteFunc returns a fenced write on an empty store for one test
// and registers its own cleanup with t.Cleanup.
type NewFencedWriteFunc = func(t *testing.T) FencedWrite

// RunFencedWriteTests checks a backend's fenced write against the
// finalize lease of its store: a current token is accepted, a stale one
// (taken over by another owner, renewed by another acquire, or after the
// batch finalized) is refused with [batch.ErrLeaseLost] and writes nothing,
// and a zero token writes unfenced.
func RunFencedWriteTests(t *testing.T, newWrite NewFencedWriteFunc) {
	written := func(t *testing.T, w FencedWrite, batchID, want string) {
		t.Helper()
		got, err := w.Written(t.Context(), batchID)
		if err != nil {
			t.Fatalf("Written(%s): %v", batchID, err)
		}
		if got != want {
			t.Fatalf("the write that landed last is %q, want %q", got, want)
		}
	}
	ready := func(t *testing.T, w FencedWrite) batch.Batch {
		t.Helper()
		b := mustCreateN(t, w.Store, 2)
		completeAll(t, w.Store, b.ID, batch.OutcomeSucceeded, at(time.Minute))
		return b
	}

	t.Run("CurrentAccepted", func(t *testing.T) {
		t.Parallel()
		w := newWrite(t)
		b := ready(t, w)
		tok := mustAcquire(t, w.Store, b.ID, "f1", at(2*time.Minute)).LeaseToken()
		if err := w.Write(t.Context(), b.ID, tok, "f1"); err != nil {
			t.Fatalf("write under the current lease: %v", err)
		}
		written(t, w, b.ID, "f1")
	})

	t.Run("ExpiredNotTakenOverAccepted", func(t *testing.T) {
		t.Parallel()
		w := newWrite(t)
		b := ready(t, w)
		tok := mustAcquire(t, w.Store, b.ID, "slow", at(2*time.Minute)).LeaseToken()
		// Nothing took the lease over: it is still the batch's lease, as
		// for CompleteFinalize.
		if err := w.Write(t.Context(), b.ID, tok, "slow"); err != nil {
			t.Fatalf("write under an expired lease no one took over: %v", err)
		}
		written(t, w, b.ID, "slow")
	})

	t.Run("TakeoverFencesFirst", func(t *testing.T) {
		t.Parallel()
		w := newWrite(t)
		b := ready(t, w)
		frozen := mustAcquire(t, w.Store, b.ID, "frozen", at(2*time.Minute)).LeaseToken()
		heir := mustAcquire(t, w.Store, b.ID, "heir", at(2*time.Minute+fenceTTL)).LeaseToken()
		err := w.Write(t.Context(), b.ID, frozen, "frozen")
		wantErr(t, err, batch.ErrLeaseLost, "write by the owner whose lease was taken over")
		written(t, w, b.ID, "")
		if err := w.Write(t.Context(), b.ID, heir, "heir"); err != nil {
			t.Fatalf("write by the heir: %v", err)
		}
		err = w.Write(t.Context(), b.ID, frozen, "frozen")
		wantErr(t, err, batch.ErrLeaseLost, "write by the taken-over owner after the heir wrote")
		written(t, w, b.ID, "heir")
	})

	t.Run("ReacquireFencesFirst", func(t *testing.T) {
		t.Parallel()
		w := newWrite(t)
		b := ready(t, w)
		old := mustAcquire(t, w.Store, b.ID, "f1", at(2*time.Minute)).LeaseToken()
		cur := mustAcquire(t, w.Store, b.ID, "f1", at(2*time.Minute+time.Second)).LeaseToken()
		err := w.Write(t.Context(), b.ID, old, "old")
		wantErr(t, err, batch.ErrLeaseLost, "write under the older token of one owner")
		written(t, w, b.ID, "")
		if err := w.Write(t.Context(), b.ID, cur, "cur"); err != nil {
			t.Fatalf("write under the renewed lease: %v", err)
		}
		written(t, w, b.ID, "cur")
	})

	t.Run("AfterFinalizeRefused", func(t *testing.T) {
		t.Parallel()
		w := newWrite(t)
		b := ready(t, w)
		tok := mustAcquire(t, w.Store, b.ID, "f1", at(2*time.Minute)).LeaseToken()
		now := at(3 * time.Minute)
		if _, err := w.Store.CompleteFinalize(t.Context(), tok, batch.ResultSucceeded, finalEvent(b.ID, now), now); err != nil {
			t.Fatal(err)
		}
		err := w.Write(t.Context(), b.ID, tok, "late")
		wantErr(t, err, batch.ErrLeaseLost, "write under the lease of a finalized batch")
		written(t, w, b.ID, "")
	})

	t.Run("RunningRefused", func(t *testing.T) {
		t.Parallel()
		w := newWrite(t)
		b := ready(t, w)
		err := w.Write(t.Context(), b.ID, lease(b.ID, "f1", 0), "early")
		wantErr(t, err, batch.ErrLeaseLost, "write under a lease never acquired")
		written(t, w, b.ID, "")
	})

	t.Run("UnfencedAccepted", func(t *testing.T) {
		t.Parallel()
		w := newWrite(t)
		b := ready(t, w)
		if err := w.Write(t.Context(), b.ID, batch.LeaseToken{}, "operator"); err != nil {
			t.Fatalf("unfenced write: %v", err)
		}
		written(t, w, b.ID, "operator")
	})
}
