package batchtest

import (
	"time"

	"tipoff/batch"
)

var redeliveryCases = []queueCase{
	{"Nack", testQueueNack},
	{"LeaseExpiry", testQueueLeaseExpiry},
	{"StaleAck", testQueueStaleAck},
	{"StaleAckInBatch", testQueueStaleAckInBatch},
}

var deadLetterCases = []queueCase{
	{"AfterNacks", testQueueDeadLetterAfterNacks},
	{"AfterLeaseExpiry", testQueueDeadLetterAfterLeaseExpiry},
}

// A nacked message comes back after its backoff with Attempt+1 and the
// same content; settling the nacked delivery again is stale.
func testQueueNack(h *queueHarness) {
	m := queueMsg("nack-1")
	h.publish(queueTopic, m)
	d1 := h.receiveOne(queueTopic)
	h.nack(d1)
	if h.clocked() && h.caps.NackDelayMin > time.Millisecond {
		h.advance(h.caps.NackDelayMin - time.Millisecond)
		h.expectNone(queueTopic, 0)
	}
	h.staleErr("second Nack", h.q.Nack(h.t.Context(), d1))
	h.advance(h.caps.NackDelayMax)
	d2 := h.receiveOne(queueTopic)
	sameQueueMessage(h.t, d2, m)
	if d2.Attempt != d1.Attempt+1 {
		h.t.Fatalf("redelivery after a nack: Attempt %d, want %d", d2.Attempt, d1.Attempt+1)
	}
	if d2.Receipt == d1.Receipt {
		h.t.Fatalf("redelivery reuses receipt %q", d1.Receipt)
	}
	h.staleErr("Ack after Nack", h.q.Ack(h.t.Context(), d1))
	h.ack(d2)
	h.advance(h.caps.Lease + h.caps.NackDelayMax)
	h.expectNone(queueTopic, h.caps.Lease+h.caps.Lease/2)
}

// A receiver that never acks loses nothing: once the lease ends the
// message is delivered again with Attempt+1, and not before.
func testQueueLeaseExpiry(h *queueHarness) {
	m := queueMsg("lease-1")
	h.publish(queueTopic, m)
	d1 := h.receiveOne(queueTopic)
	h.advance(h.caps.Lease - time.Millisecond)
	h.expectNone(queueTopic, h.caps.Lease/2)
	h.advance(2 * time.Millisecond)
	d2 := h.receiveOne(queueTopic)
	sameQueueMessage(h.t, d2, m)
	if d2.Attempt != d1.Attempt+1 {
		h.t.Fatalf("redelivery after the lease: Attempt %d, want %d", d2.Attempt, d1.Attempt+1)
	}
	h.ack(d2)
}

// Acking a delivery whose lease expired and which was delivered again is
// a conflict, and does not remove the message: the current delivery still
// holds it, and when its lease ends too the message comes back.
func testQueueStaleAck(h *queueHarness) {
	m := queueMsg("stale-1")
	h.publish(queueTopic, m)
	d1 := h.receiveOne(queueTopic)
	h.advance(h.caps.Lease + time.Millisecond)
	d2 := h.receiveOne(queueTopic)
	if d2.ID != d1.ID || d2.Attempt != 2 {
		h.t.Fatalf("after the lease: delivered %q attempt %d, want %q attempt 2", d2.ID, d2.Attempt, d1.ID)
	}
	h.staleErr("Ack", h.q.Ack(h.t.Context(), d1))
	h.advance(h.caps.Lease + time.Millisecond)
	d3 := h.receiveOne(queueTopic)
	sameQueueMessage(h.t, d3, m)
	if d3.Attempt != 3 {
		h.t.Fatalf("after a stale ack and another lease: Attempt %d, want 3", d3.Attempt)
	}
	h.staleErr("Ack", h.q.Ack(h.t.Context(), d2))
	h.ack(d3)
	h.advance(h.caps.Lease + h.caps.NackDelayMax)
	h.expectNone(queueTopic, h.caps.Lease+h.caps.Lease/2)
}

// One Ack call with a stale and a current delivery acks the current one
// and leaves the other message alone.
func testQueueStaleAckInBatch(h *queueHarness) {
	a, b := queueMsg("batch-a"), queueMsg("batch-b")
	h.publish(queueTopic, a, b)
	first := h.receive(queueTopic, 2, 2)
	h.advance(h.caps.Lease + time.Millisecond)
	second := h.receive(queueTopic, 2, 2)
	pick := func(ds []batch.Delivery, id string) batch.Delivery {
		for _, d := range ds {
			if d.ID == id {
				return d
			}
		}
		h.t.Fatalf("%q not among %s", id, describeDeliveries(ds))
		return batch.Delivery{}
	}
	staleA, currentB := pick(first, a.ID), pick(second, b.ID)
	h.staleErr("Ack of [stale, current]", h.q.Ack(h.t.Context(), staleA, currentB))
	h.advance(h.caps.Lease + time.Millisecond)
	d := h.receiveOne(queueTopic)
	sameQueueMessage(h.t, d, a)
	if d.Attempt != 3 {
		h.t.Fatalf("%q after two leases: Attempt %d, want 3", a.ID, d.Attempt)
	}
	h.ack(d)
	h.advance(h.caps.Lease + h.caps.NackDelayMax)
	h.expectNone(queueTopic, h.caps.Lease+h.caps.Lease/2)
}

// A message nacked on each of its MaxDeliveries deliveries moves to the
// dead-letter topic with its ID, body and attributes.
func testQueueDeadLetterAfterNacks(h *queueHarness) {
	m := queueMsg("dl-nack")
	h.publish(queueTopic, m)
	for i := 1; i <= h.caps.MaxDeliveries; i++ {
		d := h.receiveOne(queueTopic)
		if d.Attempt != i {
			h.t.Fatalf("delivery %d: Attempt %d", i, d.Attempt)
		}
		h.nack(d)
		h.advance(h.caps.NackDelayMax)
	}
	h.expectNone(queueTopic, h.caps.NackDelayMax+h.caps.Lease/2)
	dl := h.receiveOne(batch.DeadLetterTopic(queueTopic))
	sameQueueMessage(h.t, dl, m)
	if dl.Attempt < 1 {
		h.t.Fatalf("dead letter: Attempt %d, want at least 1", dl.Attempt)
	}
	h.ack(dl)
}

// A message whose lease expires on each of its MaxDeliveries deliveries
// moves to the dead-letter topic too.
func testQueueDeadLetterAfterLeaseExpiry(h *queueHarness) {
	m := queueMsg("dl-lease")
	h.publish(queueTopic, m)
	for i := 1; i <= h.caps.MaxDeliveries; i++ {
		d := h.receiveOne(queueTopic)
		if d.Attempt != i {
			h.t.Fatalf("delivery %d: Attempt %d", i, d.Attempt)
		}
		h.advance(h.caps.Lease + time.Millisecond)
	}
	h.expectNone(queueTopic, h.caps.Lease+h.caps.Lease/2)
	dl := h.receiveOne(batch.DeadLetterTopic(queueTopic))
	sameQueueMessage(h.t, dl, m)
	h.ack(dl)
}
