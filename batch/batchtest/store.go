package batchtest

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"tipoff/batch"
)

// NewStoreFunc returns an empty store for one test and registers its own
// cleanup with t.Cleanup.
type NewStoreFunc = func(t *testing.T) batch.Store

// RunStoreTests runs the Store conformance suite: every operation of
// [batch.Store] and every error kind it documents (checked with errors.Is),
// races run with many goroutines, and engine-level cases that drive
// [batch.Engine] on the store with an in-memory queue. newStore is called
// once per subtest and must return an empty store.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) batch.Store) {
	areas := []struct {
		name string
		run  func(*testing.T, NewStoreFunc)
	}{
		{"Create", testCreate},
		{"Read", testRead},
		{"Dispatch", testDispatch},
		{"Outcome", testOutcome},
		{"Finalize", testFinalize},
		{"Fence", testFence},
		{"Cancel", testCancel},
		{"Events", testEvents},
		{"Engine", testEngine},
		{"Sweep", testSweep},
		{"Claim", testClaim},
		{"DeadLetter", testDeadLetter},
		{"Requests", testRequests},
	}
	for _, a := range areas {
		t.Run(a.name, func(t *testing.T) { a.run(t, newStore) })
	}
}

// t0 is the suite's clock origin. Every time the suite passes to a store is
// t0 plus whole milliseconds.
var t0 = time.Date(2026, time.January, 15, 17, 0, 0, 0, time.UTC)

// at returns t0+d.
func at(d time.Duration) time.Time { return t0.Add(d) }

const (
	testDate = "2026-01-15"
	testRun  = "daily"
)

func itemID(i int) string { return fmt.Sprintf("p%04d", i) }

// newSpec returns a spec of n items p0000, p0001, … for date/run.
func newSpec(date, run string, n int) batch.Spec {
	items := make([]batch.NewItem, n)
	for i := range items {
		id := itemID(i)
		items[i] = batch.NewItem{ID: id, Request: []byte(`{"player":"` + id + `","games":[31,18,22]}`)}
	}
	return batch.Spec{Key: batch.Key{Date: date, Run: run}, Items: items}
}

func mustCreate(t testing.TB, s batch.Store, id string, spec batch.Spec, now time.Time) batch.Batch {
	t.Helper()
	b, created, err := s.CreateBatch(t.Context(), id, spec, now)
	if err != nil {
		t.Fatalf("CreateBatch(%s, %s): %v", id, spec.Key, err)
	}
	if !created {
		t.Fatalf("CreateBatch(%s, %s): created=false on a fresh key", id, spec.Key)
	}
	return b
}

// mustCreateN creates batch "b1" for testDate/testRun with n items.
func mustCreateN(t testing.TB, s batch.Store, n int) batch.Batch {
	t.Helper()
	return mustCreate(t, s, "b1", newSpec(testDate, testRun, n), t0)
}

func mustGet(t testing.TB, s batch.Store, id string) batch.Batch {
	t.Helper()
	b, err := s.GetBatch(t.Context(), id)
	if err != nil {
		t.Fatalf("GetBatch(%s): %v", id, err)
	}
	return b
}

func mustItems(t testing.TB, s batch.Store, batchID string, opts batch.ItemsOptions) []batch.Item {
	t.Helper()
	items, err := s.Items(t.Context(), batchID, opts)
	if err != nil {
		t.Fatalf("Items(%s, %+v): %v", batchID, opts, err)
	}
	return items
}

// itemMap returns the batch's items by ID.
func itemMap(t testing.TB, s batch.Store, batchID string) map[string]batch.Item {
	t.Helper()
	m := make(map[string]batch.Item)
	for _, it := range mustItems(t, s, batchID, batch.ItemsOptions{}) {
		m[it.ID] = it
	}
	return m
}

func mustItem(t testing.TB, s batch.Store, batchID, id string) batch.Item {
	t.Helper()
	it, ok := itemMap(t, s, batchID)[id]
	if !ok {
		t.Fatalf("item %s/%s missing", batchID, id)
	}
	return it
}

// outcomeRec returns a record for item i with a result naming the item.
func outcomeRec(batchID string, i int, o batch.Outcome, now time.Time) batch.OutcomeRecord {
	rec := batch.OutcomeRecord{BatchID: batchID, ItemID: itemID(i), Outcome: o, At: now}
	switch o {
	case batch.OutcomeSucceeded, batch.OutcomeSkipped:
		rec.Result = []byte(fmt.Sprintf(`{"player":%q,"points":%d.5}`, itemID(i), 10+i%20))
	default:
		rec.Error = fmt.Sprintf("%s for %s", o, itemID(i))
	}
	return rec
}

func mustRecord(t testing.TB, s batch.Store, rec batch.OutcomeRecord) batch.Recorded {
	t.Helper()
	r, err := s.RecordOutcome(t.Context(), rec)
	if err != nil {
		t.Fatalf("RecordOutcome(%s/%s %s): %v", rec.BatchID, rec.ItemID, rec.Outcome, err)
	}
	return r
}

// completeAll gives every item of the batch without an outcome the outcome
// o at now.
func completeAll(t testing.TB, s batch.Store, batchID string, o batch.Outcome, now time.Time) {
	t.Helper()
	for _, it := range mustItems(t, s, batchID, batch.ItemsOptions{PendingOnly: true}) {
		var i int
		fmt.Sscanf(it.ID, "p%d", &i)
		mustRecord(t, s, outcomeRec(batchID, i, o, now))
	}
}

func mustPublish(t testing.TB, s batch.Store, batchID string, ids []string, now time.Time) {
	t.Helper()
	if err := s.MarkPublished(t.Context(), batchID, ids, now); err != nil {
		t.Fatalf("MarkPublished(%s, %d items): %v", batchID, len(ids), err)
	}
}

// wantErr fails unless err wraps kind.
func wantErr(t testing.TB, err, kind error, call string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: got error %v, want one wrapping %q", call, err, kind)
	}
}

func itemIDs(items []batch.Item) []string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return ids
}

func idRange(from, to int) []string {
	var ids []string
	for i := from; i < to; i++ {
		ids = append(ids, itemID(i))
	}
	return ids
}

// batchEvents returns the pending events of one batch.
func batchEvents(t testing.TB, s batch.Store, batchID string) []batch.Event {
	t.Helper()
	evs, err := s.PendingEvents(t.Context(), 1000)
	if err != nil {
		t.Fatalf("PendingEvents: %v", err)
	}
	var out []batch.Event
	for _, ev := range evs {
		if ev.BatchID == batchID {
			out = append(out, ev)
		}
	}
	return out
}

// cmpOpts compares domain values: nil and empty maps and slices are equal,
// times compare with time.Time.Equal.
var cmpOpts = []cmp.Option{cmpopts.EquateEmpty()}

func wantSame(t testing.TB, what string, got, want any) {
	t.Helper()
	if d := cmp.Diff(want, got, cmpOpts...); d != "" {
		t.Fatalf("%s mismatch (-want +got):\n%s", what, d)
	}
}

func wantIDs(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// testLogger logs through the test's output, shown on failure or with -v.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}
