package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"tipoff/batch"
)

var _ batch.OutcomeAcker = (*Store)(nil)

// AcksFor implements [batch.OutcomeAcker.AcksFor]: q must be a [Queue] on
// the store's own [DB].
func (s *Store) AcksFor(q batch.Queue) bool {
	sq, ok := q.(*Queue)
	return ok && sq.db == s.db
}

// RecordAndAck implements [batch.OutcomeAcker.RecordAndAck]: the outcomes
// are written as [Store.RecordOutcome] writes them (one UPDATE per record,
// an INSERT for a large result, one count update per batch) and the acks as [Queue.Ack] writes them, in
// one [DB.Write], so they commit together, sharing the commit (and its
// fsync) with whatever else is written at the same time.
func (s *Store) RecordAndAck(ctx context.Context, q batch.Queue, recs []batch.OutcomeRecord, ds []batch.Delivery) (batch.AckedOutcomes, error) {
	sq, ok := q.(*Queue)
	if !ok || sq.db != s.db {
		return batch.AckedOutcomes{}, fmt.Errorf("record and ack: %w: the queue is not one of %s", batch.ErrInvalid, s.db.path)
	}
	out := batch.AckedOutcomes{Recorded: make([]batch.Recorded, len(recs)), Errs: make([]error, len(recs))}
	reqs := make([]recordReq, 0, len(recs))
	at := make([]int, 0, len(recs)) // index in recs of each of reqs
	for i, rec := range recs {
		if err := rec.Validate(); err != nil {
			out.Errs[i] = err
			continue
		}
		reqs = append(reqs, recordReq{rec: rec})
		at = append(at, i)
	}
	ptrs := make([]*recordReq, len(reqs))
	for i := range reqs {
		ptrs[i] = &reqs[i]
	}
	rs, idx, ackErrs := parseReceipts("ack", ds)
	st, err := s.prepared(ctx)
	if err != nil {
		return batch.AckedOutcomes{}, err
	}
	if err := sq.enter(); err != nil {
		return batch.AckedOutcomes{}, err
	}
	defer sq.inflight.Done()
	qst, err := sq.prepared(ctx)
	if err != nil {
		return batch.AckedOutcomes{}, err
	}
	var current []bool
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		wctx := context.WithoutCancel(ctx) // see storeStmts
		if err := writeOutcomes(wctx, tx, st, ptrs); err != nil {
			return err
		}
		if s.betweenRecordAndAck != nil {
			if err := s.betweenRecordAndAck(); err != nil {
				return err
			}
		}
		var err error
		current, err = ackRows(wctx, tx, qst, rs)
		if err != nil {
			return fmt.Errorf("ack: %w", err)
		}
		return nil
	})
	if err != nil {
		return batch.AckedOutcomes{}, fmt.Errorf("record %d outcomes and ack %d messages: %w", len(reqs), len(rs), err)
	}
	for k, r := range reqs {
		out.Recorded[at[k]], out.Errs[at[k]] = r.r, r.err
	}
	out.Ack = errors.Join(append(ackErrs, staleErrs("ack", ds, idx, current)...)...)
	return out, nil
}
