package batchtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tipoff/batch"
)

const claimTTL = 10 * time.Second

func mustClaim(t testing.TB, s batch.Store, name, owner string, now time.Time) batch.Claim {
	t.Helper()
	c, err := s.Claim(t.Context(), name, owner, now, claimTTL)
	if err != nil {
		t.Fatalf("Claim(%s, %s) at %v: %v", name, owner, now.Sub(t0), err)
	}
	return c
}

// testClaim checks Store.Claim, the claim of work that one coordinator of
// many does, and the coordinators that share work by it.
func testClaim(t *testing.T, newStore NewStoreFunc) {
	t.Run("TakeAndRenew", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		got := mustClaim(t, s, "work", "c1", at(0))
		wantSame(t, "first claim", got, batch.Claim{Name: "work", Owner: "c1", Epoch: 1, Expires: at(claimTTL)})
		got = mustClaim(t, s, "work", "c1", at(4*time.Second))
		wantSame(t, "renewed claim", got, batch.Claim{Name: "work", Owner: "c1", Epoch: 1, Expires: at(4*time.Second + claimTTL)})
		_, err := s.Claim(t.Context(), "work", "c2", at(4*time.Second+claimTTL-time.Millisecond), claimTTL)
		wantErr(t, err, batch.ErrConflict, "Claim by another owner while the renewed claim holds")
		// Names are independent.
		if got := mustClaim(t, s, "other", "c2", at(5*time.Second)); got.Owner != "c2" || got.Epoch != 1 {
			t.Fatalf("claim of another name = %+v; want c2's, epoch 1", got)
		}
	})

	t.Run("ExactlyOneOfMany", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const n = 8
		won := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.Claim(t.Context(), "work", fmt.Sprintf("c%d", i), at(0), claimTTL)
				won[i] = errs[i] == nil
			})
		}
		wg.Wait()
		winners := 0
		for i := range n {
			if won[i] {
				winners++
			} else {
				wantErr(t, errs[i], batch.ErrConflict, fmt.Sprintf("claim by c%d that lost the race", i))
			}
		}
		if winners != 1 {
			t.Fatalf("%d of %d concurrent claimers hold the claim, want exactly 1", winners, n)
		}
	})

	t.Run("TakeoverAfterExpiry", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		mustClaim(t, s, "work", "frozen", at(0))
		_, err := s.Claim(t.Context(), "work", "heir", at(claimTTL-time.Nanosecond), claimTTL)
		wantErr(t, err, batch.ErrConflict, "Claim just before the holder's expiry")
		got := mustClaim(t, s, "work", "heir", at(claimTTL))
		wantSame(t, "claim taken over at expiry", got, batch.Claim{Name: "work", Owner: "heir", Epoch: 2, Expires: at(2 * claimTTL)})
		// The frozen holder wakes: its renewal fails, and the heir keeps it.
		_, err = s.Claim(t.Context(), "work", "frozen", at(claimTTL+time.Second), claimTTL)
		wantErr(t, err, batch.ErrConflict, "renewal by the holder whose claim was taken over")
		got = mustClaim(t, s, "work", "heir", at(claimTTL+2*time.Second))
		if got.Owner != "heir" || got.Epoch != 2 {
			t.Fatalf("heir's renewal after the stale one = %+v; want heir, epoch 2", got)
		}
	})

	t.Run("LapsedHolderRenews", func(t *testing.T) {
		// A holder late to renew, whose claim no one took meanwhile,
		// keeps it without a new epoch.
		t.Parallel()
		s := newStore(t)
		mustClaim(t, s, "work", "c1", at(0))
		got := mustClaim(t, s, "work", "c1", at(3*claimTTL))
		wantSame(t, "late renewal", got, batch.Claim{Name: "work", Owner: "c1", Epoch: 1, Expires: at(4 * claimTTL)})
	})

	t.Run("Release", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		mustClaim(t, s, "work", "c1", at(0))
		if _, err := s.Claim(t.Context(), "work", "c1", at(time.Second), time.Nanosecond); err != nil {
			t.Fatalf("release by renewing for 1ns: %v", err)
		}
		if got := mustClaim(t, s, "work", "c2", at(time.Second+time.Nanosecond)); got.Owner != "c2" || got.Epoch != 2 {
			t.Fatalf("claim after the release = %+v; want c2's, epoch 2", got)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for _, c := range []struct {
			name, owner string
			ttl         time.Duration
		}{{"", "c1", claimTTL}, {"work", "", claimTTL}, {"work", "c1", 0}} {
			_, err := s.Claim(t.Context(), c.name, c.owner, at(0), c.ttl)
			wantErr(t, err, batch.ErrInvalid, fmt.Sprintf("Claim(%q, %q, ttl %v)", c.name, c.owner, c.ttl))
		}
		// Nothing was taken by the refused claims.
		if got := mustClaim(t, s, "work", "c2", at(0)); got.Epoch != 1 {
			t.Fatalf("claim after refused ones = %+v; want epoch 1", got)
		}
	})

	t.Run("ClaimLostMidSweepStopsRelay", func(t *testing.T) {
		// A holder whose sweep outlasts its claim (a long sweep, a frozen
		// process) finds the claim taken over when the sweep ends, and
		// leaves the events to the new holder.
		t.Parallel()
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		stealer := &claimStolenInSweep{Store: s, clk: clk, t: t}
		e := newTestEngine(t, stealer, q, clk, "slow", nil)
		c := batch.NewCoordinator(e, q, testLogger(t), batch.CoordinatorConfig{SweepEvery: time.Second, ClaimTTL: claimTTL})
		b, _, err := e.Create(t.Context(), newSpec(testDate, testRun, 3))
		if err != nil {
			t.Fatal(err)
		}
		completeAll(t, s, b.ID, batch.OutcomeSucceeded, clk.Now())
		if _, err := e.Finalize(t.Context(), b.ID); err != nil {
			t.Fatal(err)
		}
		stealer.armed.Store(true)
		if !c.Tick(t.Context()) {
			t.Fatal("the coordinator did not hold the claim at the start of its tick")
		}
		if n := len(q.messages(batch.TopicEvents)); n != 0 {
			t.Fatalf("a coordinator that lost its claim during the sweep relayed %d events", n)
		}
		if evs, err := s.PendingEvents(t.Context(), 10); err != nil || len(evs) != 1 {
			t.Fatalf("pending events %d, %v; want the finalized event left for the new holder", len(evs), err)
		}
	})

	t.Run("SoloIgnoresClaim", func(t *testing.T) {
		// A solo coordinator (one process drives the store) restarted
		// after a crash finds its dead predecessor's claim unexpired and
		// works at once all the same.
		t.Parallel()
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		mustClaim(t, s, batch.ClaimWork, "dead", clk.Now())
		e := newTestEngine(t, s, q, clk, "restarted", nil)
		c := batch.NewCoordinator(e, q, testLogger(t), batch.CoordinatorConfig{SweepEvery: time.Second, ClaimTTL: claimTTL, Solo: true})
		if _, _, err := e.Create(t.Context(), newSpec(testDate, testRun, 5)); err != nil {
			t.Fatal(err)
		}
		if !c.Tick(t.Context()) {
			t.Fatal("a solo coordinator's tick stood by for another owner's claim")
		}
		if n := len(q.messages(batch.TopicRequests)); n != 5 {
			t.Fatalf("%d requests published by a solo coordinator, want 5", n)
		}
	})

	t.Run("CoordinatorsShareWork", func(t *testing.T) {
		// Three coordinators on one store: one dispatches, re-drives and
		// relays; the others stand by until it stops renewing its claim.
		t.Parallel()
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		coords := make([]*batch.Coordinator, 3)
		for i := range coords {
			owner := fmt.Sprintf("c%d", i)
			e := newTestEngine(t, s, q, clk, owner, nil)
			coords[i] = batch.NewCoordinator(e, q, testLogger(t).With("owner", owner), batch.CoordinatorConfig{SweepEvery: time.Second, ClaimTTL: claimTTL})
		}
		spec := newSpec(testDate, testRun, 20)
		spec.Policy = batch.Policy{ItemTimeout: claimTTL / 2, MaxAttempts: 3}
		b, _, err := coords[0].Engine().Create(t.Context(), spec)
		if err != nil {
			t.Fatal(err)
		}
		held := make([]bool, len(coords))
		var wg sync.WaitGroup
		for i, c := range coords {
			wg.Go(func() { held[i] = c.Tick(t.Context()) })
		}
		wg.Wait()
		holder := -1
		for i, h := range held {
			if h {
				if holder >= 0 {
					t.Fatalf("coordinators %d and %d both hold the work claim", holder, i)
				}
				holder = i
			}
		}
		if holder < 0 {
			t.Fatal("no coordinator holds the work claim")
		}
		if n := len(q.messages(batch.TopicRequests)); n != 20 {
			t.Fatalf("%d requests published by three ticking coordinators, want 20 (each item once)", n)
		}
		standby := (holder + 1) % 3

		// Overdue items are re-driven by the holder only.
		clk.Advance(claimTTL/2 + time.Second)
		if coords[standby].Tick(t.Context()) {
			t.Fatalf("coordinator %d took the claim while %d holds it", standby, holder)
		}
		if n := len(q.messages(batch.TopicRequests)); n != 20 {
			t.Fatalf("a standby's tick published %d requests, want none", n-20)
		}
		if !coords[holder].Tick(t.Context()) {
			t.Fatalf("the holder %d lost its claim", holder)
		}
		if n := len(q.messages(batch.TopicRequests)); n != 40 {
			t.Fatalf("%d requests after the holder re-drove the overdue items, want 40", n)
		}

		// Every outcome arrives (at any coordinator); the event waits for
		// the holder's relay.
		for _, m := range q.messages(batch.TopicRequests)[:20] {
			if err := coords[standby].HandleOutcome(t.Context(), workerOutcome(t, m, clk.Now())); err != nil {
				t.Fatal(err)
			}
		}
		if got := mustGet(t, s, b.ID); got.State != batch.Finalized {
			t.Fatalf("batch %s after every outcome, want finalized", got.State)
		}
		coords[standby].Tick(t.Context())
		if n := len(q.messages(batch.TopicEvents)); n != 0 {
			t.Fatalf("a standby relayed %d events", n)
		}

		// The holder freezes. Until its claim expires nobody takes over;
		// then one standby does, and the frozen holder, woken, stands by.
		clk.Advance(claimTTL - time.Millisecond)
		if coords[standby].Tick(t.Context()) {
			t.Fatal("a standby took the claim before it expired")
		}
		clk.Advance(time.Millisecond)
		if !coords[standby].Tick(t.Context()) {
			t.Fatal("no standby took the claim over after it expired")
		}
		if evs := q.messages(batch.TopicEvents); len(evs) != 1 || evs[0].ID != batch.EventID(b.ID, batch.EventFinalized) {
			t.Fatalf("events relayed after the takeover: %d, want the finalized event once", len(evs))
		}
		if coords[holder].Tick(t.Context()) {
			t.Fatal("the frozen holder, woken, still holds the claim")
		}
		for _, c := range coords {
			c.Tick(t.Context())
		}
		if n := len(q.messages(batch.TopicEvents)); n != 1 {
			t.Fatalf("%d events relayed after more ticks, want 1", n)
		}
	})
}

// claimStolenInSweep wraps a store so that, once armed, the sweep's first
// read of batches moves the clock past the work claim's TTL and another
// coordinator takes the claim over.
type claimStolenInSweep struct {
	batch.Store
	clk   *ManualClock
	t     *testing.T
	armed atomic.Bool
}

func (s *claimStolenInSweep) ListBatches(ctx context.Context, opts batch.ListOptions) ([]batch.Batch, error) {
	if s.armed.CompareAndSwap(true, false) {
		s.clk.Advance(claimTTL)
		if _, err := s.Store.Claim(ctx, batch.ClaimWork, "heir", s.clk.Now(), claimTTL); err != nil {
			s.t.Errorf("heir's claim: %v", err)
		}
	}
	return s.Store.ListBatches(ctx, opts)
}
