package sqlite

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"tipoff/batch"
)

// Receipts come back from callers: parsing never panics, and accepts only
// the canonical form of what receipt makes.
func FuzzParseReceipt(f *testing.F) {
	for _, s := range []string{"q1.1", "q9223372036854775807.5", "q0.1", "q1.0", "q-1.1", "q01.1", "q1.1.1", "1.1", "", "q.", "q1.+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseReceipt(s)
		if err != nil {
			return
		}
		if got := receipt(r.seq, r.deliveries); got != s {
			t.Fatalf("parseReceipt(%q) = %+v, which formats as %q", s, r, got)
		}
		if r.seq < 1 || r.deliveries < 1 {
			t.Fatalf("parseReceipt(%q) = %+v: want positive seq and deliveries", s, r)
		}
	})
}

func TestQueue_Backoff(t *testing.T) {
	t.Parallel()
	q := NewQueue(nil, QueueConfig{BackoffMin: time.Second, BackoffMax: 10 * time.Second})
	tests := []struct {
		n    int
		step time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second},
		{5, 10 * time.Second}, {40, 10 * time.Second}, {1 << 20, 10 * time.Second},
	}
	for _, tt := range tests {
		for range 200 {
			if d := q.backoff(tt.n); d < tt.step/2 || d > tt.step {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tt.n, d, tt.step/2, tt.step)
			}
		}
	}
}

// Whatever happens to messages (duplicates, nacks, dead-lettering, stale
// and current acks), every message row has exactly one payload and no
// payload outlives its message.
func TestQueue_PayloadsFollowMessages(t *testing.T) {
	t.Parallel()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 1, 15, 17, 0, 0, 0, time.UTC)
	q := NewQueue(db, QueueConfig{MaxDeliveries: 2, BackoffMin: time.Second, BackoffMax: time.Second,
		NowFunc: func() time.Time { return now }})
	t.Cleanup(func() { q.Close() })
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 30 {
		var msgs []batch.Message
		for range 1 + r.IntN(70) {
			id := fmt.Sprintf("m%d", r.IntN(60)) // duplicates, also within one call
			msgs = append(msgs, batch.Message{ID: id, Body: []byte(id), Attributes: map[string]string{"round": fmt.Sprint(round)}})
		}
		if err := q.Publish(t.Context(), "t", msgs...); err != nil {
			t.Fatal(err)
		}
		for _, topic := range []string{"t", batch.DeadLetterTopic("t")} {
			ds, next, err := q.claim(t.Context(), mustStmts(t, q), topic, 1+r.IntN(40))
			if err != nil {
				t.Fatal(err)
			}
			_ = next
			var ack, nack []batch.Delivery
			for _, d := range ds {
				switch r.IntN(3) {
				case 0:
					ack = append(ack, d)
				case 1:
					nack = append(nack, d)
				}
			}
			q.Ack(t.Context(), ack...)
			q.Nack(t.Context(), nack...)
			q.Ack(t.Context(), nack...) // stale: changes nothing
		}
		now = now.Add(time.Duration(r.IntN(3)) * 20 * time.Second) // sometimes past leases
		var messages, payloads, orphans, missing int
		err := db.read.QueryRow(`SELECT (SELECT count(*) FROM queue_messages), (SELECT count(*) FROM queue_payloads),
			(SELECT count(*) FROM queue_payloads WHERE seq NOT IN (SELECT seq FROM queue_messages)),
			(SELECT count(*) FROM queue_messages WHERE seq NOT IN (SELECT seq FROM queue_payloads))`).
			Scan(&messages, &payloads, &orphans, &missing)
		if err != nil {
			t.Fatal(err)
		}
		if orphans != 0 || missing != 0 || messages != payloads {
			t.Fatalf("round %d: %d messages, %d payloads, %d payloads without a message, %d messages without a payload",
				round, messages, payloads, orphans, missing)
		}
	}
}

func mustStmts(t *testing.T, q *Queue) *queueStmts {
	t.Helper()
	st, err := q.prepared(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st
}
