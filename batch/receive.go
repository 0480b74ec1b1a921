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
// A receive that fails for want of disk space ([ErrNoSpace]) is recorded
// in stuck, so that the owner can stop a one-shot run and say why; the
// loop keeps retrying at the longest backoff, so a service recovers once
// space is freed.
func receiveLoop(ctx context.Context, q Queue, topic string, n int, log *slog.Logger, stuck *stuckErr, handle func(context.Context, []Delivery)) {
	backoff := receiveBackoffMin
	for ctx.Err() == nil {
		ds, err := q.Receive(ctx, topic, n)
		if err != nil {
			if ctx.Err() != nil {
				return
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
			handle(context.WithoutCancel(ctx), ds)
		}
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
