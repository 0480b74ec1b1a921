package batch

import (
	"context"
	"log/slog"
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
func receiveLoop(ctx context.Context, q Queue, topic string, n int, log *slog.Logger, handle func(context.Context, []Delivery)) {
	backoff := receiveBackoffMin
	for ctx.Err() == nil {
		ds, err := q.Receive(ctx, topic, n)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("receive failed; retrying", "topic", topic, "in", backoff.String(), "err", err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, receiveBackoffMax)
			continue
		}
		backoff = receiveBackoffMin
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
