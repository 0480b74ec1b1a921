package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// queueStmts are the queue's statements, prepared once: the write ones on
// the write connection, bound to each group-commit transaction with
// tx.StmtContext (which reuses the prepared statement instead of parsing
// the SQL again), and the payload read on the read pool.
//
// Inside a db.Write function the queue runs them under
// context.WithoutCancel: the transaction is shared with other callers, and
// a cancelled context would make the driver interrupt the connection, and so
// every caller's statements, not just the cancelled one's. Write itself
// already honours the caller's context up to the point its function runs.
type queueStmts struct {
	// insert[k] inserts k messages at once, k in insertChunks: one
	// statement per chunk instead of one per message.
	insert map[int]*sql.Stmt

	claim, next, ack, nack, dlDelete, dlInsert *sql.Stmt
	readPayloads                               *sql.Stmt
}

// insertChunks are the row counts of the multi-row inserts, largest first.
var insertChunks = []int{64, 16, 4, 1}

// chunkSize returns the largest insert chunk that fits in n rows.
func chunkSize(n int) int {
	for _, k := range insertChunks {
		if k <= n {
			return k
		}
	}
	return 1
}

// insertSQL returns the multi-row insert of k messages: ?1 topic, ?2 now,
// then each message's ID, body and attributes. A message whose ID is
// already on the topic (or earlier in the same statement) is dropped.
func insertSQL(k int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO queue_messages (topic, id, published_at, visible_at, body, attrs) VALUES ")
	for i := range k {
		if i > 0 {
			b.WriteString(", ")
		}
		p := 3 + 3*i
		b.WriteString("(?1, ?" + strconv.Itoa(p) + ", ?2, ?2, ?" + strconv.Itoa(p+1) + ", ?" + strconv.Itoa(p+2) + ")")
	}
	b.WriteString(" ON CONFLICT (topic, id) DO NOTHING")
	return b.String()
}

// The fixed statements. A delivery (seq, deliveries) is current while its
// row is leased with that delivery count.
var queueSQL = map[string]string{
	// ?1 lease end, ?2 topic, ?3 now, ?4 limit.
	"claim": `UPDATE queue_messages SET deliveries = deliveries + 1, visible_at = ?1, leased = 1
		WHERE seq IN (SELECT seq FROM queue_messages WHERE topic = ?2 AND visible_at <= ?3 ORDER BY visible_at LIMIT ?4)
		RETURNING seq, id, published_at, deliveries`,
	"next": `SELECT min(visible_at) FROM queue_messages WHERE topic = ?`,
	// One statement per delivery: matching (seq, deliveries) pairs from a
	// JSON array with a row-value IN measured twice as slow.
	"ack": `DELETE FROM queue_messages WHERE seq = ? AND deliveries = ? AND leased = 1`,
	"nack": `UPDATE queue_messages SET visible_at = ?, leased = 0 WHERE seq = ? AND deliveries = ? AND leased = 1
		RETURNING topic`,
	"dlDelete": `DELETE FROM queue_messages WHERE seq = ? AND deliveries = ? AND leased = 1
		RETURNING topic, id, published_at, body, attrs, req_batch, req_item`,
	"dlInsert": `INSERT INTO queue_messages (topic, id, published_at, visible_at, body, attrs, req_batch, req_item)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (topic, id) DO NOTHING`,
}

// messageBody is the body of the queue_messages row m: its own, or, for a
// request message the store published from its outbox, the request it
// refers to (see the store's outboxMessages).
const messageBody = `coalesce(m.body, (SELECT r.request FROM item_requests r WHERE r.batch_id = m.req_batch AND r.id = m.req_item))`

const readPayloadsSQL = `SELECT m.seq, ` + messageBody + `, m.attrs FROM queue_messages m WHERE m.seq IN (SELECT value FROM json_each(?1))`

// prepared returns the queue's statements, preparing them on first use.
// It must not be called from inside a db.Write function: preparing needs
// the write connection that the function's transaction holds.
func (q *Queue) prepared(ctx context.Context) (*queueStmts, error) {
	q.prepMu.Lock()
	defer q.prepMu.Unlock()
	if q.stmts != nil {
		return q.stmts, nil
	}
	st := &queueStmts{insert: make(map[int]*sql.Stmt)}
	prep := func(db *sql.DB, name, query string) (*sql.Stmt, error) {
		s, err := db.PrepareContext(ctx, query)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("prepare queue statement %s: %w", name, err)
		}
		return s, nil
	}
	var err error
	for _, k := range insertChunks {
		if st.insert[k], err = prep(q.db.write, "insert", insertSQL(k)); err != nil {
			return nil, err
		}
	}
	for name, dst := range map[string]**sql.Stmt{
		"claim": &st.claim, "next": &st.next, "ack": &st.ack,
		"nack": &st.nack, "dlDelete": &st.dlDelete, "dlInsert": &st.dlInsert,
	} {
		if *dst, err = prep(q.db.write, name, queueSQL[name]); err != nil {
			return nil, err
		}
	}
	if st.readPayloads, err = prep(q.db.read, "readPayloads", readPayloadsSQL); err != nil {
		return nil, err
	}
	q.stmts = st
	return st, nil
}

func (st *queueStmts) close() error {
	all := []*sql.Stmt{st.claim, st.next, st.ack, st.nack, st.dlDelete, st.dlInsert, st.readPayloads}
	for _, s := range st.insert {
		all = append(all, s)
	}
	var errs []error
	for _, s := range all {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}
