package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Handler turns one request delivery into the item's outcome and result
// payload. It returns a [PermanentError] (or an error wrapping [ErrInvalid])
// for input that can never succeed: the item is recorded as failed and the
// message acknowledged. Any other error is transient: the message is nacked
// and delivered again.
type Handler func(ctx context.Context, d Delivery) (Outcome, []byte, error)

// OutcomeSink takes the outcomes a worker produced. It returns only after
// they are durable (published, or recorded); on error the worker nacks the
// requests, so the sink may see them again.
type OutcomeSink func(ctx context.Context, msgs []OutcomeMessage) error

// PublishOutcomes returns a sink that publishes outcomes to [TopicOutcomes]
// for a coordinator to record: the shape for workers in another process.
func PublishOutcomes(q Queue) OutcomeSink {
	return func(ctx context.Context, msgs []OutcomeMessage) error {
		out := make([]Message, 0, len(msgs))
		for _, m := range msgs {
			body, err := EncodeOutcome(m)
			if err != nil {
				return err
			}
			out = append(out, Message{
				ID:   fmt.Sprintf("%s/%s/%d/outcome", m.BatchID, m.ItemID, m.Attempt),
				Body: body,
				Attributes: map[string]string{
					AttrBatchID: m.BatchID, AttrItemID: m.ItemID, AttrAttempt: fmt.Sprint(m.Attempt), AttrTraceID: m.TraceID,
				},
			})
		}
		return q.Publish(ctx, TopicOutcomes, out...)
	}
}

// RecordOutcomes returns a sink that records outcomes straight through the
// engine, concurrently so the store can commit them together: the shape for
// workers inside the coordinator's process.
func RecordOutcomes(e *Engine) OutcomeSink {
	return func(ctx context.Context, msgs []OutcomeMessage) error {
		errs := make([]error, len(msgs))
		var wg sync.WaitGroup
		for i, m := range msgs {
			wg.Go(func() { errs[i] = e.RecordMessage(ctx, m) })
		}
		wg.Wait()
		return errors.Join(errs...)
	}
}

// WorkerConfig configures a [Worker]. Zero fields take defaults.
type WorkerConfig struct {
	// Name identifies the worker in outcomes and logs; default "worker".
	Name string
	// Concurrency is how many receive loops run; default GOMAXPROCS.
	Concurrency int
	// BatchSize is how many requests one loop receives at a time; default 64.
	BatchSize int
	// ItemTimeout bounds one request's handling; default 30 s.
	ItemTimeout time.Duration
	// NowFunc is the clock; default time.Now.
	NowFunc func() time.Time
	// Observer is told about redeliveries; default none.
	Observer Observer
	// Acking, when set, settles received requests instead of the sink and
	// the queue's Ack: outcomes and the acks of their requests in one
	// durable step (see [RecordAndAck]). The sink still serves
	// [Worker.HandleDelivery]. Each receive loop then receives its next
	// group while it settles the current one, so that the next group's
	// leases and the settling share the database's commit.
	Acking AckingSink
}

// Worker receives prediction requests from a queue, runs a handler on each
// and hands the outcomes to a sink, acknowledging a request only after its
// outcome is durable.
type Worker struct {
	q    Queue
	h    Handler
	sink OutcomeSink
	log  *slog.Logger
	cfg  WorkerConfig
	// stuck is why receiving fails for want of disk space, if it does.
	stuck stuckErr
}

// NewWorker returns a worker that takes requests from q. q may be nil for a
// worker used only through [Worker.HandleDelivery].
func NewWorker(q Queue, h Handler, sink OutcomeSink, log *slog.Logger, cfg WorkerConfig) *Worker {
	if cfg.Name == "" {
		cfg.Name = "worker"
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = runtime.GOMAXPROCS(0)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 64
	}
	if cfg.ItemTimeout <= 0 {
		cfg.ItemTimeout = 30 * time.Second
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	if cfg.Observer == nil {
		cfg.Observer = NopObserver{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{q: q, h: h, sink: sink, log: log, cfg: cfg}
}

// Run receives and handles requests until ctx ends, then returns nil. It
// returns early only if the queue keeps failing.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Go(func() { w.loop(ctx) })
	}
	wg.Wait()
	return nil
}

func (w *Worker) loop(ctx context.Context) {
	// With an acking sink the settling is a write to the queue's own
	// database: prefetching lets the next group's leases share its commit.
	receiveLoop(ctx, w.q, TopicRequests, w.cfg.BatchSize, w.log, &w.stuck, w.cfg.Acking != nil, w.HandleBatch)
}

// Stuck returns the error that keeps the worker from receiving, wrapping
// [ErrNoSpace], while it lasts; nil otherwise.
func (w *Worker) Stuck() error { return w.stuck.get() }

// HandleBatch handles received deliveries: runs the handler on each, hands
// the outcomes to the sink, then acks what is durable and nacks the rest.
func (w *Worker) HandleBatch(ctx context.Context, ds []Delivery) {
	if w.cfg.Acking != nil {
		w.handleAcking(ctx, ds)
		return
	}
	done, retry := w.settle(ctx, ds)
	if len(done) > 0 {
		if err := w.q.Ack(ctx, done...); err != nil {
			w.log.Warn("ack failed; requests may be handled again", "err", err)
		}
	}
	if len(retry) > 0 {
		if err := w.q.Nack(ctx, retry...); err != nil {
			w.log.Warn("nack failed; requests come back after their lease", "err", err)
		}
	}
}

// handleAcking is HandleBatch with an acking sink: the outcomes and the
// acks of their requests are one step, so they cannot diverge.
func (w *Worker) handleAcking(ctx context.Context, ds []Delivery) {
	msgs, done, retry := w.run(ctx, ds)
	if len(done) > 0 {
		if err := w.cfg.Acking(ctx, msgs, done); err != nil {
			w.log.Warn("outcomes not stored; requests will be retried", "batch_id", batchIDs(msgs), "items", len(msgs), "err", err)
			retry = append(retry, done...)
		}
	}
	if len(retry) > 0 {
		if err := w.q.Nack(ctx, retry...); err != nil {
			w.log.Warn("nack failed; requests come back after their lease", "err", err)
		}
	}
}

// HandleDelivery handles one delivery that the caller settles itself, such
// as a Pub/Sub push answered by HTTP status: it runs the handler, hands the
// outcome to the sink, and reports whether the delivery is done (ack) or
// must be delivered again (nack). The worker's queue is not used.
func (w *Worker) HandleDelivery(ctx context.Context, d Delivery) (ack bool) {
	done, _ := w.settle(ctx, []Delivery{d})
	return len(done) == 1
}

// settle runs the handler on each delivery and the sink on the outcomes,
// and splits the deliveries into those done (outcome durable, or nothing to
// record) and those to retry.
func (w *Worker) settle(ctx context.Context, ds []Delivery) (done, retry []Delivery) {
	msgs, done, retry := w.run(ctx, ds)
	if len(msgs) > 0 {
		if err := w.sink(ctx, msgs); err != nil {
			w.log.Warn("outcomes not stored; requests will be retried", "batch_id", batchIDs(msgs), "items", len(msgs), "err", err)
			return nil, append(retry, done...)
		}
	}
	return done, retry
}

// run runs the handler on each delivery and returns the outcomes, the
// deliveries they settle (with those that have nothing to record) and the
// deliveries to retry.
func (w *Worker) run(ctx context.Context, ds []Delivery) (msgs []OutcomeMessage, done, retry []Delivery) {
	msgs = make([]OutcomeMessage, 0, len(ds))
	for _, d := range ds {
		m, err := w.handle(ctx, d)
		if err != nil {
			w.log.Warn("request failed; will be retried", "batch_id", d.Attributes[AttrBatchID],
				"item_id", d.Attributes[AttrItemID], "attempt", d.Attempt, "trace_id", d.Attributes[AttrTraceID], "err", err)
			retry = append(retry, d)
			continue
		}
		if m != nil { // nil: undecodable attributes, nothing to record
			msgs = append(msgs, *m)
		}
		done = append(done, d)
	}
	return msgs, done, retry
}

// batchIDs returns the batch of msgs, or their batches joined by commas.
func batchIDs(msgs []OutcomeMessage) string {
	var ids []string
	for _, m := range msgs {
		if !slices.Contains(ids, m.BatchID) {
			ids = append(ids, m.BatchID)
		}
	}
	return strings.Join(ids, ",")
}

// handle runs the handler on one delivery. It returns a nil message for a
// request that names no item, and an error only for transient failures.
func (w *Worker) handle(ctx context.Context, d Delivery) (*OutcomeMessage, error) {
	batchID, itemID, attempt, err := RequestOf(d.Message)
	if err != nil {
		w.log.Warn("dropping request without batch and item", "err", err)
		return nil, nil
	}
	if d.Attempt > 1 {
		w.cfg.Observer.Redelivered()
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.ItemTimeout)
	defer cancel()
	outcome, result, err := w.h(ctx, d)
	if err == nil && len(result) > 0 && !json.Valid(result) {
		// The result travels as JSON: one that is not would make the whole
		// group of outcomes unencodable and every request in it be retried.
		err = Permanent(fmt.Errorf("result of %s/%s is not JSON", batchID, itemID))
	}
	m := &OutcomeMessage{BatchID: batchID, ItemID: itemID, Attempt: attempt, Worker: w.cfg.Name,
		TraceID: d.Attributes[AttrTraceID], At: w.cfg.NowFunc()}
	switch {
	case err == nil:
		if !outcome.Valid() {
			outcome = OutcomeSucceeded
		}
		m.Outcome, m.Result = outcome, result
		// attempt is the coordinator's dispatch of the item; delivery is
		// the queue's delivery of that one published request.
		w.log.Debug("request handled", "batch_id", batchID, "item_id", itemID, "attempt", attempt, "delivery", d.Attempt,
			"outcome", outcome, "trace_id", m.TraceID)
	case IsPermanent(err):
		w.log.Warn("request cannot be handled", "batch_id", batchID, "item_id", itemID, "trace_id", d.Attributes[AttrTraceID], "err", err)
		m.Outcome, m.Error = OutcomeFailed, err.Error()
	default:
		return nil, err
	}
	return m, nil
}
