package batchtest

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tipoff/batch"
)

// testDeadLetter checks that a dead-lettered request is one failed attempt
// of its item, not a verdict: [batch.Store.RedriveAttempt] on its own, and
// [batch.Engine.HandleDeadLetter] on the store.
func testDeadLetter(t *testing.T, newStore NewStoreFunc) {
	t.Run("RedriveAttempt", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 4)
		mustPublish(t, s, b.ID, idRange(0, 3), at(time.Second)) // p0003 stays in the outbox
		mustRecord(t, s, outcomeRec(b.ID, 2, batch.OutcomeSucceeded, at(2*time.Second)))
		redrive := func(id string, attempt int) bool {
			t.Helper()
			moved, err := s.RedriveAttempt(t.Context(), b.ID, id, attempt)
			if err != nil {
				t.Fatalf("RedriveAttempt(%s, %d): %v", id, attempt, err)
			}
			return moved
		}
		if !redrive("p0000", 1) {
			t.Fatal("RedriveAttempt of p0000's current attempt 1 did not move it")
		}
		if redrive("p0000", 1) {
			t.Fatal("a second RedriveAttempt of the same attempt moved p0000 again")
		}
		for _, c := range []struct {
			id      string
			attempt int
			why     string
		}{
			{"p0001", 2, "an attempt not yet made"},
			{"p0002", 1, "an item with an outcome"},
			{"p0003", 1, "an item in the outbox"},
		} {
			if redrive(c.id, c.attempt) {
				t.Fatalf("RedriveAttempt(%s, %d) moved %s", c.id, c.attempt, c.why)
			}
		}
		out, err := s.Unpublished(t.Context(), b.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "outbox", itemIDs(out), []string{"p0000", "p0003"})
		if out[0].Attempts != 1 {
			t.Fatalf("re-driven p0000 has %d attempts, want its 1 kept", out[0].Attempts)
		}
		mustPublish(t, s, b.ID, []string{"p0000"}, at(time.Minute))
		if redrive("p0000", 1) {
			t.Fatal("RedriveAttempt of attempt 1 moved p0000 after it was published as attempt 2")
		}
		if !redrive("p0000", 2) {
			t.Fatal("RedriveAttempt of p0000's attempt 2 did not move it")
		}

		_, err = s.RedriveAttempt(t.Context(), "nope", "p0001", 1)
		wantErr(t, err, batch.ErrNotFound, "RedriveAttempt in an unknown batch")
		_, err = s.RedriveAttempt(t.Context(), b.ID, "p9999", 1)
		wantErr(t, err, batch.ErrNotFound, "RedriveAttempt of an unknown item")
		_, err = s.RedriveAttempt(t.Context(), b.ID, "p0001", 0)
		wantErr(t, err, batch.ErrInvalid, "RedriveAttempt of attempt 0")
		if _, err := s.Cancel(t.Context(), b.ID, "test", cancelEvent(b.ID, at(time.Hour)), at(time.Hour)); err != nil {
			t.Fatal(err)
		}
		_, err = s.RedriveAttempt(t.Context(), b.ID, "p0001", 1)
		wantErr(t, err, batch.ErrFinalized, "RedriveAttempt in a cancelled batch")
		if it := mustItem(t, s, b.ID, "p0001"); !it.Published {
			t.Fatal("a refused RedriveAttempt moved p0001 back to the outbox")
		}
	})

	t.Run("RedriveAttemptConcurrent", func(t *testing.T) {
		// Duplicate dead letters of one delivery handled at once move the
		// item once.
		s := newStore(t)
		b := mustCreateN(t, s, 1)
		mustPublish(t, s, b.ID, []string{"p0000"}, at(time.Second))
		const n = 8
		var moved atomic.Int32
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				ok, err := s.RedriveAttempt(t.Context(), b.ID, "p0000", 1)
				if err != nil {
					t.Error(err)
				}
				if ok {
					moved.Add(1)
				}
			})
		}
		wg.Wait()
		if got := moved.Load(); got != 1 {
			t.Fatalf("%d of %d concurrent RedriveAttempt calls moved the item, want 1", got, n)
		}
	})

	// engineOn returns an engine on a fresh store with a batch of n items
	// whose attempt limit is 3, dispatched once.
	engineOn := func(t *testing.T, n int) (batch.Store, *fakeQueue, *batch.Engine, batch.Batch) {
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		e := newTestEngine(t, s, q, clk, "coord", nil)
		spec := newSpec(testDate, testRun, n)
		spec.Policy = batch.Policy{ItemTimeout: time.Hour, MaxAttempts: 3, Deadline: 2 * time.Hour}
		b, _, err := e.Create(t.Context(), spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Dispatch(t.Context(), b.ID); err != nil {
			t.Fatal(err)
		}
		return s, q, e, b
	}
	deadLetter := func(t *testing.T, e *batch.Engine, m batch.Message) {
		t.Helper()
		if err := e.HandleDeadLetter(t.Context(), batch.Delivery{Message: m, Attempt: 5}); err != nil {
			t.Fatalf("HandleDeadLetter(%s) = %v, want nil", m.ID, err)
		}
	}
	// requestsOf returns the request messages published for item id.
	requestsOf := func(q *fakeQueue, id string) []batch.Message {
		var out []batch.Message
		for _, m := range q.messages(batch.TopicRequests) {
			if m.Attributes[batch.AttrItemID] == id {
				out = append(out, m)
			}
		}
		return out
	}

	t.Run("EngineRetriesUntilLimit", func(t *testing.T) {
		// Each dead letter re-drives the item as a new attempt; duplicate
		// and stale dead letters consume nothing; the dead letter of the
		// last attempt fails the item.
		s, q, e, b := engineOn(t, 2)
		for attempt := 1; attempt <= 3; attempt++ {
			reqs := requestsOf(q, "p0000")
			if len(reqs) != attempt {
				t.Fatalf("%d requests published for p0000 before its dead letter %d, want %d", len(reqs), attempt, attempt)
			}
			cur := reqs[attempt-1]
			if cur.Attributes[batch.AttrAttempt] != strconv.Itoa(attempt) {
				t.Fatalf("request %s has attempt %q, want %d", cur.ID, cur.Attributes[batch.AttrAttempt], attempt)
			}
			deadLetter(t, e, cur)
			deadLetter(t, e, cur)     // Pub/Sub delivered the dead letter twice
			deadLetter(t, e, reqs[0]) // and a stale one of the first attempt
			it := mustItem(t, s, b.ID, "p0000")
			if attempt < 3 {
				if it.Outcome != batch.OutcomeNone || it.Published || it.Attempts != attempt {
					t.Fatalf("after the dead letter of attempt %d: %+v; want no outcome, back in the outbox, %d attempts", attempt, it, attempt)
				}
				if n, err := e.Dispatch(t.Context(), b.ID); err != nil || n != 1 {
					t.Fatalf("Dispatch after the dead letter of attempt %d = %d, %v; want 1, nil", attempt, n, err)
				}
				continue
			}
			if it.Outcome != batch.OutcomeFailed || it.Attempts != 3 || !strings.Contains(it.Error, "attempt 3 of 3 dead-lettered") {
				t.Fatalf("after the dead letter of the last attempt: %s after %d attempts, %q; want failed after 3 naming it", it.Outcome, it.Attempts, it.Error)
			}
		}
		if n := len(requestsOf(q, "p0000")); n != 3 {
			t.Fatalf("%d requests published for p0000, want 3 (one per attempt)", n)
		}
		if got := mustGet(t, s, b.ID); got.Counts != (batch.Counts{Failed: 1}) {
			t.Fatalf("counts %+v, want 1 failed", got.Counts)
		}
	})

	t.Run("EngineConcurrentDuplicates", func(t *testing.T) {
		// Two deliveries of one dead letter handled at once consume one
		// attempt: one new request is published.
		s, q, e, b := engineOn(t, 1)
		first := requestsOf(q, "p0000")[0]
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if err := e.HandleDeadLetter(t.Context(), batch.Delivery{Message: first, Attempt: 5}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n, err := e.Dispatch(t.Context(), b.ID); err != nil || n != 1 {
			t.Fatalf("Dispatch = %d, %v; want 1, nil", n, err)
		}
		if it := mustItem(t, s, b.ID, "p0000"); it.Attempts != 2 || !it.Published {
			t.Fatalf("item %+v, want published as attempt 2", it)
		}
	})

	t.Run("EngineLateSuccessWins", func(t *testing.T) {
		// The success of attempt 1 arrives after its dead letter re-drove
		// the item: it is recorded, the outbox no longer holds the item, and
		// the dead letter of the re-drive changes nothing. Once the item has
		// failed for good, a late success changes nothing either.
		s, q, e, b := engineOn(t, 2)
		first := requestsOf(q, "p0000")[0]
		deadLetter(t, e, first)
		if err := e.HandleOutcome(t.Context(), workerOutcome(t, first, at(time.Minute))); err != nil {
			t.Fatal(err)
		}
		if n, err := e.Dispatch(t.Context(), b.ID); err != nil || n != 0 {
			t.Fatalf("Dispatch after the late success = %d, %v; want 0, nil", n, err)
		}
		deadLetter(t, e, first)
		if it := mustItem(t, s, b.ID, "p0000"); it.Outcome != batch.OutcomeSucceeded {
			t.Fatalf("p0000 is %q after its late success, want succeeded", it.Outcome)
		}

		other := requestsOf(q, "p0001")[0]
		for range 3 {
			deadLetter(t, e, other)
			if _, err := e.Dispatch(t.Context(), b.ID); err != nil {
				t.Fatal(err)
			}
			reqs := requestsOf(q, "p0001")
			other = reqs[len(reqs)-1]
		}
		if err := e.HandleOutcome(t.Context(), workerOutcome(t, requestsOf(q, "p0001")[0], at(time.Minute))); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, s, b.ID)
		if it := mustItem(t, s, b.ID, "p0001"); it.Outcome != batch.OutcomeFailed || got.Counts != (batch.Counts{Succeeded: 1, Failed: 1}) {
			t.Fatalf("p0001 %q with counts %+v after a success that came after its last dead letter; want failed, 1 succeeded and 1 failed", it.Outcome, got.Counts)
		}
		if got.State != batch.Finalized {
			t.Fatalf("batch %s, want finalized once every item has an outcome", got.State)
		}
	})

	t.Run("EngineDropsWhatCannotApply", func(t *testing.T) {
		// Dead letters that name nothing, no attempt, an unknown batch or
		// item, or a batch that ended are acknowledged and change nothing.
		s, q, e, b := engineOn(t, 2)
		m := requestsOf(q, "p0000")[0]
		noAttempt := m
		noAttempt.Attributes = map[string]string{batch.AttrBatchID: b.ID, batch.AttrItemID: "p0000"}
		unknownBatch := m
		unknownBatch.Attributes = map[string]string{batch.AttrBatchID: "nope", batch.AttrItemID: "p0000", batch.AttrAttempt: "1"}
		unknownItem := m
		unknownItem.Attributes = map[string]string{batch.AttrBatchID: b.ID, batch.AttrItemID: "p0042", batch.AttrAttempt: "1"}
		for _, d := range []batch.Message{{ID: "x"}, noAttempt, unknownBatch, unknownItem} {
			deadLetter(t, e, d)
		}
		if it := mustItem(t, s, b.ID, "p0000"); !it.Published || it.Outcome != batch.OutcomeNone {
			t.Fatalf("p0000 %+v after dead letters that cannot apply, want unchanged", it)
		}
		if _, err := e.Cancel(t.Context(), b.ID, "test"); err != nil {
			t.Fatal(err)
		}
		deadLetter(t, e, m)
		if it := mustItem(t, s, b.ID, "p0000"); !it.Published || it.Outcome != batch.OutcomeNone {
			t.Fatalf("p0000 %+v after a dead letter in a cancelled batch, want unchanged", it)
		}
	})

	t.Run("CoordinatorPulls", func(t *testing.T) {
		// A pulling coordinator drains both dead-letter topics: the
		// dead-lettered request of p0001's attempt 1 is dispatched again as
		// attempt 2 without waiting for a sweep, and the dead-lettered
		// outcome of p0000 is recorded.
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		rec := &recordSignal{recorded: make(chan batch.Outcome, 4)}
		e := batch.NewEngine(s, q, testLogger(t), batch.EngineConfig{Owner: "coord", NowFunc: clk.Now, Observer: rec,
			NewIDFunc: func(k batch.Key, _ time.Time) string { return "b-" + k.Date + "-" + k.Run }})
		spec := newSpec(testDate, testRun, 2)
		spec.Policy = batch.Policy{ItemTimeout: time.Hour, MaxAttempts: 3, Deadline: 2 * time.Hour}
		b, _, err := e.Create(t.Context(), spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Dispatch(t.Context(), b.ID); err != nil {
			t.Fatal(err)
		}
		reqs := q.messages(batch.TopicRequests)
		ctx, stop := context.WithTimeout(t.Context(), 30*time.Second)
		defer stop()
		c := batch.NewCoordinator(e, q, testLogger(t), batch.CoordinatorConfig{SweepEvery: time.Hour, PullOutcomes: true})
		done := make(chan struct{})
		go func() { defer close(done); c.Run(ctx) }()
		outcome := batch.Message{ID: "o1", Body: workerOutcome(t, reqs[0], t0)}
		if err := q.Publish(t.Context(), batch.DeadLetterTopic(batch.TopicOutcomes), outcome); err != nil {
			t.Fatal(err)
		}
		if err := q.Publish(t.Context(), batch.DeadLetterTopic(batch.TopicRequests), reqs[1]); err != nil {
			t.Fatal(err)
		}
		select {
		case o := <-rec.recorded:
			if o != batch.OutcomeSucceeded {
				t.Fatalf("recorded %q, want the dead-lettered success", o)
			}
		case <-ctx.Done():
			t.Fatal("the dead-lettered outcome was not recorded")
		}
		again := q.waitPublished(t, ctx, batch.TopicRequests, 3)[2]
		stop()
		<-done
		if again.Attributes[batch.AttrItemID] != "p0001" || again.Attributes[batch.AttrAttempt] != "2" {
			t.Fatalf("published after the dead letter: %v; want p0001's attempt 2", again.Attributes)
		}
		if it := mustItem(t, s, b.ID, "p0000"); it.Outcome != batch.OutcomeSucceeded {
			t.Fatalf("p0000 is %q, want succeeded from its dead-lettered outcome", it.Outcome)
		}
	})
}

// recordSignal tells a test each outcome the engine records.
type recordSignal struct {
	batch.NopObserver
	recorded chan batch.Outcome
}

func (r *recordSignal) OutcomeRecorded(o batch.Outcome, duplicate bool, _ time.Duration) {
	if !duplicate {
		r.recorded <- o
	}
}
