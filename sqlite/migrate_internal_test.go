package sqlite

import (
	"bytes"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"tipoff/batch"
)

// TestMigrate_ItemRequests opens a file whose items were created before
// large requests had a table of their own (schema 9, every request in its
// items row) and checks that the upgrade keeps every request: the store
// returns it, publishes it, and the items rows hold only small ones.
func TestMigrate_ItemRequests(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrationList(migrations)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.n > 9 {
			break
		}
		body, err := migrations.ReadFile("migrations/" + m.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
	}
	// Large requests and a small one.
	req := func(i int) []byte {
		return bytes.Repeat([]byte(fmt.Sprintf(`{"player":%d}`, i)), 1+400*(i%2)+200*(i/2))
	}
	stmts := []string{"PRAGMA user_version = 9",
		`INSERT INTO batches (id, run_date, run_label, state, total, policy, meta, created_at, updated_at, deadline)
			VALUES ('b1', '2025-12-23', 'r', 'running', 3, '{}', '{}', 1, 1, 9000000000000000)`}
	for _, s := range stmts {
		if _, err := raw.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if _, err := raw.Exec(`INSERT INTO items (batch_id, id, request, created_at) VALUES ('b1', ?, ?, 1)`, fmt.Sprintf("p%d", i), req(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	items, err := NewStore(db).Items(t.Context(), "b1", batch.ItemsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 {
		t.Fatalf("got %d items after the upgrade, want 3", len(items))
	}
	for i, it := range items {
		if !bytes.Equal(it.Request, req(i)) {
			t.Errorf("item %s: request of %d bytes after the upgrade, want the %d stored before", it.ID, len(it.Request), len(req(i)))
		}
	}
	var inRow int
	if err := db.read.QueryRow("SELECT count(*) FROM items WHERE length(request) > ?", inlineRequest).Scan(&inRow); err != nil {
		t.Fatal(err)
	}
	var apart int
	if err := db.read.QueryRow("SELECT count(*) FROM item_requests").Scan(&apart); err != nil {
		t.Fatal(err)
	}
	if apart != 2 {
		t.Errorf("%d requests in item_requests, want the 2 large ones", apart)
	}
	if inRow != 0 {
		t.Errorf("%d items rows still hold their request", inRow)
	}
	// A new batch keeps its large requests out of the row, too.
	b2, _, err := NewStore(db).CreateBatch(t.Context(), "b2", batch.Spec{Key: batch.Key{Date: "2025-12-24", Run: "r"},
		Items: []batch.NewItem{{ID: "big", Request: req(1)}, {ID: "small", Request: req(0)}}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewStore(db).Items(t.Context(), b2.ID, batch.ItemsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !bytes.Equal(got[0].Request, req(1)) || !bytes.Equal(got[1].Request, req(0)) {
		t.Errorf("new batch's items: %+v", got)
	}
	un, err := NewStore(db).Unpublished(t.Context(), "b1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(un) != 3 || !bytes.Equal(un[2].Request, req(2)) {
		t.Errorf("outbox after the upgrade: %d items, want 3 with their requests", len(un))
	}
}
