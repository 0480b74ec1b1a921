package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
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
	// last delivery is nacked, or that delivery's lease expires, the message
	// moves to [batch.DeadLetterTopic] of its topic. Default 5.
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

// Queue is the durable [batch.Queue] in the SQLite file: messages are rows
// of queue_messages, written through the file's group commit ([DB.Write]),
// so a message is on disk before Publish returns and stays there until it
// is acked. Delivery is at least once: a receiver that dies holding a
// message loses nothing, because the lease expires and the message is
// delivered again.
//
// Message IDs: Publish drops a message whose ID is already held by a
// message on the same topic that has not been acked yet (waiting, leased or
// backing off), so re-publishing after a crash does not double the work.
// Once acked (or dead-lettered) the ID may be published again. A message
// published without an ID gets a random one.
//
// First deliveries to one receiver come in publish order; a redelivered
// message queues by the time its lease or backoff ended. Any number of
// Queues, in any number of processes, may share a file.
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
		ins := tx.StmtContext(wctx, st.insert)
		for i, m := range msgs {
			if _, err := ins.ExecContext(wctx, topic, ids[i], m.Body, attrs[i], now, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish %d messages to %s: %w", len(msgs), topic, err)
	}
	q.notify(topic)
	return nil
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

// claimed is one row leased by claim, not yet decoded.
type claimed struct {
	seq, published int64
	deliveries     int
	id             string
	body           []byte
	attrs          sql.NullString
}

// claim leases up to limit ready messages of topic in one write transaction,
// moving exhausted ones to the dead-letter topic. When it leases nothing it
// returns when the topic's next message becomes visible (0: none).
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
				if _, err := deadLetter(wctx, tx, st, topic, r.seq, r.deliveries, now); err != nil {
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
	// RETURNING gives no order; deliver in publish order.
	slices.SortFunc(rows, func(a, b claimed) int { return int(a.seq - b.seq) })
	ds := make([]batch.Delivery, 0, len(rows))
	var bad []error
	for _, r := range rows {
		attrs, err := decodeAttrs(r.attrs)
		if err != nil {
			// Left leased: it is delivered again after the lease and,
			// like any message that keeps failing, dead-lettered.
			bad = append(bad, fmt.Errorf("receive from %s: message %d (id %q): %w", topic, r.seq, r.id, err))
			continue
		}
		ds = append(ds, batch.Delivery{
			Message:     batch.Message{ID: r.id, Body: r.body, Attributes: attrs},
			Attempt:     r.deliveries,
			PublishedAt: time.Unix(0, r.published),
			Receipt:     receipt(r.seq, r.deliveries),
		})
	}
	if len(ds) == 0 {
		return nil, 0, errors.Join(bad...)
	}
	return ds, 0, nil
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
		if err := rs.Scan(&r.seq, &r.id, &r.body, &r.attrs, &r.published, &r.deliveries); err != nil {
			return nil, err
		}
		got = append(got, r)
	}
	return got, rs.Err()
}

// deadLetter moves the delivery (seq, deliveries) of a message on topic to
// the dead-letter topic, where it waits undelivered with the same ID, body,
// attributes and publish time. If the dead-letter topic already holds a
// message with the ID, the copy is dropped like any duplicate publish. It
// reports whether the delivery was current.
func deadLetter(ctx context.Context, tx *sql.Tx, st *queueStmts, topic string, seq int64, deliveries int, now int64) (bool, error) {
	if _, err := tx.StmtContext(ctx, st.deadLetter).ExecContext(ctx, batch.DeadLetterTopic(topic), now, seq, deliveries); err != nil {
		return false, fmt.Errorf("dead-letter message %d: %w", seq, err)
	}
	res, err := tx.StmtContext(ctx, st.settle).ExecContext(ctx, seq, deliveries)
	if err != nil {
		return false, fmt.Errorf("dead-letter message %d: %w", seq, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
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
	return q.settle(ctx, "ack", ds, func(ctx context.Context, tx *sql.Tx, st *queueStmts, r parsedReceipt, now int64) (bool, string, error) {
		res, err := tx.StmtContext(ctx, st.settle).ExecContext(ctx, r.seq, r.deliveries)
		if err != nil {
			return false, "", err
		}
		n, err := res.RowsAffected()
		return n == 1, "", err
	})
}

// Nack gives the delivered messages back, in one durable transaction, to be
// delivered again after a backoff (see [QueueConfig]); a message that has
// had MaxDeliveries deliveries moves to the dead-letter topic instead. Its
// errors are those of [Queue.Ack].
func (q *Queue) Nack(ctx context.Context, ds ...batch.Delivery) error {
	return q.settle(ctx, "nack", ds, func(ctx context.Context, tx *sql.Tx, st *queueStmts, r parsedReceipt, now int64) (bool, string, error) {
		if r.deliveries >= q.cfg.MaxDeliveries {
			topic, err := topicOf(ctx, tx, st, r)
			if err != nil || topic == "" {
				return false, "", err
			}
			ok, err := deadLetter(ctx, tx, st, topic, r.seq, r.deliveries, now)
			return ok, batch.DeadLetterTopic(topic), err
		}
		var topic string
		err := tx.StmtContext(ctx, st.nack).QueryRowContext(ctx, now+int64(q.backoff(r.deliveries)), r.seq, r.deliveries).Scan(&topic)
		if errors.Is(err, sql.ErrNoRows) {
			return false, "", nil
		}
		return err == nil, topic, err
	})
}

// topicOf returns the topic of a current delivery, "" if it is not current.
func topicOf(ctx context.Context, tx *sql.Tx, st *queueStmts, r parsedReceipt) (string, error) {
	var topic string
	err := tx.StmtContext(ctx, st.topic).QueryRowContext(ctx, r.seq, r.deliveries).Scan(&topic)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return topic, err
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

// settle applies fn to each delivery's receipt in one write transaction.
// fn reports whether the delivery was current and which topic to wake.
func (q *Queue) settle(ctx context.Context, op string, ds []batch.Delivery,
	fn func(context.Context, *sql.Tx, *queueStmts, parsedReceipt, int64) (bool, string, error)) error {
	if len(ds) == 0 {
		return nil
	}
	var errs []error
	rs := make([]parsedReceipt, 0, len(ds))
	idx := make([]int, 0, len(ds))
	for i, d := range ds {
		r, err := parseReceipt(d.Receipt)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s message %q: %w", op, d.ID, err))
			continue
		}
		rs = append(rs, r)
		idx = append(idx, i)
	}
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
		current := make([]bool, len(rs))
		var wake []string
		err = q.db.Write(ctx, func(tx *sql.Tx) error {
			wake = wake[:0]
			wctx := context.WithoutCancel(ctx)
			for i, r := range rs {
				ok, topic, err := fn(wctx, tx, st, r, now)
				if err != nil {
					return fmt.Errorf("message %d: %w", r.seq, err)
				}
				current[i] = ok
				if ok && topic != "" && !slices.Contains(wake, topic) {
					wake = append(wake, topic)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s %d messages: %w", op, len(rs), err)
		}
		for _, t := range wake {
			q.notify(t)
		}
		for i, ok := range current {
			if !ok {
				d := ds[idx[i]]
				errs = append(errs, fmt.Errorf("%s message %q (receipt %s): %w: delivery is no longer current (already settled, delivered again after its lease expired, or dead-lettered)",
					op, d.ID, d.Receipt, batch.ErrConflict))
			}
		}
	}
	return errors.Join(errs...)
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

// encodeAttrs returns the stored form of attributes: NULL when there are
// none, else a JSON object. Keys must be non-empty and keys and values
// valid UTF-8 (JSON would silently alter anything else); the error wraps
// [batch.ErrInvalid].
func encodeAttrs(attrs map[string]string) (any, error) {
	if len(attrs) == 0 {
		return nil, nil
	}
	for k, v := range attrs {
		switch {
		case k == "":
			return nil, fmt.Errorf("%w: attribute with an empty name", batch.ErrInvalid)
		case !utf8.ValidString(k):
			return nil, fmt.Errorf("%w: attribute name %q is not valid UTF-8", batch.ErrInvalid, k)
		case !utf8.ValidString(v):
			return nil, fmt.Errorf("%w: attribute %q: value %q is not valid UTF-8", batch.ErrInvalid, k, v)
		}
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		return nil, fmt.Errorf("%w: attributes: %v", batch.ErrInvalid, err)
	}
	return string(b), nil
}

func decodeAttrs(s sql.NullString) (map[string]string, error) {
	if !s.Valid {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s.String), &m); err != nil {
		return nil, fmt.Errorf("%w: stored attributes: %v", batch.ErrInvalid, err)
	}
	return m, nil
}
