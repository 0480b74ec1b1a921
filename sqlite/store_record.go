package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"tipoff/batch"
)

// outcomeCombiner turns concurrent RecordOutcome calls into few writes.
// Callers queue their record; one of them leads: it takes the whole queue,
// writes it in one [DB.Write], answers every caller once that write has
// committed, and hands the lead to the oldest caller that queued
// meanwhile. With N callers in flight, a group is everything that arrived
// during the previous commit, up to N, and each caller's work inside the
// transaction is one prepared UPDATE (and an INSERT into item_results for
// a large result).
type outcomeCombiner struct {
	mu     sync.Mutex
	queue  []*recordReq
	active bool // a leader is writing or about to
}

type recordReq struct {
	ctx context.Context
	rec batch.OutcomeRecord
	r   batch.Recorded
	err error
	// signal carries false when r and err are final, true when this
	// caller is to lead the next group.
	signal chan bool
}

func (c *outcomeCombiner) record(ctx context.Context, s *Store, st *storeStmts, rec batch.OutcomeRecord) (batch.Recorded, error) {
	req := &recordReq{ctx: ctx, rec: rec, signal: make(chan bool, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, req)
	lead := !c.active
	c.active = true
	c.mu.Unlock()
	if lead {
		c.lead(s, st)
	}
	// Once queued the record is written or fails; like DB.Write, wait for
	// the answer whatever ctx does, so an error never hides a write.
	for <-req.signal {
		c.lead(s, st)
	}
	return req.r, req.err
}

// lead writes the queued records as one group, answers them and passes the
// lead on.
func (c *outcomeCombiner) lead(s *Store, st *storeStmts) {
	c.gather()
	c.mu.Lock()
	reqs := c.queue
	c.queue = nil
	c.mu.Unlock()

	live := make([]*recordReq, 0, len(reqs))
	for _, q := range reqs {
		if err := q.ctx.Err(); err != nil {
			q.err = err
			continue
		}
		live = append(live, q)
	}
	if len(live) > 0 {
		// The group is shared, so no single caller's cancellation may stop
		// it; each caller's ctx was checked just above.
		err := s.db.Write(context.Background(), func(tx *sql.Tx) error {
			return writeOutcomes(context.Background(), tx, st, live)
		})
		if err != nil {
			for _, q := range live {
				q.r, q.err = batch.Recorded{}, err
			}
		}
	}
	for _, q := range reqs {
		q.signal <- false
	}

	c.mu.Lock()
	if len(c.queue) == 0 {
		c.active = false
		c.mu.Unlock()
		return
	}
	next := c.queue[0]
	c.mu.Unlock()
	next.signal <- true
}

// gatherRounds bounds how many times a leader yields before taking the
// queue.
const gatherRounds = 16

// gather yields the processor while the queue keeps growing, so callers the
// previous group has just answered can queue their next record before this
// group is taken. Without it groups alternate between a few records (taken
// at once) and everyone else (who queued during that small group's
// commit), and a commit costs the same either way. It never waits for
// anyone who is not already running.
func (c *outcomeCombiner) gather() {
	n, still := -1, 0
	for range gatherRounds {
		c.mu.Lock()
		m := len(c.queue)
		c.mu.Unlock()
		if m == n {
			// The callers may be running on another processor: give up
			// only after two yields in a row without a newcomer.
			if still++; still == 2 {
				return
			}
		} else {
			still = 0
		}
		n = m
		runtime.Gosched()
	}
}

// groupBatch is what a group knows about one batch it touched.
type groupBatch struct {
	running   bool         // the batch exists and is running
	remaining int          // items without an outcome, after the group's records so far
	delta     batch.Counts // the group's new outcomes
	at        int64        // latest outcome time in the group
}

// writeOutcomes records reqs in order inside tx, setting each one's answer.
// An answer that is an error of kind ErrConflict, ErrNotFound or
// ErrFinalized concerns that record alone; any other error fails the group
// (it is returned and the whole group is rolled back).
//
// Each batch's state and remaining count are read once per group, before
// the group changes its row (counts are written at the end): nothing else
// writes inside the transaction meanwhile, so the state holds for every
// record of the group, and a record is written only for a running batch.
func writeOutcomes(ctx context.Context, tx *sql.Tx, st *storeStmts, reqs []*recordReq) error {
	record := tx.StmtContext(ctx, st.record)
	insertResult := tx.StmtContext(ctx, st.insertResult)
	lookup := tx.StmtContext(ctx, st.lookup)
	remaining := tx.StmtContext(ctx, st.remaining)
	batches := make(map[string]*groupBatch)
	batchOf := func(id string) (*groupBatch, error) {
		if g, ok := batches[id]; ok {
			return g, nil
		}
		g := &groupBatch{}
		err := remaining.QueryRowContext(ctx, id).Scan(&g.running, &g.remaining)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("record outcome: remaining of %s: %w", id, err)
		}
		batches[id] = g
		return g, nil
	}
	for _, q := range reqs {
		rec := q.rec
		q.r, q.err = batch.Recorded{}, nil
		g, err := batchOf(rec.BatchID)
		if err != nil {
			return err
		}
		at := micros(rec.At)
		var n int64
		if g.running {
			inRow := rec.Result
			if len(inRow) > inlineResult {
				inRow = nil
			}
			res, err := record.ExecContext(ctx, string(rec.Outcome), inRow, rec.Error, at, rec.BatchID, rec.ItemID)
			if err != nil {
				return fmt.Errorf("record outcome %s/%s: %w", rec.BatchID, rec.ItemID, err)
			}
			if n, err = res.RowsAffected(); err != nil {
				return fmt.Errorf("record outcome %s/%s: %w", rec.BatchID, rec.ItemID, err)
			}
			if n == 1 && inRow == nil && rec.Result != nil {
				if _, err := insertResult.ExecContext(ctx, rec.BatchID, rec.ItemID, rec.Result); err != nil {
					return fmt.Errorf("record outcome %s/%s: %w", rec.BatchID, rec.ItemID, err)
				}
			}
		}
		if n == 1 {
			// The batch's row does not count this outcome yet: the group's
			// count update comes last.
			g.remaining--
			g.delta = g.delta.Add(rec.Outcome)
			g.at = max(g.at, at)
			q.r.Remaining = g.remaining
			continue
		}
		q.r, q.err, err = explainUnchanged(ctx, tx, lookup, rec, batches)
		if err != nil {
			return err
		}
	}
	count := tx.StmtContext(ctx, st.count)
	for id, g := range batches {
		if g.delta.Done() == 0 {
			continue
		}
		d := g.delta
		if _, err := count.ExecContext(ctx, id, d.Succeeded, d.Skipped, d.Failed, d.TimedOut, g.at); err != nil {
			return fmt.Errorf("record outcome: count %s: %w", id, err)
		}
	}
	return nil
}

// explainUnchanged says why a record changed nothing: the item has an
// outcome already (a duplicate, or a conflict if it differs), the item or
// batch does not exist, or the batch is not running. fail is set only for
// a database error.
func explainUnchanged(ctx context.Context, tx *sql.Tx, lookup *sql.Stmt, rec batch.OutcomeRecord,
	batches map[string]*groupBatch) (r batch.Recorded, answer, fail error) {
	var outcome, state string
	var remaining int
	err := lookup.QueryRowContext(ctx, rec.BatchID, rec.ItemID).Scan(&outcome, &state, &remaining)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := batchState(ctx, tx, rec.BatchID); errors.Is(err, batch.ErrNotFound) {
			return r, fmt.Errorf("record outcome: %w", err), nil
		} else if err != nil {
			return r, nil, fmt.Errorf("record outcome: %w", err)
		}
		return r, fmt.Errorf("record outcome: item %s/%s: %w", rec.BatchID, rec.ItemID, batch.ErrNotFound), nil
	}
	if err != nil {
		return r, nil, fmt.Errorf("record outcome %s/%s: %w", rec.BatchID, rec.ItemID, err)
	}
	if g, ok := batches[rec.BatchID]; ok {
		remaining = g.remaining // the row does not count the group's outcomes yet
	}
	if outcome == "" {
		return r, fmt.Errorf("record outcome %s/%s: %w (batch %s)", rec.BatchID, rec.ItemID, batch.ErrFinalized, state), nil
	}
	r = batch.Recorded{Duplicate: true, Existing: batch.Outcome(outcome), Remaining: remaining}
	if outcome != string(rec.Outcome) {
		return r, fmt.Errorf("record outcome %s/%s: %w: the item already has outcome %s, not %s",
			rec.BatchID, rec.ItemID, batch.ErrConflict, outcome, rec.Outcome), nil
	}
	return r, nil, nil
}
