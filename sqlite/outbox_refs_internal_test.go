package sqlite

import (
	"bytes"
	"path/filepath"
	"testing"

	"tipoff/batch"
)

// A request the store keeps in item_requests is not copied into its queue
// messages: they refer to it, on the request topic and after being
// dead-lettered, and every delivery carries it whole.
func TestOutbox_RequestMessagesReferToRequests(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q := NewQueue(db, QueueConfig{MaxDeliveries: 1})
	t.Cleanup(func() { q.Close() })
	eng := batch.NewEngine(NewStore(db), q, nil, batch.EngineConfig{})
	want := map[string][]byte{
		"big":   bytes.Repeat([]byte(`{"x":"0123456789"}`), 500),
		"small": []byte(`{"x":1}`),
	}
	b, _, err := eng.Create(ctx, batch.Spec{Key: batch.Key{Date: "2025-12-25", Run: "refs"},
		Items: []batch.NewItem{{ID: "big", Request: want["big"]}, {ID: "small", Request: want["small"]}}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := eng.Dispatch(ctx, b.ID); err != nil || n != 2 {
		t.Fatalf("Dispatch = %d, %v; want 2 published", n, err)
	}
	for _, topic := range []string{batch.TopicRequests, batch.DeadLetterTopic(batch.TopicRequests)} {
		rows, err := db.read.QueryContext(ctx, `SELECT req_item, body IS NULL, req_batch FROM queue_messages WHERE topic = ?`, topic)
		if err != nil {
			t.Fatal(err)
		}
		copied := map[string]bool{}
		for rows.Next() {
			var item, reqBatch string
			var noBody bool
			if err := rows.Scan(&item, &noBody, &reqBatch); err != nil {
				t.Fatal(err)
			}
			if reqBatch != b.ID {
				t.Errorf("%s: message of %s refers to batch %q, want %s", topic, item, reqBatch, b.ID)
			}
			copied[item] = !noBody
		}
		rows.Close()
		if copied["big"] || !copied["small"] || len(copied) != 2 {
			t.Errorf("%s: messages carrying a copy of their request: %v; want only the small one's", topic, copied)
		}
		ds, err := q.Receive(ctx, topic, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 2 {
			t.Fatalf("%s: received %d messages, want 2", topic, len(ds))
		}
		for _, d := range ds {
			if item := d.Message.Attributes[batch.AttrItemID]; !bytes.Equal(d.Message.Body, want[item]) {
				t.Errorf("%s: %s delivered with a body of %d bytes, want its request's %d", topic, item, len(d.Message.Body), len(want[item]))
			}
		}
		if err := q.Nack(ctx, ds...); err != nil { // one delivery each: to the dead-letter topic
			t.Fatal(err)
		}
	}
}
