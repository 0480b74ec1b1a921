package batchtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"tipoff/batch"
)

// QueueCaps declares how a queue backend behaves where the [batch.Queue]
// contract leaves room, so [RunQueueTests] can hold each backend to what it
// promises instead of leaving cases out. The durations and counts must be
// those of the queues newQueue returns.
type QueueCaps struct {
	// Clock, when the backend's time can be injected, is the clock its
	// queues read; the suite then advances it instead of waiting, and runs
	// its cases one at a time. Nil means real time: the suite waits for
	// leases and backoffs to pass and runs its cases in parallel.
	Clock *ManualClock
	// Lease is the visibility timeout: a received message that is neither
	// acked nor nacked is delivered again once it has passed.
	Lease time.Duration
	// MaxDeliveries is how many times a message is delivered before it is
	// moved to [batch.DeadLetterTopic]. The suite needs at least 3.
	MaxDeliveries int
	// NackDelayMin and NackDelayMax bound when a nacked message is
	// delivered again, measured from the nack, for a nack of any of its
	// deliveries. NackDelayMin 0 means it may come back at once.
	NackDelayMin time.Duration
	NackDelayMax time.Duration
	// FIFO: first deliveries to a single receiver come in publish order.
	// Otherwise the suite compares delivered messages as sets.
	FIFO bool
	// DedupesIDs: publishing a message whose ID is already pending (not yet
	// acked) on the topic is a no-op. Otherwise the suite checks that both
	// publishes are delivered.
	DedupesIDs bool
	// DetectsStaleAck: Ack or Nack of a delivery that is no longer current
	// (already settled, or delivered again after its lease expired) returns
	// an error wrapping [batch.ErrConflict]. Otherwise the suite accepts nil
	// there; either way it checks that the message is not lost.
	DetectsStaleAck bool
	// Slack is how much later than its lease or backoff a real-time backend
	// may deliver a message again, and how long it may take to deliver a
	// published one; default 30s. Unused with a Clock.
	Slack time.Duration
}

func (c QueueCaps) check(t *testing.T) QueueCaps {
	t.Helper()
	if c.Lease <= 0 {
		t.Fatalf("QueueCaps.Lease is %v: declare the backend's visibility timeout", c.Lease)
	}
	if c.MaxDeliveries < 3 {
		t.Fatalf("QueueCaps.MaxDeliveries is %d: the suite needs a backend configured for at least 3", c.MaxDeliveries)
	}
	if c.NackDelayMin < 0 || c.NackDelayMax < c.NackDelayMin {
		t.Fatalf("QueueCaps.NackDelayMin, NackDelayMax = %v, %v: want 0 <= min <= max", c.NackDelayMin, c.NackDelayMax)
	}
	if c.Slack <= 0 {
		c.Slack = 30 * time.Second
	}
	return c
}

// queueHarness runs one queue case: it owns the queue under test and knows
// whether time is injected or real.
type queueHarness struct {
	t    *testing.T
	q    batch.Queue
	caps QueueCaps
	// owed is time the case has let pass on the backend's clock that a
	// real-time backend has not necessarily spent yet: the next receive
	// waits that much longer.
	owed time.Duration
}

// queueQuiet is how long a clock-driven case waits to see that nothing is
// delivered: nothing can become ready while the clock stands still, so this
// only has to outlast one look at the backend.
const queueQuiet = 100 * time.Millisecond

// queuePrompt bounds how long a clock-driven case waits for a message that is
// ready now.
const queuePrompt = 20 * time.Second

func (h *queueHarness) clocked() bool { return h.caps.Clock != nil }

// now returns the backend's time.
func (h *queueHarness) now() time.Time {
	if h.clocked() {
		return h.caps.Clock.Now()
	}
	return time.Now()
}

// advance lets d pass on the backend's clock.
func (h *queueHarness) advance(d time.Duration) {
	if h.clocked() {
		h.caps.Clock.Advance(d)
		return
	}
	h.owed += d
}

// deadline is how long the next receive may wait for a message that is due.
func (h *queueHarness) deadline() time.Duration {
	if h.clocked() {
		return queuePrompt
	}
	d := h.owed + h.caps.Slack
	h.owed = 0
	return d
}

func (h *queueHarness) publish(topic string, msgs ...batch.Message) {
	h.t.Helper()
	if err := h.q.Publish(h.t.Context(), topic, msgs...); err != nil {
		h.t.Fatalf("Publish(%s, %d messages): %v", topic, len(msgs), err)
	}
}

// receive returns exactly n deliveries of topic, receiving up to limit at a
// time, and fails the test if they do not all come before the deadline.
func (h *queueHarness) receive(topic string, n, limit int) []batch.Delivery {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.t.Context(), h.deadline())
	defer cancel()
	var got []batch.Delivery
	for len(got) < n {
		ds, err := h.q.Receive(ctx, topic, min(limit, n-len(got)))
		if err != nil {
			h.t.Fatalf("Receive(%s) after %d of %d deliveries: %v", topic, len(got), n, err)
		}
		if len(ds) == 0 || len(ds) > min(limit, n-len(got)) {
			h.t.Fatalf("Receive(%s, %d) returned %d deliveries and no error", topic, min(limit, n-len(got)), len(ds))
		}
		got = append(got, ds...)
	}
	return got
}

// receiveSome returns the 1 to limit deliveries of one Receive of topic.
func (h *queueHarness) receiveSome(topic string, limit int) []batch.Delivery {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.t.Context(), h.deadline())
	defer cancel()
	ds, err := h.q.Receive(ctx, topic, limit)
	if err != nil {
		h.t.Fatalf("Receive(%s, %d): %v", topic, limit, err)
	}
	if len(ds) == 0 || len(ds) > limit {
		h.t.Fatalf("Receive(%s, %d) returned %d deliveries and no error", topic, limit, len(ds))
	}
	return ds
}

func (h *queueHarness) receiveOne(topic string) batch.Delivery {
	h.t.Helper()
	return h.receive(topic, 1, 1)[0]
}

// expectNone checks that nothing of topic is delivered: at once with an
// injected clock, within wait on real time.
func (h *queueHarness) expectNone(topic string, wait time.Duration) {
	h.t.Helper()
	if h.clocked() {
		wait = queueQuiet
	}
	ctx, cancel := context.WithTimeout(h.t.Context(), wait)
	defer cancel()
	ds, err := h.q.Receive(ctx, topic, 10)
	if len(ds) > 0 {
		h.t.Fatalf("Receive(%s) delivered %s, want nothing", topic, describeDeliveries(ds))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		h.t.Fatalf("Receive(%s) with nothing to deliver: got %v, want %v", topic, err, context.DeadlineExceeded)
	}
}

func (h *queueHarness) ack(ds ...batch.Delivery) {
	h.t.Helper()
	if err := h.q.Ack(h.t.Context(), ds...); err != nil {
		h.t.Fatalf("Ack(%s): %v", describeDeliveries(ds), err)
	}
}

func (h *queueHarness) nack(ds ...batch.Delivery) {
	h.t.Helper()
	if err := h.q.Nack(h.t.Context(), ds...); err != nil {
		h.t.Fatalf("Nack(%s): %v", describeDeliveries(ds), err)
	}
}

// staleErr checks the error of settling a delivery that is no longer
// current: ErrConflict where the backend detects it, else nil or
// ErrConflict.
func (h *queueHarness) staleErr(call string, err error) {
	h.t.Helper()
	if errors.Is(err, batch.ErrConflict) || (err == nil && !h.caps.DetectsStaleAck) {
		return
	}
	h.t.Fatalf("%s of a stale delivery: got %v, want an error wrapping %v", call, err, batch.ErrConflict)
}

// checkPublishedAt checks that d was published between from and to on the
// backend's clock (give or take a millisecond with an injected clock, a
// minute of clock skew on real time).
func (h *queueHarness) checkPublishedAt(d batch.Delivery, from, to time.Time) {
	h.t.Helper()
	skew := time.Minute
	if h.clocked() {
		skew = time.Millisecond
	}
	if d.PublishedAt.Before(from.Add(-skew)) || d.PublishedAt.After(to.Add(skew)) {
		h.t.Fatalf("message %q: PublishedAt %v, want between %v and %v", d.ID, d.PublishedAt, from, to)
	}
}

// sameQueueMessage checks that d carries want's ID, body and attributes (nil and
// empty are the same).
func sameQueueMessage(t testing.TB, d batch.Delivery, want batch.Message) {
	t.Helper()
	if d.ID != want.ID {
		t.Fatalf("delivered ID %q, want %q", d.ID, want.ID)
	}
	if !bytes.Equal(d.Body, want.Body) {
		t.Fatalf("message %q: body of %d bytes %.40q, want %d bytes %.40q", want.ID, len(d.Body), d.Body, len(want.Body), want.Body)
	}
	if !maps.Equal(d.Attributes, want.Attributes) {
		t.Fatalf("message %q: attributes %v, want %v", want.ID, d.Attributes, want.Attributes)
	}
}

// describe lists deliveries as id#attempt for failure messages.
func describeDeliveries(ds []batch.Delivery) string {
	var b bytes.Buffer
	for i, d := range ds {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s#%d", d.ID, d.Attempt)
	}
	return "[" + b.String() + "]"
}

// queueMsg returns a message with a recognisable body and attributes.
func queueMsg(id string) batch.Message {
	return batch.Message{
		ID:         id,
		Body:       []byte(`{"player":"` + id + `","points":27.5}`),
		Attributes: map[string]string{batch.AttrBatchID: "2026-01-15-daily", batch.AttrItemID: id},
	}
}

// queueMsgs returns n messages with IDs prefix-000, prefix-001, ….
func queueMsgs(prefix string, n int) []batch.Message {
	ms := make([]batch.Message, n)
	for i := range ms {
		ms[i] = queueMsg(fmt.Sprintf("%s-%03d", prefix, i))
	}
	return ms
}

// Topics the queue suite uses; each case has a queue of its own.
const (
	queueTopic      = "queue-suite"
	queueOtherTopic = "queue-suite-other"
)
