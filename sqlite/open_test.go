package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tipoff/batch"
	"tipoff/predict"
	"tipoff/sqlite"
)

// OpenReadOnly never creates a database: a missing file is ErrNotFound and
// stays missing.
func TestOpenReadOnly_Missing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "typo.db")
	db, err := sqlite.OpenReadOnly(t.Context(), path)
	if err == nil {
		db.Close()
		t.Fatal("OpenReadOnly of a missing file succeeded")
	}
	if !errors.Is(err, batch.ErrNotFound) || !strings.Contains(err.Error(), "typo.db") {
		t.Fatalf("got %v, want ErrNotFound naming typo.db", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
		t.Fatalf("OpenReadOnly left %d files in the directory, want none", len(entries))
	}
}

// OpenReadOnly reads what Open wrote, including writes still in the WAL of
// an open writer, and refuses to write.
func TestOpenReadOnly_Reads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tipoff.db")
	w, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ds := mustSynthetic(t, 1)
	if err := w.ImportDataset(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	r, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if v, err := r.DatasetVersion(t.Context()); err != nil || v != ds.Version() {
		t.Fatalf("DatasetVersion = %q, %v; want %q", v, err, ds.Version())
	}
	err = r.Write(t.Context(), func(tx *sql.Tx) error {
		_, err := tx.Exec("DELETE FROM data_meta")
		return err
	})
	if !errors.Is(err, sqlite.ErrReadOnly) {
		t.Fatalf("Write on a read-only DB: got %v, want ErrReadOnly", err)
	}
	if v, err := w.DatasetVersion(t.Context()); err != nil || v != ds.Version() {
		t.Fatalf("after the refused write: DatasetVersion = %q, %v; want %q", v, err, ds.Version())
	}
}

// The reads that status and health make work on a read-only DB: batches,
// progress, queue depths, dead letters and the publication.
func TestOpenReadOnly_StoreAndQueueReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tipoff.db")
	w, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	store := sqlite.NewStore(r)
	bs, err := store.ListBatches(t.Context(), batch.ListOptions{Date: "2025-11-01"})
	if err != nil || len(bs) != 0 {
		t.Fatalf("ListBatches = %v, %v; want none", bs, err)
	}
	if _, err := store.Progress(t.Context(), "nope", 5); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("Progress of an unknown batch: got %v, want ErrNotFound", err)
	}
	q := sqlite.NewQueue(r, sqlite.QueueConfig{})
	defer q.Close()
	if _, err := q.Depths(t.Context()); err != nil {
		t.Fatalf("Depths: %v", err)
	}
	if _, err := q.DeadLetters(t.Context(), "prediction-requests"); err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	if _, err := r.Published(t.Context(), predict.MustParseDate("2025-11-01")); err != nil && !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("Published: %v", err)
	}
}

// A file that is not a tipoff database is named as such, not migrated.
func TestOpenReadOnly_NotTipoff(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"notes.db": "these are not the pages you are looking for\n", "empty.db": ""} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		db, err := sqlite.OpenReadOnly(t.Context(), path)
		if err == nil {
			db.Close()
			t.Fatalf("%s: OpenReadOnly succeeded", name)
		}
		if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "not a") {
			t.Errorf("%s: got %v, want an error saying it is not a database", name, err)
		}
		if b, _ := os.ReadFile(path); string(b) != body {
			t.Errorf("%s: OpenReadOnly changed the file", name)
		}
	}
}

// readOnlyDB returns the path of a tipoff database with data that this
// process cannot write: on a read-only tmpfs mount when running as root
// (root ignores file modes), or a mode 0444 file otherwise.
func readOnlyDB(t *testing.T) (path, version string) {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
			t.Skipf("root, but cannot mount a tmpfs to make a read-only file system (%v: %s); as non-root this test uses file modes", err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v: %s", dir, err, out)
			}
		})
	}
	path = filepath.Join(dir, "tipoff.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	ds := mustSynthetic(t, 1)
	if err := db.ImportDataset(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
			t.Fatalf("remount %s read-only: %v: %s", dir, err, out)
		}
	} else if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	return path, ds.Version()
}

// Open of a file it cannot write says the file is read-only; OpenReadOnly
// reads it.
func TestOpen_ReadOnlyFile(t *testing.T) {
	path, version := readOnlyDB(t)
	db, err := sqlite.Open(t.Context(), path)
	if err == nil {
		db.Close()
		t.Fatal("Open of a read-only file succeeded")
	}
	if !strings.Contains(err.Error(), "tipoff.db is read-only") {
		t.Fatalf("got %v, want it to say tipoff.db is read-only", err)
	}
	r, err := sqlite.OpenReadOnly(t.Context(), path)
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	defer r.Close()
	if v, err := r.DatasetVersion(t.Context()); err != nil || v != version {
		t.Fatalf("DatasetVersion = %q, %v; want %q", v, err, version)
	}
}

// A file a newer tipoff upgraded is refused by both opens, named, and left
// as it is: this program would misread what the newer schema moved.
func TestOpen_NewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tipoff.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	for name, open := range map[string]func(context.Context, string) (*sqlite.DB, error){"Open": sqlite.Open, "OpenReadOnly": sqlite.OpenReadOnly} {
		db, err := open(t.Context(), path)
		if err == nil {
			db.Close()
			t.Fatalf("%s of a schema-999 file succeeded", name)
		}
		if !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), "newer") || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: got %v, want an invalid error naming the file and its newer schema", name, err)
		}
	}
	raw, err = sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var v int
	if err := raw.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != 999 {
		t.Errorf("schema version after the refusals: %d (%v), want 999 untouched", v, err)
	}
}
