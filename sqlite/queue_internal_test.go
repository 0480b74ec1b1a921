package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"strings"
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

// One Ack naming a delivery twice, and a stale delivery of a message beside
// its current one, acks the current delivery once and calls the other two
// stale, whatever chunk of the ack statement they fall in.
func TestQueue_AckRepeatedAndStaleInOneCall(t *testing.T) {
	t.Parallel()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 1, 15, 17, 0, 0, 0, time.UTC)
	q := NewQueue(db, QueueConfig{Lease: time.Minute, NowFunc: func() time.Time { return now }})
	t.Cleanup(func() { q.Close() })
	var msgs []batch.Message
	for i := range 70 { // more than one chunk of the ack statement
		msgs = append(msgs, batch.Message{ID: fmt.Sprintf("m%02d", i), Body: []byte("x")})
	}
	if err := q.Publish(t.Context(), "t", msgs...); err != nil {
		t.Fatal(err)
	}
	first, err := q.Receive(t.Context(), "t", 70)
	if err != nil || len(first) != 70 {
		t.Fatalf("receive: %d deliveries, %v", len(first), err)
	}
	now = now.Add(2 * time.Minute) // the leases expire
	again, err := q.Receive(t.Context(), "t", 70)
	if err != nil || len(again) != 70 {
		t.Fatalf("receive again: %d deliveries, %v", len(again), err)
	}
	// Stale first deliveries, the current ones, and the last current one
	// a second time.
	ds := append(append(append([]batch.Delivery{}, first...), again...), again[69])
	err = q.Ack(t.Context(), ds...)
	if !errors.Is(err, batch.ErrConflict) {
		t.Fatalf("ack: %v, want ErrConflict", err)
	}
	if n := strings.Count(err.Error(), "no longer current"); n != 71 {
		t.Fatalf("ack: %d deliveries called stale, want 71 (70 first deliveries and the repeated one): %v", n, err)
	}
	for i := range 70 {
		stale := func(d batch.Delivery) int { return strings.Count(err.Error(), "(receipt "+d.Receipt+")") }
		if stale(first[i]) != 1 {
			t.Errorf("first delivery of %s (%s) not called stale", first[i].ID, first[i].Receipt)
		}
		if want := map[bool]int{true: 1, false: 0}[i == 69]; stale(again[i]) != want {
			t.Errorf("current delivery of %s (%s) called stale %d times, want %d", again[i].ID, again[i].Receipt, stale(again[i]), want)
		}
	}
	var messages int
	if err := db.read.QueryRow(`SELECT count(*) FROM queue_messages`).Scan(&messages); err != nil {
		t.Fatal(err)
	}
	if messages != 0 {
		t.Fatalf("after the ack: %d messages, want none", messages)
	}
}

// Whatever happens to messages (duplicates, nacks, dead-lettering, stale
// and current acks), every message keeps its own body and attributes,
// dead-lettered ones included.
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
		var messages, wrong int
		err := db.read.QueryRow(`SELECT count(*), count(*) FILTER (WHERE body IS NOT CAST(id AS BLOB) OR attrs IS NULL) FROM queue_messages`).
			Scan(&messages, &wrong)
		if err != nil {
			t.Fatal(err)
		}
		if wrong != 0 {
			t.Fatalf("round %d: %d of %d messages lost their own body or attributes", round, wrong, messages)
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

// Stored attributes decode the same through the fast path as through
// encoding/json, and whatever encodes decodes back to itself.
func FuzzDecodeAttrs(f *testing.F) {
	for _, s := range []string{`{}`, `{"batch_id":"b1","item_id":"p1","attempt":"2"}`, `{"a":"\u00e9"}`, `{"a":"x","a":"y"}`,
		`{"":""}`, `{"a":"b",}`, `{"a" :"b"}`, `{"a":1}`, `null`, `{"a":"b\"c"}`, `{"a":"<&>"}`, "{\"a\":\"\xff\"}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if m, ok := decodePlainAttrs(s); ok {
			var want map[string]string
			if err := json.Unmarshal([]byte(s), &want); err != nil {
				t.Fatalf("decodePlainAttrs(%q) = %v, but encoding/json refuses it: %v", s, m, err)
			}
			if !maps.Equal(m, want) {
				t.Fatalf("decodePlainAttrs(%q) = %v, encoding/json reads %v", s, m, want)
			}
		}
		got, err := decodeAttrs(sql.NullString{String: s, Valid: true})
		if err != nil {
			return
		}
		enc, err := encodeAttrs(got)
		if err != nil {
			return // e.g. an empty name, or invalid UTF-8 replaced
		}
		if enc == nil {
			if len(got) != 0 {
				t.Fatalf("encodeAttrs(%v) = NULL", got)
			}
			return
		}
		back, err := decodeAttrs(sql.NullString{String: enc.(string), Valid: true})
		if err != nil || !maps.Equal(back, got) {
			t.Fatalf("round trip of %v: stored %s, read back %v, %v", got, enc, back, err)
		}
	})
}

func TestEncodeAttrs_SameAsJSON(t *testing.T) {
	t.Parallel()
	for _, m := range []map[string]string{
		{"batch_id": "2026-01-15-19b2-ab", "item_id": "p000001", "attempt": "1", "trace_id": "t1"},
		{"a": "<&>"}, {"z": "1", "a": "2"}, {"é": "ü"}, {"q": `say "hi"\n`},
	} {
		got, err := encodeAttrs(m)
		if err != nil {
			t.Fatal(err)
		}
		var back map[string]string
		if err := json.Unmarshal([]byte(got.(string)), &back); err != nil || !maps.Equal(back, m) {
			t.Fatalf("encodeAttrs(%v) = %s, which encoding/json reads as %v, %v", m, got, back, err)
		}
		same := true // encoding/json writes the same bytes (it escapes < > &)
		for k, v := range m {
			same = same && plainJSON(k+v) && !strings.ContainsAny(k+v, "<>&")
		}
		if want, _ := json.Marshal(m); same && got != string(want) {
			t.Fatalf("encodeAttrs(%v) = %s, want %s as encoding/json writes it", m, got, want)
		}
	}
}

// A file from before the payloads moved into the message rows (schema 9:
// bodies and attributes in queue_payloads) opens, and its waiting, leased
// and dead-lettered messages keep their bodies and attributes.
func TestQueue_OpensFileWithPayloadTable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrationList(migrations)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:9] {
		body, err := migrations.ReadFile("migrations/" + m.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.Exec(string(body)); err != nil {
			t.Fatalf("migration %s: %v", m.name, err)
		}
	}
	now := time.Date(2026, 1, 15, 17, 0, 0, 0, time.UTC)
	for _, stmt := range []string{
		"PRAGMA user_version = 9",
		`INSERT INTO queue_messages (seq, topic, id, published_at, visible_at) VALUES (1, 't', 'waiting', 1, 1)`,
		`INSERT INTO queue_messages (seq, topic, id, published_at, visible_at, deliveries, leased) VALUES (2, 't', 'leased', 1, 1, 1, 1)`,
		`INSERT INTO queue_messages (seq, topic, id, published_at, visible_at) VALUES (3, '` + batch.DeadLetterTopic("t") + `', 'dead', 1, 1)`,
		`INSERT INTO queue_payloads (seq, body, attrs) VALUES (1, x'01', '{"a":"1"}'), (2, x'02', NULL), (3, x'03', '{"c":"3"}')`,
	} {
		if _, err := old.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q := NewQueue(db, QueueConfig{NowFunc: func() time.Time { return now }})
	t.Cleanup(func() { q.Close() })
	for _, tt := range []struct {
		topic, id string
		body      byte
		attrs     map[string]string
	}{
		{"t", "waiting", 1, map[string]string{"a": "1"}},
		{"t", "leased", 2, nil}, // its lease (visible_at 1) is long over
		{batch.DeadLetterTopic("t"), "dead", 3, map[string]string{"c": "3"}},
	} {
		ds, _, err := q.claim(t.Context(), mustStmts(t, q), tt.topic, 1)
		if err != nil || len(ds) != 1 {
			t.Fatalf("receive from %s: %d deliveries, %v", tt.topic, len(ds), err)
		}
		d := ds[0]
		if d.ID != tt.id || string(d.Body) != string([]byte{tt.body}) || !maps.Equal(d.Attributes, tt.attrs) {
			t.Fatalf("from %s: got %q %x %v, want %q %x %v", tt.topic, d.ID, d.Body, d.Attributes, tt.id, tt.body, tt.attrs)
		}
		if err := q.Ack(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
}
