package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"tipoff/batch"
)

var _ batch.OutboxPublisher = (*Store)(nil)

// PublishesTo implements [batch.OutboxPublisher.PublishesTo]: q must be a
// [Queue] on the store's own [DB].
func (s *Store) PublishesTo(q batch.Queue) bool { return s.AcksFor(q) }

// PublishOutbox implements [batch.OutboxPublisher.PublishOutbox]: in one
// [DB.Write] it reads the chunk of the outbox, inserts the messages as
// [Queue.Publish] does and marks the chunk published with one UPDATE of a
// primary-key range (in the same transaction the chunk is exactly the
// outbox items from the first ID read to the last), so the items travel from the outbox to the queue
// without a read on the pool, a second commit or a list of IDs.
func (s *Store) PublishOutbox(ctx context.Context, q batch.Queue, batchID string, limit int, at time.Time, traceID string) (int, error) {
	sq, ok := q.(*Queue)
	if !ok || sq.db != s.db {
		return 0, fmt.Errorf("publish outbox of %s: %w: the queue is not one of %s", batchID, batch.ErrInvalid, s.db.path)
	}
	if limit < 1 {
		return 0, fmt.Errorf("publish outbox of %s: %w: limit %d is below 1", batchID, batch.ErrInvalid, limit)
	}
	st, err := s.prepared(ctx)
	if err != nil {
		return 0, err
	}
	if err := sq.enter(); err != nil {
		return 0, err
	}
	defer sq.inflight.Done()
	qst, err := sq.prepared(ctx)
	if err != nil {
		return 0, err
	}
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
		msgs, err := readOutbox(wctx, tx.StmtContext(wctx, st.outbox), batchID, limit, traceID)
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		if len(msgs) == 0 {
			return nil
		}
		ids := make([]string, len(msgs))
		attrs := make([]any, len(msgs))
		for i, m := range msgs {
			ids[i] = m.ID
			if attrs[i], err = encodeAttrs(m.Attributes); err != nil {
				return fmt.Errorf("message %q: %w", m.ID, err)
			}
		}
		now := sq.now()
		for off := 0; off < len(msgs); {
			k := chunkSize(len(msgs) - off)
			if err := publishChunk(wctx, tx, qst, topic, now, msgs[off:off+k], ids[off:off+k], attrs[off:off+k]); err != nil {
				return fmt.Errorf("publish to %s: %w", topic, err)
			}
			off += k
		}
		first, last := msgs[0].Attributes[batch.AttrItemID], msgs[len(msgs)-1].Attributes[batch.AttrItemID]
		if _, err := tx.StmtContext(wctx, st.markOutbox).ExecContext(wctx, micros(at), batchID, last, first); err != nil {
			return fmt.Errorf("mark published: %w", err)
		}
		n = len(msgs)
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

// readOutbox reads the first limit items of the batch's outbox as the
// request messages of their next attempts.
func readOutbox(ctx context.Context, stmt *sql.Stmt, batchID string, limit int, traceID string) ([]batch.Message, error) {
	rows, err := stmt.QueryContext(ctx, batchID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	msgs := make([]batch.Message, 0, min(limit, 4096))
	for rows.Next() {
		var it batch.Item
		var attempts int
		if err := rows.Scan(&it.ID, &it.Request, &attempts); err != nil {
			return nil, err
		}
		it.BatchID = batchID
		msgs = append(msgs, batch.RequestMessage(it, attempts+1, traceID))
	}
	return msgs, rows.Err()
}
