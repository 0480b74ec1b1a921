package gcpfirestore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tipoff/batch"
)

// txItems is how many items one transaction of MarkPublished or Redrive
// reads and writes: Firestore allows 500 writes per commit.
const txItems = 500

// Items returns a batch's items in ID order, filtered by opts.
// [batch.ErrNotFound] if the batch does not exist, [batch.ErrInvalid] for a
// negative limit or an opts.After that cannot be an item ID.
func (s *Store) Items(ctx context.Context, batchID string, opts batch.ItemsOptions) ([]batch.Item, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	l, err := s.layoutOf(ctx, batchID)
	if err != nil {
		return nil, err
	}
	q := s.itemsOf(batchID, l).Query
	if opts.PendingOnly {
		q = q.Where("outcome", "==", "")
	}
	if opts.NoRequests {
		q = q.Select(itemFieldsNoRequest...)
	}
	q = q.OrderBy(firestore.DocumentID, firestore.Asc)
	if opts.After != "" {
		if !validDocID(opts.After) {
			return nil, fmt.Errorf("%w: items of %s after %q: not an item id", batch.ErrInvalid, batchID, opts.After)
		}
		q = q.StartAfter(opts.After)
	}
	if opts.Limit > 0 {
		q = q.Limit(opts.Limit)
	}
	docs, err := s.queryAll(ctx, "items of "+batchID, q)
	if err != nil {
		return nil, fmt.Errorf("items of %s: %w", batchID, err)
	}
	return decodeItems(batchID, docs)
}

func decodeItems(batchID string, docs []*firestore.DocumentSnapshot) ([]batch.Item, error) {
	items := make([]batch.Item, 0, len(docs))
	for _, sn := range docs {
		it, err := decodeItem(batchID, sn)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

// Unpublished returns up to limit items that wait in the dispatch outbox
// (not published, no outcome), in ID order; none once the batch has left
// running. [batch.ErrNotFound] if the batch does not exist,
// [batch.ErrInvalid] for a limit below 1.
func (s *Store) Unpublished(ctx context.Context, batchID string, limit int) ([]batch.Item, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: outbox of %s: limit %d is below 1", batch.ErrInvalid, batchID, limit)
	}
	l, err := s.load(ctx, batchID)
	if err != nil {
		return nil, err
	}
	if l.doc.State != string(batch.Running) {
		return nil, nil
	}
	q := s.itemsOf(batchID, l.doc.layout()).Where("published", "==", false).Where("outcome", "==", "").
		OrderBy(firestore.DocumentID, firestore.Asc).Limit(limit)
	docs, err := s.queryAll(ctx, "outbox of "+batchID, q)
	if err != nil {
		return nil, fmt.Errorf("outbox of %s: %w", batchID, err)
	}
	return decodeItems(batchID, docs)
}

// itemRefs returns the documents of the named items without repeats, or
// [batch.ErrNotFound] for a name that cannot be an item's.
func (s *Store) itemRefs(batchID string, l layout, ids []string) ([]*firestore.DocumentRef, error) {
	col := s.itemsOf(batchID, l)
	seen := make(map[string]struct{}, len(ids))
	refs := make([]*firestore.DocumentRef, 0, len(ids))
	for _, id := range ids {
		if _, dup := seen[id]; dup {
			continue
		}
		if !validDocID(id) {
			return nil, fmt.Errorf("item %s/%s: %w", batchID, id, batch.ErrNotFound)
		}
		seen[id] = struct{}{}
		refs = append(refs, col.Doc(id))
	}
	return refs, nil
}

// missing returns [batch.ErrNotFound] naming the first snapshot whose
// document does not exist.
func missing(batchID string, snaps []*firestore.DocumentSnapshot) error {
	for _, sn := range snaps {
		if !sn.Exists() {
			return fmt.Errorf("item %s/%s: %w", batchID, sn.Ref.ID, batch.ErrNotFound)
		}
	}
	return nil
}

// requireItems returns [batch.ErrNotFound] unless every document exists.
// Items are never deleted, so what it finds stays true for the
// transactions that follow it.
func (s *Store) requireItems(ctx context.Context, batchID string, refs []*firestore.DocumentRef) error {
	for ch := range slices.Chunk(refs, txItems) {
		snaps, err := s.getAll(ctx, "read items of "+batchID, ch)
		if err != nil {
			return fmt.Errorf("read items of %s: %w", batchID, err)
		}
		if err := missing(batchID, snaps); err != nil {
			return err
		}
	}
	return nil
}

// MarkPublished records that the items were published at time at: each
// becomes published and its attempt count grows by one. Items that have an
// outcome or are already published are left alone. It returns
// [batch.ErrNotFound], changing nothing, if the batch or any item does not
// exist.
//
// Each chunk of up to 500 items is read without a transaction and each item
// written on its own, conditional on its not having changed since; the
// items that did (an outcome arrived) are read and decided again. The
// writes are not one atomic commit: outcomes arrive while their requests
// are being marked, and one of them would fail the whole commit each time.
func (s *Store) MarkPublished(ctx context.Context, batchID string, itemIDs []string, at time.Time) error {
	l, err := s.layoutOf(ctx, batchID)
	if err != nil {
		return err
	}
	refs, err := s.itemRefs(batchID, l, itemIDs)
	if err != nil {
		return err
	}
	if len(refs) > txItems {
		if err := s.requireItems(ctx, batchID, refs); err != nil {
			return err
		}
	}
	for ch := range slices.Chunk(refs, txItems) {
		// Only the items whose write found them changed are read again.
		todo := ch
		err := s.retry(ctx, "mark published in "+batchID, func() error {
			snaps, err := s.client.GetAll(ctx, todo)
			if err != nil {
				return err
			}
			if err := missing(batchID, snaps); err != nil {
				return err
			}
			var us []update
			for _, sn := range snaps {
				var d itemDoc
				if err := sn.DataTo(&d); err != nil {
					return fmt.Errorf("decode %s: %w", sn.Ref.Path, err)
				}
				if d.Outcome == "" && !d.Published {
					us = append(us, update{snap: sn, updates: []firestore.Update{
						{Path: "published", Value: true},
						{Path: "attempts", Value: d.Attempts + 1},
						{Path: "published_at", Value: nanos(at)},
					}})
				}
			}
			if s.markHook != nil {
				s.markHook()
			}
			changed, err := s.updateEach(ctx, us)
			if err != nil {
				return err
			}
			if len(changed) > 0 {
				todo = todo[:0:0]
				for _, sn := range changed {
					todo = append(todo, sn.Ref)
				}
				return fmt.Errorf("%w: %d of %d items", errStale, len(changed), len(us))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("mark published in %s: %w", batchID, err)
		}
	}
	return nil
}

// Redrive puts published items without an outcome back into the dispatch
// outbox, keeping their attempt counts, and returns how many it moved.
// It returns [batch.ErrFinalized] if the batch is not running and
// [batch.ErrNotFound], changing nothing, if the batch or any item does not
// exist. Items are read and written as in MarkPublished, the batch
// document is read with them, and each commit also passes the batch's
// first gate, as outcomes do: nothing is re-driven after the batch closes,
// and no lock is held between calls.
func (s *Store) Redrive(ctx context.Context, batchID string, itemIDs []string) (int, error) {
	return s.redrive(ctx, batchID, itemIDs, func(itemDoc) bool { return true })
}

// RedriveAttempt puts one item back into the dispatch outbox after its
// request of the given attempt failed without an outcome, if it is
// published, has no outcome and its attempt count is attempt, and reports
// whether it did. It is Redrive of one item with that condition, decided
// on the item as the conditional commit finds it, so two calls for one
// attempt move the item at most once. [batch.ErrFinalized] if the batch is
// not running, [batch.ErrNotFound] if it or the item does not exist,
// [batch.ErrInvalid] for an attempt below 1.
func (s *Store) RedriveAttempt(ctx context.Context, batchID, itemID string, attempt int) (bool, error) {
	if attempt < 1 {
		return false, fmt.Errorf("%w: redrive %s/%s: attempt %d is below 1", batch.ErrInvalid, batchID, itemID, attempt)
	}
	n, err := s.redrive(ctx, batchID, []string{itemID}, func(d itemDoc) bool { return d.Attempts == int64(attempt) })
	return n == 1, err
}

// redrive moves the published items without an outcome for which keep
// holds back into the outbox; see Redrive.
func (s *Store) redrive(ctx context.Context, batchID string, itemIDs []string, keep func(itemDoc) bool) (int, error) {
	l, err := s.layoutOf(ctx, batchID)
	if err != nil {
		return 0, err
	}
	refs, err := s.itemRefs(batchID, l, itemIDs)
	if err != nil {
		return 0, err
	}
	if len(refs) > txItems {
		if err := s.requireItems(ctx, batchID, refs); err != nil {
			return 0, err
		}
	}
	moved := 0
	// At least one round, so that a batch that is not running is reported
	// even for an empty list.
	for start := 0; start == 0 || start < len(refs); start += txItems {
		ch := refs[start:min(start+txItems, len(refs))]
		var n int
		err := s.retry(ctx, "redrive in "+batchID, func() error {
			n = 0
			snaps, err := s.client.GetAll(ctx, append(slices.Clip(ch), s.batchRef(batchID)))
			if err != nil {
				return err
			}
			bs := snaps[len(ch)]
			snaps = snaps[:len(ch)]
			d, err := s.decodeBatch(bs)
			if err != nil {
				return err
			}
			if d.State != string(batch.Running) {
				return fmt.Errorf("redrive in %s: batch is %s: %w", batchID, d.State, batch.ErrFinalized)
			}
			if err := missing(batchID, snaps); err != nil {
				return err
			}
			var todo []*firestore.DocumentSnapshot
			for _, sn := range snaps {
				var it itemDoc
				if err := sn.DataTo(&it); err != nil {
					return fmt.Errorf("decode %s: %w", sn.Ref.Path, err)
				}
				if it.Outcome == "" && it.Published && keep(it) {
					todo = append(todo, sn)
				}
			}
			if len(todo) == 0 {
				return nil
			}
			writes := func(tx writer) error {
				for _, sn := range todo {
					if err := tx.Update(sn.Ref, []firestore.Update{{Path: "published", Value: false}},
						firestore.LastUpdateTime(sn.UpdateTime)); err != nil {
						return err
					}
				}
				if d.Gates == 0 {
					return nil
				}
				gate := s.gateRefs(batchID, 1)[0]
				return tx.Update(gate, []firestore.Update{{Path: "commits", Value: firestore.Increment(1)}})
			}
			if d.Gates == 0 {
				err = s.redriveUngated(ctx, batchID, writes)
			} else {
				err = s.commit(ctx, writes)
			}
			if status.Code(err) == codes.NotFound {
				// Items are never deleted: the gate is gone, so the batch
				// closed after it was read.
				return fmt.Errorf("%w: batch %s closed: %v", errStale, batchID, err)
			}
			if err != nil {
				return err
			}
			n = len(todo)
			return nil
		})
		if err != nil {
			return moved, err
		}
		moved += n
	}
	return moved, nil
}

// redriveUngated commits a Redrive in a batch created before gates: its
// transaction reads the batch document, so that nothing is re-driven once
// the batch has closed.
func (s *Store) redriveUngated(ctx context.Context, batchID string, writes func(writer) error) error {
	return s.tx(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		bs, err := tx.GetAll([]*firestore.DocumentRef{s.batchRef(batchID)})
		if err != nil {
			return err
		}
		d, err := s.decodeBatch(bs[0])
		if err != nil {
			return err
		}
		if d.State != string(batch.Running) {
			return fmt.Errorf("redrive in %s: batch is %s: %w", batchID, d.State, batch.ErrFinalized)
		}
		return writes(tx)
	})
}

// overduePage is how many pending published items Overdue scans per query.
const overduePage = 1000

// Overdue returns up to limit published items without an outcome that were
// last published strictly before the given time, in ID order.
// [batch.ErrNotFound] if the batch does not exist, [batch.ErrInvalid] for a
// limit below 1.
//
// Firestore cannot filter on published_at while ordering by ID without
// returning everything overdue in published_at order, so Overdue walks the
// pending published items in ID order reading only published_at, then
// fetches the matches whole.
func (s *Store) Overdue(ctx context.Context, batchID string, before time.Time, limit int) ([]batch.Item, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: overdue in %s: limit %d is below 1", batch.ErrInvalid, batchID, limit)
	}
	l, err := s.layoutOf(ctx, batchID)
	if err != nil {
		return nil, err
	}
	col := s.itemsOf(batchID, l)
	cut := nanos(before)
	var refs []*firestore.DocumentRef
	after := ""
	for len(refs) < limit {
		q := col.Where("published", "==", true).Where("outcome", "==", "").
			OrderBy(firestore.DocumentID, firestore.Asc).Select("published_at").Limit(overduePage)
		if after != "" {
			q = q.StartAfter(after)
		}
		docs, err := s.queryAll(ctx, "overdue in "+batchID, q)
		if err != nil {
			return nil, fmt.Errorf("overdue in %s: %w", batchID, err)
		}
		for _, sn := range docs {
			at, _ := sn.Data()["published_at"].(int64)
			if at < cut && len(refs) < limit {
				refs = append(refs, sn.Ref)
			}
		}
		if len(docs) < overduePage {
			break
		}
		after = docs[len(docs)-1].Ref.ID
	}
	if len(refs) == 0 {
		return nil, nil
	}
	snaps, err := s.getAll(ctx, "overdue in "+batchID, refs)
	if err != nil {
		return nil, fmt.Errorf("overdue in %s: %w", batchID, err)
	}
	var items []batch.Item
	for _, sn := range snaps {
		if !sn.Exists() {
			continue
		}
		it, err := decodeItem(batchID, sn)
		if err != nil {
			return nil, err
		}
		// Recheck: the item may have changed since the scan.
		if it.Published && it.Outcome == batch.OutcomeNone && nanos(it.PublishedAt) < cut {
			items = append(items, it)
		}
	}
	return items, nil
}
