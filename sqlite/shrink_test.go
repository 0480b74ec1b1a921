package sqlite_test

import (
	"testing"

	"tipoff/sqlite"
)

// A refused import describes each shrinking table by where its rows come
// from, its new count and its stored one.
func TestShrinkError_Describe(t *testing.T) {
	t.Parallel()
	se := &sqlite.ShrinkError{Tables: []sqlite.TableShrink{{Table: sqlite.TableGames, Stored: 10, New: 1}, {Table: sqlite.TableLogs, Stored: 200, New: 0}}}
	got := se.Describe(func(table string) string { return "file of " + table })
	if want := "file of games: 1 games, 10 stored; file of game logs: 0 game logs, 200 stored"; got != want {
		t.Fatalf("Describe() = %q, want %q", got, want)
	}
}
