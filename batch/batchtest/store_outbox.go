package batchtest

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"tipoff/batch"
)

// RunOutboxPublisherTests runs the conformance suite of
// [batch.OutboxPublisher], the capability of a store whose database also
// holds the queue: a chunk of the outbox is published and marked published
// in one atomic step. newPair returns an empty store that implements it and
// a queue in the same database, and registers their cleanup.
func RunOutboxPublisherTests(t *testing.T, newPair NewAckerPairFunc) {
	pair := func(t *testing.T) (batch.OutboxPublisher, batch.Store, batch.Queue) {
		s, q := newPair(t, NewManualClock(t0))
		p, ok := s.(batch.OutboxPublisher)
		if !ok {
			t.Fatalf("%T does not implement batch.OutboxPublisher", s)
		}
		if !p.PublishesTo(q) {
			t.Fatal("PublishesTo(the queue of the store's own database) = false")
		}
		return p, s, q
	}
	t.Run("PublishesAndMarksInChunks", func(t *testing.T) {
		t.Parallel()
		p, s, q := pair(t)
		b := mustCreateN(t, s, 5)
		n, err := p.PublishOutbox(t.Context(), q, b.ID, 3, at(time.Second), "trace-1")
		if err != nil || n != 3 {
			t.Fatalf("PublishOutbox(limit 3) = %d, %v; want 3, nil", n, err)
		}
		wantSame(t, "outbox after the first chunk", itemIDs(mustUnpublished(t, s, b.ID)), []string{itemID(3), itemID(4)})
		ds := receiveN(t, q, 3)
		items := mustItems(t, s, b.ID, batch.ItemsOptions{})
		for i, d := range ds {
			it := items[i]
			want := batch.RequestMessage(it, 1, "trace-1")
			if d.ID != want.ID || string(d.Body) != string(want.Body) || !sameAttrs(d.Attributes, want.Attributes) {
				t.Fatalf("delivery %d: got %q %s %v; want %q %s %v", i, d.ID, d.Body, d.Attributes, want.ID, want.Body, want.Attributes)
			}
			if !it.Published || it.Attempts != 1 || !it.PublishedAt.Equal(at(time.Second)) {
				t.Fatalf("item %s after publish: published %v, %d attempts, at %v; want published, 1, %v",
					it.ID, it.Published, it.Attempts, it.PublishedAt, at(time.Second))
			}
		}
		n, err = p.PublishOutbox(t.Context(), q, b.ID, 3, at(2*time.Second), "trace-1")
		if err != nil || n != 2 {
			t.Fatalf("PublishOutbox of the rest = %d, %v; want 2, nil", n, err)
		}
		receiveN(t, q, 2)
		if n, err := p.PublishOutbox(t.Context(), q, b.ID, 3, at(3*time.Second), ""); err != nil || n != 0 {
			t.Fatalf("PublishOutbox of an empty outbox = %d, %v; want 0, nil", n, err)
		}
		// A redriven item is published again as its next attempt.
		if moved, err := s.Redrive(t.Context(), b.ID, []string{itemID(1)}); err != nil || moved != 1 {
			t.Fatalf("Redrive = %d, %v; want 1", moved, err)
		}
		if n, err := p.PublishOutbox(t.Context(), q, b.ID, 3, at(4*time.Second), ""); err != nil || n != 1 {
			t.Fatalf("PublishOutbox after a redrive = %d, %v; want 1, nil", n, err)
		}
		d := receiveN(t, q, 1)[0]
		wantSame(t, "redriven message", d.ID, b.ID+"/"+itemID(1)+"/2")
		wantSame(t, "attempts of the redriven item", mustItems(t, s, b.ID, batch.ItemsOptions{After: itemID(0), Limit: 1})[0].Attempts, 2)
	})
	t.Run("LargeRequestsPublishedWhole", func(t *testing.T) {
		t.Parallel()
		p, s, q := pair(t)
		spec := largeSpec()
		b := mustCreate(t, s, "b1", spec, t0)
		if n, err := p.PublishOutbox(t.Context(), q, b.ID, 100, at(time.Second), ""); err != nil || n != len(spec.Items) {
			t.Fatalf("PublishOutbox = %d, %v; want %d, nil", n, err, len(spec.Items))
		}
		for _, d := range receiveN(t, q, len(spec.Items)) {
			i := slices.IndexFunc(spec.Items, func(it batch.NewItem) bool { return d.Attributes[batch.AttrItemID] == it.ID })
			if i < 0 || !bytes.Equal(d.Body, spec.Items[i].Request) {
				t.Fatalf("message %s: %d bytes, want the request of item %q", d.ID, len(d.Body), d.Attributes[batch.AttrItemID])
			}
		}
	})
	t.Run("KeepsMessagesAlreadyQueued", func(t *testing.T) {
		t.Parallel()
		p, s, q := pair(t)
		b := mustCreateN(t, s, 2)
		items := mustItems(t, s, b.ID, batch.ItemsOptions{})
		// The first item's request is on the queue already, with another
		// body: publishing the outbox drops its copy, as Publish does.
		earlier := batch.RequestMessage(items[0], 1, "")
		earlier.Body = []byte("earlier")
		if err := q.Publish(t.Context(), batch.TopicRequests, earlier); err != nil {
			t.Fatal(err)
		}
		const trace = `t"<&>\é`
		if n, err := p.PublishOutbox(t.Context(), q, b.ID, 10, at(time.Second), trace); err != nil || n != 2 {
			t.Fatalf("PublishOutbox = %d, %v; want 2, nil", n, err)
		}
		for _, d := range receiveN(t, q, 2) {
			want := batch.RequestMessage(items[1], 1, trace)
			if d.ID == earlier.ID {
				want = earlier
			}
			if d.ID != want.ID || string(d.Body) != string(want.Body) || !sameAttrs(d.Attributes, want.Attributes) {
				t.Fatalf("delivery: got %q %s %v; want %q %s %v", d.ID, d.Body, d.Attributes, want.ID, want.Body, want.Attributes)
			}
		}
		expectNoDelivery(t, q)
	})
	t.Run("ClosedOutboxPublishesNothing", func(t *testing.T) {
		t.Parallel()
		p, s, q := pair(t)
		b := mustCreateN(t, s, 2)
		if _, err := s.Cancel(t.Context(), b.ID, "called off", cancelEvent(b.ID, at(time.Second)), at(time.Second)); err != nil {
			t.Fatal(err)
		}
		if n, err := p.PublishOutbox(t.Context(), q, b.ID, 10, at(2*time.Second), ""); err != nil || n != 0 {
			t.Fatalf("PublishOutbox of a cancelled batch = %d, %v; want 0, nil", n, err)
		}
		if depth := queueDepth(t, q); depth != 0 {
			t.Fatalf("queue holds %d messages after publishing a closed outbox; want 0", depth)
		}
	})
	t.Run("Refusals", func(t *testing.T) {
		t.Parallel()
		p, s, q := pair(t)
		b := mustCreateN(t, s, 1)
		_, err := p.PublishOutbox(t.Context(), q, "no-such-batch", 10, at(0), "")
		wantErr(t, err, batch.ErrNotFound, "PublishOutbox of an unknown batch")
		_, err = p.PublishOutbox(t.Context(), q, b.ID, 0, at(0), "")
		wantErr(t, err, batch.ErrInvalid, "PublishOutbox with limit 0")
		_, other := newPair(t, NewManualClock(t0))
		if p.PublishesTo(other) {
			t.Fatal("PublishesTo(a queue of another database) = true")
		}
		_, err = p.PublishOutbox(t.Context(), other, b.ID, 10, at(0), "")
		wantErr(t, err, batch.ErrInvalid, "PublishOutbox to another database's queue")
		wantSame(t, "outbox after the refusals", itemIDs(mustUnpublished(t, s, b.ID)), []string{itemID(0)})
	})
}

func mustUnpublished(t *testing.T, s batch.Store, batchID string) []batch.Item {
	t.Helper()
	items, err := s.Unpublished(t.Context(), batchID, 100)
	if err != nil {
		t.Fatalf("Unpublished(%s): %v", batchID, err)
	}
	return items
}

func sameAttrs(a, b map[string]string) bool {
	ka, kb := make([]string, 0, len(a)), make([]string, 0, len(b))
	for k, v := range a {
		if b[k] != v {
			return false
		}
		ka = append(ka, k)
	}
	for k := range b {
		kb = append(kb, k)
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

// queueDepth counts the request messages waiting on q, if q can say.
func queueDepth(t *testing.T, q batch.Queue) int {
	t.Helper()
	d, ok := q.(interface {
		Depth(ctx context.Context, topic string) (batch.TopicDepth, error)
	})
	if !ok {
		t.Skipf("%T cannot count its messages", q)
	}
	n, err := d.Depth(t.Context(), batch.TopicRequests)
	if err != nil {
		t.Fatalf("Depth: %v", err)
	}
	return n.Total()
}
