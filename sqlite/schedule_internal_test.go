package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tipoff/predict"
)

func TestScheduleCodec(t *testing.T) {
	t.Parallel()
	games := mustLeague(t, 5, 6, "2025-12-10").Games()
	games = append(games,
		predict.Game{Date: games[len(games)-1].Date + 400, Season: "2027-28", SeasonType: "Playoffs", Home: "AAA", Away: "BBB"},
		predict.Game{ID: "x", Date: 1, Season: "s", SeasonType: "", Home: "é", Away: "\xff", HomePts: -3, AwayPts: 1 << 40, Final: true})
	b := encodeSchedule(games)
	got, err := decodeSchedule(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(games, got); d != "" {
		t.Fatalf("round trip (-want +got):\n%s", d)
	}
	if got, err := decodeSchedule(encodeSchedule(nil)); err != nil || len(got) != 0 {
		t.Errorf("empty schedule: %v, %v", got, err)
	}
	for _, bad := range [][]byte{b[:len(b)-1], b[:len(b)/2], append(b[:len(b):len(b)], 0), nil} {
		if _, err := decodeSchedule(bad); !errors.Is(err, errSchedule) {
			t.Errorf("decode of %d bytes: %v, want errSchedule", len(bad), err)
		}
	}
}

func FuzzScheduleDecode(f *testing.F) {
	f.Add(encodeSchedule(mustLeague(f, 5, 6, "2025-12-10").Games()[:40]))
	f.Fuzz(func(t *testing.T, b []byte) {
		games, err := decodeSchedule(b)
		if err != nil {
			return
		}
		if again, err := decodeSchedule(encodeSchedule(games)); err != nil || !cmp.Equal(games, again) {
			t.Fatalf("a decoded schedule does not round-trip: %v", err)
		}
	})
}

// A file imported before the schedule's blob gets it when opened, the
// blob holds what data_games does, and a day reads the same from either.
func TestMigrate_Schedule(t *testing.T) {
	t.Parallel()
	path, db, wantLogs, wantLines := importedLeague(t)
	db.Close()
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, s := range []string{"DROP TABLE data_schedule", "DROP TABLE item_results", "PRAGMA user_version = 13"} {
		if _, err := raw.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	db, err = Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var blobs int
	if err := db.read.QueryRow("SELECT count(*) FROM data_schedule").Scan(&blobs); err != nil || blobs != 1 {
		t.Fatalf("schedule blobs after the upgrade: %d, %v; want 1", blobs, err)
	}
	tx, err := db.read.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := loadGames(t.Context(), tx)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := readSchedule(t.Context(), tx)
	tx.Rollback()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || !cmp.Equal(rows, kept) {
		t.Fatalf("schedule after the upgrade: %d games in the blob, %d rows in data_games, equal %v", len(kept), len(rows), cmp.Equal(rows, kept))
	}
	logs, lines, errs := loadDays(t, db)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(wantLogs, logs) || !cmp.Equal(wantLines, lines) {
		t.Fatal("the days read after the upgrade differ from before")
	}
	// Without the blob a day reads data_games.
	if _, err := db.write.Exec("DELETE FROM data_schedule"); err != nil {
		t.Fatal(err)
	}
	logs, lines, errs = loadDays(t, db)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(wantLogs, logs) || !cmp.Equal(wantLines, lines) {
		t.Fatal("the days read from data_games differ from the blob's")
	}
}

// A file with nothing imported gets no schedule blob.
func TestMigrate_ScheduleEmpty(t *testing.T) {
	t.Parallel()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.read.QueryRow("SELECT count(*) FROM data_schedule").Scan(&n); err != nil || n != 0 {
		t.Fatalf("schedule rows in an empty file: %d, %v", n, err)
	}
}

// Loads running at once, more of them than the read pool has
// connections, each with enough players to read on two transactions,
// all finish: only one holds a second transaction.
func TestDB_LoadDayConcurrent(t *testing.T) {
	t.Parallel()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.ImportDataset(t.Context(), mustLeague(t, 3, 30, "2025-12-05")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	date := predict.MustParseDate("2025-12-01")
	n := 2 * max(4, runtime.GOMAXPROCS(0))
	errs := make(chan error, n)
	players := make(chan int, n)
	for range n {
		go func() {
			ds, err := db.LoadDay(ctx, date, predict.SelectOptions{}, predict.RequestOptions{})
			if err == nil {
				players <- len(predict.SelectPlayers(ds, date, predict.SelectOptions{}))
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if p := <-players; p < 64 {
		t.Fatalf("%d players selected: too few to read on two transactions", p)
	}
}
