package sqlite

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"tipoff/batch"
)

// QueueConfig configures a [Queue]. Zero (or negative) fields take their
// defaults.
type QueueConfig struct {
	// Lease is the visibility timeout: how long a received message stays
	// hidden from other receivers before it is delivered again unless it
	// is acked or nacked. Default 30s.
	Lease time.Duration
	// MaxDeliveries is how many times a message is delivered. When its
	// last delivery is nacked the message moves to [batch.DeadLetterTopic]
	// of its topic at once; when that delivery's lease expires instead, it
	// moves there as the next Receive on its topic reaches it. Default 5.
	MaxDeliveries int
	// BackoffMin and BackoffMax bound the delay before a nacked message is
	// delivered again. After its n-th delivery the delay is
	// BackoffMin·2^(n-1), capped at BackoffMax, then jittered to a random
	// point between half of that and all of it, so that messages nacked
	// together do not come back together. Defaults 1s and 1m; a BackoffMax
	// below BackoffMin is raised to it.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// PollInterval is the longest a waiting Receive goes without looking at
	// the file: it bounds how late a receiver sees a message published by
	// another process, or one whose lease or backoff ended. Publish and Nack
	// through the same Queue wake its waiting receivers at once. Default
	// 500ms.
	PollInterval time.Duration
	// NowFunc is the clock for leases, backoffs and publish times. Default
	// time.Now.
	NowFunc func() time.Time
}

func (c QueueConfig) withDefaults() QueueConfig {
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.MaxDeliveries <= 0 {
		c.MaxDeliveries = 5
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = time.Second
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = time.Minute
	}
	c.BackoffMax = max(c.BackoffMax, c.BackoffMin)
	if c.PollInterval <= 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	if c.NowFunc == nil {
		c.NowFunc = time.Now
	}
	return c
}

// Queue is the durable [batch.Queue] in the SQLite file: each message is
// one queue_messages row (topic, ID, lease state, body and attributes),
// written through the file's group commit ([DB.Write]), so a message is on
// disk before Publish returns and stays there until it is acked. Delivery
// is at least once: a receiver that dies holding a message loses nothing,
// because the lease expires and the message is delivered again. Receive
// leases in the write transaction and reads bodies and attributes
// afterwards on the read pool, keeping the shared writer's work per message
// small.
//
// Message IDs: Publish drops a message whose ID is already held by a
// message on the same topic that has not been acked yet (waiting, leased or
// backing off), so re-publishing after a crash does not double the work.
// Once acked (or dead-lettered) the ID may be published again. A message
// published without an ID gets a random one.
//
// First deliveries to one receiver come in publish order; a redelivered
// message queues by the time its lease or backoff ended. Any number of
// Queues, in any number of processes, may share a file. [Queue.Depth],
// [Queue.Depths] and [Queue.DeadLetters] count messages for the operators'
// pages without taking the write lock.
type Queue struct {
	db  *DB
	cfg QueueConfig

	mu       sync.Mutex
	closed   bool
	done     chan struct{}
	wake     map[string]chan struct{} // per topic; closed and replaced to wake waiters
	inflight sync.WaitGroup

	prepMu sync.Mutex
	stmts  *queueStmts
}

var _ batch.Queue = (*Queue)(nil)

// NewQueue returns a queue on db. It starts nothing; Close releases its
// prepared statements and ends waiting receivers, and does not close db.
func NewQueue(db *DB, cfg QueueConfig) *Queue {
	return &Queue{db: db, cfg: cfg.withDefaults(), done: make(chan struct{}), wake: make(map[string]chan struct{})}
}

// errQueueClosed is returned by every call after [Queue.Close].
var errQueueClosed = errors.New("sqlite: queue is closed")

// Close makes waiting and later calls return an error, waits for calls in
// progress to finish and releases the queue's prepared statements.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.done)
	q.mu.Unlock()
	q.inflight.Wait()
	q.prepMu.Lock()
	defer q.prepMu.Unlock()
	if q.stmts == nil {
		return nil
	}
	err := q.stmts.close()
	q.stmts = nil
	return err
}

// enter registers a call in progress; the caller must call q.inflight.Done.
func (q *Queue) enter() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return errQueueClosed
	}
	q.inflight.Add(1)
	return nil
}

// waiter returns the channel that is closed at the next notify of topic.
func (q *Queue) waiter(topic string) <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	c, ok := q.wake[topic]
	if !ok {
		c = make(chan struct{})
		q.wake[topic] = c
	}
	return c
}

// notify wakes the receivers of topic waiting in this process.
func (q *Queue) notify(topic string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if c, ok := q.wake[topic]; ok {
		close(c)
		delete(q.wake, topic)
	}
}

func (q *Queue) now() int64 { return q.cfg.NowFunc().UnixNano() }

// Publish stores msgs on topic in one durable transaction. Nothing is
// stored if any message is invalid: the error wraps [batch.ErrInvalid] and
// names the message. A message whose ID is already pending on topic is
// dropped (see [Queue]).
func (q *Queue) Publish(ctx context.Context, topic string, msgs ...batch.Message) error {
	if err := checkTopic(topic); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if len(msgs) == 0 {
		return nil
	}
	ids := make([]string, len(msgs))
	attrs := make([]any, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
		if ids[i] == "" {
			ids[i] = rand.Text()
		}
		a, err := encodeAttrs(m.Attributes)
		if err != nil {
			return fmt.Errorf("publish to %s: message %d (id %q): %w", topic, i, m.ID, err)
		}
		attrs[i] = a
	}
	if err := q.enter(); err != nil {
		return err
	}
	defer q.inflight.Done()
	st, err := q.prepared(ctx)
	if err != nil {
		return err
	}
	now := q.now()
	err = q.db.Write(ctx, func(tx *sql.Tx) error {
		wctx := context.WithoutCancel(ctx) // see queueStmts
		for off := 0; off < len(msgs); {
			k := chunkSize(len(msgs) - off)
			if err := publishChunk(wctx, tx, st, topic, now, msgs[off:off+k], ids[off:off+k], attrs[off:off+k]); err != nil {
				return err
			}
			off += k
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish %d messages to %s: %w", len(msgs), topic, err)
	}
	q.notify(topic)
	return nil
}

// publishChunk inserts len(msgs) messages (an insert chunk size) with one
// statement; those whose IDs are on the topic already are dropped.
func publishChunk(ctx context.Context, tx *sql.Tx, st *queueStmts, topic string, now int64, msgs []batch.Message, ids []string, attrs []any) error {
	args := make([]any, 0, 2+3*len(msgs))
	args = append(args, topic, now)
	for i, m := range msgs {
		args = append(args, ids[i], m.Body, attrs[i])
	}
	_, err := tx.StmtContext(ctx, st.insert[len(msgs)]).ExecContext(ctx, args...)
	return err
}

// Receive waits until at least one message of topic is ready or ctx ends,
// then leases up to limit ready messages to the caller, all in one
// transaction, each for the configured Lease. A ready message that has
// already been delivered MaxDeliveries times is moved to the dead-letter
// topic instead. It returns ctx's error if ctx ends first (at once if ctx
// is already done), and an error wrapping [batch.ErrInvalid] for an empty
// topic or a limit below 1.
func (q *Queue) Receive(ctx context.Context, topic string, limit int) ([]batch.Delivery, error) {
	if err := checkTopic(topic); err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	if limit < 1 {
		return nil, fmt.Errorf("receive from %s: %w: max %d is below 1", topic, batch.ErrInvalid, limit)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := q.enter(); err != nil {
		return nil, err
	}
	defer q.inflight.Done()
	st, err := q.prepared(ctx)
	if err != nil {
		return nil, err
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		// Take the wake-up channel before looking, so that a publish
		// committed after the look still wakes this receiver.
		wake := q.waiter(topic)
		ds, next, err := q.claim(ctx, st, topic, limit)
		if err != nil || len(ds) > 0 {
			return ds, err
		}
	wait:
		for {
			d := q.cfg.PollInterval
			if next > 0 {
				d = min(d, max(time.Duration(next-q.now()), time.Millisecond))
			}
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-q.done:
				return nil, errQueueClosed
			case <-wake:
				break wait
			case <-timer.C:
				// Look on the read pool first so that idle receivers do
				// not take the write lock at every poll.
				if next, err = q.nextVisible(ctx, topic); err != nil {
					return nil, err
				}
				if next > 0 && next <= q.now() {
					break wait
				}
			}
		}
	}
}

// claimed is one message leased by claim.
type claimed struct {
	seq, published int64
	deliveries     int
	id             string
}

// claim leases up to limit ready messages of topic in one write
// transaction, moving exhausted ones to the dead-letter topic, then reads
// their bodies and attributes (payloads) on the read pool, outside the shared transaction. When it
// leases nothing it returns when the topic's next message becomes visible
// (0: none).
func (q *Queue) claim(ctx context.Context, st *queueStmts, topic string, limit int) ([]batch.Delivery, int64, error) {
	var rows []claimed
	var next int64
	var deadLettered bool
	now := q.now()
	err := q.db.Write(ctx, func(tx *sql.Tx) error {
		rows, next, deadLettered = rows[:0], 0, false
		wctx := context.WithoutCancel(ctx)
		for len(rows) == 0 {
			got, err := q.claimRows(wctx, tx.StmtContext(wctx, st.claim), topic, now, limit)
			if err != nil {
				return err
			}
			if len(got) == 0 {
				break
			}
			for _, r := range got {
				if r.deliveries <= q.cfg.MaxDeliveries {
					rows = append(rows, r)
					continue
				}
				if _, err := deadLetter(wctx, tx, st, r.seq, r.deliveries, now); err != nil {
					return err
				}
				deadLettered = true
			}
		}
		if len(rows) == 0 {
			var n sql.NullInt64
			if err := tx.StmtContext(wctx, st.next).QueryRowContext(wctx, topic).Scan(&n); err != nil {
				return fmt.Errorf("next visible: %w", err)
			}
			next = n.Int64
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("receive from %s: %w", topic, err)
	}
	if deadLettered {
		q.notify(batch.DeadLetterTopic(topic))
	}
	if len(rows) == 0 {
		return nil, next, nil
	}
	// The leases are taken: read the payloads even if ctx ends meanwhile,
	// rather than leave the messages stranded until their leases expire.
	ds, err := q.deliveries(context.WithoutCancel(ctx), st, topic, rows)
	return ds, 0, err
}

func (q *Queue) claimRows(ctx context.Context, claim *sql.Stmt, topic string, now int64, limit int) ([]claimed, error) {
	rs, err := claim.QueryContext(ctx, now+int64(q.cfg.Lease), topic, now, limit)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var got []claimed
	for rs.Next() {
		var r claimed
		if err := rs.Scan(&r.seq, &r.id, &r.published, &r.deliveries); err != nil {
			return nil, err
		}
		got = append(got, r)
	}
	return got, rs.Err()
}

// deliveries reads the payloads of claimed messages and returns them as
// deliveries in publish order. The leases are committed, so the payloads
// cannot change under the read. A payload that does not decode is left
// leased: it is delivered again after the lease and, like any message that
// keeps failing, dead-lettered; the error is returned only if nothing could
// be delivered.
func (q *Queue) deliveries(ctx context.Context, st *queueStmts, topic string, rows []claimed) ([]batch.Delivery, error) {
	slices.SortFunc(rows, func(a, b claimed) int { return cmp.Compare(a.seq, b.seq) })
	buf := make([]byte, 0, 16*len(rows))
	buf = append(buf, '[')
	for i, r := range rows {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendInt(buf, r.seq, 10)
	}
	buf = append(buf, ']')
	type payload struct {
		body  []byte
		attrs sql.NullString
	}
	payloads := make(map[int64]payload, len(rows))
	rs, err := st.readPayloads.QueryContext(ctx, string(buf))
	if err != nil {
		return nil, fmt.Errorf("receive from %s: read payloads: %w", topic, err)
	}
	defer rs.Close()
	for rs.Next() {
		var seq int64
		var p payload
		if err := rs.Scan(&seq, &p.body, &p.attrs); err != nil {
			return nil, fmt.Errorf("receive from %s: read payloads: %w", topic, err)
		}
		payloads[seq] = p
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("receive from %s: read payloads: %w", topic, err)
	}
	ds := make([]batch.Delivery, 0, len(rows))
	var bad []error
	for _, r := range rows {
		p, ok := payloads[r.seq]
		if !ok {
			bad = append(bad, fmt.Errorf("receive from %s: message %d (id %q) has no payload", topic, r.seq, r.id))
			continue
		}
		attrs, err := decodeAttrs(p.attrs)
		if err != nil {
			bad = append(bad, fmt.Errorf("receive from %s: message %d (id %q): %w", topic, r.seq, r.id, err))
			continue
		}
		ds = append(ds, batch.Delivery{
			Message:     batch.Message{ID: r.id, Body: p.body, Attributes: attrs},
			Attempt:     r.deliveries,
			PublishedAt: time.Unix(0, r.published),
			Receipt:     receipt(r.seq, r.deliveries),
		})
	}
	if len(ds) == 0 {
		return nil, errors.Join(bad...)
	}
	return ds, nil
}

// deadLetter moves the delivery (seq, deliveries) of a message to the
// dead-letter topic of its topic, where it waits undelivered, under a new
// seq, with the same ID, body, attributes and publish time. If the
// dead-letter topic already holds a message with the ID, the copy is
// dropped like any duplicate publish. It returns the dead-letter topic, or
// "" if the delivery was not current.
func deadLetter(ctx context.Context, tx *sql.Tx, st *queueStmts, seq int64, deliveries int, now int64) (string, error) {
	var topic, id string
	var published int64
	var body []byte
	var attrs, reqBatch, reqItem sql.NullString
	err := tx.StmtContext(ctx, st.dlDelete).QueryRowContext(ctx, seq, deliveries).Scan(&topic, &id, &published, &body, &attrs, &reqBatch, &reqItem)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("dead-letter message %d: %w", seq, err)
	}
	dl := batch.DeadLetterTopic(topic)
	if _, err := tx.StmtContext(ctx, st.dlInsert).ExecContext(ctx, dl, id, published, now, body, attrs, reqBatch, reqItem); err != nil {
		return "", fmt.Errorf("dead-letter message %d: %w", seq, err)
	}
	return dl, nil
}

// nextVisible returns when topic's next message becomes visible, 0 if the
// topic is empty.
func (q *Queue) nextVisible(ctx context.Context, topic string) (int64, error) {
	var n sql.NullInt64
	if err := q.db.read.QueryRowContext(ctx, "SELECT min(visible_at) FROM queue_messages WHERE topic = ?", topic).Scan(&n); err != nil {
		return 0, fmt.Errorf("receive from %s: %w", topic, err)
	}
	return n.Int64, nil
}

// Ack deletes the delivered messages in one durable transaction. A delivery
// is settled once: acking one that was already acked or nacked, or whose
// lease expired and which was delivered again, or that was dead-lettered,
// changes nothing and yields an error wrapping [batch.ErrConflict]; a
// receipt that is not this queue's yields one wrapping [batch.ErrInvalid].
// The other deliveries are acked all the same. A delivery whose lease
// expired but which nobody has received since is acked normally.
func (q *Queue) Ack(ctx context.Context, ds ...batch.Delivery) error {
	return q.settle(ctx, "ack", ds, func(ctx context.Context, tx *sql.Tx, st *queueStmts, rs []parsedReceipt, _ int64) ([]bool, []string, error) {
		current, err := ackRows(ctx, tx, st, rs)
		return current, nil, err
	})
}

// ackRows deletes the messages of the deliveries rs inside tx, per
// delivery, and reports which deliveries were current.
func ackRows(ctx context.Context, tx *sql.Tx, st *queueStmts, rs []parsedReceipt) ([]bool, error) {
	ack := tx.StmtContext(ctx, st.ack)
	current := make([]bool, len(rs))
	for i, r := range rs {
		res, err := ack.ExecContext(ctx, r.seq, r.deliveries)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", r.seq, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", r.seq, err)
		}
		current[i] = n == 1
	}
	return current, nil
}

// Nack gives the delivered messages back, in one durable transaction, to be
// delivered again after a backoff (see [QueueConfig]); a message that has
// had MaxDeliveries deliveries moves to the dead-letter topic instead. Its
// errors are those of [Queue.Ack].
func (q *Queue) Nack(ctx context.Context, ds ...batch.Delivery) error {
	return q.settle(ctx, "nack", ds, func(ctx context.Context, tx *sql.Tx, st *queueStmts, rs []parsedReceipt, now int64) ([]bool, []string, error) {
		current := make([]bool, len(rs))
		var wake []string
		for i, r := range rs {
			var topic string
			if r.deliveries >= q.cfg.MaxDeliveries {
				dl, err := deadLetter(ctx, tx, st, r.seq, r.deliveries, now)
				if err != nil {
					return nil, nil, err
				}
				topic = dl
			} else {
				err := tx.StmtContext(ctx, st.nack).QueryRowContext(ctx, now+int64(q.backoff(r.deliveries)), r.seq, r.deliveries).Scan(&topic)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return nil, nil, fmt.Errorf("message %d: %w", r.seq, err)
				}
			}
			current[i] = topic != ""
			if topic != "" && !slices.Contains(wake, topic) {
				wake = append(wake, topic)
			}
		}
		return current, wake, nil
	})
}

// backoff returns the delay before a message nacked after its n-th delivery
// is delivered again.
func (q *Queue) backoff(n int) time.Duration {
	d := q.cfg.BackoffMin
	for i := 1; i < n && d < q.cfg.BackoffMax; i++ {
		if d > q.cfg.BackoffMax/2 {
			d = q.cfg.BackoffMax
			break
		}
		d *= 2
	}
	d = min(d, q.cfg.BackoffMax)
	return d/2 + mrand.N(d-d/2+1)
}

// settle applies fn to the deliveries' receipts in one write transaction.
// fn reports which deliveries were current and which topics to wake.
func (q *Queue) settle(ctx context.Context, op string, ds []batch.Delivery,
	fn func(context.Context, *sql.Tx, *queueStmts, []parsedReceipt, int64) ([]bool, []string, error)) error {
	if len(ds) == 0 {
		return nil
	}
	rs, idx, errs := parseReceipts(op, ds)
	if len(rs) > 0 {
		if err := q.enter(); err != nil {
			return err
		}
		defer q.inflight.Done()
		st, err := q.prepared(ctx)
		if err != nil {
			return err
		}
		now := q.now()
		var current []bool
		var wake []string
		err = q.db.Write(ctx, func(tx *sql.Tx) error {
			var err error
			current, wake, err = fn(context.WithoutCancel(ctx), tx, st, rs, now)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s %d messages: %w", op, len(rs), err)
		}
		for _, t := range wake {
			q.notify(t)
		}
		errs = append(errs, staleErrs(op, ds, idx, current)...)
	}
	return errors.Join(errs...)
}

// parseReceipts parses the receipts of ds. It returns those that parse,
// the index in ds of each, and an error for each that does not.
func parseReceipts(op string, ds []batch.Delivery) (rs []parsedReceipt, idx []int, errs []error) {
	rs = make([]parsedReceipt, 0, len(ds))
	idx = make([]int, 0, len(ds))
	for i, d := range ds {
		r, err := parseReceipt(d.Receipt)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s message %q: %w", op, d.ID, err))
			continue
		}
		rs = append(rs, r)
		idx = append(idx, i)
	}
	return rs, idx, errs
}

// staleErrs returns an error wrapping [batch.ErrConflict] for each
// delivery (ds[idx[i]]) that was not current.
func staleErrs(op string, ds []batch.Delivery, idx []int, current []bool) []error {
	var errs []error
	for i, ok := range current {
		if !ok {
			d := ds[idx[i]]
			errs = append(errs, fmt.Errorf("%s message %q (receipt %s): %w: delivery is no longer current (already settled, delivered again after its lease expired, or dead-lettered)",
				op, d.ID, d.Receipt, batch.ErrConflict))
		}
	}
	return errs
}

// parsedReceipt names one delivery: the message's row and its delivery
// count at that delivery.
type parsedReceipt struct {
	seq        int64
	deliveries int
}

// receipt formats a delivery's receipt: "q<seq>.<deliveries>".
func receipt(seq int64, deliveries int) string {
	return "q" + strconv.FormatInt(seq, 10) + "." + strconv.Itoa(deliveries)
}

// parseReceipt parses a receipt made by receipt. The error wraps
// [batch.ErrInvalid].
func parseReceipt(s string) (parsedReceipt, error) {
	bad := func() (parsedReceipt, error) {
		return parsedReceipt{}, fmt.Errorf("%w: receipt %q is not a sqlite queue receipt (want q<seq>.<delivery>)", batch.ErrInvalid, s)
	}
	rest, ok := strings.CutPrefix(s, "q")
	if !ok {
		return bad()
	}
	a, b, ok := strings.Cut(rest, ".")
	if !ok {
		return bad()
	}
	seq, err1 := strconv.ParseInt(a, 10, 64)
	n, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || seq < 1 || n < 1 || receipt(seq, n) != s {
		return bad()
	}
	return parsedReceipt{seq: seq, deliveries: n}, nil
}

func checkTopic(topic string) error {
	if topic == "" {
		return fmt.Errorf("%w: empty topic", batch.ErrInvalid)
	}
	if !utf8.ValidString(topic) {
		return fmt.Errorf("%w: topic %q is not valid UTF-8", batch.ErrInvalid, topic)
	}
	return nil
}
