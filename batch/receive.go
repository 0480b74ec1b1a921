package batch

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Receive backoff bounds: the first retry after a failed receive waits
// receiveBackoffMin, each further one twice as long, up to receiveBackoffMax.
const (
	receiveBackoffMin = 50 * time.Millisecond
	receiveBackoffMax = 5 * time.Second
)

// receiveLoop receives up to n messages of topic at a time from q and hands
// each non-empty group to handle, until ctx ends. A failed receive is
// retried with exponential backoff. handle runs with a context that outlives
// ctx, so work already received is finished and settled at shutdown rather
// than thrown away.
//
// With prefetch, the next receive starts as handle starts, so the loop holds
// up to two groups: when the queue and the settling share a database, the
// next group's leases and the settling of the current one go to its writer
// together and share a commit. Groups are still handled one at a time, in
// the order received.
//
// A receive that fails for want of disk space ([ErrNoSpace]) is recorded
// in stuck, so that the owner can stop a one-shot run and say why; the
// loop keeps retrying at the longest backoff, so a service recovers once
// space is freed.
func receiveLoop(ctx context.Context, q Queue, topic string, n int, log *slog.Logger, stuck *stuckErr, prefetch bool, handle func(context.Context, []Delivery)) {
	backoff := receiveBackoffMin
	// receive returns the next non-empty group, or false once ctx ends
	// without one.
	receive := func() ([]Delivery, bool) {
		for {
			ds, err := q.Receive(ctx, topic, n)
			if err != nil {
				if ctx.Err() != nil {
					return nil, false
				}
				if errors.Is(err, ErrNoSpace) {
					if stuck.set(err) {
						log.Error("receive failed: no space left; retrying until space is freed", "topic", topic, "err", err)
					}
					sleep(ctx, receiveBackoffMax)
					continue
				}
				log.Warn("receive failed; retrying", "topic", topic, "in", backoff.String(), "err", err)
				sleep(ctx, backoff)
				backoff = min(2*backoff, receiveBackoffMax)
				continue
			}
			backoff = receiveBackoffMin
			stuck.set(nil)
			if len(ds) > 0 {
				return ds, true
			}
			if ctx.Err() != nil {
				return nil, false
			}
		}
	}
	type group struct {
		ds []Delivery
		ok bool
	}
	ds, ok := receive()
	for ok {
		if !prefetch {
			handle(context.WithoutCancel(ctx), ds)
			ds, ok = receive()
			continue
		}
		next := make(chan group, 1)
		go func() {
			ds, ok := receive()
			next <- group{ds, ok}
		}()
		handle(context.WithoutCancel(ctx), ds)
		g := <-next
		ds, ok = g.ds, g.ok
	}
}

// sleep waits for d or the end of ctx.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// stuckErr holds the error that keeps a receive loop from making progress,
// nil while it works.
type stuckErr struct {
	mu  sync.Mutex
	err error
}

// set records err (nil: working again) and reports whether it is new.
func (s *stuckErr) set(err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	isNew := err != nil && s.err == nil
	s.err = err
	return isNew
}

func (s *stuckErr) get() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
