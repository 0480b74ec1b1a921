package sqlite

import (
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"tipoff/batch"
)

// A background checkpoint copies what was committed into the file itself
// (read here ignoring the WAL), and the close that follows leaves no WAL.
func TestDB_CheckpointBackground(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // the schema in the file
	if db, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng := batch.NewEngine(NewStore(db), NewQueue(db, QueueConfig{}), nil, batch.EngineConfig{})
	b, _, err := eng.Create(ctx, batch.Spec{Key: batch.Key{Date: "2025-12-25", Run: "ckpt"},
		Items: []batch.NewItem{{ID: "a", Request: []byte(`{}`)}, {ID: "b", Request: []byte(`{}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	inFile := func() int {
		t.Helper()
		f, err := sql.Open("sqlite", "file:"+path+"?mode=ro&immutable=1")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var n int
		if err := f.QueryRow("SELECT count(*) FROM items WHERE batch_id = ?", b.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := inFile(); n != 0 {
		t.Fatalf("%d items in the file before any checkpoint, want them in the WAL only", n)
	}
	db.CheckpointBackground()
	db.CheckpointBackground() // while one runs: nothing
	db.ckpt.wg.Wait()
	if n := inFile(); n != 2 {
		t.Fatalf("%d items in the file after a background checkpoint, want 2", n)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db.CheckpointBackground() // after close: nothing
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WAL after close: %v, want none", err)
	}
}
