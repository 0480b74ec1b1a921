package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/predict"
)

func mustLeague(tb testing.TB, seed int64, teams int, to string) *predict.Dataset {
	tb.Helper()
	ds, err := dataimport.Synthetic(seed, dataimport.SyntheticOptions{
		From: predict.MustParseDate("2025-10-21"), To: predict.MustParseDate(to), Teams: teams,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return ds
}

// walSize returns the size of path's write-ahead log, 0 if there is none.
func walSize(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path + "-wal")
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

// An import that runs out of room (SQLITE_FULL, provoked portably with
// max_page_count) says so, naming the file; it leaves the previous data,
// gives back the WAL space it used, and the DB keeps working.
func TestDB_Import_Full(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tipoff.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := mustLeague(t, 1, 8, "2025-11-30")
	if err := db.Import(t.Context(), a, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	// Cap the file a few pages above its size, and keep the page cache
	// small so that the import spills pages to the WAL before it fails, as
	// a large import does.
	var pages int
	if err := db.write.QueryRowContext(t.Context(), "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"PRAGMA cache_size = 16", fmt.Sprintf("PRAGMA max_page_count = %d", pages+8)} {
		if _, err := db.write.ExecContext(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	b := mustLeague(t, 2, 16, "2025-12-31")
	err = db.Import(t.Context(), b, ImportOptions{})
	if err == nil {
		t.Fatal("import beyond max_page_count succeeded")
	}
	if !strings.Contains(err.Error(), path+": no space left") {
		t.Errorf("got %v, want it to say %s: no space left", err, path)
	}
	if n := walSize(t, path); n != 0 {
		t.Errorf("after the failed import the WAL holds %d bytes, want 0", n)
	}
	got, err := db.LoadDataset(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Version() != a.Version() {
		t.Fatalf("after the failed import: data set %s, want the previous %s", got.Version(), a.Version())
	}
	if _, err := db.write.ExecContext(t.Context(), "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	if err := db.Import(t.Context(), b, ImportOptions{}); err != nil {
		t.Fatalf("import once there is room again: %v", err)
	}
}

// The same on a real full disk (a 4 MiB tmpfs, so root only): the error
// says no space is left, and the file opens again afterwards. With 512-byte
// pages the failed import writes more than 4096 WAL frames, so reopening a
// WAL left behind must grow the wal-index (-shm) on the full disk, which
// fails with "disk I/O error (4874)" (SQLITE_IOERR_SHMSIZE).
func TestDB_Import_DiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root; TestDB_Import_Full provokes the same error portably")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s); TestDB_Import_Full provokes the same error portably", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	path := filepath.Join(dir, "tipoff.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = raw.ExecContext(t.Context(), "PRAGMA page_size = 512; PRAGMA journal_mode = WAL")
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	a := mustLeague(t, 1, 4, "2025-11-15")
	if err := db.Import(t.Context(), a, ImportOptions{}); err != nil {
		db.Close()
		t.Fatal(err)
	}
	err = db.Import(t.Context(), mustLeague(t, 2, 30, "2026-01-31"), ImportOptions{})
	if err == nil {
		db.Close()
		t.Fatal("import larger than the disk succeeded")
	}
	if !strings.Contains(err.Error(), path+": no space left") {
		t.Errorf("got %v, want it to say %s: no space left", err, path)
	}
	// The failed commit left no transaction open on the write connection.
	err = db.Write(t.Context(), func(tx *sql.Tx) error {
		_, err := tx.Exec("DELETE FROM data_statuses WHERE 0")
		return err
	})
	db.Close()
	if err != nil {
		t.Fatalf("write after the failed import: %v", err)
	}
	db, err = Open(t.Context(), path)
	if err != nil {
		t.Fatalf("open after the failed import: %v", err)
	}
	defer db.Close()
	got, err := db.LoadDataset(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Version() != a.Version() {
		t.Fatalf("after the failed import: data set %s, want the previous %s", got.Version(), a.Version())
	}
}

// A write of the queue or the store that runs out of room (SQLITE_FULL,
// provoked with max_page_count) fails with batch.ErrNoSpace, naming the
// file and what to do; what was written before stays, and writing works
// again once there is room.
func TestDB_Write_Full(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tipoff.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, queue := NewStore(db), NewQueue(db, QueueConfig{})
	spec := batch.Spec{Key: batch.Key{Date: "2026-01-15", Run: "daily"}, Items: []batch.NewItem{{ID: "p1", Request: []byte(`{}`)}}}
	if _, _, err := store.CreateBatch(t.Context(), "b1", spec, time.Now()); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := db.write.QueryRowContext(t.Context(), "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.write.ExecContext(t.Context(), fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	body := []byte(strings.Repeat("x", 64<<10))
	var msgs []batch.Message
	for i := range 16 {
		msgs = append(msgs, batch.Message{ID: fmt.Sprint("m", i), Body: body})
	}
	err = queue.Publish(t.Context(), batch.TopicRequests, msgs...)
	if !errors.Is(err, batch.ErrNoSpace) || !strings.Contains(err.Error(), path+": no space left") || !strings.Contains(err.Error(), "free space") {
		t.Fatalf("publish beyond max_page_count: %v; want ErrNoSpace naming %s and what to do", err, path)
	}
	_, err = store.RecordOutcome(t.Context(), batch.OutcomeRecord{BatchID: "b1", ItemID: "p1", Outcome: batch.OutcomeSucceeded,
		Result: body, At: time.Now()})
	if !errors.Is(err, batch.ErrNoSpace) {
		t.Fatalf("record outcome beyond max_page_count: %v; want ErrNoSpace", err)
	}
	if b, err := store.GetBatch(t.Context(), "b1"); err != nil || b.Total != 1 || b.Counts.Done() != 0 {
		t.Fatalf("batch after the failed writes: %+v, %v; want it as created", b, err)
	}
	if _, err := db.write.ExecContext(t.Context(), "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	if err := queue.Publish(t.Context(), batch.TopicRequests, msgs...); err != nil {
		t.Fatalf("publish once there is room again: %v", err)
	}
}
