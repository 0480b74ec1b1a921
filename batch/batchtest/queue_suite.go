package batchtest

import (
	"testing"

	"tipoff/batch"
)

// RunQueueTests runs the Queue conformance suite against the queues newQueue
// returns: publish, receive and ack; the round trip of IDs, bodies and
// attributes; ID deduplication and ordering as caps declare them; nack and
// redelivery with Attempt+1; lease expiry; stale acks (ErrConflict where
// the backend detects them, and never a lost message); dead-lettering after
// MaxDeliveries; no loss or duplication under concurrent receivers; and
// Receive honouring its context. newQueue is called once per case and must
// return an empty queue that registers its own cleanup.
//
// caps declares the backend's lease, delivery limit, nack delay and
// behaviour where the contract leaves room; every case runs on every
// backend and adapts its assertions to caps.
func RunQueueTests(t *testing.T, newQueue func(t *testing.T) batch.Queue, caps QueueCaps) {
	caps = caps.check(t)
	areas := []struct {
		name  string
		cases []queueCase
	}{
		{"Delivery", deliveryCases},
		{"Redelivery", redeliveryCases},
		{"DeadLetter", deadLetterCases},
		{"Concurrency", concurrencyCases},
		{"Context", contextCases},
	}
	for _, a := range areas {
		t.Run(a.name, func(t *testing.T) {
			if caps.Clock == nil {
				t.Parallel()
			}
			for _, c := range a.cases {
				t.Run(c.name, func(t *testing.T) {
					if caps.Clock == nil {
						// Real time: cases spend most of it waiting for
						// leases, so let them wait together.
						t.Parallel()
					}
					c.run(&queueHarness{t: t, q: newQueue(t), caps: caps})
				})
			}
		})
	}
}

// queueCase is one case of the queue suite.
type queueCase struct {
	name string
	run  func(h *queueHarness)
}
