package batchtest

import (
	"context"
	"errors"
	"time"

	"tipoff/batch"
)

var contextCases = []queueCase{
	{"AlreadyDone", testQueueContextAlreadyDone},
	{"CancelWhileWaiting", testQueueContextCancelWhileWaiting},
	{"Deadline", testQueueContextDeadline},
	{"WakeOnPublish", testQueueWakeOnPublish},
}

// queueReceived is what a Receive running in the background returned.
type queueReceived struct {
	ds  []batch.Delivery
	err error
}

// receiveAsync runs Receive in the background; started is closed just
// before it calls Receive.
func (h *queueHarness) receiveAsync(ctx context.Context, topic string, limit int) (started <-chan struct{}, result <-chan queueReceived) {
	s := make(chan struct{})
	r := make(chan queueReceived, 1)
	go func() {
		close(s)
		ds, err := h.q.Receive(ctx, topic, limit)
		r <- queueReceived{ds, err}
	}()
	return s, r
}

// await returns the background Receive's result, failing the test if it
// has not returned within queuePrompt.
func (h *queueHarness) await(what string, result <-chan queueReceived) queueReceived {
	h.t.Helper()
	select {
	case r := <-result:
		return r
	case <-time.After(h.deadline() + queuePrompt):
		h.t.Fatalf("%s: Receive has not returned", what)
		return queueReceived{}
	}
}

// Receive with a context that is already done returns its error, and
// consumes nothing.
func testQueueContextAlreadyDone(h *queueHarness) {
	m := queueMsg("ctx-done")
	h.publish(queueTopic, m)
	ctx, cancel := context.WithCancel(h.t.Context())
	cancel()
	ds, err := h.q.Receive(ctx, queueTopic, 1)
	if len(ds) > 0 || !errors.Is(err, context.Canceled) {
		h.t.Fatalf("Receive with a cancelled context: got %s, %v; want nothing, %v", describeDeliveries(ds), err, context.Canceled)
	}
	d := h.receiveOne(queueTopic)
	sameQueueMessage(h.t, d, m)
	h.ack(d)
}

// A Receive waiting on an empty topic returns context.Canceled when its
// context is cancelled.
func testQueueContextCancelWhileWaiting(h *queueHarness) {
	ctx, cancel := context.WithCancel(h.t.Context())
	started, result := h.receiveAsync(ctx, queueTopic, 5)
	<-started
	// Let the receiver reach its wait: a look at another topic takes as
	// long as the receiver's first look.
	h.expectNone(queueOtherTopic, queueQuiet)
	cancel()
	r := h.await("cancelled", result)
	if len(r.ds) > 0 || !errors.Is(r.err, context.Canceled) {
		h.t.Fatalf("Receive cancelled while waiting: got %s, %v; want nothing, %v", describeDeliveries(r.ds), r.err, context.Canceled)
	}
}

// A Receive waiting on an empty topic returns context.DeadlineExceeded at
// its deadline.
func testQueueContextDeadline(h *queueHarness) {
	ctx, cancel := context.WithTimeout(h.t.Context(), 50*time.Millisecond)
	defer cancel()
	// Compare with the context's own deadline: a clock read after
	// WithTimeout starts late by however long this goroutine was preempted.
	deadline, _ := ctx.Deadline()
	ds, err := h.q.Receive(ctx, queueTopic, 5)
	if len(ds) > 0 || !errors.Is(err, context.DeadlineExceeded) {
		h.t.Fatalf("Receive on an empty topic with a deadline: got %s, %v; want nothing, %v", describeDeliveries(ds), err, context.DeadlineExceeded)
	}
	if early := time.Until(deadline); early > 0 {
		h.t.Fatalf("Receive returned %v before its deadline", early)
	}
}

// A Receive waiting on an empty topic returns the message published
// meanwhile.
func testQueueWakeOnPublish(h *queueHarness) {
	started, result := h.receiveAsync(h.t.Context(), queueTopic, 5)
	<-started
	h.expectNone(queueOtherTopic, queueQuiet)
	m := queueMsg("wake-1")
	h.publish(queueTopic, m)
	r := h.await("waiting for a publish", result)
	if r.err != nil || len(r.ds) != 1 {
		h.t.Fatalf("Receive waiting for a publish: got %s, %v; want %q", describeDeliveries(r.ds), r.err, m.ID)
	}
	sameQueueMessage(h.t, r.ds[0], m)
	h.ack(r.ds...)
}
