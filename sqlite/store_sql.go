package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"tipoff/batch"
)

// storeStmts are the statements on the Store's hot paths, prepared once on
// the write connection and bound to each group-commit transaction with
// tx.StmtContext, which reuses the prepared statement rather than parsing
// the SQL again on every call.
type storeStmts struct {
	record, count, remaining, lookup, insertItems, insertRequest, insertResult, outbox, outboxMessages, markOutbox *sql.Stmt
}

// itemsPerInsert is how many manifest rows one INSERT carries: 4 parameters
// each, well under SQLite's limit of 32,766 per statement.
const itemsPerInsert = 250

var storeSQL = map[string]string{
	// The first outcome of an item wins; anything else changes no row and
	// is sorted out by lookup. It runs only for items of a running batch
	// (the group reads each batch's state once, with remaining).
	"record": `UPDATE items SET outcome = ?1, result = ?2, error = ?3, completed_at = ?4
		WHERE batch_id = ?5 AND id = ?6 AND outcome = ''`,
	"count": `UPDATE batches SET succeeded = succeeded + ?2, skipped = skipped + ?3, failed = failed + ?4,
		timed_out = timed_out + ?5, updated_at = max(updated_at, ?6) WHERE id = ?1`,
	"remaining": `SELECT state = 'running', ` + remainingExpr + ` FROM batches WHERE id = ?`,
	"lookup": `SELECT i.outcome, b.state, ` + remainingExprB + `
		FROM items i JOIN batches b ON b.id = i.batch_id WHERE i.batch_id = ? AND i.id = ?`,
	"insertItems":   insertItemsSQL(itemsPerInsert),
	"insertRequest": `INSERT INTO item_requests (batch_id, id, request) VALUES (?, ?, ?)`,
	"insertResult":  `INSERT INTO item_results (batch_id, id, result) VALUES (?, ?, ?)`,
	// The first and last IDs of the first ?2 items of batch ?1's outbox,
	// and how many there are: the chunk that PublishOutbox moves to the
	// queue. In the same transaction the chunk is exactly the outbox items
	// of batch ?1 from the first ID (?4 below) to the last (?3), which the
	// statements after it find by the primary key (NOT INDEXED: a range of
	// the table itself, not a walk of the outbox index that markOutbox
	// changes).
	"outbox": `SELECT min(id), max(id), count(*) FROM (SELECT id FROM items INDEXED BY items_outbox
		WHERE batch_id = ?1 AND outcome = '' AND published = 0 ORDER BY id LIMIT ?2)`,
	// The chunk's request messages on topic ?1 at time ?5, in item order,
	// as [batch.RequestMessage] makes them: IDs batch/item/attempt, the
	// item's request as the body, and the attributes (trace ID ?6 if not
	// empty) as encodeAttrs writes them, a JSON object with its keys in
	// order. A request in item_requests is not copied: the message refers
	// to it (req_batch, req_item; see messageBody). One whose ID is already
	// on the topic is dropped, as Queue.Publish drops it.
	"outboxMessages": `INSERT INTO queue_messages (topic, id, published_at, visible_at, body, attrs, req_batch, req_item)
		SELECT ?1, i.batch_id || '/' || i.id || '/' || (i.attempts + 1), ?5, ?5, i.request,
			CASE WHEN ?6 = '' THEN json_object(` + requestAttrsSQL + `)
			ELSE json_object(` + requestAttrsSQL + `, '` + batch.AttrTraceID + `', ?6) END,
			i.batch_id, i.id
		FROM items i NOT INDEXED
		WHERE i.batch_id = ?2 AND i.id >= ?4 AND i.id <= ?3 AND i.outcome = '' AND i.published = 0 ORDER BY i.id
		ON CONFLICT (topic, id) DO NOTHING`,
	"markOutbox": `UPDATE items NOT INDEXED SET published = 1, attempts = attempts + 1, published_at = ?1
		WHERE batch_id = ?2 AND id >= ?4 AND id <= ?3 AND outcome = '' AND published = 0`,
}

// requestAttrsSQL is the arguments of json_object for the attributes of
// the request message of item i, but the trace ID, in the order encodeAttrs
// writes them (sorted by key).
const requestAttrsSQL = `'` + batch.AttrAttempt + `', CAST(i.attempts + 1 AS TEXT), '` + batch.AttrBatchID + `', i.batch_id, '` +
	batch.AttrItemID + `', i.id`

const (
	remainingExpr  = `total - succeeded - skipped - failed - timed_out`
	remainingExprB = `b.total - b.succeeded - b.skipped - b.failed - b.timed_out`

	batchCols = `id, run_date, run_label, state, result, total, succeeded, skipped, failed, timed_out,
		policy, meta, created_at, updated_at, deadline, finalized_at, lease_owner, lease_expires,
		finalize_attempts, cancel_reason`
	eventCols = `id, type, batch_id, payload, created_at, published_at`
)

// itemCols are the columns scanItem reads; itemColsNoRequest the same
// with a NULL request.
var (
	itemCols          = `batch_id, id, ` + requestOf("items") + `, published, attempts, outcome, ` + resultOf("items") + `, error, created_at, published_at, completed_at`
	itemColsNoRequest = `batch_id, id, NULL, published, attempts, outcome, ` + resultOf("items") + `, error, created_at, published_at, completed_at`
)

// resultOf reads the result of the items row named t: in the row when it
// is small or was recorded before item_results, else in item_results (see
// inlineResult).
func resultOf(t string) string {
	return `coalesce(` + t + `.result, (SELECT r.result FROM item_results r WHERE r.batch_id = ` + t + `.batch_id AND r.id = ` + t + `.id))`
}

// requestOf reads the request of the items row named t: in the row when
// it is small, else in item_requests (see inlineRequest).
func requestOf(t string) string {
	return `coalesce(` + t + `.request, (SELECT r.request FROM item_requests r WHERE r.batch_id = ` + t + `.batch_id AND r.id = ` + t + `.id))`
}

func insertItemsSQL(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO items (batch_id, id, request, created_at) VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?)")
	}
	return b.String()
}

// prepared returns the Store's statements, preparing them on first use. It
// must not be called from inside a db.Write function: preparing needs the
// write connection that the function's transaction holds.
func (s *Store) prepared(ctx context.Context) (*storeStmts, error) {
	s.prepMu.Lock()
	defer s.prepMu.Unlock()
	if s.stmts != nil {
		return s.stmts, nil
	}
	st := &storeStmts{}
	stmts := map[string]**sql.Stmt{
		"record": &st.record, "count": &st.count, "remaining": &st.remaining, "lookup": &st.lookup,
		"insertItems": &st.insertItems, "insertRequest": &st.insertRequest, "insertResult": &st.insertResult, "outbox": &st.outbox,
		"outboxMessages": &st.outboxMessages, "markOutbox": &st.markOutbox,
	}
	for name, dst := range stmts {
		p, err := s.db.write.PrepareContext(ctx, storeSQL[name])
		if err != nil {
			for _, q := range stmts {
				if *q != nil {
					(*q).Close()
				}
			}
			return nil, fmt.Errorf("prepare store statement %s: %w", name, err)
		}
		*dst = p
	}
	s.stmts = st
	return st, nil
}

// write runs fn in a group-commit transaction (see [DB.Write]). fn gets a
// context that is never cancelled: the transaction is shared with other
// callers, and a cancelled context would make the driver interrupt the
// connection and so every caller's statements. Write itself honours ctx
// until fn starts.
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx, st *storeStmts) error) error {
	st, err := s.prepared(ctx)
	if err != nil {
		return err
	}
	return s.db.Write(ctx, func(tx *sql.Tx) error { return fn(context.WithoutCancel(ctx), tx, st) })
}

// micros returns t as Unix microseconds, 0 for the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of micros; times come back in UTC.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// isConstraint reports whether err is a primary-key or unique violation.
func isConstraint(err error) bool {
	var se *sqlitedrv.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

type scanner interface{ Scan(dest ...any) error }

func scanBatch(r scanner) (batch.Batch, error) {
	var (
		b                                     batch.Batch
		state, result, policy, meta           string
		created, updated, deadline, finalized int64
		leaseExpires                          int64
	)
	err := r.Scan(&b.ID, &b.Key.Date, &b.Key.Run, &state, &result, &b.Total,
		&b.Counts.Succeeded, &b.Counts.Skipped, &b.Counts.Failed, &b.Counts.TimedOut,
		&policy, &meta, &created, &updated, &deadline, &finalized, &b.Lease.Owner, &leaseExpires,
		&b.FinalizeAttempts, &b.CancelReason)
	if err != nil {
		return batch.Batch{}, err
	}
	b.State, b.Result = batch.State(state), batch.Result(result)
	if err := jsonUnmarshal(policy, &b.Policy); err != nil {
		return batch.Batch{}, fmt.Errorf("batch %s: policy: %w", b.ID, err)
	}
	if err := jsonUnmarshal(meta, &b.Meta); err != nil {
		return batch.Batch{}, fmt.Errorf("batch %s: meta: %w", b.ID, err)
	}
	if len(b.Meta) == 0 {
		b.Meta = nil
	}
	b.CreatedAt, b.UpdatedAt, b.Deadline = fromMicros(created), fromMicros(updated), fromMicros(deadline)
	b.FinalizedAt, b.Lease.Expires = fromMicros(finalized), fromMicros(leaseExpires)
	return b, nil
}

func scanItem(r scanner) (batch.Item, error) {
	var (
		it                          batch.Item
		published                   int
		outcome                     string
		created, pubAt, completedAt int64
	)
	err := r.Scan(&it.BatchID, &it.ID, &it.Request, &published, &it.Attempts, &outcome, &it.Result, &it.Error,
		&created, &pubAt, &completedAt)
	if err != nil {
		return batch.Item{}, err
	}
	it.Published, it.Outcome = published != 0, batch.Outcome(outcome)
	it.CreatedAt, it.PublishedAt, it.CompletedAt = fromMicros(created), fromMicros(pubAt), fromMicros(completedAt)
	return it, nil
}

func scanEvent(r scanner) (batch.Event, error) {
	var (
		ev           batch.Event
		created, pub int64
	)
	if err := r.Scan(&ev.ID, &ev.Type, &ev.BatchID, &ev.Payload, &created, &pub); err != nil {
		return batch.Event{}, err
	}
	ev.CreatedAt, ev.PublishedAt = fromMicros(created), fromMicros(pub)
	return ev, nil
}

// queryer is what the reads need from a *sql.DB or *sql.Tx.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func queryItems(ctx context.Context, q queryer, query string, args ...any) ([]batch.Item, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var items []batch.Item
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, rows.Err()
}
