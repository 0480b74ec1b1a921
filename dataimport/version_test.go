package dataimport_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"tipoff/dataimport"
)

// The version of a data directory changes when a file in it is modified,
// added, removed or renamed, and not when nothing changed or a
// subdirectory appears; a single file's version when it is modified.
func TestStatVersion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string, at time.Time) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2025, 12, 1, 10, 0, 0, 0, time.UTC)
	write("schedule.csv", "game_date\n", t0)
	write("player_game_logs.csv", "pts\n20\n", t0)
	version := func() string {
		t.Helper()
		v, err := dataimport.StatVersion(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	seen := map[string]string{}
	step := func(what string, changes bool) {
		t.Helper()
		v := version()
		prev := seen["last"]
		if changes && v == prev {
			t.Errorf("%s: version %s, want it changed", what, v)
		}
		if !changes && v != prev {
			t.Errorf("%s: version %s, want it unchanged (%s)", what, v, prev)
		}
		seen[v], seen["last"] = what, v
	}
	step("first", true)
	step("nothing", false)
	if err := os.Mkdir(filepath.Join(dir, "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	step("a subdirectory", false)
	write("player_game_logs.csv", "pts\n21\n", t0.Add(time.Minute)) // same size, later
	step("a file modified", true)
	write("player_game_logs.csv", "pts\n211\n", t0.Add(time.Minute)) // same time, larger
	step("a file grown", true)
	firstGrown := seen["last"]
	write("props_dk.csv", "line\n", t0)
	step("a file added", true)
	if err := os.Rename(filepath.Join(dir, "props_dk.csv"), filepath.Join(dir, "props_fd.csv")); err != nil {
		t.Fatal(err)
	}
	step("a file renamed", true)
	if err := os.Remove(filepath.Join(dir, "props_fd.csv")); err != nil {
		t.Fatal(err)
	}
	step("a file removed", true)
	// The files are then as they were before the one added: the version too.
	if seen["last"] != firstGrown {
		t.Errorf("after removing the file added: version %s, want the one before it was added, %s", seen["last"], firstGrown)
	}

	file := filepath.Join(dir, "schedule.csv")
	fv, err := dataimport.StatVersion(t.Context(), file)
	if err != nil {
		t.Fatal(err)
	}
	write("schedule.csv", "game_date\n", t0.Add(time.Second))
	if fv2, err := dataimport.StatVersion(t.Context(), file); err != nil || fv2 == fv {
		t.Errorf("a file's version after it was modified: %s, %v; want other than %s", fv2, err, fv)
	}
	if _, err := dataimport.StatVersion(t.Context(), filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("version of a missing path: %v, want not-exist", err)
	}
}
