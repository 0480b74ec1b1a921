package sqlite

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"tipoff/batch"
)

// A result over inlineResult is written once to item_results and its items
// row keeps none, so recording it does not grow the row; a smaller one
// stays in the row. A large result that an earlier version left in its row
// is read as it was, through every read of items and through the
// RecordAndAck path too.
func TestStore_ItemResults(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, s, q := newStoreQueue(t)
	now := time.Date(2026, time.January, 15, 17, 0, 0, 0, time.UTC)
	ids := []string{"small", "large", "failed", "old", "acked"}
	spec := batch.Spec{Key: batch.Key{Date: "2026-01-15", Run: "daily"}}
	for _, id := range ids {
		spec.Items = append(spec.Items, batch.NewItem{ID: id, Request: []byte(`{}`)})
	}
	b, _, err := s.CreateBatch(ctx, "b1", spec, now)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{
		"small": bytes.Repeat([]byte("s"), inlineResult),
		"large": bytes.Repeat([]byte("l"), inlineResult+1),
		"old":   bytes.Repeat([]byte("o"), 5000),
		"acked": bytes.Repeat([]byte("a"), 3000),
	}
	for _, id := range []string{"small", "large", "failed"} {
		rec := batch.OutcomeRecord{BatchID: b.ID, ItemID: id, Outcome: batch.OutcomeSucceeded, Result: want[id], At: now}
		if id == "failed" {
			rec.Outcome, rec.Error = batch.OutcomeFailed, "broken"
		}
		if _, err := s.RecordOutcome(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	// As the code before item_results recorded it: the result in the row.
	if _, err := db.write.ExecContext(ctx, `UPDATE items SET outcome = 'succeeded', result = ?, completed_at = 1 WHERE batch_id = ? AND id = 'old'`,
		want["old"], b.ID); err != nil {
		t.Fatal(err)
	}
	msg := batch.Message{ID: "m1", Body: []byte("x"), Attributes: map[string]string{}}
	if err := q.Publish(ctx, "requests", msg); err != nil {
		t.Fatal(err)
	}
	ds, err := q.Receive(ctx, "requests", 1)
	if err != nil || len(ds) != 1 {
		t.Fatalf("receive: %d, %v", len(ds), err)
	}
	acked := batch.OutcomeRecord{BatchID: b.ID, ItemID: "acked", Outcome: batch.OutcomeSucceeded, Result: want["acked"], At: now}
	if res, err := s.RecordAndAck(ctx, q, []batch.OutcomeRecord{acked}, ds); err != nil || res.Errs[0] != nil {
		t.Fatalf("RecordAndAck: %v, %v", err, res.Errs)
	}

	idsIn := func(query string) string {
		t.Helper()
		rows, err := db.read.QueryContext(ctx, query, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var found []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			found = append(found, id)
		}
		return strings.Join(found, " ")
	}
	inRow := idsIn(`SELECT id FROM items WHERE batch_id = ? AND length(result) > 0 ORDER BY id`)
	separate := idsIn(`SELECT id FROM item_results WHERE batch_id = ? ORDER BY id`)
	if inRow != "old small" {
		t.Errorf("results in their items rows: %s, want old small", inRow)
	}
	if separate != "acked large" {
		t.Errorf("results in item_results: %s, want acked large", separate)
	}
	for _, opts := range []batch.ItemsOptions{{}, {NoRequests: true}} {
		items, err := s.Items(ctx, b.ID, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if !bytes.Equal(it.Result, want[it.ID]) {
				t.Errorf("Items(%+v): %s has a result of %d bytes, want %d", opts, it.ID, len(it.Result), len(want[it.ID]))
			}
		}
	}
}
