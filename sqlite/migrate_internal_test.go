package sqlite

import (
	"bytes"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"tipoff/batch"
)

// TestMigrate_ItemRequests opens a file whose items were created before
// requests had a table of their own (schema 9, the request in the items
// row) and checks that the upgrade keeps every request: the store returns
// it, publishes it, and the items rows no longer hold it.
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
	req := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf(`{"player":%d}`, i)), 400) }
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
	if err := db.read.QueryRow("SELECT count(*) FROM items WHERE request IS NOT NULL").Scan(&inRow); err != nil {
		t.Fatal(err)
	}
	if inRow != 0 {
		t.Errorf("%d items rows still hold their request", inRow)
	}
	un, err := NewStore(db).Unpublished(t.Context(), "b1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(un) != 3 || !bytes.Equal(un[2].Request, req(2)) {
		t.Errorf("outbox after the upgrade: %d items, want 3 with their requests", len(un))
	}
}
