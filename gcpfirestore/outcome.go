package gcpfirestore

import (
	"context"
	"fmt"
	"math/rand/v2"

	"cloud.google.com/go/firestore"

	"tipoff/batch"
)

// RecordOutcome stores one item's outcome and result and counts it. It
// reads the item without a transaction; if the item has no outcome yet, one
// transaction reads the batch document (a shared lock, so a concurrent
// Cancel waits for in-flight outcomes instead of racing them) and writes the
// item, on condition that it has not changed since it was read, together
// with an increment of one counter shard chosen at random. Outcomes of
// different items never write the same document unless they pick the same
// shard, where Firestore just applies the increments in turn; deliveries of
// one item race on the item's precondition, and the losers read again and
// find the outcome recorded.
//
// If the item already has an outcome nothing changes and Duplicate is set:
// the error is nil for the same outcome and wraps [batch.ErrConflict] for a
// different one. Otherwise it returns [batch.ErrInvalid] for a record that
// fails [batch.OutcomeRecord.Validate] or whose result does not fit the
// item's document, [batch.ErrNotFound] for an unknown batch or item, and
// [batch.ErrFinalized] when the batch is no longer running. Remaining is
// read from the shards after the commit, so it is never above zero once
// the batch is complete and reaches zero only when every item has an
// outcome.
func (s *Store) RecordOutcome(ctx context.Context, rec batch.OutcomeRecord) (batch.Recorded, error) {
	if err := rec.Validate(); err != nil {
		return batch.Recorded{}, err
	}
	l, err := s.layoutOf(ctx, rec.BatchID)
	if err != nil {
		return batch.Recorded{}, err
	}
	if !validDocID(rec.ItemID) {
		return batch.Recorded{}, fmt.Errorf("item %s/%s: %w", rec.BatchID, rec.ItemID, batch.ErrNotFound)
	}
	itemRef := s.itemsOf(rec.BatchID, l).Doc(rec.ItemID)
	batchRef := s.batchRef(rec.BatchID)
	shard := s.shardRefs(rec.BatchID, l.shards)[rand.IntN(l.shards)]
	token := newToken()
	var existing batch.Outcome
	err = s.retry(ctx, "record outcome", func() error {
		existing = ""
		snaps, err := s.client.GetAll(ctx, []*firestore.DocumentRef{itemRef})
		if err != nil {
			return err
		}
		sn := snaps[0]
		if !sn.Exists() {
			return fmt.Errorf("item %s/%s: %w", rec.BatchID, rec.ItemID, batch.ErrNotFound)
		}
		var d itemDoc
		if err := sn.DataTo(&d); err != nil {
			return fmt.Errorf("decode %s: %w", itemRef.Path, err)
		}
		if d.Outcome != "" {
			if d.OutcomeToken != token { // else an earlier attempt's commit landed
				existing = batch.Outcome(d.Outcome)
			}
			return nil
		}
		if n := len(d.Request) + len(rec.Result) + len(rec.Error); n > maxDocBytes {
			return fmt.Errorf("%w: outcome of %s/%s: request, result and error are %d bytes together; a Firestore item document holds at most %d",
				batch.ErrInvalid, rec.BatchID, rec.ItemID, n, maxDocBytes)
		}
		return s.tx(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
			bs, err := tx.GetAll([]*firestore.DocumentRef{batchRef})
			if err != nil {
				return err
			}
			bd, err := s.decodeBatch(bs[0])
			if err != nil {
				return err
			}
			if bd.State != string(batch.Running) {
				return fmt.Errorf("item %s/%s has no outcome and batch %s is %s: %w", rec.BatchID, rec.ItemID, rec.BatchID, bd.State, batch.ErrFinalized)
			}
			if s.outcomeTxHook != nil {
				s.outcomeTxHook()
			}
			if err := tx.Update(itemRef, []firestore.Update{
				{Path: "outcome", Value: string(rec.Outcome)},
				{Path: "result", Value: rec.Result},
				{Path: "error", Value: rec.Error},
				{Path: "completed_at", Value: nanos(rec.At)},
				{Path: "outcome_token", Value: token},
			}, firestore.LastUpdateTime(sn.UpdateTime)); err != nil {
				return err
			}
			return tx.Update(shard, []firestore.Update{
				{Path: shardField(rec.Outcome), Value: firestore.Increment(1)},
				{Path: "updated_at", Value: firestore.FieldTransformMaximum(nanos(rec.At))},
			})
		})
	})
	if err != nil {
		return batch.Recorded{}, fmt.Errorf("record outcome %s/%s: %w", rec.BatchID, rec.ItemID, err)
	}
	if existing != "" {
		return s.duplicate(ctx, rec, l, existing)
	}
	c, _, err := s.counts(ctx, rec.BatchID, l)
	if err != nil {
		// The outcome is durable; only the count read failed.
		return batch.Recorded{}, fmt.Errorf("record outcome %s/%s: recorded, then: %w", rec.BatchID, rec.ItemID, err)
	}
	return batch.Recorded{Remaining: l.total - c.Done()}, nil
}

// duplicate answers a RecordOutcome for an item that already has outcome
// existing.
func (s *Store) duplicate(ctx context.Context, rec batch.OutcomeRecord, l layout, existing batch.Outcome) (batch.Recorded, error) {
	c, _, err := s.counts(ctx, rec.BatchID, l)
	if err != nil {
		return batch.Recorded{}, fmt.Errorf("record outcome %s/%s: %w", rec.BatchID, rec.ItemID, err)
	}
	r := batch.Recorded{Duplicate: true, Existing: existing, Remaining: l.total - c.Done()}
	if existing != rec.Outcome {
		return r, fmt.Errorf("%w: item %s/%s already has outcome %s, not %s", batch.ErrConflict, rec.BatchID, rec.ItemID, existing, rec.Outcome)
	}
	return r, nil
}
