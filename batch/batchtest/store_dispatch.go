package batchtest

import (
	"slices"
	"testing"
	"time"

	"tipoff/batch"
)

func testDispatch(t *testing.T, newStore NewStoreFunc) {
	t.Run("Outbox", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 25)
		out, err := s.Unpublished(t.Context(), b.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "first outbox page", itemIDs(out), idRange(0, 10))
		for _, it := range out {
			if it.Published || it.Attempts != 0 || len(it.Request) == 0 {
				t.Fatalf("outbox item %+v: want unpublished, 0 attempts, with its request", it)
			}
		}
		mustPublish(t, s, b.ID, itemIDs(out), at(time.Second))
		for _, id := range idRange(0, 10) {
			it := mustItem(t, s, b.ID, id)
			if !it.Published || it.Attempts != 1 || !it.PublishedAt.Equal(at(time.Second)) {
				t.Fatalf("published item %s = published %v, attempts %d, at %v; want true, 1, %v",
					id, it.Published, it.Attempts, it.PublishedAt, at(time.Second))
			}
		}
		out, err = s.Unpublished(t.Context(), b.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "outbox after publishing 10", itemIDs(out), idRange(10, 25))
		for _, bad := range []int{0, -1} {
			_, err = s.Unpublished(t.Context(), b.ID, bad)
			wantErr(t, err, batch.ErrInvalid, "Unpublished with limit < 1")
		}
		_, err = s.Unpublished(t.Context(), "nope", 10)
		wantErr(t, err, batch.ErrNotFound, "Unpublished of an unknown batch")
	})

	t.Run("CrashBeforePublish", func(t *testing.T) {
		// A dispatcher published and marked every third item, then died.
		// Whoever re-drives the batch must find exactly the others.
		s := newStore(t)
		b := mustCreateN(t, s, 40)
		var marked, rest []string
		for i := range 40 {
			if i%3 == 0 {
				marked = append(marked, itemID(i))
			} else {
				rest = append(rest, itemID(i))
			}
		}
		mustPublish(t, s, b.ID, marked, at(time.Second))
		out, err := s.Unpublished(t.Context(), b.ID, 1000)
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "outbox after a partial dispatch", itemIDs(out), rest)
	})

	t.Run("MarkPublishedLeavesAlone", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 4)
		mustPublish(t, s, b.ID, []string{"p0000"}, at(time.Second))
		mustRecord(t, s, outcomeRec(b.ID, 1, batch.OutcomeSucceeded, at(2*time.Second)))
		mustPublish(t, s, b.ID, []string{"p0000", "p0001", "p0002", "p0002"}, at(3*time.Second))
		items := itemMap(t, s, b.ID)
		if it := items["p0000"]; it.Attempts != 1 || !it.PublishedAt.Equal(at(time.Second)) {
			t.Fatalf("re-marking a published item changed it: attempts %d, at %v", it.Attempts, it.PublishedAt)
		}
		if it := items["p0001"]; it.Published || it.Attempts != 0 {
			t.Fatalf("marking an item with an outcome published it: %+v", it)
		}
		if it := items["p0002"]; !it.Published || it.Attempts != 1 {
			t.Fatalf("an item named twice in one call: published %v, attempts %d; want true, 1", it.Published, it.Attempts)
		}
		if err := s.MarkPublished(t.Context(), b.ID, nil, at(4*time.Second)); err != nil {
			t.Fatalf("MarkPublished of no items: %v", err)
		}
	})

	t.Run("MarkPublishedUnknown", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 4)
		err := s.MarkPublished(t.Context(), "nope", []string{"p0000"}, at(time.Second))
		wantErr(t, err, batch.ErrNotFound, "MarkPublished in an unknown batch")
		err = s.MarkPublished(t.Context(), b.ID, []string{"p0000", "p9999", "p0001"}, at(time.Second))
		wantErr(t, err, batch.ErrNotFound, "MarkPublished of an unknown item")
		for id, it := range itemMap(t, s, b.ID) {
			if it.Published || it.Attempts != 0 {
				t.Fatalf("a refused MarkPublished changed item %s: %+v", id, it)
			}
		}
	})

	t.Run("Redrive", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 6)
		mustPublish(t, s, b.ID, idRange(0, 5), at(time.Second)) // p0005 stays in the outbox
		mustRecord(t, s, outcomeRec(b.ID, 0, batch.OutcomeSucceeded, at(2*time.Second)))
		n, err := s.Redrive(t.Context(), b.ID, []string{"p0000", "p0001", "p0002", "p0005"})
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("Redrive moved %d items, want 2 (p0001, p0002; p0000 has an outcome, p0005 was never published)", n)
		}
		out, err := s.Unpublished(t.Context(), b.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "outbox after redrive", itemIDs(out), []string{"p0001", "p0002", "p0005"})
		for _, it := range out[:2] {
			if it.Attempts != 1 {
				t.Fatalf("re-driven item %s has %d attempts, want its 1 kept", it.ID, it.Attempts)
			}
		}
		mustPublish(t, s, b.ID, []string{"p0001", "p0002"}, at(3*time.Minute))
		if it := mustItem(t, s, b.ID, "p0001"); it.Attempts != 2 || !it.PublishedAt.Equal(at(3*time.Minute)) {
			t.Fatalf("second publish: attempts %d, at %v; want 2, %v", it.Attempts, it.PublishedAt, at(3*time.Minute))
		}

		_, err = s.Redrive(t.Context(), "nope", []string{"p0001"})
		wantErr(t, err, batch.ErrNotFound, "Redrive in an unknown batch")
		_, err = s.Redrive(t.Context(), b.ID, []string{"p0003", "p9999"})
		wantErr(t, err, batch.ErrNotFound, "Redrive of an unknown item")
		if it := mustItem(t, s, b.ID, "p0003"); !it.Published {
			t.Fatal("a refused Redrive moved p0003 back to the outbox")
		}
		if _, err := s.Cancel(t.Context(), b.ID, "test", cancelEvent(b.ID, at(time.Hour)), at(time.Hour)); err != nil {
			t.Fatal(err)
		}
		_, err = s.Redrive(t.Context(), b.ID, []string{"p0003"})
		wantErr(t, err, batch.ErrFinalized, "Redrive in a cancelled batch")
	})

	t.Run("Overdue", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 12)
		mustPublish(t, s, b.ID, idRange(0, 5), at(time.Minute))
		mustPublish(t, s, b.ID, idRange(5, 10), at(2*time.Minute)) // p0010, p0011 never published
		mustRecord(t, s, outcomeRec(b.ID, 1, batch.OutcomeFailed, at(90*time.Second)))
		over := func(before time.Time, limit int) []string {
			t.Helper()
			items, err := s.Overdue(t.Context(), b.ID, before, limit)
			if err != nil {
				t.Fatalf("Overdue(%v, %d): %v", before, limit, err)
			}
			return itemIDs(items)
		}
		wantIDs(t, "overdue before the second publish", over(at(2*time.Minute), 100), []string{"p0000", "p0002", "p0003", "p0004"})
		wantIDs(t, "overdue with limit 2", over(at(2*time.Minute), 2), []string{"p0000", "p0002"})
		all := slices.Concat([]string{"p0000"}, idRange(2, 10))
		wantIDs(t, "overdue just after the second publish", over(at(2*time.Minute+time.Millisecond), 100), all)
		wantIDs(t, "overdue before anything was published", over(at(time.Minute), 100), nil)
		_, err := s.Overdue(t.Context(), "nope", at(time.Hour), 10)
		wantErr(t, err, batch.ErrNotFound, "Overdue of an unknown batch")
		_, err = s.Overdue(t.Context(), b.ID, at(time.Hour), 0)
		wantErr(t, err, batch.ErrInvalid, "Overdue with limit 0")
	})

	t.Run("ClosedOutbox", func(t *testing.T) {
		s := newStore(t)
		b := mustCreateN(t, s, 5)
		if _, err := s.Cancel(t.Context(), b.ID, "test", cancelEvent(b.ID, at(time.Minute)), at(time.Minute)); err != nil {
			t.Fatal(err)
		}
		out, err := s.Unpublished(t.Context(), b.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 0 {
			t.Fatalf("a cancelled batch's outbox still offers %v", itemIDs(out))
		}
	})
}
