package batchtest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"tipoff/batch"
)

var concurrencyCases = []queueCase{
	{"ReceiveAck", testQueueConcurrentReceiveAck},
}

// Many publishers and receivers at once: every message is delivered and
// acked, none is lost, and while no lease ends (an injected clock that
// stands still) none is delivered twice. On real time a redelivery is
// allowed but only with a higher Attempt.
func testQueueConcurrentReceiveAck(h *queueHarness) {
	const (
		publishers = 4
		perPub     = 150 // in Publish calls of 15
		receivers  = 6
		limit      = 16
	)
	total := publishers * perPub
	ctx, cancel := context.WithTimeout(h.t.Context(), h.deadline()+queuePrompt)
	defer cancel()

	var (
		mu       sync.Mutex
		attempts = make(map[string][]int) // ID -> Attempt of each delivery
		acked    = make(map[string]bool)
		errs     []error
		allAcked = make(chan struct{})
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		cancel()
	}
	var wg sync.WaitGroup
	for r := range receivers {
		wg.Go(func() {
			for ctx.Err() == nil {
				ds, err := h.q.Receive(ctx, queueTopic, limit)
				if err != nil {
					if ctx.Err() == nil {
						fail(fmt.Errorf("receiver %d: Receive: %w", r, err))
					}
					return
				}
				mu.Lock()
				for _, d := range ds {
					attempts[d.ID] = append(attempts[d.ID], d.Attempt)
				}
				mu.Unlock()
				err = h.q.Ack(context.WithoutCancel(ctx), ds...)
				if err != nil && (h.clocked() || !errors.Is(err, batch.ErrConflict)) {
					fail(fmt.Errorf("receiver %d: Ack(%s): %w", r, describeDeliveries(ds), err))
					return
				}
				mu.Lock()
				for _, d := range ds {
					acked[d.ID] = true
				}
				if len(acked) == total {
					select {
					case <-allAcked:
					default:
						close(allAcked)
					}
				}
				mu.Unlock()
			}
		})
	}
	for p := range publishers {
		wg.Go(func() {
			msgs := queueMsgs(fmt.Sprintf("conc%d", p), perPub)
			for i := 0; i < len(msgs); i += 15 {
				if err := h.q.Publish(ctx, queueTopic, msgs[i:i+15]...); err != nil {
					fail(fmt.Errorf("publisher %d: Publish: %w", p, err))
					return
				}
			}
		})
	}
	select {
	case <-allAcked:
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
	if len(errs) > 0 {
		h.t.Fatal(errors.Join(errs...))
	}
	if len(acked) != total {
		h.t.Fatalf("acked %d distinct messages of %d published before the deadline", len(acked), total)
	}
	for id, as := range attempts {
		switch {
		case h.clocked() && len(as) != 1:
			h.t.Errorf("message %q delivered %d times (attempts %v) while no lease ended", id, len(as), as)
		case !h.clocked():
			seen := make(map[int]bool)
			for _, a := range as {
				if seen[a] {
					h.t.Errorf("message %q delivered twice as attempt %d (attempts %v)", id, a, as)
				}
				seen[a] = true
			}
		}
	}
	h.advance(h.caps.Lease + h.caps.NackDelayMax)
	h.expectNone(queueTopic, h.caps.Lease+h.caps.Lease/2)
}
