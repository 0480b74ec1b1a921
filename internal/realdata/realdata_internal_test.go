package realdata

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mkfile creates path and its parent directories.
func mkfile(tb testing.TB, path string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func TestFind(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	clone := filepath.Join(tmp, "clone")
	mkfile(t, filepath.Join(clone, "go.mod"))
	pkg := filepath.Join(clone, "predict", "systems")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(tmp, "shared", "data", "nba")

	// Before the data exists the error says where it was looked for.
	if got, err := find(pkg); err == nil || !strings.Contains(err.Error(), data) {
		t.Fatalf("find(%s) without data: got %q, %v; want an error naming %s", pkg, got, err, data)
	}
	mkfile(t, filepath.Join(data, "schedule.csv"))
	for _, wd := range []string{clone, pkg} {
		if got, err := find(wd); err != nil || got != data {
			t.Errorf("find(%s): got %q, %v; want %q", wd, got, err, data)
		}
	}
	// A go.mod nearer the working directory is the module root.
	nested := filepath.Join(pkg, "testdata", "mod")
	mkfile(t, filepath.Join(nested, "go.mod"))
	if got, err := find(nested); err == nil {
		t.Errorf("find(%s) in a nested module without data: got %q, want an error", nested, got)
	}
}

func TestFind_NoModule(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "go.mod")); err == nil {
		t.Fatalf("test needs a temp dir outside any module; %s has a go.mod above it", dir)
	}
	if got, err := find(dir); err == nil || !strings.Contains(err.Error(), "no go.mod") {
		t.Errorf("find(%s): got %q, %v; want an error saying there is no go.mod", dir, got, err)
	}
}
