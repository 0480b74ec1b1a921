package batchtest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"tipoff/batch"
)

// largeSpec returns a spec whose requests run from a few bytes to tens of
// kilobytes (a real day's are about 9 KB): a store may keep requests of
// different sizes in different places.
func largeSpec() batch.Spec {
	sizes := []int{2, 300, 600, 1500, 9000, 40000}
	items := make([]batch.NewItem, len(sizes))
	for i, n := range sizes {
		items[i] = batch.NewItem{ID: itemID(i), Request: largeRequest(i, n)}
	}
	return batch.Spec{Key: batch.Key{Date: testDate, Run: testRun}, Items: items}
}

// largeRequest returns n bytes, different for each i.
func largeRequest(i, n int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("%x", i+10)), n)[:n]
}

// wantRequests fails unless items hold the requests of spec's items of
// the same IDs, byte for byte.
func wantRequests(t *testing.T, what string, spec batch.Spec, items []batch.Item, n int) {
	t.Helper()
	if len(items) != n {
		t.Fatalf("%s: %d items, want %d", what, len(items), n)
	}
	want := map[string][]byte{}
	for _, it := range spec.Items {
		want[it.ID] = it.Request
	}
	for _, it := range items {
		if !bytes.Equal(it.Request, want[it.ID]) {
			t.Fatalf("%s: item %s has a request of %d bytes, want the %d it was created with", what, it.ID, len(it.Request), len(want[it.ID]))
		}
	}
}

// testRequests checks that every read of items returns each request whole,
// whatever its size, through dispatch, redrive and the overdue scan.
func testRequests(t *testing.T, newStore NewStoreFunc) {
	t.Run("WholeAtEverySize", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		spec := largeSpec()
		b := mustCreate(t, s, "b1", spec, t0)
		n := len(spec.Items)
		wantRequests(t, "Items", spec, mustItems(t, s, b.ID, batch.ItemsOptions{}), n)
		wantRequests(t, "Items after p0002", spec, mustItems(t, s, b.ID, batch.ItemsOptions{After: itemID(2)}), n-3)
		un, err := s.Unpublished(t.Context(), b.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		wantRequests(t, "Unpublished", spec, un, n)
		ids := make([]string, n)
		for i := range ids {
			ids[i] = itemID(i)
		}
		if err := s.MarkPublished(t.Context(), b.ID, ids, at(time.Second)); err != nil {
			t.Fatal(err)
		}
		over, err := s.Overdue(t.Context(), b.ID, at(time.Minute), 100)
		if err != nil {
			t.Fatal(err)
		}
		wantRequests(t, "Overdue", spec, over, n)
		if moved, err := s.Redrive(t.Context(), b.ID, []string{itemID(4), itemID(5)}); err != nil || moved != 2 {
			t.Fatalf("Redrive = %d, %v; want 2", moved, err)
		}
		un, err = s.Unpublished(t.Context(), b.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		wantRequests(t, "Unpublished after a redrive", spec, un, 2)
		wantRequests(t, "pending Items", spec, mustItems(t, s, b.ID, batch.ItemsOptions{PendingOnly: true}), n)
	})

	t.Run("NoRequests", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		spec := largeSpec()
		b := mustCreate(t, s, "b1", spec, t0)
		for _, i := range []int{1, 4} {
			mustRecord(t, s, outcomeRec(b.ID, i, batch.OutcomeSucceeded, at(time.Minute)))
		}
		mustRecord(t, s, outcomeRec(b.ID, 2, batch.OutcomeFailed, at(time.Minute)))
		for _, opts := range []batch.ItemsOptions{{}, {After: itemID(1), Limit: 3}, {PendingOnly: true}} {
			full := mustItems(t, s, b.ID, opts)
			opts.NoRequests = true
			bare := mustItems(t, s, b.ID, opts)
			if len(bare) != len(full) {
				t.Fatalf("Items(%+v): %d items, %d with their requests", opts, len(bare), len(full))
			}
			for i, it := range bare {
				if it.Request != nil {
					t.Fatalf("Items(%+v): item %s has a request of %d bytes, want none", opts, it.ID, len(it.Request))
				}
				want := full[i]
				want.Request = nil
				if !reflect.DeepEqual(it, want) {
					t.Fatalf("Items(%+v): item %+v,\nwant %+v as read with its request", opts, it, want)
				}
			}
		}
		if it := mustItems(t, s, b.ID, batch.ItemsOptions{NoRequests: true})[4]; it.Outcome != batch.OutcomeSucceeded || len(it.Result) == 0 {
			t.Fatalf("item %s read without its request: outcome %q, %d bytes of result; want succeeded with its result", it.ID, it.Outcome, len(it.Result))
		}
	})

	t.Run("ResultsWholeAtEverySize", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		sizes := []int{0, 2, 300, 600, 1500, 9000, 40000}
		spec := batch.Spec{Key: batch.Key{Date: testDate, Run: testRun}}
		for i := range sizes {
			spec.Items = append(spec.Items, batch.NewItem{ID: itemID(i), Request: []byte("{}")})
		}
		b := mustCreate(t, s, "b1", spec, t0)
		want := map[string][]byte{}
		for i, n := range sizes {
			rec := batch.OutcomeRecord{BatchID: b.ID, ItemID: itemID(i), Outcome: batch.OutcomeSucceeded, At: at(time.Minute)}
			if n > 0 {
				rec.Result = largeRequest(i, n)
			}
			want[rec.ItemID] = rec.Result
			mustRecord(t, s, rec)
		}
		// A second outcome of an item changes nothing, its result included.
		if _, err := s.RecordOutcome(t.Context(), batch.OutcomeRecord{BatchID: b.ID, ItemID: itemID(6), Outcome: batch.OutcomeSucceeded,
			Result: largeRequest(99, 50000), At: at(2 * time.Minute)}); err != nil && !errors.Is(err, batch.ErrConflict) {
			t.Fatalf("a second outcome of %s: %v", itemID(6), err)
		}
		for _, opts := range []batch.ItemsOptions{{}, {NoRequests: true}, {After: itemID(3)}} {
			items := mustItems(t, s, b.ID, opts)
			for _, it := range items {
				if !bytes.Equal(it.Result, want[it.ID]) {
					t.Fatalf("Items(%+v): item %s has a result of %d bytes, want the %d it was recorded with", opts, it.ID, len(it.Result), len(want[it.ID]))
				}
			}
			if len(items) == 0 {
				t.Fatalf("Items(%+v): none", opts)
			}
		}
	})
}
