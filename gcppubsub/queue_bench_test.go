package gcppubsub_test

import (
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/gcppubsub"
)

// BenchmarkQueue runs the shared queue workload against the emulator. Its
// numbers say how the client side and the emulator cope, not what
// production Pub/Sub does.
func BenchmarkQueue(b *testing.B) {
	batchtest.RequireEnv(b, "PUBSUB_EMULATOR_HOST")
	batchtest.RunQueueBenchmarks(b, func(tb testing.TB) batch.Queue {
		return mustOpenEmulator(tb, gcppubsub.Config{Lease: time.Minute})
	})
}
