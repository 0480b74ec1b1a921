package sqlite

import (
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tipoff/dataimport"
	"tipoff/internal/realdata"
	"tipoff/predict"
)

// encodeHistoryV1 is the encoder of format 1 (historyV1), kept to build
// the files of before migration 12.
func encodeHistoryV1(logs []predict.GameLog, lines []predict.PropLine) []byte {
	var b []byte
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	num := func(n int) { b = binary.AppendVarint(b, int64(n)) }
	flt := func(f float64) { b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f)) }
	bit := func(v bool, n byte) byte {
		if v {
			return n
		}
		return 0
	}
	b = binary.AppendUvarint(b, uint64(len(logs)))
	for _, l := range logs {
		num(int(l.Date))
		str(l.GameID)
		str(l.Season)
		str(l.SeasonType)
		str(l.PlayerName)
		str(l.Team)
		str(l.Opponent)
		b = append(b, bit(l.Home, 1)|bit(l.Starter, 2)|bit(l.Played, 4))
		str(l.DNPReason)
		flt(l.Minutes)
		s := l.Stats
		for _, v := range [...]int{s.Pts, s.Reb, s.OReb, s.DReb, s.Ast, s.Stl, s.Blk, s.Tov, s.PF, s.FGM, s.FGA, s.FG3M, s.FG3A, s.FTM, s.FTA, s.PlusMinus} {
			num(v)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(lines)))
	for _, p := range lines {
		num(int(p.Date))
		str(p.GameID)
		str(p.Team)
		str(p.Book)
		flt(p.Line)
		num(p.OverOdds)
		num(p.UnderOdds)
		b = append(b, bit(p.Main, 1))
		str(p.Source)
	}
	return b
}

var encoders = map[int]func([]predict.GameLog, []predict.PropLine) []byte{historyV1: encodeHistoryV1, historyFormat: encodeHistory}

// sameBits compares floats bit for bit: -0 is not 0, a NaN is itself.
var sameBits = cmp.Comparer(func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) })

func decodeAll(format int, player string, b []byte) ([]predict.GameLog, []predict.PropLine, error) {
	d := historyDecoder{b: b, format: format, strs: map[string]string{}}
	return d.decode(player, nil, nil, func(*predict.GameLog) bool { return true }, func(*predict.PropLine) bool { return true })
}

// histories returns each player's game logs and prop lines in ds, by id.
func histories(ds *predict.Dataset) (ids []string, logs map[string][]predict.GameLog, lines map[string][]predict.PropLine) {
	logs, lines = map[string][]predict.GameLog{}, map[string][]predict.PropLine{}
	for _, l := range ds.Logs() {
		logs[l.PlayerID] = append(logs[l.PlayerID], l)
	}
	for _, p := range ds.Lines() {
		lines[p.PlayerID] = append(lines[p.PlayerID], p)
	}
	for id := range logs {
		ids = append(ids, id)
	}
	for id := range lines {
		if logs[id] == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, logs, lines
}

// oddRows are rows whose strings and floats the compact format cannot
// store as the common case: floats that are not whole hundredths or
// halves, -0, NaN, infinities, huge values; empty, long and non-UTF-8
// strings; a season change between two logs; lines out of date order.
func oddRows(player string) ([]predict.GameLog, []predict.PropLine) {
	d := predict.MustParseDate("2025-11-01")
	log := func(d predict.Date, season, team string, minutes float64) predict.GameLog {
		return predict.GameLog{GameID: "00225" + d.String(), Date: d, Season: season, SeasonType: "Regular Season", PlayerID: player,
			PlayerName: "Zoë \xff Name", Team: team, Opponent: "BOS", Home: true, Played: minutes > 0, Minutes: minutes,
			Stats: predict.Stats{Pts: 31, Reb: -1, PlusMinus: -25, FGA: math.MaxInt32}}
	}
	logs := []predict.GameLog{
		log(d, "2025-26", "LAL", 34.55), log(d+2, "2025-26", "LAL", 1.0/3), log(d+3, "2025-26", "LAL", math.Copysign(0, -1)),
		log(d+5, "2025-26", "LAL", math.NaN()), log(d+6, "2025-26", "NYK", math.Inf(1)), log(d+8, "2026-27", "NYK", 1e300),
		log(d+8, "2026-27", "NYK", 0), log(d-400, "", "", -12.25),
	}
	logs[7].DNPReason, logs[7].GameID = "Coach's decision, a long reason "+string(make([]byte, 300)), ""
	line := func(d predict.Date, v float64, main bool) predict.PropLine {
		return predict.PropLine{Date: d, GameID: "00225" + d.String(), PlayerID: player, Team: "LAL", Book: "draftkings",
			Line: v, OverOdds: -110, UnderOdds: 105, Main: main, Source: "odds-api"}
	}
	lines := []predict.PropLine{line(d+2, 22.5, true), line(d, 22, false), line(d+900, -3.5, true), line(d, 0.1, true),
		line(d, math.Copysign(0, -1), false), line(d, math.NaN(), true), line(d, 1<<60, true), line(d, 2.5e-310, false)}
	lines[7].GameID, lines[7].Book, lines[7].Source = "", "", ""
	return logs, lines
}

// Each format decodes to exactly what was encoded, bit for bit, and a
// truncated blob is an error.
func TestHistoryCodec(t *testing.T) {
	t.Parallel()
	ds := mustLeague(t, 6, 4, "2025-11-20")
	ids, logs, lines := histories(ds)
	oddLogs, oddLines := oddRows("odd")
	ids, logs["odd"], lines["odd"] = append(ids, "odd"), oddLogs, oddLines
	_, lines["lines only"] = oddRows("lines only")
	logs["logs only"], _ = oddRows("logs only")
	ids = append(ids, "lines only", "logs only")
	ids = append(ids, "nothing")
	for format, encode := range encoders {
		for _, id := range ids {
			b := encode(logs[id], lines[id])
			gotLogs, gotLines, err := decodeAll(format, id, b)
			if err != nil {
				t.Fatalf("format %d, player %s: %v", format, id, err)
			}
			if d := cmp.Diff(logs[id], gotLogs, sameBits); d != "" {
				t.Fatalf("format %d, player %s: game logs (-encoded +decoded):\n%s", format, id, d)
			}
			if d := cmp.Diff(lines[id], gotLines, sameBits); d != "" {
				t.Fatalf("format %d, player %s: prop lines (-encoded +decoded):\n%s", format, id, d)
			}
			for _, n := range []int{0, 1, len(b) / 2, len(b) - 1} {
				if n >= len(b) {
					continue
				}
				if _, _, err := decodeAll(format, id, b[:n]); err == nil {
					t.Errorf("format %d, player %s: decoding the first %d of %d bytes: no error", format, id, n, len(b))
				}
			}
			if _, _, err := decodeAll(format, id, append(b, 0)); err == nil {
				t.Errorf("format %d, player %s: a byte past the end: no error", format, id)
			}
		}
	}
	if _, _, err := decodeAll(3, "p", encodeHistory(oddRows("p"))); err == nil {
		t.Error("format 3: no error")
	}
}

// The compact format gives back what the first one does for every
// player of the real data set, in a fraction of the bytes.
func TestHistoryFormats_RealData(t *testing.T) {
	ds, err := dataimport.ReadDir(realdata.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	ids, logs, lines := histories(ds)
	var size [3]int
	for _, id := range ids {
		v1, v2 := encodeHistoryV1(logs[id], lines[id]), encodeHistory(logs[id], lines[id])
		size[historyV1] += len(v1)
		size[historyFormat] += len(v2)
		l1, p1, err1 := decodeAll(historyV1, id, v1)
		l2, p2, err2 := decodeAll(historyFormat, id, v2)
		if err1 != nil || err2 != nil {
			t.Fatalf("player %s: %v, %v", id, err1, err2)
		}
		if d := cmp.Diff(l1, l2, sameBits); d != "" {
			t.Fatalf("player %s: game logs (-format 1 +format 2):\n%s", id, d)
		}
		if d := cmp.Diff(p1, p2, sameBits); d != "" {
			t.Fatalf("player %s: prop lines (-format 1 +format 2):\n%s", id, d)
		}
		if d := cmp.Diff(logs[id], l2, sameBits); d != "" {
			t.Fatalf("player %s: game logs (-data set +format 2):\n%s", id, d)
		}
	}
	t.Logf("%d players: format 1 %d bytes, format 2 %d bytes (%.2fx smaller)", len(ids), size[historyV1], size[historyFormat],
		float64(size[historyV1])/float64(size[historyFormat]))
	if size[historyFormat]*2 > size[historyV1] {
		t.Errorf("format 2 takes %d bytes, more than half of format 1's %d", size[historyFormat], size[historyV1])
	}
}

// A corrupt blob of either format is an error, never a panic or a huge
// allocation, and what decodes without error encodes back to itself.
func FuzzHistoryDecode(f *testing.F) {
	ds := mustLeague(f, 3, 2, "2025-10-30")
	ids, logs, lines := histories(ds)
	oddLogs, oddLines := oddRows("odd")
	for format, encode := range encoders {
		f.Add(byte(format), encode(logs[ids[0]], lines[ids[0]]))
		f.Add(byte(format), encode(oddLogs, oddLines))
		f.Add(byte(format), encode(nil, nil))
	}
	f.Fuzz(func(t *testing.T, format byte, b []byte) {
		gotLogs, gotLines, err := decodeAll(int(format), "p", b)
		if err != nil {
			return
		}
		again, againLines, err := decodeAll(historyFormat, "p", encodeHistory(gotLogs, gotLines))
		if err != nil {
			t.Fatalf("re-encoding what format %d decoded: %v", format, err)
		}
		if d := cmp.Diff(gotLogs, again, sameBits); d != "" {
			t.Fatalf("game logs (-decoded +re-encoded):\n%s", d)
		}
		if d := cmp.Diff(gotLines, againLines, sameBits); d != "" {
			t.Fatalf("prop lines (-decoded +re-encoded):\n%s", d)
		}
	})
}

// toV1 rewrites db's player histories in format 1, as a file from before
// migration 12 holds them, and returns them by rowid.
func toV1(t *testing.T, db *DB) map[int64][]byte {
	t.Helper()
	type row struct {
		id     int64
		player string
		format int
		blob   []byte
	}
	var rows []row
	rs, err := db.read.QueryContext(t.Context(), "SELECT rowid, player_id, format, history FROM data_players")
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.id, &r.player, &r.format, &r.blob); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	v1 := map[int64][]byte{}
	for _, r := range rows {
		logs, lines, err := decodeAll(r.format, r.player, r.blob)
		if err != nil || r.format != historyFormat {
			t.Fatalf("player %s: format %d, %v", r.player, r.format, err)
		}
		v1[r.id] = encodeHistoryV1(logs, lines)
		if _, err := db.write.ExecContext(t.Context(), "UPDATE data_players SET history = ?, format = 1 WHERE rowid = ?", v1[r.id], r.id); err != nil {
			t.Fatal(err)
		}
	}
	if len(v1) == 0 {
		t.Fatal("no player histories")
	}
	return v1
}

var historyDates = []string{"2025-10-25", "2025-11-10", "2025-11-20", "2025-12-01", "2025-12-10"}

// importedLeague returns a file at path with a synthetic league imported,
// open, and LoadDay's game logs and prop lines of each of historyDates.
func importedLeague(t *testing.T) (path string, db *DB, logs [][]predict.GameLog, lines [][]predict.PropLine) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "old.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ImportDataset(t.Context(), mustLeague(t, 5, 6, "2025-12-10")); err != nil {
		t.Fatal(err)
	}
	logs, lines, errs := loadDays(t, db)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return path, db, logs, lines
}

// loadDays returns LoadDay's game logs and prop lines of each of
// historyDates (nil for a date it fails), and its errors.
func loadDays(t *testing.T, db *DB) (logs [][]predict.GameLog, lines [][]predict.PropLine, errs []error) {
	t.Helper()
	for _, day := range historyDates {
		ds, err := db.LoadDay(t.Context(), predict.MustParseDate(day), predict.SelectOptions{}, predict.RequestOptions{})
		if err != nil {
			logs, lines, errs = append(logs, nil), append(lines, nil), append(errs, err)
			continue
		}
		if !ds.Partial() {
			t.Fatalf("LoadDay(%s) read the whole data set", day)
		}
		logs, lines, errs = append(logs, ds.Logs()), append(lines, ds.Lines()), append(errs, nil)
	}
	return logs, lines, errs
}

// LoadDay reads blobs of either format to the same rows.
func TestDB_LoadDay_HistoryV1(t *testing.T) {
	t.Parallel()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "tipoff.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.ImportDataset(t.Context(), mustLeague(t, 5, 6, "2025-12-10")); err != nil {
		t.Fatal(err)
	}
	wantLogs, wantLines, errs := loadDays(t, db)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	toV1(t, db)
	gotLogs, gotLines, errs := loadDays(t, db)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, day := range historyDates {
		if len(wantLogs[i]) == 0 {
			t.Fatalf("LoadDay(%s): no game logs: the test checks nothing", day)
		}
		if d := cmp.Diff(wantLogs[i], gotLogs[i], sameBits); d != "" {
			t.Errorf("LoadDay(%s): game logs (-format 2 +format 1):\n%s", day, d)
		}
		if d := cmp.Diff(wantLines[i], gotLines[i], sameBits); d != "" {
			t.Errorf("LoadDay(%s): prop lines (-format 2 +format 1):\n%s", day, d)
		}
	}
}

// TestMigrate_PlayerHistories opens a file from before migration 12, its
// player histories in format 1. An upgrade that fails part way leaves the
// file as it was; one that succeeds re-encodes every blob but a corrupt
// one, which LoadDay then names, and the dates read the same rows as
// before.
func TestMigrate_PlayerHistories(t *testing.T) {
	t.Parallel()
	path, db, wantLogs, wantLines := importedLeague(t)
	v1 := toV1(t, db)
	var last int64
	if err := db.read.QueryRow("SELECT max(rowid) FROM data_players").Scan(&last); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	exec := func(stmts ...string) {
		t.Helper()
		for _, s := range stmts {
			if _, err := raw.Exec(s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
	// Schema 11, and a trigger that fails the upgrade at its last blob.
	exec("ALTER TABLE data_players DROP COLUMN format", "ALTER TABLE queue_messages DROP COLUMN req_batch",
		"ALTER TABLE queue_messages DROP COLUMN req_item", "DROP TABLE data_schedule", "DROP TABLE item_results", "PRAGMA user_version = 11",
		fmt.Sprintf("CREATE TRIGGER fail_upgrade BEFORE UPDATE ON data_players WHEN old.rowid = %d BEGIN SELECT RAISE(ABORT, 'disk gone'); END", last))
	unchanged := func() {
		t.Helper()
		var version int
		if err := raw.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != 11 {
			t.Fatalf("schema version %d (%v), want 11", version, err)
		}
		rs, err := raw.Query("SELECT rowid, history FROM data_players")
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		n := 0
		for rs.Next() {
			var id int64
			var b []byte
			if err := rs.Scan(&id, &b); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(b, v1[id]) {
				t.Fatalf("blob %d changed by a failed upgrade", id)
			}
			n++
		}
		if n != len(v1) {
			t.Fatalf("%d blobs after a failed upgrade, want %d", n, len(v1))
		}
	}
	if db, err := Open(t.Context(), path); err == nil || !strings.Contains(err.Error(), "disk gone") {
		if err == nil {
			db.Close()
		}
		t.Fatalf("Open with the upgrade failing: %v, want its error", err)
	}
	unchanged()

	// A corrupt blob of a player a date reads.
	player := wantLogs[len(wantLogs)-1][0].PlayerID
	exec("DROP TRIGGER fail_upgrade",
		fmt.Sprintf("UPDATE data_players SET history = substr(history, 1, length(history) / 2) WHERE rowid = (SELECT rowid FROM data_players WHERE player_id = '%s' ORDER BY start DESC LIMIT 1)", player))
	db, err = Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var old, upgraded int
	if err := db.read.QueryRow("SELECT count(*) FILTER (WHERE format = 1), count(*) FILTER (WHERE format = 2) FROM data_players").Scan(&old, &upgraded); err != nil {
		t.Fatal(err)
	}
	if old != 1 || upgraded != len(v1)-1 {
		t.Errorf("after the upgrade: %d blobs in format 1, %d in format 2; want only the corrupt one left, %d upgraded", old, upgraded, len(v1)-1)
	}
	gotLogs, gotLines, errs := loadDays(t, db)
	named, same := 0, 0
	for i, day := range historyDates {
		if err := errs[i]; err != nil {
			if !errors.Is(err, errHistory) || !strings.Contains(err.Error(), "player "+player) {
				t.Errorf("LoadDay(%s): %v, want the corrupt history of player %s", day, err, player)
			}
			named++
			continue
		}
		if d := cmp.Diff(wantLogs[i], gotLogs[i], sameBits); d != "" {
			t.Errorf("LoadDay(%s): game logs (-before +after the upgrade):\n%s", day, d)
		}
		if d := cmp.Diff(wantLines[i], gotLines[i], sameBits); d != "" {
			t.Errorf("LoadDay(%s): prop lines (-before +after the upgrade):\n%s", day, d)
		}
		same++
	}
	if named == 0 || same == 0 {
		t.Errorf("%d dates read the corrupt blob, %d the others: want some of each", named, same)
	}
}
