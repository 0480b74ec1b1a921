// Package realdata locates the real NBA data set that tests read: the
// directory shared/data/nba beside the repository's clone, never a copy
// inside it. It imports no package of ours.
package realdata

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the absolute path of the real data directory, found as
// ../shared/data/nba relative to the root of the module the test runs in
// (the nearest directory above the working directory with a go.mod). When
// the directory or its schedule.csv is absent it skips the test, saying
// where it looked, or fails it under CI=true: CI always has the data beside
// its clone, so a test that cannot find it there has lost its subject.
func Dir(tb testing.TB) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	dir, err := find(wd)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true and the real data is not available: %v", err)
		}
		tb.Skipf("real data not available: %v", err)
	}
	return dir
}

// find returns the data directory for a test run in wd, or an error
// naming where it looked.
func find(wd string) (string, error) {
	root, err := moduleRoot(wd)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(filepath.Dir(root), "shared", "data", "nba")
	if _, err := os.Stat(filepath.Join(dir, "schedule.csv")); err != nil {
		return "", fmt.Errorf("no schedule.csv in %s: %w", dir, err)
	}
	return dir, nil
}

// moduleRoot returns the nearest directory at or above dir that holds a
// go.mod.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod at or above %s", dir)
		}
		d = parent
	}
}
