package batchtest

import (
	"fmt"
	"testing"
	"time"

	"tipoff/batch"
)

func testEvents(t *testing.T, newStore NewStoreFunc) {
	t.Run("Outbox", func(t *testing.T) {
		s := newStore(t)
		var want []batch.Event
		for i := range 3 {
			id := fmt.Sprintf("b%d", i)
			mustCreate(t, s, id, newSpec(fmt.Sprintf("2026-01-%02d", 10+i), testRun, 2), t0)
			now := at(time.Duration(3-i) * time.Minute) // created in reverse order of ID
			ev := cancelEvent(id, now)
			if _, err := s.Cancel(t.Context(), id, "test", ev, now); err != nil {
				t.Fatal(err)
			}
			want = append([]batch.Event{ev}, want...)
		}
		evs, err := s.PendingEvents(t.Context(), 10)
		if err != nil {
			t.Fatal(err)
		}
		wantSame(t, "pending events oldest first", evs, want)
		evs, err = s.PendingEvents(t.Context(), 2)
		if err != nil {
			t.Fatal(err)
		}
		wantSame(t, "pending events limit 2", evs, want[:2])

		if err := s.MarkEventPublished(t.Context(), want[0].ID, at(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkEventPublished(t.Context(), want[0].ID, at(2*time.Hour)); err != nil {
			t.Fatalf("marking an event published twice: %v", err)
		}
		evs, err = s.PendingEvents(t.Context(), 10)
		if err != nil {
			t.Fatal(err)
		}
		wantSame(t, "pending events after one was published", evs, want[1:])

		err = s.MarkEventPublished(t.Context(), want[1].ID, time.Time{})
		wantErr(t, err, batch.ErrInvalid, "MarkEventPublished with a zero time")
		err = s.MarkEventPublished(t.Context(), "nope", at(time.Hour))
		wantErr(t, err, batch.ErrNotFound, "MarkEventPublished of an unknown event")
		_, err = s.PendingEvents(t.Context(), 0)
		wantErr(t, err, batch.ErrInvalid, "PendingEvents with limit 0")
	})
}
