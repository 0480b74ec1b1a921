package gcpfirestore

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tipoff/batch"
)

// AcquireFinalize moves a running batch whose items all have an outcome to
// finalizing, with a lease held by owner until now+ttl, or takes over a
// finalizing batch whose lease has expired or is owner's already.
//
// It reads the batch document and its shards at one read time, decides, and
// writes the batch document on condition that it has not changed since: a
// compare-and-set on that one document. Racing finalizers do not wait on
// each other's locks; the losers read again and find the lease taken.
// Counts only grow and are exact, so once they reach the total they stay
// there.
//
// It returns [batch.ErrPending] if items have no outcome,
// [batch.ErrConflict] if another owner holds an unexpired lease,
// [batch.ErrFinalized] if the batch is finalized, [batch.ErrNotFound] if it
// does not exist and [batch.ErrInvalid] for an empty owner or a ttl below
// 1ns.
func (s *Store) AcquireFinalize(ctx context.Context, batchID, owner string, now time.Time, ttl time.Duration) (batch.Batch, error) {
	if owner == "" {
		return batch.Batch{}, fmt.Errorf("%w: acquire finalize of %s: empty owner", batch.ErrInvalid, batchID)
	}
	if ttl < time.Nanosecond {
		return batch.Batch{}, fmt.Errorf("%w: acquire finalize of %s: lease ttl %v is below 1ns", batch.ErrInvalid, batchID, ttl)
	}
	token := newToken()
	var out batch.Batch
	err := s.retry(ctx, "acquire finalize of "+batchID, func() error {
		l, err := s.load(ctx, batchID)
		if err != nil {
			return err
		}
		if l.doc.Writer == token { // an earlier attempt's write landed
			out = l.batch()
			return nil
		}
		if err := canAcquire(batchID, l.doc, owner, now); err != nil {
			return err
		}
		if l.doc.State == string(batch.Running) && l.remaining() > 0 {
			return fmt.Errorf("acquire finalize of %s: %d of %d items have no outcome: %w", batchID, l.remaining(), l.doc.Total, batch.ErrPending)
		}
		d := l.doc
		d.State = string(batch.Finalizing)
		d.LeaseOwner, d.LeaseExpires = owner, nanos(now.Add(ttl))
		d.FinalizeAttempts++
		d.UpdatedAt = nanos(now)
		d.Writer = token
		if _, err := s.batchRef(batchID).Update(ctx, d.stateUpdates(), firestore.LastUpdateTime(l.updateTime)); err != nil {
			return stale(err)
		}
		l.doc = d
		out = l.batch()
		return nil
	})
	if err != nil {
		return batch.Batch{}, err
	}
	return out, nil
}

// canAcquire says whether owner may take the finalize lease of a batch in
// state d at time now (apart from completeness).
func canAcquire(batchID string, d batchDoc, owner string, now time.Time) error {
	switch batch.State(d.State) {
	case batch.Finalized:
		return fmt.Errorf("acquire finalize of %s: %w", batchID, batch.ErrFinalized)
	case batch.Finalizing:
		if d.LeaseOwner != owner && now.Before(fromNanos(d.LeaseExpires)) {
			return fmt.Errorf("%w: acquire finalize of %s: lease held by %s until %s", batch.ErrConflict, batchID,
				d.LeaseOwner, fromNanos(d.LeaseExpires).Format(time.RFC3339Nano))
		}
	}
	return nil
}

// CompleteFinalize moves a finalizing batch whose current lease is lease to
// finalized with the given result and creates ev in the event outbox, in
// one commit of the batch document (on condition that it has not changed
// since it was read, so the lease it checked is still the lease when it
// commits) and the event document (on condition that it does not exist),
// which also deletes the batch's gates. A lease that expired but was not
// taken over still counts as held. It returns [batch.ErrLeaseLost] if lease
// is not the batch's current lease, [batch.ErrFinalized] if the batch is
// already finalized, [batch.ErrNotFound] if it does not exist, and
// [batch.ErrInvalid] for a result other than succeeded, partial or failed
// or an event that fails [batch.Event.Validate].
func (s *Store) CompleteFinalize(ctx context.Context, lease batch.LeaseToken, result batch.Result, ev batch.Event, now time.Time) (batch.Batch, error) {
	batchID := lease.BatchID
	switch result {
	case batch.ResultSucceeded, batch.ResultPartial, batch.ResultFailed:
	default:
		return batch.Batch{}, fmt.Errorf("%w: complete finalize of %s: result %q is not one of succeeded, partial, failed", batch.ErrInvalid, batchID, result)
	}
	return s.finish(ctx, batchID, ev, now, func(d *batchDoc) error {
		if d.State == string(batch.Finalized) {
			return fmt.Errorf("complete finalize of %s: %w", batchID, batch.ErrFinalized)
		}
		if err := batch.CheckLease(lease, batch.State(d.State), d.LeaseOwner, int(d.FinalizeAttempts)); err != nil {
			return fmt.Errorf("complete finalize: %w", err)
		}
		d.Result = string(result)
		return nil
	})
}

// Cancel finalizes a running or finalizing batch with result cancelled and
// creates ev in the event outbox, in one commit like CompleteFinalize's,
// which also deletes the batch's gates. Every outcome commit updates a gate,
// so outcomes recorded at the same time either commit before the cancel
// (and are in the counts it returns) or fail on the missing gate and find
// the batch finalized; the cancel never waits for a recorder's lock beyond
// the instant of a commit. (Batches created before gates keep the older
// rule: their outcomes read the batch document in their transaction, and a
// cancel waits for them.) It returns [batch.ErrFinalized] if the batch is
// already finalized, [batch.ErrNotFound] if it does not exist and
// [batch.ErrInvalid] for an event that fails [batch.Event.Validate].
func (s *Store) Cancel(ctx context.Context, batchID, reason string, ev batch.Event, now time.Time) (batch.Batch, error) {
	return s.finish(ctx, batchID, ev, now, func(d *batchDoc) error {
		if d.State == string(batch.Finalized) {
			return fmt.Errorf("cancel %s: %w", batchID, batch.ErrFinalized)
		}
		d.Result = string(batch.ResultCancelled)
		d.CancelReason = reason
		return nil
	})
}

// finish is the common step of CompleteFinalize and Cancel: read the batch,
// check it (and set the result) with decide, then commit the finalized
// batch and the new event together, deleting the batch's gates in the same
// commit so that no outcome commits after it.
func (s *Store) finish(ctx context.Context, batchID string, ev batch.Event, now time.Time, decide func(*batchDoc) error) (batch.Batch, error) {
	if err := ev.Validate(batchID); err != nil {
		return batch.Batch{}, err
	}
	if len(ev.ID) > maxEventID {
		return batch.Batch{}, fmt.Errorf("%w: finalize %s: event id is %d bytes, more than %d", batch.ErrInvalid, batchID, len(ev.ID), maxEventID)
	}
	if len(ev.Payload) > maxDocBytes {
		return batch.Batch{}, fmt.Errorf("%w: finalize %s: event payload is %d bytes; a Firestore document holds at most %d", batch.ErrInvalid, batchID, len(ev.Payload), maxDocBytes)
	}
	ref, evRef := s.batchRef(batchID), s.eventRef(ev.ID)
	token := newToken()
	var d batchDoc
	var lay layout
	err := s.retry(ctx, "finalize "+batchID, func() error {
		l, err := s.load(ctx, batchID)
		if err != nil {
			return err
		}
		d, lay = l.doc, l.doc.layout()
		if d.Writer == token { // an earlier attempt's commit landed
			return nil
		}
		if err := decide(&d); err != nil {
			return err
		}
		d.State = string(batch.Finalized)
		d.FinalizedAt, d.UpdatedAt = nanos(now), nanos(now)
		d.Writer = token
		err = s.commit(ctx, func(tx writer) error {
			if err := tx.Update(ref, d.stateUpdates(), firestore.LastUpdateTime(l.updateTime)); err != nil {
				return err
			}
			for _, g := range s.gateRefs(batchID, lay.gates) {
				if err := tx.Delete(g); err != nil {
					return err
				}
			}
			return tx.Create(evRef, eventDoc{ID: ev.ID, Type: ev.Type, BatchID: ev.BatchID, Payload: ev.Payload,
				CreatedAt: nanos(ev.CreatedAt), PublishedAt: nanos(ev.PublishedAt)})
		})
		if status.Code(err) == codes.AlreadyExists {
			return fmt.Errorf("%w: finalize %s: event %s already exists", batch.ErrConflict, batchID, ev.ID)
		}
		return err
	})
	if err != nil {
		return batch.Batch{}, err
	}
	// No outcome commits without its gate, so these counts are final.
	c, upd, err := s.counts(ctx, batchID, lay)
	if err != nil {
		return batch.Batch{}, fmt.Errorf("finalize %s: finalized, then: %w", batchID, err)
	}
	return d.toBatch(batchID, c, upd), nil
}

// maxEventID keeps an event's document name (the hex of its ID) within
// Firestore's 1,500 bytes.
const maxEventID = 700

// eventRef names an event's document by the hex of its ID: event IDs hold
// '/', which a document ID cannot, and hex keeps their order.
func (s *Store) eventRef(id string) *firestore.DocumentRef {
	return s.events.Doc(hex.EncodeToString([]byte(id)))
}

// PendingEvents returns up to limit events not yet marked published, oldest
// first (by creation time, then ID). [batch.ErrInvalid] for a limit below
// 1. On Firestore proper it needs the composite index in
// firestore.indexes.json.
func (s *Store) PendingEvents(ctx context.Context, limit int) ([]batch.Event, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: pending events: limit %d is below 1", batch.ErrInvalid, limit)
	}
	q := s.events.Where("published_at", "==", int64(0)).
		OrderBy("created_at", firestore.Asc).OrderBy(firestore.DocumentID, firestore.Asc).Limit(limit)
	docs, err := s.queryAll(ctx, "pending events", q)
	if err != nil {
		return nil, fmt.Errorf("pending events: %w", err)
	}
	evs := make([]batch.Event, 0, len(docs))
	for _, sn := range docs {
		var d eventDoc
		if err := sn.DataTo(&d); err != nil {
			return nil, fmt.Errorf("decode %s: %w", sn.Ref.Path, err)
		}
		evs = append(evs, d.toEvent())
	}
	return evs, nil
}

// MarkEventPublished records that the event was published; marking it again
// keeps the first time. [batch.ErrNotFound] if there is no such event,
// [batch.ErrInvalid] for a zero time (which would read as unpublished).
func (s *Store) MarkEventPublished(ctx context.Context, eventID string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("%w: mark event %s published: zero time", batch.ErrInvalid, eventID)
	}
	if eventID == "" || len(eventID) > maxEventID {
		return fmt.Errorf("event %q: %w", eventID, batch.ErrNotFound)
	}
	ref := s.eventRef(eventID)
	return s.runTx(ctx, "mark event published", func(ctx context.Context, tx *firestore.Transaction) error {
		snaps, err := tx.GetAll([]*firestore.DocumentRef{ref})
		if err != nil {
			return err
		}
		if !snaps[0].Exists() {
			return fmt.Errorf("event %s: %w", eventID, batch.ErrNotFound)
		}
		var d eventDoc
		if err := snaps[0].DataTo(&d); err != nil {
			return fmt.Errorf("decode %s: %w", ref.Path, err)
		}
		if d.PublishedAt != 0 {
			return nil
		}
		return tx.Update(ref, []firestore.Update{{Path: "published_at", Value: nanos(at)}})
	})
}
