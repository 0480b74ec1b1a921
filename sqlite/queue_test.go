package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/sqlite"
)

// queueT0 is where the queue tests' clocks start.
var queueT0 = time.Date(2026, time.January, 15, 17, 0, 0, 0, time.UTC)

// queueTestConfig is the configuration the queue tests run with: a long
// PollInterval, so that a test that passes proves in-process wake-ups
// rather than polling.
func queueTestConfig(clock *batchtest.ManualClock) sqlite.QueueConfig {
	return sqlite.QueueConfig{
		Lease:         30 * time.Second,
		MaxDeliveries: 4,
		BackoffMin:    2 * time.Second,
		BackoffMax:    20 * time.Second,
		PollInterval:  time.Hour,
		NowFunc:       clock.Now,
	}
}

// openQueueDB opens a fresh SQLite file in a temporary directory.
func openQueueDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	return openQueueDBAt(tb, filepath.Join(tb.TempDir(), "queue.db"))
}

func openQueueDBAt(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(tb.Context(), path)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// mustNewQueue returns a queue on db that is closed at cleanup, before db.
func mustNewQueue(tb testing.TB, db *sqlite.DB, cfg sqlite.QueueConfig) *sqlite.Queue {
	tb.Helper()
	q := sqlite.NewQueue(db, cfg)
	tb.Cleanup(func() {
		if err := q.Close(); err != nil {
			tb.Errorf("close queue: %v", err)
		}
	})
	return q
}

func TestQueueConformance(t *testing.T) {
	t.Parallel()
	clock := batchtest.NewManualClock(queueT0)
	cfg := queueTestConfig(clock)
	batchtest.RunQueueTests(t, func(t *testing.T) batch.Queue {
		return mustNewQueue(t, openQueueDB(t), cfg)
	}, batchtest.QueueCaps{
		Clock:         clock,
		Lease:         cfg.Lease,
		MaxDeliveries: cfg.MaxDeliveries,
		// Jitter puts each backoff between half and all of its step.
		NackDelayMin:    cfg.BackoffMin / 2,
		NackDelayMax:    cfg.BackoffMax,
		FIFO:            true,
		DedupesIDs:      true,
		DetectsStaleAck: true,
	})
}

func mustPublishQ(tb testing.TB, q batch.Queue, topic string, msgs ...batch.Message) {
	tb.Helper()
	if err := q.Publish(tb.Context(), topic, msgs...); err != nil {
		tb.Fatalf("Publish(%s): %v", topic, err)
	}
}

func mustReceiveQ(tb testing.TB, q batch.Queue, topic string, limit int) []batch.Delivery {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), 20*time.Second)
	defer cancel()
	ds, err := q.Receive(ctx, topic, limit)
	if err != nil {
		tb.Fatalf("Receive(%s, %d): %v", topic, limit, err)
	}
	return ds
}

// receiveNone checks that nothing of topic is ready.
func receiveNone(tb testing.TB, q batch.Queue, topic string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), 50*time.Millisecond)
	defer cancel()
	if ds, err := q.Receive(ctx, topic, 10); len(ds) > 0 || !errors.Is(err, context.DeadlineExceeded) {
		tb.Fatalf("Receive(%s): got %d deliveries, %v; want none, %v", topic, len(ds), err, context.DeadlineExceeded)
	}
}

func testMsg(id string) batch.Message {
	return batch.Message{ID: id, Body: []byte("body of " + id), Attributes: map[string]string{batch.AttrItemID: id}}
}

// The backoff after the n-th delivery is BackoffMin·2^(n-1) capped at
// BackoffMax, jittered to [half, all] of it.
func TestQueue_NackBackoff(t *testing.T) {
	t.Parallel()
	clock := batchtest.NewManualClock(queueT0)
	cfg := queueTestConfig(clock)
	cfg.MaxDeliveries = 8
	q := mustNewQueue(t, openQueueDB(t), cfg)
	mustPublishQ(t, q, "backoff", testMsg("m"))
	for n := 1; n < cfg.MaxDeliveries; n++ {
		ds := mustReceiveQ(t, q, "backoff", 1)
		if len(ds) != 1 || ds[0].Attempt != n {
			t.Fatalf("delivery %d: got %d deliveries, attempt %d", n, len(ds), ds[0].Attempt)
		}
		if err := q.Nack(t.Context(), ds[0]); err != nil {
			t.Fatal(err)
		}
		step := min(cfg.BackoffMin<<(n-1), cfg.BackoffMax)
		clock.Advance(step/2 - time.Millisecond)
		receiveNone(t, q, "backoff")
		d, err := q.Depth(t.Context(), "backoff")
		if err != nil || d != (batch.TopicDepth{Topic: "backoff", Delayed: 1}) {
			t.Fatalf("depth while backing off: got %+v, %v", d, err)
		}
		clock.Advance(step - step/2 + time.Millisecond)
	}
}

// The jitter spreads messages nacked together.
func TestQueue_NackJitter(t *testing.T) {
	t.Parallel()
	clock := batchtest.NewManualClock(queueT0)
	cfg := queueTestConfig(clock)
	cfg.BackoffMin = time.Minute
	q := mustNewQueue(t, openQueueDB(t), cfg)
	var msgs []batch.Message
	for i := range 50 {
		msgs = append(msgs, testMsg(fmt.Sprintf("j%02d", i)))
	}
	mustPublishQ(t, q, "jitter", msgs...)
	ds := mustReceiveQ(t, q, "jitter", 50)
	if err := q.Nack(t.Context(), ds...); err != nil {
		t.Fatal(err)
	}
	// Half the step, then the rest in ten slices: the messages come back
	// spread over several slices, not all at once.
	clock.Advance(30 * time.Second)
	slices := 0
	back := 0
	for range 10 {
		clock.Advance(3 * time.Second)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		got, _ := q.Receive(ctx, "jitter", 50)
		cancel()
		if len(got) > 0 {
			slices++
			back += len(got)
		}
	}
	if back != 50 {
		t.Fatalf("%d of 50 messages came back within the backoff step", back)
	}
	if slices < 4 {
		t.Fatalf("50 messages nacked together came back in %d of 10 slices of the backoff, want them spread", slices)
	}
}

// A worker that dies holding a message loses nothing: after a restart the
// lease expires and the message is delivered again. Published messages
// survive the restart.
func TestQueue_CrashAndRestart(t *testing.T) {
	t.Parallel()
	clock := batchtest.NewManualClock(queueT0)
	cfg := queueTestConfig(clock)
	path := filepath.Join(t.TempDir(), "queue.db")

	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	q := sqlite.NewQueue(db, cfg)
	mustPublishQ(t, q, "crash", testMsg("held"), testMsg("waiting"))
	held := mustReceiveQ(t, q, "crash", 1)
	if len(held) != 1 || held[0].ID != "held" {
		t.Fatalf("got %v, want the first message", held)
	}
	// The process dies: no ack, no nack.
	q.Close()
	db.Close()

	q = mustNewQueue(t, openQueueDBAt(t, path), cfg)
	ds := mustReceiveQ(t, q, "crash", 10)
	if len(ds) != 1 || ds[0].ID != "waiting" || ds[0].Attempt != 1 {
		t.Fatalf("after restart: got %d deliveries (%v), want only %q, attempt 1", len(ds), ds, "waiting")
	}
	if err := q.Ack(t.Context(), ds...); err != nil {
		t.Fatal(err)
	}
	clock.Advance(cfg.Lease)
	again := mustReceiveQ(t, q, "crash", 10)
	if len(again) != 1 || again[0].ID != "held" || again[0].Attempt != 2 || string(again[0].Body) != "body of held" {
		t.Fatalf("after the lease: got %v, want %q again, attempt 2", again, "held")
	}
	if err := q.Ack(t.Context(), again...); err != nil {
		t.Fatal(err)
	}
}

// Another process's publish reaches a waiting receiver within its
// PollInterval.
func TestQueue_CrossProcessWake(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "queue.db")
	cfg := sqlite.QueueConfig{PollInterval: 10 * time.Millisecond}
	receiver := mustNewQueue(t, openQueueDBAt(t, path), cfg)
	publisher := mustNewQueue(t, openQueueDBAt(t, path), cfg)
	result := make(chan []batch.Delivery, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		ds, _ := receiver.Receive(ctx, "xproc", 1)
		result <- ds
	}()
	mustPublishQ(t, publisher, "xproc", testMsg("x"))
	if ds := <-result; len(ds) != 1 || ds[0].ID != "x" {
		t.Fatalf("receiver on another handle of the file got %v, want %q", ds, "x")
	}
}

// A delivery whose lease expired but which nobody received since can still
// be acked: the work is done and nothing else holds the message.
func TestQueue_AckAfterLeaseNotRedelivered(t *testing.T) {
	t.Parallel()
	clock := batchtest.NewManualClock(queueT0)
	cfg := queueTestConfig(clock)
	q := mustNewQueue(t, openQueueDB(t), cfg)
	mustPublishQ(t, q, "late", testMsg("l"))
	ds := mustReceiveQ(t, q, "late", 1)
	clock.Advance(2 * cfg.Lease)
	if err := q.Ack(t.Context(), ds...); err != nil {
		t.Fatalf("late Ack: %v", err)
	}
	receiveNone(t, q, "late")
}

// Depth counts ready, leased and delayed messages; DeadLetters counts the
// dead-letter topic.
func TestQueue_Depth(t *testing.T) {
	t.Parallel()
	clock := batchtest.NewManualClock(queueT0)
	cfg := queueTestConfig(clock)
	cfg.MaxDeliveries = 1
	q := mustNewQueue(t, openQueueDB(t), cfg)
	var msgs []batch.Message
	for i := range 6 {
		msgs = append(msgs, testMsg(fmt.Sprintf("d%d", i)))
	}
	mustPublishQ(t, q, "depth", msgs...)
	mustPublishQ(t, q, "other", testMsg("o"))
	ds := mustReceiveQ(t, q, "depth", 3) // 3 leased
	// With one delivery allowed, a nack dead-letters.
	if err := q.Nack(t.Context(), ds[0]); err != nil {
		t.Fatal(err)
	}
	got, err := q.Depths(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []batch.TopicDepth{
		{Topic: "depth", Ready: 3, Leased: 2},
		{Topic: batch.DeadLetterTopic("depth"), Ready: 1},
		{Topic: "other", Ready: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Depths: got %+v, want %+v", got, want)
	}
	if n, err := q.DeadLetters(t.Context(), "depth"); n != 1 || err != nil {
		t.Fatalf("DeadLetters: got %d, %v; want 1", n, err)
	}
	// Leases expire: the leased messages count as ready again.
	clock.Advance(cfg.Lease)
	if d, err := q.Depth(t.Context(), "depth"); err != nil || d != (batch.TopicDepth{Topic: "depth", Ready: 5}) || d.Total() != 5 {
		t.Fatalf("Depth after the leases: got %+v, %v", d, err)
	}
	if d, err := q.Depth(t.Context(), "empty"); err != nil || d != (batch.TopicDepth{Topic: "empty"}) {
		t.Fatalf("Depth of an empty topic: got %+v, %v", d, err)
	}
}

// A message dead-lettered while the dead-letter topic already holds its ID
// is dropped there like a duplicate publish, and leaves its own topic.
func TestQueue_DeadLetterDuplicateID(t *testing.T) {
	t.Parallel()
	clock := batchtest.NewManualClock(queueT0)
	cfg := queueTestConfig(clock)
	cfg.MaxDeliveries = 1
	q := mustNewQueue(t, openQueueDB(t), cfg)
	for range 2 {
		mustPublishQ(t, q, "dd", testMsg("same"))
		ds := mustReceiveQ(t, q, "dd", 1)
		if err := q.Nack(t.Context(), ds...); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := q.DeadLetters(t.Context(), "dd"); n != 1 || err != nil {
		t.Fatalf("DeadLetters: got %d, %v; want 1", n, err)
	}
	if d, err := q.Depth(t.Context(), "dd"); err != nil || d.Total() != 0 {
		t.Fatalf("Depth of the source topic: got %+v, %v; want empty", d, err)
	}
}

// Bad attributes are refused before anything is stored, naming the
// message.
func TestQueue_PublishInvalid(t *testing.T) {
	t.Parallel()
	q := mustNewQueue(t, openQueueDB(t), sqlite.QueueConfig{})
	tests := []struct {
		name  string
		attrs map[string]string
	}{
		{"empty name", map[string]string{"": "v"}},
		{"name not UTF-8", map[string]string{"\xff": "v"}},
		{"value not UTF-8", map[string]string{"k": "\xfe"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := q.Publish(t.Context(), "inv", testMsg("good"), batch.Message{ID: "bad", Attributes: tt.attrs})
			if !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), `message 1 (id "bad")`) {
				t.Fatalf("got %v, want an error wrapping %v naming message 1 %q", err, batch.ErrInvalid, "bad")
			}
			if d, err := q.Depth(t.Context(), "inv"); err != nil || d.Total() != 0 {
				t.Fatalf("after a refused publish: depth %+v, %v; want nothing stored", d, err)
			}
		})
	}
}

// Close ends waiting receivers and refuses later calls.
func TestQueue_Close(t *testing.T) {
	t.Parallel()
	db := openQueueDB(t)
	q := sqlite.NewQueue(db, sqlite.QueueConfig{PollInterval: time.Hour})
	result := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		_, err := q.Receive(t.Context(), "closing", 1)
		result <- err
	}()
	<-started
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-result; err == nil {
		t.Fatal("Receive waiting at Close returned no error")
	}
	if err := q.Publish(t.Context(), "closing", testMsg("late")); err == nil {
		t.Fatal("Publish after Close returned no error")
	}
	if err := q.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestOutcomeAckerConformance(t *testing.T) {
	t.Parallel()
	batchtest.RunOutcomeAckerTests(t, func(t *testing.T, clock *batchtest.ManualClock) (batch.Store, batch.Queue) {
		db := openQueueDB(t)
		cfg := queueTestConfig(clock)
		cfg.Lease = batchtest.AckerLease
		return sqlite.NewStore(db), mustNewQueue(t, db, cfg)
	})
}

func TestOutboxPublisherConformance(t *testing.T) {
	t.Parallel()
	batchtest.RunOutboxPublisherTests(t, func(t *testing.T, clock *batchtest.ManualClock) (batch.Store, batch.Queue) {
		db := openQueueDB(t)
		cfg := queueTestConfig(clock)
		cfg.Lease = batchtest.AckerLease
		return sqlite.NewStore(db), mustNewQueue(t, db, cfg)
	})
}
