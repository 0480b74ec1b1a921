package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"tipoff/batch"
)

// TestStore_RecordAndAck_NoDivergence fails RecordAndAck between writing
// the outcomes and acking their requests, as a crash there would, and
// checks that neither happened: the items have no outcome and the requests
// are still leased, to be delivered again. Were the outcomes and the acks
// two commits, the outcomes would be durable while the requests still
// waited. A second call then does both.
func TestStore_RecordAndAck_NoDivergence(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, s, q := newStoreQueue(t)

	now := time.Date(2026, time.January, 15, 17, 0, 0, 0, time.UTC)
	spec := batch.Spec{Key: batch.Key{Date: "2026-01-15", Run: "daily"},
		Items: []batch.NewItem{{ID: "p1", Request: []byte(`{}`)}, {ID: "p2", Request: []byte(`{}`)}}}
	b, _, err := s.CreateBatch(ctx, "b1", spec, now)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []batch.Message
	var recs []batch.OutcomeRecord
	for _, id := range []string{"p1", "p2"} {
		msgs = append(msgs, batch.RequestMessage(batch.Item{BatchID: b.ID, ID: id}, 1, ""))
		recs = append(recs, batch.OutcomeRecord{BatchID: b.ID, ItemID: id, Outcome: batch.OutcomeSucceeded, Result: []byte(`{"points":20.5}`), At: now})
	}
	if err := q.Publish(ctx, batch.TopicRequests, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkPublished(ctx, b.ID, []string{"p1", "p2"}, now); err != nil {
		t.Fatal(err)
	}
	ds, err := q.Receive(ctx, batch.TopicRequests, 2)
	if err != nil || len(ds) != 2 {
		t.Fatalf("Receive: %d deliveries, %v; want 2", len(ds), err)
	}

	crash := errors.New("crash between record and ack")
	reached := false
	s.betweenRecordAndAck = func() error { reached = true; return crash }
	if _, err := s.RecordAndAck(ctx, q, recs, ds); !errors.Is(err, crash) {
		t.Fatalf("RecordAndAck with a failure between record and ack: got %v, want %v", err, crash)
	}
	if !reached {
		t.Fatal("the failure point between record and ack was never reached")
	}
	checkState(t, s, q, b.ID, batch.Counts{}, batch.TopicDepth{Topic: batch.TopicRequests, Leased: 2})

	s.betweenRecordAndAck = nil
	res, err := s.RecordAndAck(ctx, q, recs, ds)
	if err != nil || res.Ack != nil || errors.Join(res.Errs...) != nil {
		t.Fatalf("RecordAndAck: %+v, %v", res, err)
	}
	checkState(t, s, q, b.ID, batch.Counts{Succeeded: 2}, batch.TopicDepth{Topic: batch.TopicRequests})
}

// checkState checks the batch's counts, that its items' outcomes agree
// with them, and the requests topic's depth.
func checkState(t *testing.T, s *Store, q *Queue, batchID string, counts batch.Counts, depth batch.TopicDepth) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	b, err := s.GetBatch(ctx, batchID)
	if err != nil {
		t.Fatal(err)
	}
	if b.Counts != counts {
		t.Fatalf("counts %+v, want %+v", b.Counts, counts)
	}
	items, err := s.Items(ctx, batchID, batch.ItemsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	for _, it := range items {
		if it.Outcome != "" {
			done++
		}
	}
	if done != counts.Done() {
		t.Fatalf("%d items have an outcome, counts say %d", done, counts.Done())
	}
	got, err := q.Depth(ctx, batch.TopicRequests)
	if err != nil {
		t.Fatal(err)
	}
	if got != depth {
		t.Fatalf("depth %+v, want %+v", got, depth)
	}
}

// newStoreQueue opens a fresh file with a store and a queue on it, closed
// when the test ends.
func newStoreQueue(t *testing.T) (*DB, *Store, *Queue) {
	t.Helper()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "tipoff.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q := NewQueue(db, QueueConfig{})
	t.Cleanup(func() { q.Close() })
	return db, NewStore(db), q
}
