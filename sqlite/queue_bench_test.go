package sqlite_test

import (
	"fmt"
	"testing"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/sqlite"
)

// BenchmarkQueue runs the shared queue workload on a file in a temporary
// directory with the default configuration (synchronous=FULL: every
// commit is fsynced).
func BenchmarkQueue(b *testing.B) {
	batchtest.RunQueueBenchmarks(b, func(tb testing.TB) batch.Queue {
		return mustNewQueue(tb, openQueueDB(tb), sqlite.QueueConfig{})
	})
}

// BenchmarkQueue_Depths measures the operators' depth query on a queue of
// 100,000 messages.
func BenchmarkQueue_Depths(b *testing.B) {
	q := mustNewQueue(b, openQueueDB(b), sqlite.QueueConfig{})
	msgs := make([]batch.Message, 1000)
	for round := range 100 {
		for i := range msgs {
			msgs[i] = batch.Message{ID: fmt.Sprintf("%d-%d", round, i), Body: []byte("x")}
		}
		mustPublishQ(b, q, batch.TopicRequests, msgs...)
	}
	mustReceiveQ(b, q, batch.TopicRequests, 500)
	for b.Loop() {
		if _, err := q.Depths(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
