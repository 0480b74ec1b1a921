package main

import (
	"context"
	"os"
	"sync"

	"tipoff/batch"
	"tipoff/internal/failpoint"
)

// failpoints are armed by TIPOFF_FAILPOINT (name, or name:n for the n-th
// time it is reached), so the crash tests can kill the process at exact
// points of a run; see internal/failpoint.
var failpoints = sync.OnceValue(func() *failpoint.Set { return failpoint.New(os.Getenv("TIPOFF_FAILPOINT"), nil) })

func hitFailpoint(name string) { failpoints().Hit(name) }

// failQueue is a queue with a failpoint after each publish of requests, the
// moment between "published" and "marked published" in the outbox. It
// hides the store's one-transaction dispatch, where that moment does not
// exist, so only a run armed at "published" uses it.
type failQueue struct{ batch.Queue }

func (q failQueue) Publish(ctx context.Context, topic string, msgs ...batch.Message) error {
	err := q.Queue.Publish(ctx, topic, msgs...)
	if err == nil && topic == batch.TopicRequests {
		hitFailpoint("published")
	}
	return err
}
