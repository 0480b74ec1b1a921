package gcpfirestore

import (
	"context"
	"fmt"
	"math/rand/v2"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tipoff/batch"
)

// RecordOutcome stores one item's outcome and result and counts it. It
// reads the item and the batch document at one read time, without a
// transaction and so without locks; if the item has no outcome yet and the
// batch is running, one commit writes the item, on condition that it has
// not changed since it was read, increments one counter shard chosen at
// random, and passes the gate of the same number (an update that requires
// the gate to exist). Closing a batch deletes its gates, so an outcome
// either commits before the batch closes, and is in the counts the close
// returns, or fails on the missing gate, reads again and finds the batch
// closed. The commit takes its locks only while it runs: a recorder killed
// or frozen at any point holds no lock that a finalize or cancel waits for.
// Outcomes of different items never write the same document unless they
// pick the same shard, where Firestore just applies them in turn;
// deliveries of one item race on the item's precondition, and the losers
// read again and find the outcome recorded.
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
	n := rand.IntN(l.shards)
	shard := s.shardRefs(rec.BatchID, l.shards)[n]
	var gate *firestore.DocumentRef
	if n < l.gates {
		gate = s.gateRefs(rec.BatchID, l.gates)[n]
	}
	token := newToken()
	var existing batch.Outcome
	err = s.retry(ctx, "record outcome", func() error {
		existing = ""
		snaps, err := s.client.GetAll(ctx, []*firestore.DocumentRef{itemRef, batchRef})
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
		bd, err := s.decodeBatch(snaps[1])
		if err != nil {
			return err
		}
		if bd.State != string(batch.Running) {
			return closedErr(rec, bd.State)
		}
		if n := len(d.Request) + len(rec.Result) + len(rec.Error); n > maxDocBytes {
			return fmt.Errorf("%w: outcome of %s/%s: request, result and error are %d bytes together; a Firestore item document holds at most %d",
				batch.ErrInvalid, rec.BatchID, rec.ItemID, n, maxDocBytes)
		}
		writes := func(tx writer) error {
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
			if err := tx.Update(shard, []firestore.Update{
				{Path: shardField(rec.Outcome), Value: firestore.Increment(1)},
				{Path: "updated_at", Value: firestore.FieldTransformMaximum(nanos(rec.At))},
			}); err != nil {
				return err
			}
			if gate == nil {
				return nil
			}
			return tx.Update(gate, []firestore.Update{{Path: "commits", Value: firestore.Increment(1)}})
		}
		if gate == nil {
			return s.recordUngated(ctx, rec, batchRef, writes)
		}
		err = s.commit(ctx, writes)
		if status.Code(err) == codes.NotFound {
			// Items and shards are never deleted: the gate is gone, so the
			// batch closed after it was read.
			return fmt.Errorf("%w: batch %s closed: %v", errStale, rec.BatchID, err)
		}
		return err
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

// recordUngated commits an outcome of a batch created before gates: its
// transaction reads the batch document, a shared lock that makes a close
// wait for it, and checks that the batch is still running.
func (s *Store) recordUngated(ctx context.Context, rec batch.OutcomeRecord, batchRef *firestore.DocumentRef, writes func(writer) error) error {
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
			return closedErr(rec, bd.State)
		}
		return writes(tx)
	})
}

// closedErr is the [batch.ErrFinalized] of an outcome for an item without
// one in a batch that is in state, not running.
func closedErr(rec batch.OutcomeRecord, state string) error {
	return fmt.Errorf("item %s/%s has no outcome and batch %s is %s: %w", rec.BatchID, rec.ItemID, rec.BatchID, state, batch.ErrFinalized)
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
