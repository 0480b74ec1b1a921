package sqlite

import (
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

func TestDB_WriteGroupCommit(t *testing.T) {
	t.Parallel()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Write(t.Context(), func(tx *sql.Tx) error {
		_, err := tx.Exec("CREATE TABLE t (n INTEGER PRIMARY KEY)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range 200 {
		wg.Go(func() {
			errs[i] = db.Write(t.Context(), func(tx *sql.Tx) error {
				if _, err := tx.Exec("INSERT INTO t (n) VALUES (?)", i); err != nil {
					return err
				}
				if i%2 == 1 {
					return boom // rolled back alone
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if want := i%2 == 1; errors.Is(err, boom) != want || (!want && err != nil) {
			t.Fatalf("write %d: got %v", i, err)
		}
	}
	var n, odd int
	if err := db.read.QueryRow("SELECT count(*), coalesce(sum(n % 2), 0) FROM t").Scan(&n, &odd); err != nil {
		t.Fatal(err)
	}
	if n != 100 || odd != 0 {
		t.Fatalf("got %d rows with %d odd, want 100 rows with 0 odd", n, odd)
	}
}

func TestDB_CloseTwice(t *testing.T) {
	t.Parallel()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := db.Write(t.Context(), func(*sql.Tx) error { return nil }); !errors.Is(err, errClosed) {
		t.Fatalf("Write after Close: got %v, want errClosed", err)
	}
}

// Migration numbers run 1, 2, 3... : a repeat or a gap is refused, naming
// the file, and the embedded migrations pass.
func TestMigrationList_Numbers(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("SELECT 1;")}
	for _, tt := range []struct {
		name  string
		files []string
		want  string
	}{
		{"consecutive", []string{"0001_a.sql", "0002_b.sql", "0003_c.sql"}, ""},
		{"repeat", []string{"0001_a.sql", "0002_b.sql", "0002_c.sql"}, "0002_c.sql: number 2, want 3"},
		{"gap", []string{"0001_a.sql", "0003_c.sql"}, "0003_c.sql: number 3, want 2"},
	} {
		fsys := fstest.MapFS{}
		for _, f := range tt.files {
			fsys["migrations/"+f] = file
		}
		_, err := migrationList(fsys)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: migrationList = %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := migrationList(migrations); err != nil {
		t.Errorf("embedded migrations: %v", err)
	}
}

// The writer checkpoints the WAL at walCheckpointPages, not SQLite's 1,000.
func TestOpen_WALCheckpointPages(t *testing.T) {
	t.Parallel()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var pages int
	if err := db.write.QueryRow("PRAGMA wal_autocheckpoint").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if pages != walCheckpointPages {
		t.Fatalf("wal_autocheckpoint = %d pages, want %d", pages, walCheckpointPages)
	}
}

// Every connection, the writer's and the readers', of a file opened for
// writing or for reading caches the pages its role is given (writerCacheKiB, readerCacheKiB), not SQLite's default.
func TestOpen_CacheSize(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ro, err := OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	for _, c := range []struct {
		name string
		conn *sql.DB
		kib  int
	}{{"writer", db.write, writerCacheKiB}, {"reader", db.read, readerCacheKiB}, {"read-only reader", ro.read, readerCacheKiB}} {
		var kib int
		if err := c.conn.QueryRow("PRAGMA cache_size").Scan(&kib); err != nil {
			t.Fatal(err)
		}
		if kib != -c.kib {
			t.Errorf("%s: cache_size = %d, want %d (KiB)", c.name, kib, -c.kib)
		}
	}
}
