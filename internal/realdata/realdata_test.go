package realdata_test

import (
	"os"
	"path/filepath"
	"testing"

	"tipoff/internal/realdata"
)

// From this package's directory Dir finds the data beside the clone, or
// skips the test when the clone has none.
func TestDir(t *testing.T) {
	t.Parallel()
	dir := realdata.Dir(t)
	if !filepath.IsAbs(dir) {
		t.Errorf("Dir: got %q, want an absolute path", dir)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(root), "shared", "data", "nba"); dir != want {
		t.Errorf("Dir: got %q, want %q", dir, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "schedule.csv")); err != nil {
		t.Errorf("Dir: %v", err)
	}
}
