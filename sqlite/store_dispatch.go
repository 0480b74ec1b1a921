package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
	"unicode/utf8"

	"tipoff/batch"
)

var _ batch.OutboxPublisher = (*Store)(nil)

// PublishesTo implements [batch.OutboxPublisher.PublishesTo]: q must be a
// [Queue] on the store's own [DB].
func (s *Store) PublishesTo(q batch.Queue) bool { return s.AcksFor(q) }

// PublishOutbox implements [batch.OutboxPublisher.PublishOutbox]: in one
// [DB.Write] it finds the chunk of the outbox (its first and last item IDs),
// inserts the chunk's request messages as [Queue.Publish] stores the
// messages [batch.RequestMessage] makes, and marks the chunk published,
// each step one statement over the chunk's primary-key range (in the same
// transaction the chunk is exactly the outbox items from its first ID to
// its last). The items travel from the outbox to the queue inside SQLite:
// no row comes back to Go, and nothing is read on the pool or committed
// twice.
func (s *Store) PublishOutbox(ctx context.Context, q batch.Queue, batchID string, limit int, at time.Time, traceID string) (int, error) {
	sq, ok := q.(*Queue)
	if !ok || sq.db != s.db {
		return 0, fmt.Errorf("publish outbox of %s: %w: the queue is not one of %s", batchID, batch.ErrInvalid, s.db.path)
	}
	if limit < 1 {
		return 0, fmt.Errorf("publish outbox of %s: %w: limit %d is below 1", batchID, batch.ErrInvalid, limit)
	}
	if !utf8.ValidString(traceID) {
		return 0, fmt.Errorf("publish outbox of %s: %w: trace ID %q is not valid UTF-8", batchID, batch.ErrInvalid, traceID)
	}
	st, err := s.prepared(ctx)
	if err != nil {
		return 0, err
	}
	if err := sq.enter(); err != nil {
		return 0, err
	}
	defer sq.inflight.Done()
	topic := batch.TopicRequests
	var n int
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		n = 0
		wctx := context.WithoutCancel(ctx) // see storeStmts
		state, err := batchState(wctx, tx, batchID)
		if err != nil {
			return err
		}
		if state != batch.Running {
			return nil // the outbox is closed
		}
		var first, last sql.NullString
		var count int
		if err := tx.StmtContext(wctx, st.outbox).QueryRowContext(wctx, batchID, limit).Scan(&first, &last, &count); err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		if count == 0 {
			return nil
		}
		if _, err := tx.StmtContext(wctx, st.outboxMessages).ExecContext(wctx, topic, batchID, last.String, first.String, sq.now(), traceID); err != nil {
			return fmt.Errorf("publish to %s: %w", topic, err)
		}
		if _, err := tx.StmtContext(wctx, st.markOutbox).ExecContext(wctx, micros(at), batchID, last.String, first.String); err != nil {
			return fmt.Errorf("mark published: %w", err)
		}
		n = count
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("publish outbox of %s: %w", batchID, err)
	}
	if n > 0 {
		sq.notify(topic)
	}
	return n, nil
}
