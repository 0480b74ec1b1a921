package batchtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tipoff/batch"
)

const engineLeaseTTL = time.Minute

// newTestEngine returns an engine on s and q with the injected clock, a
// dispatch chunk of 10 and batch IDs "b-DATE-RUN".
func newTestEngine(t *testing.T, s batch.Store, q batch.Queue, clk *ManualClock, owner string, fin batch.FinalizeFunc) *batch.Engine {
	return batch.NewEngine(s, q, testLogger(t).With("owner", owner), batch.EngineConfig{
		Owner: owner, LeaseTTL: engineLeaseTTL, DispatchChunk: 10, Finalize: fin, NowFunc: clk.Now,
		NewIDFunc: func(k batch.Key, _ time.Time) string { return "b-" + k.Date + "-" + k.Run },
	})
}

// countingFinalize returns a FinalizeFunc that counts its calls and
// returns a payload naming the batch's succeeded count.
func countingFinalize(calls *atomic.Int32) batch.FinalizeFunc {
	return func(ctx context.Context, b batch.Batch) ([]byte, error) {
		calls.Add(1)
		if b.Remaining() != 0 {
			return nil, fmt.Errorf("finalize work ran with %d items pending", b.Remaining())
		}
		return []byte(fmt.Sprintf(`{"picks":%d}`, b.Counts.Succeeded)), nil
	}
}

// workerOutcome is what a worker reports for a request message: item
// numbers ending in 9 are skipped, the rest succeed.
func workerOutcome(t testing.TB, m batch.Message, now time.Time) []byte {
	t.Helper()
	batchID, itemID, attempt, err := batch.RequestOf(m)
	if err != nil {
		t.Fatalf("request message %s: %v", m.ID, err)
	}
	om := batch.OutcomeMessage{BatchID: batchID, ItemID: itemID, Outcome: batch.OutcomeSucceeded,
		Result: []byte(`{"item":"` + itemID + `","points":21.5}`), Attempt: attempt, Worker: "w1", At: now}
	if strings.HasSuffix(itemID, "9") {
		om.Outcome, om.Result = batch.OutcomeSkipped, nil
	}
	body, err := batch.EncodeOutcome(om)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// failingMarks wraps a store so that its first n MarkPublished calls fail
// without writing, as if the process died between publish and mark.
type failingMarks struct {
	batch.Store
	n atomic.Int32
}

func (s *failingMarks) MarkPublished(ctx context.Context, batchID string, ids []string, at time.Time) error {
	if s.n.Add(-1) >= 0 {
		return errors.New("injected: died before marking published")
	}
	return s.Store.MarkPublished(ctx, batchID, ids, at)
}

func messageItems(t testing.TB, ms []batch.Message) []string {
	t.Helper()
	ids := make([]string, len(ms))
	for i, m := range ms {
		_, id, _, err := batch.RequestOf(m)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

func testEngine(t *testing.T, newStore NewStoreFunc) {
	t.Run("Run", func(t *testing.T) {
		// Create, dispatch, workers report (some twice, concurrently), the
		// last outcome finalizes, the relay publishes the event once.
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		var calls atomic.Int32
		e := newTestEngine(t, s, q, clk, "coord", countingFinalize(&calls))
		spec := newSpec(testDate, testRun, 50)
		spec.Meta = map[string]string{batch.AttrTraceID: "trace-7"}
		b, created, err := e.Create(t.Context(), spec)
		if err != nil || !created {
			t.Fatalf("Create = %v, %v", created, err)
		}
		n, err := e.Dispatch(t.Context(), b.ID)
		if err != nil || n != 50 {
			t.Fatalf("Dispatch = %d, %v; want 50, nil", n, err)
		}
		msgs := q.messages(batch.TopicRequests)
		wantIDs(t, "dispatched items", messageItems(t, msgs), idRange(0, 50))
		for i, m := range msgs {
			if m.Attributes[batch.AttrAttempt] != "1" || m.Attributes[batch.AttrTraceID] != "trace-7" || string(m.Body) != string(spec.Items[i].Request) {
				t.Fatalf("request message %d = %+v; want attempt 1, trace-7, the item's request", i, m)
			}
		}
		clk.Set(at(time.Minute))
		var wg sync.WaitGroup
		deliveries := slices.Clone(msgs)
		for i := 0; i < len(msgs); i += 5 {
			deliveries = append(deliveries, msgs[i]) // delivered twice
		}
		errs := make([]error, len(deliveries))
		for i, m := range deliveries {
			body := workerOutcome(t, m, at(time.Minute))
			wg.Go(func() { errs[i] = e.HandleOutcome(t.Context(), body) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("HandleOutcome of delivery %d: %v", i, err)
			}
		}
		got := mustGet(t, s, b.ID)
		want := batch.Counts{Succeeded: 45, Skipped: 5}
		if got.State != batch.Finalized || got.Result != batch.ResultSucceeded || got.Counts != want {
			t.Fatalf("batch after every outcome = %s %s %+v; want finalized succeeded %+v", got.State, got.Result, got.Counts, want)
		}
		if c := calls.Load(); c != 1 {
			t.Fatalf("finalize work ran %d times, want once", c)
		}
		evs := batchEvents(t, s, b.ID)
		if len(evs) != 1 || evs[0].ID != batch.EventID(b.ID, batch.EventFinalized) || string(evs[0].Payload) != `{"picks":45}` {
			t.Fatalf("events %+v, want one finalized event with the finalize payload", evs)
		}
		if n, err := e.RelayEvents(t.Context()); err != nil || n != 1 {
			t.Fatalf("RelayEvents = %d, %v; want 1, nil", n, err)
		}
		if n, err := e.RelayEvents(t.Context()); err != nil || n != 0 {
			t.Fatalf("second RelayEvents = %d, %v; want 0, nil", n, err)
		}
		out := q.messages(batch.TopicEvents)
		if len(out) != 1 || out[0].ID != evs[0].ID || out[0].Attributes[batch.AttrEventID] != evs[0].ID {
			t.Fatalf("relayed %+v, want the one event under its stable ID", out)
		}
	})

	t.Run("CreateIdempotent", func(t *testing.T) {
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		e := newTestEngine(t, s, q, clk, "coord", nil)
		b1, created, err := e.Create(t.Context(), newSpec(testDate, testRun, 3))
		if err != nil || !created {
			t.Fatalf("Create = %v, %v", created, err)
		}
		clk.Set(at(time.Hour))
		b2, created, err := e.Create(t.Context(), newSpec(testDate, testRun, 7))
		if err != nil || created || b2.ID != b1.ID || b2.Total != 3 {
			t.Fatalf("second Create = %s (%d items), created %v, %v; want %s with 3, false, nil", b2.ID, b2.Total, created, err, b1.ID)
		}
		_, _, err = e.Create(t.Context(), newSpec("2026-13-01", testRun, 3))
		wantErr(t, err, batch.ErrInvalid, "Create with a bad date")
	})

	t.Run("CrashBeforePublish", func(t *testing.T) {
		// The queue stops accepting after 2 of 5 chunks, as if the process
		// died mid-dispatch; another engine publishes exactly the rest.
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		e := newTestEngine(t, s, q, clk, "first", nil)
		b, _, err := e.Create(t.Context(), newSpec(testDate, testRun, 50))
		if err != nil {
			t.Fatal(err)
		}
		q.refuseAfter(20)
		n, err := e.Dispatch(t.Context(), b.ID)
		if !errors.Is(err, errPublishRefused) || n != 20 {
			t.Fatalf("Dispatch into a failing queue = %d, %v; want 20 and the publish error", n, err)
		}
		q2 := newFakeQueue()
		e2 := newTestEngine(t, s, q2, clk, "second", nil)
		n, err = e2.Dispatch(t.Context(), b.ID)
		if err != nil || n != 30 {
			t.Fatalf("re-drive Dispatch = %d, %v; want 30, nil", n, err)
		}
		wantIDs(t, "items the re-drive published", messageItems(t, q2.messages(batch.TopicRequests)), idRange(20, 50))
		for id, it := range itemMap(t, s, b.ID) {
			if !it.Published || it.Attempts != 1 {
				t.Fatalf("item %s after re-drive: published %v, attempts %d; want true, 1", id, it.Published, it.Attempts)
			}
		}
	})

	t.Run("CrashBeforeMark", func(t *testing.T) {
		// The first chunk is published but the process dies before marking
		// it: the re-drive publishes it again under the same message IDs, so
		// the queue and RecordOutcome can absorb the repeat.
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		fs := &failingMarks{Store: s}
		fs.n.Store(1)
		e := newTestEngine(t, fs, q, clk, "first", nil)
		b, _, err := e.Create(t.Context(), newSpec(testDate, testRun, 50))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Dispatch(t.Context(), b.ID); err == nil {
			t.Fatal("Dispatch with a failing mark returned nil")
		}
		first := q.messages(batch.TopicRequests)
		if len(first) != 10 {
			t.Fatalf("%d messages published before the failure, want one chunk of 10", len(first))
		}
		e2 := newTestEngine(t, s, q, clk, "second", nil)
		if n, err := e2.Dispatch(t.Context(), b.ID); err != nil || n != 50 {
			t.Fatalf("re-drive Dispatch = %d, %v; want 50, nil", n, err)
		}
		all := q.messages(batch.TopicRequests)
		wantIDs(t, "items published after the re-drive", messageItems(t, all), slices.Concat(idRange(0, 10), idRange(0, 50)))
		for i := range 10 {
			if all[i].ID != all[10+i].ID {
				t.Fatalf("the re-published message for %s has ID %s, the first had %s", itemID(i), all[10+i].ID, all[i].ID)
			}
		}
		for id, it := range itemMap(t, s, b.ID) {
			if it.Attempts != 1 {
				t.Fatalf("item %s has %d attempts, want 1", id, it.Attempts)
			}
		}
	})

	t.Run("ConcurrentFinalize", func(t *testing.T) {
		// 8 goroutines on two engines finalize at once. The winner's
		// finalize work waits until every other call has returned, so all
		// of them really contend for the lease.
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		const n = 8
		var calls, returned atomic.Int32
		othersDone := make(chan struct{})
		fin := func(ctx context.Context, b batch.Batch) ([]byte, error) {
			if calls.Add(1) == 1 {
				<-othersDone
			}
			return nil, nil
		}
		engines := []*batch.Engine{newTestEngine(t, s, q, clk, "e1", fin), newTestEngine(t, s, q, clk, "e2", fin)}
		b, _, err := engines[0].Create(t.Context(), newSpec(testDate, testRun, 6))
		if err != nil {
			t.Fatal(err)
		}
		completeAll(t, s, b.ID, batch.OutcomeSucceeded, at(time.Minute))
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = engines[i%2].Finalize(t.Context(), b.ID)
				// The first finalize work blocks its own call, so the
				// first n-1 calls to return are all the others.
				if returned.Add(1) == n-1 {
					close(othersDone)
				}
			})
		}
		wg.Wait()
		wins := 0
		for i, err := range errs {
			if err == nil {
				wins++
				continue
			}
			wantErr(t, err, batch.ErrConflict, "losing Finalize #"+strconv.Itoa(i))
		}
		if wins != 1 || calls.Load() != 1 {
			t.Fatalf("%d Finalize calls succeeded and the finalize work ran %d times; want 1 and 1", wins, calls.Load())
		}
		if evs := batchEvents(t, s, b.ID); len(evs) != 1 {
			t.Fatalf("%d events, want 1", len(evs))
		}
		if got := mustGet(t, s, b.ID); got.State != batch.Finalized || got.FinalizeAttempts != 1 {
			t.Fatalf("batch %s after %d attempts, want finalized after 1", got.State, got.FinalizeAttempts)
		}
	})

	t.Run("FinalizeOutlivesRecordContext", func(t *testing.T) {
		// The outcome that completes the batch arrives by a push whose
		// context ends while the finalize runs (its deadline passed, the
		// caller went away): the finalize is not cut off with it.
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		fin := func(fctx context.Context, b batch.Batch) ([]byte, error) {
			cancel()
			if err := fctx.Err(); err != nil {
				return nil, fmt.Errorf("finalize work: %w", err)
			}
			return nil, nil
		}
		e := newTestEngine(t, s, q, clk, "coord", fin)
		b, _, err := e.Create(t.Context(), newSpec(testDate, testRun, 2))
		if err != nil {
			t.Fatal(err)
		}
		mustRecord(t, s, outcomeRec(b.ID, 0, batch.OutcomeSucceeded, at(time.Minute)))
		if _, err := e.Record(ctx, outcomeRec(b.ID, 1, batch.OutcomeSucceeded, at(time.Minute))); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, s, b.ID); got.State != batch.Finalized {
			t.Fatalf("batch %s after the last outcome's caller went away mid-finalize, want finalized", got.State)
		}
	})

	t.Run("LateOutcomeAfterRedriveCounts", func(t *testing.T) {
		// An item is re-driven (its first outcome is slow: a push held
		// by a frozen instance, redelivered after Pub/Sub's backoff), and
		// then the first attempt's success arrives: it is recorded and
		// counts; the retry's outcome is a duplicate.
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		e := newTestEngine(t, s, q, clk, "coord", nil)
		spec := newSpec(testDate, testRun, 2)
		spec.Policy = batch.Policy{ItemTimeout: time.Minute, MaxAttempts: 3, Deadline: time.Hour}
		b, _, err := e.Create(t.Context(), spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Dispatch(t.Context(), b.ID); err != nil {
			t.Fatal(err)
		}
		first := q.messages(batch.TopicRequests)
		mustRecord(t, s, outcomeRec(b.ID, 0, batch.OutcomeSucceeded, at(time.Second)))
		clk.Set(at(2 * time.Minute))
		if rep, err := e.Sweep(t.Context()); err != nil || rep.Redriven != 1 {
			t.Fatalf("sweep = %+v, %v; want p0001 re-driven", rep, err)
		}
		if n := len(q.messages(batch.TopicRequests)); n != 3 {
			t.Fatalf("%d request messages after the re-drive, want 3", n)
		}
		if err := e.HandleOutcome(t.Context(), workerOutcome(t, first[1], clk.Now())); err != nil {
			t.Fatalf("the first attempt's late outcome: %v", err)
		}
		got := mustGet(t, s, b.ID)
		if got.Counts.Succeeded != 2 || got.State != batch.Finalized {
			t.Fatalf("batch %s with %+v after the late success, want finalized with 2 succeeded", got.State, got.Counts)
		}
		retry := q.messages(batch.TopicRequests)[2]
		if err := e.HandleOutcome(t.Context(), workerOutcome(t, retry, clk.Now())); err != nil {
			t.Fatalf("the retry's outcome after the batch finalized: %v", err)
		}
		if it := mustItem(t, s, b.ID, itemID(1)); it.Outcome != batch.OutcomeSucceeded || it.Attempts != 2 {
			t.Fatalf("item %s: %s after %d attempts, want succeeded after 2", it.ID, it.Outcome, it.Attempts)
		}
	})

	t.Run("HandleOutcome", func(t *testing.T) {
		// Everything that can never be recorded is acknowledged (nil) and
		// changes nothing.
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		e := newTestEngine(t, s, q, clk, "coord", nil)
		b, _, err := e.Create(t.Context(), newSpec(testDate, testRun, 3))
		if err != nil {
			t.Fatal(err)
		}
		enc := func(om batch.OutcomeMessage) []byte {
			body, err := batch.EncodeOutcome(om)
			if err != nil {
				t.Fatal(err)
			}
			return body
		}
		ok := batch.OutcomeMessage{BatchID: b.ID, ItemID: "p0000", Outcome: batch.OutcomeSucceeded, Result: []byte(`{"p":1}`), At: at(time.Minute)}
		if err := e.HandleOutcome(t.Context(), enc(ok)); err != nil {
			t.Fatal(err)
		}
		conflict := ok
		conflict.Outcome, conflict.Result = batch.OutcomeFailed, nil
		unknownItem := ok
		unknownItem.ItemID = "p0042"
		unknownBatch := ok
		unknownBatch.BatchID = "nope"
		for name, body := range map[string][]byte{
			"malformed":     []byte(`{"batch_id":`),
			"no outcome":    []byte(`{"batch_id":"` + b.ID + `","item_id":"p0001"}`),
			"duplicate":     enc(ok),
			"conflict":      enc(conflict),
			"unknown item":  enc(unknownItem),
			"unknown batch": enc(unknownBatch),
		} {
			if err := e.HandleOutcome(t.Context(), body); err != nil {
				t.Fatalf("HandleOutcome(%s) = %v, want nil (acknowledge)", name, err)
			}
		}
		if got := mustGet(t, s, b.ID); got.Counts != (batch.Counts{Succeeded: 1}) {
			t.Fatalf("counts %+v, want only the one good outcome", got.Counts)
		}
		if _, err := e.Cancel(t.Context(), b.ID, "test"); err != nil {
			t.Fatal(err)
		}
		late := ok
		late.ItemID = "p0001"
		if err := e.HandleOutcome(t.Context(), enc(late)); err != nil {
			t.Fatalf("HandleOutcome after cancel = %v, want nil", err)
		}
		if it := mustItem(t, s, b.ID, "p0001"); it.Outcome != batch.OutcomeNone {
			t.Fatalf("an outcome was recorded after cancel: %+v", it)
		}
	})

	t.Run("NoItems", func(t *testing.T) {
		// A batch with no items on purpose is finalized by Create itself,
		// succeeded, with one finalized event; creating its key again
		// returns it and does no more work.
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		var calls atomic.Int32
		e := newTestEngine(t, s, q, clk, "coord", countingFinalize(&calls))
		spec := batch.Spec{Key: batch.Key{Date: testDate, Run: testRun},
			Meta: map[string]string{batch.MetaNoItems: "no games scheduled on " + testDate}}
		b, created, err := e.Create(t.Context(), spec)
		if err != nil || !created {
			t.Fatalf("Create = %v, %v; want created", created, err)
		}
		if b.State != batch.Finalized || b.Result != batch.ResultSucceeded || b.Total != 0 {
			t.Fatalf("Create returned %s/%s with %d items; want finalized/succeeded with 0", b.State, b.Result, b.Total)
		}
		if reason, ok := mustGet(t, s, b.ID).NoItems(); !ok || reason != spec.Meta[batch.MetaNoItems] {
			t.Fatalf("stored NoItems() = %q, %v; want %q, true", reason, ok, spec.Meta[batch.MetaNoItems])
		}
		again, created, err := e.Create(t.Context(), spec)
		if err != nil || created || again.ID != b.ID || again.State != batch.Finalized {
			t.Fatalf("second Create = %s %s created=%v, %v; want %s finalized, not created", again.ID, again.State, created, err, b.ID)
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("finalize work ran %d times, want 1", n)
		}
		if evs := batchEvents(t, s, b.ID); len(evs) != 1 || evs[0].Type != batch.EventFinalized {
			t.Fatalf("events = %+v; want one %s", evs, batch.EventFinalized)
		}
		if n := len(q.messages(batch.TopicRequests)); n != 0 {
			t.Fatalf("%d request messages published, want none", n)
		}
	})

	t.Run("NoItemsLeftRunning", func(t *testing.T) {
		// A crash between creating a batch with no items and finalizing it
		// leaves it running: the sweeper finalizes it.
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		var calls atomic.Int32
		e := newTestEngine(t, s, q, clk, "coord", countingFinalize(&calls))
		spec := batch.Spec{Key: batch.Key{Date: testDate, Run: testRun}, Meta: map[string]string{batch.MetaNoItems: "no games"}}
		b := mustCreate(t, s, "b-empty", spec, t0)
		if b.State != batch.Running {
			t.Fatalf("CreateBatch left the batch %s, want running", b.State)
		}
		rep, err := e.Sweep(t.Context())
		if err != nil || rep.Finalized != 1 {
			t.Fatalf("Sweep = %+v, %v; want 1 finalized", rep, err)
		}
		if got := mustGet(t, s, b.ID); got.State != batch.Finalized || got.Result != batch.ResultSucceeded {
			t.Fatalf("after sweep the batch is %s/%s, want finalized/succeeded", got.State, got.Result)
		}
	})

	t.Run("FinalizeFailsUntilDeadline", func(t *testing.T) {
		// A finalize that keeps failing is tried again each time its lease
		// expires; at the batch's deadline the batch ends, cancelled with
		// the failure as its reason, instead of staying finalizing.
		s, q, clk := newStore(t), newFakeQueue(), NewManualClock(t0)
		var calls atomic.Int32
		fail := func(ctx context.Context, b batch.Batch) ([]byte, error) {
			calls.Add(1)
			return nil, errors.New("injected: publication store unreachable")
		}
		e := newTestEngine(t, s, q, clk, "coord", fail)
		spec := newSpec(testDate, testRun, 2)
		spec.Policy.Deadline = 10 * time.Minute
		b, _, err := e.Create(t.Context(), spec)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if _, err := e.Record(t.Context(), outcomeRec(b.ID, i, batch.OutcomeSucceeded, clk.Now())); err != nil {
				t.Fatal(err)
			}
		}
		if got := mustGet(t, s, b.ID); got.State != batch.Finalizing || calls.Load() != 1 {
			t.Fatalf("after the failed finalize: %s with %d calls; want finalizing with 1", got.State, calls.Load())
		}
		clk.Set(at(engineLeaseTTL)) // lease expired, deadline not reached
		if _, err := e.Sweep(t.Context()); err == nil || !strings.Contains(err.Error(), "publication store unreachable") {
			t.Fatalf("sweep before the deadline = %v; want the finalize error", err)
		}
		if got := mustGet(t, s, b.ID); got.State != batch.Finalizing || calls.Load() != 2 {
			t.Fatalf("after the retry: %s with %d calls; want finalizing with 2", got.State, calls.Load())
		}
		clk.Set(at(10*time.Minute + engineLeaseTTL)) // past the deadline and the lease
		if _, err := e.Sweep(t.Context()); err != nil {
			t.Fatalf("sweep at the deadline: %v", err)
		}
		got := mustGet(t, s, b.ID)
		if got.State != batch.Finalized || got.Result != batch.ResultCancelled ||
			!strings.Contains(got.CancelReason, "finalize failed 3 time(s)") || !strings.Contains(got.CancelReason, "publication store unreachable") {
			t.Fatalf("at the deadline: %s/%s, reason %q; want finalized/cancelled naming the finalize error", got.State, got.Result, got.CancelReason)
		}
		if rep, err := e.Sweep(t.Context()); err != nil || rep.Batches != 0 {
			t.Fatalf("sweep after the batch ended = %+v, %v; want nothing to do", rep, err)
		}
	})
}
