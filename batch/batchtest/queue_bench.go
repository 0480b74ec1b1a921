package batchtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tipoff/batch"
)

// RunQueueBenchmarks gives a queue backend the pipeline's workload: publish
// a batch of request messages (1 KiB bodies and the request attributes, as
// [batch.RequestMessage] makes them) in chunks, then drain it with
// concurrent consumers that receive up to a limit at a time and ack
// everything they received in one call. newQueue returns an empty queue and
// registers its own cleanup.
//
// Each sub-benchmark reports msgs/s (messages published, received and
// acked per second of the whole run), publish-msgs/s and consume-msgs/s
// (each phase on its own).
func RunQueueBenchmarks(b *testing.B, newQueue func(tb testing.TB) batch.Queue) {
	for _, bc := range []struct {
		msgs, consumers, limit int
	}{
		{20000, 1, 64},
		{20000, 4, 64},
		{20000, 16, 64},
		{20000, 4, 256},
		{2000, 4, 1},
	} {
		b.Run(fmt.Sprintf("msgs=%d/consumers=%d/limit=%d", bc.msgs, bc.consumers, bc.limit), func(b *testing.B) {
			benchQueuePipeline(b, newQueue(b), bc.msgs, bc.consumers, bc.limit)
		})
	}
}

// benchQueueMsgs returns n request messages like the coordinator
// publishes, with IDs unique to round.
func benchQueueMsgs(round, n int) []batch.Message {
	body := []byte(`{"request":"` + strings.Repeat("x", 1000) + `"}`)
	ms := make([]batch.Message, n)
	for i := range ms {
		it := batch.Item{BatchID: fmt.Sprintf("2026-01-15-bench-%d", round), ID: fmt.Sprintf("p%06d", i), Request: body}
		ms[i] = batch.RequestMessage(it, 1, "")
	}
	return ms
}

func benchQueuePipeline(b *testing.B, q batch.Queue, n, consumers, limit int) {
	const chunk = 500
	ctx := b.Context()
	var publishTime, consumeTime time.Duration
	round := 0
	for b.Loop() {
		b.StopTimer()
		msgs := benchQueueMsgs(round, n)
		round++
		b.StartTimer()

		start := time.Now()
		var wg sync.WaitGroup
		for p := range 2 {
			wg.Go(func() {
				for i := p * chunk; i < len(msgs); i += 2 * chunk {
					if err := q.Publish(ctx, queueBenchTopic, msgs[i:min(i+chunk, len(msgs))]...); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if b.Failed() {
			return
		}
		mid := time.Now()

		var left atomic.Int64
		left.Store(int64(n))
		cctx, cancel := context.WithCancel(ctx)
		for range consumers {
			wg.Go(func() {
				for left.Load() > 0 {
					ds, err := q.Receive(cctx, queueBenchTopic, limit)
					if err != nil {
						if cctx.Err() == nil {
							b.Error(err)
							cancel()
						}
						return
					}
					if err := q.Ack(ctx, ds...); err != nil {
						b.Error(err)
						cancel()
						return
					}
					if left.Add(-int64(len(ds))) <= 0 {
						cancel()
					}
				}
			})
		}
		wg.Wait()
		cancel()
		if b.Failed() {
			return
		}
		if got := left.Load(); got != 0 {
			b.Fatalf("%d messages left unconsumed (negative: delivered twice)", got)
		}
		publishTime += mid.Sub(start)
		consumeTime += time.Since(mid)
	}
	total := float64(round * n)
	b.ReportMetric(total/(publishTime+consumeTime).Seconds(), "msgs/s")
	b.ReportMetric(total/publishTime.Seconds(), "publish-msgs/s")
	b.ReportMetric(total/consumeTime.Seconds(), "consume-msgs/s")
}

// queueBenchTopic is the topic the queue benchmarks use.
const queueBenchTopic = "queue-bench"
