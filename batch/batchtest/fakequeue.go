package batchtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"tipoff/batch"
)

// fakeQueue is the small in-memory [batch.Queue] the engine-level cases run
// on: it keeps every message published, per topic, so a case can check
// exactly what was dispatched, and can be told to refuse publishing after a
// number of messages, standing in for a process that dies mid-dispatch.
// Storage semantics are never faked: the engine runs on the real store.
type fakeQueue struct {
	mu        sync.Mutex
	published map[string][]batch.Message
	ready     map[string][]batch.Delivery
	leased    map[string]leased // by receipt
	receipts  int
	// failAfter, when not negative, is how many messages in total Publish
	// accepts before it refuses every further one.
	failAfter int
	wake      chan struct{} // closed and replaced when a message is published
}

type leased struct {
	topic string
	d     batch.Delivery
}

var errPublishRefused = errors.New("fake queue: publish refused (injected failure)")

func newFakeQueue() *fakeQueue {
	return &fakeQueue{
		published: map[string][]batch.Message{},
		ready:     map[string][]batch.Delivery{},
		leased:    map[string]leased{},
		failAfter: -1,
		wake:      make(chan struct{}),
	}
}

// refuseAfter makes Publish fail once n messages in total were accepted.
func (q *fakeQueue) refuseAfter(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.failAfter = n
}

func (q *fakeQueue) total() int {
	n := 0
	for _, ms := range q.published {
		n += len(ms)
	}
	return n
}

// messages returns a copy of everything published to topic, in order.
func (q *fakeQueue) messages(topic string) []batch.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]batch.Message(nil), q.published[topic]...)
}

// waitPublished waits until at least n messages were published to topic,
// and returns them; it fails the test if ctx ends first.
func (q *fakeQueue) waitPublished(t testing.TB, ctx context.Context, topic string, n int) []batch.Message {
	t.Helper()
	for {
		q.mu.Lock()
		ms, wake := append([]batch.Message(nil), q.published[topic]...), q.wake
		q.mu.Unlock()
		if len(ms) >= n {
			return ms
		}
		select {
		case <-wake:
		case <-ctx.Done():
			t.Fatalf("%d messages published to %s, want %d: %v", len(ms), topic, n, ctx.Err())
		}
	}
}

func (q *fakeQueue) Publish(ctx context.Context, topic string, msgs ...batch.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		if q.failAfter >= 0 && q.total() >= q.failAfter {
			return fmt.Errorf("publish %s to %s: %w", m.ID, topic, errPublishRefused)
		}
		q.published[topic] = append(q.published[topic], m)
		q.ready[topic] = append(q.ready[topic], batch.Delivery{Message: m, Attempt: 1, PublishedAt: time.Now()})
	}
	close(q.wake)
	q.wake = make(chan struct{})
	return nil
}

func (q *fakeQueue) Receive(ctx context.Context, topic string, max int) ([]batch.Delivery, error) {
	for {
		q.mu.Lock()
		if ready := q.ready[topic]; len(ready) > 0 {
			n := min(max, len(ready))
			out := make([]batch.Delivery, n)
			for i, d := range ready[:n] {
				q.receipts++
				d.Receipt = fmt.Sprint(q.receipts)
				q.leased[d.Receipt] = leased{topic, d}
				out[i] = d
			}
			q.ready[topic] = ready[n:]
			q.mu.Unlock()
			return out, nil
		}
		wake := q.wake
		q.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (q *fakeQueue) Ack(ctx context.Context, ds ...batch.Delivery) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	var errs []error
	for _, d := range ds {
		if _, ok := q.leased[d.Receipt]; !ok {
			errs = append(errs, fmt.Errorf("ack %s: %w", d.ID, batch.ErrConflict))
			continue
		}
		delete(q.leased, d.Receipt)
	}
	return errors.Join(errs...)
}

func (q *fakeQueue) Nack(ctx context.Context, ds ...batch.Delivery) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, d := range ds {
		l, ok := q.leased[d.Receipt]
		if !ok {
			continue
		}
		delete(q.leased, d.Receipt)
		l.d.Attempt++
		l.d.Receipt = ""
		q.ready[l.topic] = append(q.ready[l.topic], l.d)
	}
	close(q.wake)
	q.wake = make(chan struct{})
	return nil
}

var _ batch.Queue = (*fakeQueue)(nil)
