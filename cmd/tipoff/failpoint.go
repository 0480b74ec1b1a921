package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"tipoff/batch"
)

// Failpoints let the crash tests kill the process at exact points of a run
// (TIPOFF_FAILPOINT=name or name:n for the n-th time it is reached), to
// prove that a SIGKILL at any of them loses and duplicates nothing. Unset,
// they cost one map look-up.
var failpoints = struct {
	once sync.Once
	mu   sync.Mutex
	name string
	n    int
}{}

func failpoint(name string) {
	failpoints.once.Do(func() {
		v := os.Getenv("TIPOFF_FAILPOINT")
		name, n, _ := strings.Cut(v, ":")
		failpoints.name, failpoints.n = name, 1
		if k, err := strconv.Atoi(n); err == nil && k > 0 {
			failpoints.n = k
		}
	})
	if failpoints.name == "" || failpoints.name != name {
		return
	}
	failpoints.mu.Lock()
	failpoints.n--
	hit := failpoints.n == 0
	failpoints.mu.Unlock()
	if hit {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}

// failQueue is a queue with a failpoint after each publish of requests, the
// moment between "published" and "marked published" in the outbox.
type failQueue struct{ batch.Queue }

func (q failQueue) Publish(ctx context.Context, topic string, msgs ...batch.Message) error {
	err := q.Queue.Publish(ctx, topic, msgs...)
	if err == nil && topic == batch.TopicRequests {
		failpoint("published")
	}
	return err
}
