package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"tipoff/batch"
)

// Store is the embedded [batch.Store]: batches, items and the event outbox
// in the [DB]'s SQLite file. Every write goes through the DB's group commit,
// so concurrent outcomes share one transaction and one fsync, and is
// durable when the method returns. Counts live on the batch row and change
// in the same transaction as the item's outcome, so they are exact; the
// single writer makes every compare-and-set (first outcome, finalize lease)
// a plain read-then-write. Several processes may share the file.
type Store struct {
	db *DB

	prepMu sync.Mutex
	stmts  *storeStmts

	outcomes outcomeCombiner

	// betweenRecordAndAck, set only by tests, runs inside RecordAndAck's
	// transaction after the outcomes are written and before the acks; an
	// error from it fails the call there, as a crash would.
	betweenRecordAndAck func() error
}

var _ batch.Store = (*Store)(nil)

// NewStore returns a store on db. It is cheap: statements are prepared on
// first use.
func NewStore(db *DB) *Store { return &Store{db: db} }

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// CreateBatch implements [batch.Store.CreateBatch]: the batch row and every
// item go in one transaction.
func (s *Store) CreateBatch(ctx context.Context, newID string, spec batch.Spec, now time.Time) (batch.Batch, bool, error) {
	if newID == "" {
		return batch.Batch{}, false, fmt.Errorf("create batch %s: %w: empty batch id", spec.Key, batch.ErrInvalid)
	}
	if err := spec.Validate(); err != nil {
		return batch.Batch{}, false, fmt.Errorf("create batch %s: %w", newID, err)
	}
	// Repeating a create is common (a retried /start): answer it from a
	// read without queueing for the writer.
	if b, err := batchByKey(ctx, s.db.read, spec.Key); err == nil {
		return b, false, nil
	} else if !errors.Is(err, batch.ErrNotFound) {
		return batch.Batch{}, false, err
	}
	pol := spec.Policy.WithDefaults()
	policy, err := json.Marshal(pol)
	if err != nil {
		return batch.Batch{}, false, fmt.Errorf("create batch %s: policy: %w", newID, err)
	}
	meta, err := json.Marshal(spec.Meta)
	if err != nil {
		return batch.Batch{}, false, fmt.Errorf("create batch %s: meta: %w", newID, err)
	}
	nowUs := micros(now)
	var b batch.Batch
	created := false
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx, st *storeStmts) error {
		existing, err := batchByKey(ctx, tx, spec.Key)
		if err == nil {
			b, created = existing, false
			return nil
		} else if !errors.Is(err, batch.ErrNotFound) {
			return err
		}
		row := tx.QueryRowContext(ctx, `INSERT INTO batches (id, run_date, run_label, state, total, policy, meta,
			created_at, updated_at, deadline) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+batchCols,
			newID, spec.Key.Date, spec.Key.Run, batch.Running, len(spec.Items), string(policy), string(meta),
			nowUs, nowUs, micros(now.Add(pol.Deadline)))
		if b, err = scanBatch(row); err != nil {
			if isConstraint(err) {
				return fmt.Errorf("create batch %s: %w: the id is taken by another batch", newID, batch.ErrConflict)
			}
			return fmt.Errorf("create batch %s: %w", newID, err)
		}
		if err := insertItems(ctx, tx, st, newID, spec.Items, nowUs); err != nil {
			return fmt.Errorf("create batch %s: manifest: %w", newID, err)
		}
		created = true
		return nil
	})
	if err != nil {
		return batch.Batch{}, false, err
	}
	return b, created, nil
}

func insertItems(ctx context.Context, tx *sql.Tx, st *storeStmts, batchID string, items []batch.NewItem, nowUs int64) error {
	full, big := tx.StmtContext(ctx, st.insertItems), tx.StmtContext(ctx, st.insertRequest)
	args := make([]any, 0, 4*itemsPerInsert)
	for len(items) > 0 {
		n := min(len(items), itemsPerInsert)
		args = args[:0]
		for _, it := range items[:n] {
			if len(it.Request) <= inlineRequest {
				args = append(args, batchID, it.ID, it.Request, nowUs)
				continue
			}
			if _, err := big.ExecContext(ctx, batchID, it.ID, it.Request); err != nil {
				return err
			}
			args = append(args, batchID, it.ID, nil, nowUs)
		}
		var err error
		if n == itemsPerInsert {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, insertItemsSQL(n), args...)
		}
		if err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

// inlineRequest is the largest request kept in its items row. A larger one
// goes to item_requests: in the row it would spill onto overflow pages
// that every update of the row rewrites (a WITHOUT ROWID row keeps about
// 1,000 bytes on a 4 KB page).
const inlineRequest = 512

// inlineResult is the largest result kept in its items row. A larger one
// goes to item_results, written once: in the row it grew the row as the
// outcome was recorded, splitting the items pages around it.
const inlineResult = 512

func batchByKey(ctx context.Context, q queryer, k batch.Key) (batch.Batch, error) {
	b, err := scanBatch(q.QueryRowContext(ctx, `SELECT `+batchCols+` FROM batches WHERE run_date = ? AND run_label = ?`, k.Date, k.Run))
	if errors.Is(err, sql.ErrNoRows) {
		return batch.Batch{}, fmt.Errorf("batch %s: %w", k, batch.ErrNotFound)
	}
	if err != nil {
		return batch.Batch{}, fmt.Errorf("batch %s: %w", k, err)
	}
	return b, nil
}

func getBatch(ctx context.Context, q queryer, id string) (batch.Batch, error) {
	b, err := scanBatch(q.QueryRowContext(ctx, `SELECT `+batchCols+` FROM batches WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return batch.Batch{}, fmt.Errorf("batch %s: %w", id, batch.ErrNotFound)
	}
	if err != nil {
		return batch.Batch{}, fmt.Errorf("batch %s: %w", id, err)
	}
	return b, nil
}

// batchState returns the state of a batch, [batch.ErrNotFound] if there is
// none.
func batchState(ctx context.Context, q queryer, id string) (batch.State, error) {
	var st string
	err := q.QueryRowContext(ctx, `SELECT state FROM batches WHERE id = ?`, id).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("batch %s: %w", id, batch.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("batch %s: %w", id, err)
	}
	return batch.State(st), nil
}

// GetBatch implements [batch.Store.GetBatch].
func (s *Store) GetBatch(ctx context.Context, id string) (batch.Batch, error) {
	return getBatch(ctx, s.db.read, id)
}

// ListBatches implements [batch.Store.ListBatches].
func (s *Store) ListBatches(ctx context.Context, opts batch.ListOptions) ([]batch.Batch, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	for col, v := range map[string]string{"run_date": opts.Date, "run_label": opts.Run, "state": string(opts.State)} {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	q := `SELECT ` + batchCols + ` FROM batches`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := opts.Limit
	if limit == 0 {
		limit = 100
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	rows, err := s.db.read.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list batches: %w", err)
	}
	defer rows.Close()
	var bs []batch.Batch
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			return nil, fmt.Errorf("list batches: %w", err)
		}
		bs = append(bs, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list batches: %w", err)
	}
	return bs, nil
}

// Items implements [batch.Store.Items].
func (s *Store) Items(ctx context.Context, batchID string, opts batch.ItemsOptions) ([]batch.Item, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("items of %s: %w", batchID, err)
	}
	if _, err := batchState(ctx, s.db.read, batchID); err != nil {
		return nil, fmt.Errorf("items: %w", err)
	}
	cols := itemCols
	if opts.NoRequests {
		cols = itemColsNoRequest
	}
	q := `SELECT ` + cols + ` FROM items WHERE batch_id = ? AND id > ?`
	if opts.PendingOnly {
		// Named, because without statistics the planner prefers scanning
		// the whole batch by primary key.
		q = `SELECT ` + cols + ` FROM items INDEXED BY items_pending WHERE batch_id = ? AND id > ? AND outcome = ''`
	}
	limit := opts.Limit
	if limit == 0 {
		limit = -1 // no limit
	}
	items, err := queryItems(ctx, s.db.read, q+` ORDER BY id LIMIT ?`, batchID, opts.After, limit)
	if err != nil {
		return nil, fmt.Errorf("items of %s: %w", batchID, err)
	}
	return items, nil
}

// Progress implements [batch.Store.Progress]: the counts are on the batch
// row and the missing items come from the index of items without an
// outcome, so it reads a few pages whatever the batch's size. Both come
// from one snapshot.
func (s *Store) Progress(ctx context.Context, batchID string, missingLimit int) (batch.Progress, error) {
	if missingLimit < 0 {
		return batch.Progress{}, fmt.Errorf("progress of %s: %w: missing limit %d is negative", batchID, batch.ErrInvalid, missingLimit)
	}
	tx, err := s.db.read.BeginTx(ctx, nil)
	if err != nil {
		return batch.Progress{}, fmt.Errorf("progress of %s: %w", batchID, err)
	}
	defer tx.Rollback()
	b, err := getBatch(ctx, tx, batchID)
	if err != nil {
		return batch.Progress{}, fmt.Errorf("progress: %w", err)
	}
	p := batch.Progress{Batch: b, Remaining: b.Remaining()}
	if missingLimit > 0 && p.Remaining > 0 {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM items INDEXED BY items_pending
			WHERE batch_id = ? AND outcome = '' ORDER BY id LIMIT ?`, batchID, missingLimit)
		if err != nil {
			return batch.Progress{}, fmt.Errorf("progress of %s: %w", batchID, err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return batch.Progress{}, fmt.Errorf("progress of %s: %w", batchID, err)
			}
			p.Missing = append(p.Missing, id)
		}
		if err := rows.Err(); err != nil {
			return batch.Progress{}, fmt.Errorf("progress of %s: %w", batchID, err)
		}
	}
	return p, nil
}

// Unpublished implements [batch.Store.Unpublished].
func (s *Store) Unpublished(ctx context.Context, batchID string, limit int) ([]batch.Item, error) {
	if limit < 1 {
		return nil, fmt.Errorf("outbox of %s: %w: limit %d is below 1", batchID, batch.ErrInvalid, limit)
	}
	st, err := batchState(ctx, s.db.read, batchID)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if st != batch.Running {
		return nil, nil
	}
	items, err := queryItems(ctx, s.db.read, `SELECT `+itemCols+` FROM items INDEXED BY items_outbox
		WHERE batch_id = ? AND outcome = '' AND published = 0 ORDER BY id LIMIT ?`, batchID, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox of %s: %w", batchID, err)
	}
	return items, nil
}

// idList encodes item IDs for json_each.
func idList(ids []string) string {
	b, _ := json.Marshal(ids)
	return string(b)
}

// checkItems returns [batch.ErrNotFound] naming the first of ids that is not
// an item of the batch.
func checkItems(ctx context.Context, tx *sql.Tx, batchID, list string) error {
	var missing string
	err := tx.QueryRowContext(ctx, `SELECT j.value FROM json_each(?1) j
		WHERE NOT EXISTS (SELECT 1 FROM items WHERE batch_id = ?2 AND id = j.value) LIMIT 1`, list, batchID).Scan(&missing)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	}
	return fmt.Errorf("item %s/%s: %w", batchID, missing, batch.ErrNotFound)
}

// MarkPublished implements [batch.Store.MarkPublished].
func (s *Store) MarkPublished(ctx context.Context, batchID string, itemIDs []string, at time.Time) error {
	if len(itemIDs) == 0 {
		_, err := batchState(ctx, s.db.read, batchID)
		if err != nil {
			return fmt.Errorf("mark published: %w", err)
		}
		return nil
	}
	list := idList(itemIDs)
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ *storeStmts) error {
		if _, err := batchState(ctx, tx, batchID); err != nil {
			return fmt.Errorf("mark published: %w", err)
		}
		if err := checkItems(ctx, tx, batchID, list); err != nil {
			return fmt.Errorf("mark published: %w", err)
		}
		_, err := tx.ExecContext(ctx, `UPDATE items SET published = 1, attempts = attempts + 1, published_at = ?1
			WHERE batch_id = ?2 AND id IN (SELECT value FROM json_each(?3)) AND published = 0 AND outcome = ''`,
			micros(at), batchID, list)
		if err != nil {
			return fmt.Errorf("mark published in %s: %w", batchID, err)
		}
		return nil
	})
}

// Redrive implements [batch.Store.Redrive].
func (s *Store) Redrive(ctx context.Context, batchID string, itemIDs []string) (int, error) {
	list := idList(itemIDs)
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ *storeStmts) error {
		st, err := batchState(ctx, tx, batchID)
		if err != nil {
			return fmt.Errorf("redrive: %w", err)
		}
		if st != batch.Running {
			return fmt.Errorf("redrive in %s: %w (state %s)", batchID, batch.ErrFinalized, st)
		}
		if err := checkItems(ctx, tx, batchID, list); err != nil {
			return fmt.Errorf("redrive: %w", err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE items SET published = 0
			WHERE batch_id = ?1 AND id IN (SELECT value FROM json_each(?2)) AND published = 1 AND outcome = ''`, batchID, list)
		if err != nil {
			return fmt.Errorf("redrive in %s: %w", batchID, err)
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// Overdue implements [batch.Store.Overdue].
func (s *Store) Overdue(ctx context.Context, batchID string, before time.Time, limit int) ([]batch.Item, error) {
	if limit < 1 {
		return nil, fmt.Errorf("overdue in %s: %w: limit %d is below 1", batchID, batch.ErrInvalid, limit)
	}
	if _, err := batchState(ctx, s.db.read, batchID); err != nil {
		return nil, fmt.Errorf("overdue: %w", err)
	}
	items, err := queryItems(ctx, s.db.read, `SELECT `+itemCols+` FROM items INDEXED BY items_pending
		WHERE batch_id = ? AND outcome = '' AND published = 1 AND published_at < ? ORDER BY id LIMIT ?`,
		batchID, micros(before), limit)
	if err != nil {
		return nil, fmt.Errorf("overdue in %s: %w", batchID, err)
	}
	return items, nil
}

// RecordOutcome implements [batch.Store.RecordOutcome]. Concurrent calls
// are combined: one caller at a time leads, writing every outcome queued
// meanwhile in one [DB.Write] (see record.go), so a group costs one
// savepoint, one count update per batch and one fsync.
func (s *Store) RecordOutcome(ctx context.Context, rec batch.OutcomeRecord) (batch.Recorded, error) {
	if err := rec.Validate(); err != nil {
		return batch.Recorded{}, err
	}
	st, err := s.prepared(ctx)
	if err != nil {
		return batch.Recorded{}, err
	}
	return s.outcomes.record(ctx, s, st, rec)
}

// leaseRow is what the finalize compare-and-sets read first.
type leaseRow struct {
	state     batch.State
	remaining int
	owner     string
	expires   int64
	epoch     int
}

func readLease(ctx context.Context, tx *sql.Tx, id string) (leaseRow, error) {
	var l leaseRow
	var st string
	err := tx.QueryRowContext(ctx, `SELECT state, `+remainingExpr+`, lease_owner, lease_expires, finalize_attempts FROM batches WHERE id = ?`, id).
		Scan(&st, &l.remaining, &l.owner, &l.expires, &l.epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("batch %s: %w", id, batch.ErrNotFound)
	}
	if err != nil {
		return l, fmt.Errorf("batch %s: %w", id, err)
	}
	l.state = batch.State(st)
	return l, nil
}

// AcquireFinalize implements [batch.Store.AcquireFinalize].
func (s *Store) AcquireFinalize(ctx context.Context, batchID, owner string, now time.Time, ttl time.Duration) (batch.Batch, error) {
	if owner == "" {
		return batch.Batch{}, fmt.Errorf("acquire finalize %s: %w: empty lease owner", batchID, batch.ErrInvalid)
	}
	if ttl <= 0 {
		return batch.Batch{}, fmt.Errorf("acquire finalize %s: %w: lease ttl %v is not positive", batchID, batch.ErrInvalid, ttl)
	}
	var b batch.Batch
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ *storeStmts) error {
		l, err := readLease(ctx, tx, batchID)
		if err != nil {
			return fmt.Errorf("acquire finalize: %w", err)
		}
		switch l.state {
		case batch.Finalized:
			return fmt.Errorf("acquire finalize %s: %w", batchID, batch.ErrFinalized)
		case batch.Running:
			if l.remaining > 0 {
				return fmt.Errorf("acquire finalize %s: %w (%d)", batchID, batch.ErrPending, l.remaining)
			}
		case batch.Finalizing:
			if l.owner != owner && micros(now) < l.expires {
				return fmt.Errorf("acquire finalize %s: %w: lease held by %s until %v", batchID, batch.ErrConflict, l.owner, fromMicros(l.expires))
			}
		}
		b, err = scanBatch(tx.QueryRowContext(ctx, `UPDATE batches SET state = ?, lease_owner = ?, lease_expires = ?,
			finalize_attempts = finalize_attempts + 1, updated_at = max(updated_at, ?) WHERE id = ? RETURNING `+batchCols,
			batch.Finalizing, owner, micros(now.Add(ttl)), micros(now), batchID))
		if err != nil {
			return fmt.Errorf("acquire finalize %s: %w", batchID, err)
		}
		return nil
	})
	if err != nil {
		return batch.Batch{}, err
	}
	return b, nil
}

func insertEvent(ctx context.Context, tx *sql.Tx, ev batch.Event, now time.Time) error {
	created := ev.CreatedAt
	if created.IsZero() {
		created = now
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO events (id, type, batch_id, payload, created_at) VALUES (?, ?, ?, ?, ?)`,
		ev.ID, ev.Type, ev.BatchID, ev.Payload, micros(created))
	if isConstraint(err) {
		return fmt.Errorf("event %s: %w: it exists already", ev.ID, batch.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("event %s: %w", ev.ID, err)
	}
	return nil
}

// CompleteFinalize implements [batch.Store.CompleteFinalize].
func (s *Store) CompleteFinalize(ctx context.Context, lease batch.LeaseToken, result batch.Result, ev batch.Event, now time.Time) (batch.Batch, error) {
	batchID := lease.BatchID
	switch result {
	case batch.ResultSucceeded, batch.ResultPartial, batch.ResultFailed:
	default:
		return batch.Batch{}, fmt.Errorf("complete finalize %s: %w: result %q is not succeeded, partial or failed", batchID, batch.ErrInvalid, result)
	}
	if err := ev.Validate(batchID); err != nil {
		return batch.Batch{}, fmt.Errorf("complete finalize %s: %w", batchID, err)
	}
	var b batch.Batch
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ *storeStmts) error {
		l, err := readLease(ctx, tx, batchID)
		if err != nil {
			return fmt.Errorf("complete finalize: %w", err)
		}
		if l.state == batch.Finalized {
			return fmt.Errorf("complete finalize %s: %w", batchID, batch.ErrFinalized)
		}
		if err := batch.CheckLease(lease, l.state, l.owner, l.epoch); err != nil {
			return fmt.Errorf("complete finalize: %w", err)
		}
		b, err = scanBatch(tx.QueryRowContext(ctx, `UPDATE batches SET state = ?, result = ?, finalized_at = ?,
			updated_at = max(updated_at, ?) WHERE id = ? RETURNING `+batchCols,
			batch.Finalized, result, micros(now), micros(now), batchID))
		if err != nil {
			return fmt.Errorf("complete finalize %s: %w", batchID, err)
		}
		return insertEvent(ctx, tx, ev, now)
	})
	if err != nil {
		return batch.Batch{}, err
	}
	return b, nil
}

// Cancel implements [batch.Store.Cancel].
func (s *Store) Cancel(ctx context.Context, batchID, reason string, ev batch.Event, now time.Time) (batch.Batch, error) {
	if err := ev.Validate(batchID); err != nil {
		return batch.Batch{}, fmt.Errorf("cancel %s: %w", batchID, err)
	}
	var b batch.Batch
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ *storeStmts) error {
		st, err := batchState(ctx, tx, batchID)
		if err != nil {
			return fmt.Errorf("cancel: %w", err)
		}
		if st == batch.Finalized {
			return fmt.Errorf("cancel %s: %w", batchID, batch.ErrFinalized)
		}
		b, err = scanBatch(tx.QueryRowContext(ctx, `UPDATE batches SET state = ?, result = ?, cancel_reason = ?,
			finalized_at = ?, updated_at = max(updated_at, ?) WHERE id = ? RETURNING `+batchCols,
			batch.Finalized, batch.ResultCancelled, reason, micros(now), micros(now), batchID))
		if err != nil {
			return fmt.Errorf("cancel %s: %w", batchID, err)
		}
		return insertEvent(ctx, tx, ev, now)
	})
	if err != nil {
		return batch.Batch{}, err
	}
	return b, nil
}

// PendingEvents implements [batch.Store.PendingEvents].
func (s *Store) PendingEvents(ctx context.Context, limit int) ([]batch.Event, error) {
	if limit < 1 {
		return nil, fmt.Errorf("pending events: %w: limit %d is below 1", batch.ErrInvalid, limit)
	}
	rows, err := s.db.read.QueryContext(ctx, `SELECT `+eventCols+` FROM events WHERE published_at = 0
		ORDER BY created_at, id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("pending events: %w", err)
	}
	defer rows.Close()
	var evs []batch.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("pending events: %w", err)
		}
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending events: %w", err)
	}
	return evs, nil
}

// MarkEventPublished implements [batch.Store.MarkEventPublished].
func (s *Store) MarkEventPublished(ctx context.Context, eventID string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("mark event %s published: %w: zero time", eventID, batch.ErrInvalid)
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ *storeStmts) error {
		res, err := tx.ExecContext(ctx, `UPDATE events SET published_at = ? WHERE id = ? AND published_at = 0`, micros(at), eventID)
		if err != nil {
			return fmt.Errorf("mark event %s published: %w", eventID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM events WHERE id = ?`, eventID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("event %s: %w", eventID, batch.ErrNotFound)
		}
		return err
	})
}
