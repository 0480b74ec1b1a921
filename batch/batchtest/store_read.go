package batchtest

import (
	"testing"
	"time"

	"tipoff/batch"
)

func testRead(t *testing.T, newStore NewStoreFunc) {
	t.Run("GetNotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.GetBatch(t.Context(), "nope")
		wantErr(t, err, batch.ErrNotFound, "GetBatch of an unknown batch")
	})

	t.Run("List", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, "b1", newSpec("2026-01-15", "daily", 2), t0)
		mustCreate(t, s, "b2", newSpec("2026-01-15", "rerun", 2), at(time.Hour))
		mustCreate(t, s, "b3", newSpec("2026-01-16", "daily", 2), at(2*time.Hour))
		if _, err := s.Cancel(t.Context(), "b2", "superseded", cancelEvent("b2", at(3*time.Hour)), at(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			opts batch.ListOptions
			want []string
		}{
			{"all newest first", batch.ListOptions{}, []string{"b3", "b2", "b1"}},
			{"by date", batch.ListOptions{Date: "2026-01-15"}, []string{"b2", "b1"}},
			{"by run", batch.ListOptions{Run: "daily"}, []string{"b3", "b1"}},
			{"by state", batch.ListOptions{State: batch.Finalized}, []string{"b2"}},
			{"running on a date", batch.ListOptions{Date: "2026-01-15", State: batch.Running}, []string{"b1"}},
			{"limit", batch.ListOptions{Limit: 2}, []string{"b3", "b2"}},
			{"no match", batch.ListOptions{Date: "2026-01-17"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				bs, err := s.ListBatches(t.Context(), tt.opts)
				if err != nil {
					t.Fatalf("ListBatches(%+v): %v", tt.opts, err)
				}
				var got []string
				for _, b := range bs {
					got = append(got, b.ID)
				}
				wantIDs(t, "ListBatches", got, tt.want)
			})
		}
		for _, bad := range []batch.ListOptions{{State: "done"}, {Limit: -1}, {Date: "15/01/2026"}} {
			_, err := s.ListBatches(t.Context(), bad)
			wantErr(t, err, batch.ErrInvalid, "ListBatches with a bad option")
		}
	})

	t.Run("Items", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 25)
		for _, i := range []int{0, 3, 10, 11, 24} {
			mustRecord(t, s, outcomeRec(b.ID, i, batch.OutcomeSucceeded, at(time.Minute)))
		}
		got := mustItems(t, s, b.ID, batch.ItemsOptions{After: itemID(9), Limit: 5})
		wantIDs(t, "Items after p0009, limit 5", itemIDs(got), idRange(10, 15))
		got = mustItems(t, s, b.ID, batch.ItemsOptions{PendingOnly: true, Limit: 4})
		wantIDs(t, "pending items, limit 4", itemIDs(got), []string{"p0001", "p0002", "p0004", "p0005"})
		got = mustItems(t, s, b.ID, batch.ItemsOptions{PendingOnly: true, After: itemID(9)})
		wantIDs(t, "pending items after p0009", itemIDs(got), idRange(12, 24))
		if n := len(mustItems(t, s, b.ID, batch.ItemsOptions{})); n != 25 {
			t.Fatalf("all items: got %d, want 25", n)
		}
		_, err := s.Items(t.Context(), "nope", batch.ItemsOptions{})
		wantErr(t, err, batch.ErrNotFound, "Items of an unknown batch")
		_, err = s.Items(t.Context(), b.ID, batch.ItemsOptions{Limit: -1})
		wantErr(t, err, batch.ErrInvalid, "Items with a negative limit")
	})

	t.Run("Progress", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 30)
		outcomes := []batch.Outcome{batch.OutcomeSucceeded, batch.OutcomeSkipped, batch.OutcomeFailed, batch.OutcomeTimedOut}
		want := batch.Counts{}
		for i := range 10 {
			o := outcomes[i%len(outcomes)]
			mustRecord(t, s, outcomeRec(b.ID, i*2, o, at(time.Minute)))
			want = want.Add(o)
		}
		p, err := s.Progress(t.Context(), b.ID, 5)
		if err != nil {
			t.Fatal(err)
		}
		if p.Remaining != 20 || p.Batch.Counts != want || p.Batch.Total != 30 {
			t.Fatalf("Progress = remaining %d, counts %+v, total %d; want 20, %+v, 30", p.Remaining, p.Batch.Counts, p.Batch.Total, want)
		}
		wantIDs(t, "Progress missing, limit 5", p.Missing, []string{"p0001", "p0003", "p0005", "p0007", "p0009"})
		p, err = s.Progress(t.Context(), b.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Missing) != 20 || p.Missing[19] != "p0029" {
			t.Fatalf("Progress with a limit above the remaining: got %v, want the 20 items without an outcome", p.Missing)
		}
		p, err = s.Progress(t.Context(), b.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Missing) != 0 || p.Remaining != 20 {
			t.Fatalf("Progress with limit 0 = remaining %d, missing %v; want 20 and none", p.Remaining, p.Missing)
		}
		_, err = s.Progress(t.Context(), "nope", 5)
		wantErr(t, err, batch.ErrNotFound, "Progress of an unknown batch")
		_, err = s.Progress(t.Context(), b.ID, -1)
		wantErr(t, err, batch.ErrInvalid, "Progress with a negative limit")
	})
}

// cancelEvent returns the event Engine.Cancel would write.
func cancelEvent(batchID string, now time.Time) batch.Event {
	return batch.Event{ID: batch.EventID(batchID, batch.EventCancelled), Type: batch.EventCancelled, BatchID: batchID,
		Payload: []byte(`{"reason":"test"}`), CreatedAt: now}
}

// finalEvent returns the event Engine.Finalize would write.
func finalEvent(batchID string, now time.Time) batch.Event {
	return batch.Event{ID: batch.EventID(batchID, batch.EventFinalized), Type: batch.EventFinalized, BatchID: batchID,
		Payload: []byte(`{"result":"test"}`), CreatedAt: now}
}
