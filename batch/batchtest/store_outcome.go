package batchtest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tipoff/batch"
)

func testOutcome(t *testing.T, newStore NewStoreFunc) {
	t.Run("Record", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 5)
		mustPublish(t, s, b.ID, idRange(0, 5), at(time.Second))
		rec := outcomeRec(b.ID, 2, batch.OutcomeSucceeded, at(time.Minute))
		r := mustRecord(t, s, rec)
		if r != (batch.Recorded{Remaining: 4}) {
			t.Fatalf("RecordOutcome = %+v, want a first record with 4 remaining", r)
		}
		it := mustItem(t, s, b.ID, itemID(2))
		if it.Outcome != batch.OutcomeSucceeded || !bytes.Equal(it.Result, rec.Result) || !it.CompletedAt.Equal(rec.At) {
			t.Fatalf("item after RecordOutcome = outcome %q, result %s, completed %v; want %q, %s, %v",
				it.Outcome, it.Result, it.CompletedAt, rec.Outcome, rec.Result, rec.At)
		}
		got := mustGet(t, s, b.ID)
		if got.Counts != (batch.Counts{Succeeded: 1}) || got.Remaining() != 4 || !got.UpdatedAt.Equal(rec.At) {
			t.Fatalf("batch after RecordOutcome = counts %+v, updated %v; want 1 succeeded, %v", got.Counts, got.UpdatedAt, rec.At)
		}
	})

	t.Run("EveryKind", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 5)
		kinds := []batch.Outcome{batch.OutcomeSucceeded, batch.OutcomeSkipped, batch.OutcomeFailed, batch.OutcomeTimedOut}
		for i, o := range kinds {
			rec := outcomeRec(b.ID, i, o, at(time.Minute))
			if r := mustRecord(t, s, rec); r.Duplicate || r.Remaining != 4-i {
				t.Fatalf("record %s = %+v, want first record with %d remaining", o, r, 4-i)
			}
			if it := mustItem(t, s, b.ID, rec.ItemID); it.Outcome != o || it.Error != rec.Error {
				t.Fatalf("item %s = outcome %q error %q, want %q %q", rec.ItemID, it.Outcome, it.Error, o, rec.Error)
			}
		}
		want := batch.Counts{Succeeded: 1, Skipped: 1, Failed: 1, TimedOut: 1}
		if got := mustGet(t, s, b.ID).Counts; got != want {
			t.Fatalf("counts %+v, want %+v", got, want)
		}
	})

	t.Run("DuplicateSame", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 3)
		first := outcomeRec(b.ID, 0, batch.OutcomeSucceeded, at(time.Minute))
		mustRecord(t, s, first)
		again := first
		again.Result = []byte(`{"player":"p0000","points":99.5}`)
		again.At = at(2 * time.Minute)
		r, err := s.RecordOutcome(t.Context(), again)
		if err != nil {
			t.Fatalf("duplicate with the same outcome: %v, want nil", err)
		}
		if r != (batch.Recorded{Duplicate: true, Existing: batch.OutcomeSucceeded, Remaining: 2}) {
			t.Fatalf("duplicate = %+v, want Duplicate with existing succeeded, 2 remaining", r)
		}
		it := mustItem(t, s, b.ID, itemID(0))
		if !bytes.Equal(it.Result, first.Result) || !it.CompletedAt.Equal(first.At) {
			t.Fatalf("a duplicate replaced the first result: %s at %v", it.Result, it.CompletedAt)
		}
		if c := mustGet(t, s, b.ID).Counts; c != (batch.Counts{Succeeded: 1}) {
			t.Fatalf("a duplicate changed the counts: %+v", c)
		}
	})

	t.Run("DuplicateDifferent", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 3)
		mustRecord(t, s, outcomeRec(b.ID, 0, batch.OutcomeSucceeded, at(time.Minute)))
		r, err := s.RecordOutcome(t.Context(), outcomeRec(b.ID, 0, batch.OutcomeFailed, at(2*time.Minute)))
		wantErr(t, err, batch.ErrConflict, "RecordOutcome of a different outcome")
		if !r.Duplicate || r.Existing != batch.OutcomeSucceeded {
			t.Fatalf("conflicting record = %+v, want Duplicate with existing succeeded", r)
		}
		if it := mustItem(t, s, b.ID, itemID(0)); it.Outcome != batch.OutcomeSucceeded || it.Error != "" {
			t.Fatalf("a conflicting record changed the item: %+v", it)
		}
		if c := mustGet(t, s, b.ID).Counts; c != (batch.Counts{Succeeded: 1}) {
			t.Fatalf("a conflicting record changed the counts: %+v", c)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 3)
		ok := outcomeRec(b.ID, 0, batch.OutcomeSucceeded, at(time.Minute))
		tests := []struct {
			name   string
			mod    func(*batch.OutcomeRecord)
			wantIn string
		}{
			{"no batch", func(r *batch.OutcomeRecord) { r.BatchID = "" }, "batch"},
			{"no item", func(r *batch.OutcomeRecord) { r.ItemID = "" }, "item"},
			{"no outcome", func(r *batch.OutcomeRecord) { r.Outcome = "" }, "p0000"},
			{"unknown outcome", func(r *batch.OutcomeRecord) { r.Outcome = "done" }, `"done"`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec := ok
				tt.mod(&rec)
				_, err := s.RecordOutcome(t.Context(), rec)
				wantErr(t, err, batch.ErrInvalid, "RecordOutcome")
				if !strings.Contains(err.Error(), tt.wantIn) {
					t.Fatalf("error %q does not name %s", err, tt.wantIn)
				}
			})
		}
		if got := mustGet(t, s, b.ID); got.Counts != (batch.Counts{}) {
			t.Fatalf("invalid records changed the counts: %+v", got.Counts)
		}
		if it := mustItem(t, s, b.ID, itemID(0)); it.Outcome != batch.OutcomeNone {
			t.Fatalf("an invalid record changed the item: %+v", it)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 3)
		_, err := s.RecordOutcome(t.Context(), outcomeRec("nope", 0, batch.OutcomeSucceeded, at(time.Minute)))
		wantErr(t, err, batch.ErrNotFound, "RecordOutcome in an unknown batch")
		_, err = s.RecordOutcome(t.Context(), outcomeRec(b.ID, 77, batch.OutcomeSucceeded, at(time.Minute)))
		wantErr(t, err, batch.ErrNotFound, "RecordOutcome of an unknown item")
		if c := mustGet(t, s, b.ID).Counts; c != (batch.Counts{}) {
			t.Fatalf("an unknown item changed the counts: %+v", c)
		}
	})

	t.Run("AfterCancel", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 3)
		mustRecord(t, s, outcomeRec(b.ID, 0, batch.OutcomeSucceeded, at(time.Minute)))
		if _, err := s.Cancel(t.Context(), b.ID, "test", cancelEvent(b.ID, at(2*time.Minute)), at(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		_, err := s.RecordOutcome(t.Context(), outcomeRec(b.ID, 1, batch.OutcomeSucceeded, at(3*time.Minute)))
		wantErr(t, err, batch.ErrFinalized, "RecordOutcome in a cancelled batch")
		if it := mustItem(t, s, b.ID, itemID(1)); it.Outcome != batch.OutcomeNone {
			t.Fatalf("an outcome was recorded in a cancelled batch: %+v", it)
		}
		r, err := s.RecordOutcome(t.Context(), outcomeRec(b.ID, 0, batch.OutcomeSucceeded, at(3*time.Minute)))
		if err != nil || !r.Duplicate {
			t.Fatalf("a repeat of a recorded outcome in a cancelled batch = %+v, %v; want a duplicate, nil", r, err)
		}
		if c := mustGet(t, s, b.ID).Counts; c != (batch.Counts{Succeeded: 1}) {
			t.Fatalf("counts after cancel %+v, want 1 succeeded", c)
		}
	})

	t.Run("LargeResult", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 2)
		rec := outcomeRec(b.ID, 0, batch.OutcomeSucceeded, at(time.Minute))
		rec.Result = []byte(`{"predictions":"` + strings.Repeat("x", 64<<10) + `"}`)
		mustRecord(t, s, rec)
		if it := mustItem(t, s, b.ID, itemID(0)); !bytes.Equal(it.Result, rec.Result) {
			t.Fatalf("a %d-byte result came back as %d bytes", len(rec.Result), len(it.Result))
		}
	})

	t.Run("Concurrent", func(t *testing.T) { testConcurrentOutcomes(t, newStore(t)) })

	t.Run("ConcurrentSameItem", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 3)
		const n = 32
		recs := make([]batch.OutcomeRecord, n)
		got := make([]batch.Recorded, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			o := batch.OutcomeSucceeded
			if i%2 == 1 {
				o = batch.OutcomeFailed
			}
			recs[i] = batch.OutcomeRecord{BatchID: b.ID, ItemID: itemID(1), Outcome: o, At: at(time.Minute),
				Result: []byte(fmt.Sprintf(`{"delivery":%d}`, i)), Error: fmt.Sprintf("delivery %d", i)}
			wg.Go(func() { got[i], errs[i] = s.RecordOutcome(t.Context(), recs[i]) })
		}
		wg.Wait()
		winner := -1
		for i := range n {
			if errs[i] == nil && !got[i].Duplicate {
				if winner >= 0 {
					t.Fatalf("deliveries %d and %d both recorded as first", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no delivery was recorded as first")
		}
		w := recs[winner]
		for i := range n {
			if i == winner {
				continue
			}
			checkDuplicate(t, i, recs[i], got[i], errs[i], w.Outcome)
		}
		it := mustItem(t, s, b.ID, itemID(1))
		if it.Outcome != w.Outcome || !bytes.Equal(it.Result, w.Result) || it.Error != w.Error {
			t.Fatalf("stored %q %s %q, want the first recorded delivery's %q %s %q", it.Outcome, it.Result, it.Error, w.Outcome, w.Result, w.Error)
		}
		if c := mustGet(t, s, b.ID).Counts; c.Done() != 1 {
			t.Fatalf("counts %+v after %d records of one item, want 1 outcome", c, n)
		}
	})
}

// checkDuplicate fails unless delivery i, recorded after the item already
// had outcome first, reported a duplicate: no error for the same outcome,
// ErrConflict for another.
func checkDuplicate(t *testing.T, i int, rec batch.OutcomeRecord, r batch.Recorded, err error, first batch.Outcome) {
	t.Helper()
	if !r.Duplicate || r.Existing != first {
		t.Fatalf("delivery %d (%s) after the item had %s: got %+v, %v; want a duplicate of %s", i, rec.Outcome, first, r, err, first)
	}
	if rec.Outcome == first && err != nil {
		t.Fatalf("delivery %d repeats outcome %s: got error %v, want nil", i, first, err)
	}
	if rec.Outcome != first {
		wantErr(t, err, batch.ErrConflict, fmt.Sprintf("delivery %d (%s after %s)", i, rec.Outcome, first))
	}
}

// testConcurrentOutcomes has 64 goroutines deliver the outcomes of a
// 320-item batch, with 20 % of the items delivered twice (half of those
// with another outcome), in random order. Counts must be exact and every
// item must keep the outcome and result of the delivery that was recorded
// first.
func testConcurrentOutcomes(t *testing.T, s batch.Store) {
	const (
		items   = 320
		dups    = items / 5
		workers = 64
	)
	b := mustCreateN(t, s, items)
	mustPublish(t, s, b.ID, idRange(0, items), at(time.Second))
	seed := uint64(time.Now().UnixNano())
	t.Logf("shuffle seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	kinds := []batch.Outcome{batch.OutcomeSucceeded, batch.OutcomeSucceeded, batch.OutcomeSucceeded,
		batch.OutcomeSkipped, batch.OutcomeFailed, batch.OutcomeTimedOut}
	type delivery struct {
		item int
		rec  batch.OutcomeRecord
	}
	var ds []delivery
	for i := range items {
		rec := outcomeRec(b.ID, i, kinds[i%len(kinds)], at(time.Minute))
		rec.Result = []byte(fmt.Sprintf(`{"item":%q,"delivery":%d}`, rec.ItemID, len(ds)))
		ds = append(ds, delivery{i, rec})
	}
	for k, i := range rng.Perm(items)[:dups] {
		rec := ds[i].rec
		rec.Result = []byte(fmt.Sprintf(`{"item":%q,"delivery":%d}`, rec.ItemID, len(ds)))
		if k%2 == 1 {
			rec.Outcome = kinds[(i+1)%len(kinds)]
			if rec.Outcome == ds[i].rec.Outcome {
				rec.Outcome = batch.OutcomeFailed
			}
		}
		ds = append(ds, delivery{i, rec})
	}
	rng.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })

	got := make([]batch.Recorded, len(ds))
	errs := make([]error, len(ds))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(ds) {
					return
				}
				got[k], errs[k] = s.RecordOutcome(t.Context(), ds[k].rec)
			}
		})
	}
	wg.Wait()

	first := make([]int, items) // delivery recorded first, per item
	for i := range first {
		first[i] = -1
	}
	var want batch.Counts
	sawZero := false
	for k, d := range ds {
		if errs[k] != nil || got[k].Duplicate {
			continue
		}
		if first[d.item] >= 0 {
			t.Fatalf("item %s: deliveries %d and %d were both recorded as first", d.rec.ItemID, first[d.item], k)
		}
		first[d.item] = k
		want = want.Add(d.rec.Outcome)
		if r := got[k].Remaining; r < 0 || r >= items {
			t.Fatalf("delivery %d reported %d remaining, outside [0, %d)", k, r, items)
		}
		sawZero = sawZero || got[k].Remaining == 0
	}
	if !sawZero {
		t.Fatal("no first record reported 0 remaining: nothing would trigger the finalize")
	}
	stored := itemMap(t, s, b.ID)
	for i, k := range first {
		if k < 0 {
			t.Fatalf("item %s: no delivery was recorded as first", itemID(i))
		}
		w := ds[k].rec
		it := stored[w.ItemID]
		if it.Outcome != w.Outcome || !bytes.Equal(it.Result, w.Result) {
			t.Fatalf("item %s stored %q %s, want the first recorded delivery's %q %s", w.ItemID, it.Outcome, it.Result, w.Outcome, w.Result)
		}
	}
	for k, d := range ds {
		if first[d.item] != k {
			checkDuplicate(t, k, d.rec, got[k], errs[k], ds[first[d.item]].rec.Outcome)
		}
	}
	p, err := s.Progress(t.Context(), b.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if p.Batch.Counts != want || p.Remaining != 0 || len(p.Missing) != 0 {
		t.Fatalf("after %d deliveries: counts %+v, remaining %d, missing %v; want %+v, 0, none", len(ds), p.Batch.Counts, p.Remaining, p.Missing, want)
	}
}
