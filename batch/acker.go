package batch

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// OutcomeAcker is a [Store] whose database also holds a [Queue] (the
// embedded shape: one SQLite file). It records outcomes and acknowledges
// the requests that carried them in one transaction, so an outcome and the
// ack of its request are never one without the other, and cost one commit
// instead of two. Stores of another database than their queue's (Firestore
// and Pub/Sub) do not implement it; the worker then records, and acks
// after.
type OutcomeAcker interface {
	// AcksFor reports whether RecordAndAck can acknowledge deliveries
	// received from q: q keeps its messages in the store's database.
	AcksFor(q Queue) bool

	// RecordAndAck stores each of recs as [Store.RecordOutcome] would and
	// acks ds as [Queue.Ack] would, in one atomic step that is durable
	// when it returns. An error means nothing was written: no outcome
	// recorded, no delivery acked. Otherwise the answers are in
	// [AckedOutcomes]: a record refused on its own (an error wrapping
	// [ErrInvalid], [ErrNotFound], [ErrConflict] or [ErrFinalized]) does
	// not stop the others, nor the acks. It returns an error wrapping
	// [ErrInvalid] if q is not a queue it [OutcomeAcker.AcksFor].
	RecordAndAck(ctx context.Context, q Queue, recs []OutcomeRecord, ds []Delivery) (AckedOutcomes, error)
}

// AckedOutcomes is what [OutcomeAcker.RecordAndAck] did.
type AckedOutcomes struct {
	// Recorded and Errs answer the records index by index, as
	// [Store.RecordOutcome] would have.
	Recorded []Recorded
	Errs     []error
	// Ack is what [Queue.Ack] would have returned for the deliveries: an
	// error wrapping [ErrConflict] for those no longer current (their
	// outcomes are recorded all the same) or [ErrInvalid] for receipts of
	// another queue. The other deliveries are acked.
	Ack error
}

// AckingSink records outcomes and acknowledges the deliveries that carried
// them, ds (which may hold deliveries with nothing to record), in one
// durable step. On error nothing of it was done: the worker nacks ds.
type AckingSink func(ctx context.Context, msgs []OutcomeMessage, ds []Delivery) error

// RecordAndAck returns a sink that records outcomes through the engine and
// acknowledges their requests on q in the same transaction, when the
// engine's store is an [OutcomeAcker] for q; nil otherwise (the caller
// records with [RecordOutcomes] and acks after). Outcomes that complete a
// batch finalize it, as [Engine.Record] does.
func RecordAndAck(e *Engine, q Queue) AckingSink {
	a, ok := e.store.(OutcomeAcker)
	if !ok || !a.AcksFor(q) {
		return nil
	}
	return func(ctx context.Context, msgs []OutcomeMessage, ds []Delivery) error {
		return e.recordAndAck(ctx, a, q, msgs, ds)
	}
}

func (e *Engine) recordAndAck(ctx context.Context, a OutcomeAcker, q Queue, msgs []OutcomeMessage, ds []Delivery) error {
	recs := make([]OutcomeRecord, len(msgs))
	for i, m := range msgs {
		recs[i] = m.Record()
		if recs[i].At.IsZero() {
			recs[i].At = e.cfg.NowFunc()
		}
	}
	start := time.Now()
	res, err := a.RecordAndAck(ctx, q, recs, ds)
	if err != nil {
		return fmt.Errorf("record %d outcomes and ack their requests: %w", len(recs), err)
	}
	took := time.Since(start)
	if res.Ack != nil {
		e.log.Warn("ack failed; requests may be handled again and their outcomes absorbed as duplicates", "err", res.Ack)
	}
	var finalize []string
	for i, m := range msgs {
		r, err := res.Recorded[i], res.Errs[i]
		rec := recs[i]
		switch {
		case err == nil:
			e.cfg.Observer.OutcomeRecorded(rec.Outcome, r.Duplicate, took)
			if r.Duplicate {
				e.log.Debug("duplicate outcome absorbed", "batch_id", rec.BatchID, "item_id", rec.ItemID, "outcome", rec.Outcome)
				continue
			}
			e.log.Debug("outcome recorded", "batch_id", rec.BatchID, "item_id", rec.ItemID, "outcome", rec.Outcome,
				"attempt", m.Attempt, "worker", m.Worker, "trace_id", m.TraceID)
			if r.Remaining == 0 {
				finalize = append(finalize, rec.BatchID)
			}
		case errors.Is(err, ErrConflict), errors.Is(err, ErrFinalized):
			e.log.Info("late outcome ignored", "batch_id", rec.BatchID, "item_id", rec.ItemID, "outcome", rec.Outcome, "trace_id", m.TraceID, "err", err)
		default:
			e.log.Warn("dropping outcome that cannot be recorded", "batch_id", rec.BatchID, "item_id", rec.ItemID, "trace_id", m.TraceID, "err", err)
		}
	}
	// As in Record: only the record that completed a batch finalizes it.
	for _, id := range finalize {
		e.finalizeQuietly(ctx, id)
	}
	return nil
}

// OutboxPublisher is a [Store] whose database also holds a [Queue] (the
// embedded shape: one SQLite file). It moves a chunk of a batch's outbox
// onto the queue in one transaction: reads the waiting items, publishes
// their requests to [TopicRequests] and marks them published, so a chunk
// costs one commit instead of a read and two, and is never published
// without being marked (nor marked without being published). [Engine.Dispatch]
// uses it when the store publishes to the engine's queue.
type OutboxPublisher interface {
	// PublishesTo reports whether PublishOutbox can publish to q: q keeps
	// its messages in the store's database.
	PublishesTo(q Queue) bool

	// PublishOutbox publishes, as [Queue.Publish] would, the request of
	// each of the first limit items (in ID order) of the batch's outbox
	// ([Store.Unpublished]) to [TopicRequests] of q, each message made by
	// [RequestMessage] for the item's next attempt with traceID, and marks
	// them published at time at as [Store.MarkPublished] would, in one
	// atomic step that is durable when it returns. It returns how many
	// items it published: fewer than limit once the outbox is empty, none
	// when the batch is no longer running. It returns [ErrNotFound] if the
	// batch does not exist, and [ErrInvalid] for a limit below 1 or a q it
	// does not [OutboxPublisher.PublishesTo].
	PublishOutbox(ctx context.Context, q Queue, batchID string, limit int, at time.Time, traceID string) (int, error)
}
