package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// queueStmts are the queue's statements, prepared once on the write
// connection and bound to each group-commit transaction with
// tx.StmtContext, which reuses the prepared statement instead of parsing the
// SQL again.
//
// Inside a db.Write function the queue runs them under
// context.WithoutCancel: the transaction is shared with other callers, and
// a cancelled context would make the driver interrupt the connection, and so
// every caller's statements, not just the cancelled one's. Write itself
// already honours the caller's context up to the point its function runs.
type queueStmts struct {
	insert, claim, next, settle, nack, topic, deadLetter *sql.Stmt
}

var queueSQL = map[string]string{
	"insert": `INSERT INTO queue_messages (topic, id, body, attrs, published_at, visible_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (topic, id) DO NOTHING`,
	// ?1 lease end, ?2 topic, ?3 now, ?4 max.
	"claim": `UPDATE queue_messages SET deliveries = deliveries + 1, visible_at = ?1, leased = 1
		WHERE seq IN (SELECT seq FROM queue_messages WHERE topic = ?2 AND visible_at <= ?3 ORDER BY visible_at LIMIT ?4)
		RETURNING seq, id, body, attrs, published_at, deliveries`,
	"next": `SELECT min(visible_at) FROM queue_messages WHERE topic = ?`,
	// A delivery (seq, deliveries) is current while its row is leased with
	// that delivery count.
	"settle": `DELETE FROM queue_messages WHERE seq = ? AND deliveries = ? AND leased = 1`,
	"nack": `UPDATE queue_messages SET visible_at = ?, leased = 0 WHERE seq = ? AND deliveries = ? AND leased = 1
		RETURNING topic`,
	"topic": `SELECT topic FROM queue_messages WHERE seq = ? AND deliveries = ? AND leased = 1`,
	// ?1 dead-letter topic, ?2 now, ?3 seq, ?4 deliveries.
	"deadLetter": `INSERT INTO queue_messages (topic, id, body, attrs, published_at, visible_at)
		SELECT ?1, id, body, attrs, published_at, ?2 FROM queue_messages WHERE seq = ?3 AND deliveries = ?4 AND leased = 1
		ON CONFLICT (topic, id) DO NOTHING`,
}

// prepared returns the queue's statements, preparing them on first use.
// It must not be called from inside a db.Write function: preparing needs
// the write connection that the function's transaction holds.
func (q *Queue) prepared(ctx context.Context) (*queueStmts, error) {
	q.prepMu.Lock()
	defer q.prepMu.Unlock()
	if q.stmts != nil {
		return q.stmts, nil
	}
	st := &queueStmts{}
	for name, dst := range map[string]**sql.Stmt{
		"insert": &st.insert, "claim": &st.claim, "next": &st.next, "settle": &st.settle,
		"nack": &st.nack, "topic": &st.topic, "deadLetter": &st.deadLetter,
	} {
		s, err := q.db.write.PrepareContext(ctx, queueSQL[name])
		if err != nil {
			st.close()
			return nil, fmt.Errorf("prepare queue statement %s: %w", name, err)
		}
		*dst = s
	}
	q.stmts = st
	return st, nil
}

func (st *queueStmts) close() error {
	var errs []error
	for _, s := range []*sql.Stmt{st.insert, st.claim, st.next, st.settle, st.nack, st.topic, st.deadLetter} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}
