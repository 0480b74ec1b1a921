package sqlite_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"tipoff/sqlite"
)

// LoadDatasetCopy reads the data set of a database without writing to it:
// the file stays byte for byte as it was, with nothing beside it (opening
// it in place would leave its -wal and -shm files there); a missing file
// is an error.
func TestLoadDatasetCopy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "data.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	want := mustSynthetic(t, 3)
	if err := db.ImportDataset(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sqlite.LoadDatasetCopy(t.Context(), path)
	if err != nil {
		t.Fatalf("LoadDatasetCopy : %v", err)
	}
	sameData(t, got, want)
	after, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the file changed (%v)", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries after the load, want the file alone", len(ents))
	}
	if _, err := sqlite.LoadDatasetCopy(t.Context(), filepath.Join(dir, "missing.db")); err == nil {
		t.Error("LoadDatasetCopy of a missing file: nil error")
	}
}
