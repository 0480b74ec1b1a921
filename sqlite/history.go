package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"tipoff/predict"
)

// Each player's game logs and prop lines are also kept in data_players in
// a compact binary form, one row per stretch of the schedule of one season
// ([predict.Dataset.SeasonStart] of the rows' dates): a date's batch reads
// a few hundred players' last season or two, and reading a blob per player
// and season costs a fraction of reading their rows one by one. A player
// with a game log whose season is not the schedule's for its date has all
// his rows in one blob (start 0), so that reading back from the newest
// blob to [predict.DayScope.From] finds every game log of a season the
// date reads. The blobs are written with the rows, in the import's
// transaction.

// historyChunk is what one blob holds.
type historyChunk struct {
	logs  []predict.GameLog
	lines []predict.PropLine
}

// writePlayers stores ds's players' histories in data_players (in tx),
// replacing any there.
func writePlayers(ctx context.Context, tx *sql.Tx, ds *predict.Dataset) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM data_players"); err != nil {
		return err
	}
	lines := map[string][]predict.PropLine{}
	for _, p := range ds.Lines() {
		lines[p.PlayerID] = append(lines[p.PlayerID], p)
	}
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO data_players (player_id, start, format, history) VALUES (?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer stmt.Close()
	put := func(id string, logs []predict.GameLog) error {
		props := lines[id]
		delete(lines, id)
		whole := false
		for _, l := range logs {
			whole = whole || ds.SeasonOf(l.Date) != l.Season
		}
		var starts []predict.Date
		chunk := func(d predict.Date) predict.Date {
			if whole {
				return 0
			}
			return ds.SeasonStart(d)
		}
		byStart := map[predict.Date]*historyChunk{}
		get := func(d predict.Date) *historyChunk {
			st := chunk(d)
			c := byStart[st]
			if c == nil {
				c = &historyChunk{}
				byStart[st] = c
				starts = append(starts, st)
			}
			return c
		}
		for _, l := range logs {
			c := get(l.Date)
			c.logs = append(c.logs, l)
		}
		for _, p := range props {
			c := get(p.Date)
			c.lines = append(c.lines, p)
		}
		for _, st := range starts {
			c := byStart[st]
			if _, err := stmt.ExecContext(ctx, id, int(st), historyFormat, encodeHistory(c.logs, c.lines)); err != nil {
				return fmt.Errorf("history of player %s: %w", id, err)
			}
		}
		return nil
	}
	logs := ds.Logs() // by player, then date
	for i := 0; i < len(logs); {
		j := i + 1
		for j < len(logs) && logs[j].PlayerID == logs[i].PlayerID {
			j++
		}
		if err := put(logs[i].PlayerID, logs[i:j]); err != nil {
			return err
		}
		i = j
	}
	for _, id := range slices.Sorted(maps.Keys(lines)) { // players with lines and no game log
		if err := put(id, nil); err != nil {
			return err
		}
	}
	return nil
}

// The formats of data_players.history: historyV1 wrote every string in
// every row and every float in 8 bytes (a file from before migration 12;
// Open re-encodes its blobs, see [upgradeHistories]); historyFormat is
// what [encodeHistory] writes.
const (
	historyV1     = 1
	historyFormat = 2
)

// encodeHistory encodes one player's game logs (by date) and prop lines
// (in import order); the player id is the row's key. The blob is
//
//	table: uvarint count, then each distinct string of the rows, sorted,
//	       as uvarint length of the prefix it shares with the one before,
//	       uvarint length of the rest, the rest
//	logs:  uvarint count, then each log's date (varint days after the row
//	       before's), GameID, a flags byte (Home 1, Starter 2, Played 4,
//	       8 when Season, SeasonType, PlayerName and Team are the log
//	       before's and left out), those four unless left out, Opponent,
//	       DNPReason, Minutes (fixed, hundredths) and the 16 stats (varints)
//	lines: uvarint count, then each line's date (as for logs, after the
//	       last log's), GameID, Team, Book, Line (fixed, halves), OverOdds,
//	       UnderOdds (varints), a flags byte (Main 1) and Source
//
// where a string is its uvarint index in the table and a fixed number is
// a uvarint: twice the zigzag of the whole number of units when that gives
// back the float64 exactly, else 1 and the 8 bytes of the float64.
func encodeHistory(logs []predict.GameLog, lines []predict.PropLine) []byte {
	idx := map[string]int{}
	for _, l := range logs {
		for _, s := range [...]string{l.GameID, l.Season, l.SeasonType, l.PlayerName, l.Team, l.Opponent, l.DNPReason} {
			idx[s] = 0
		}
	}
	for _, p := range lines {
		for _, s := range [...]string{p.GameID, p.Team, p.Book, p.Source} {
			idx[s] = 0
		}
	}
	b := appendTable(nil, idx)
	ref := func(s string) { b = binary.AppendUvarint(b, uint64(idx[s])) }
	num := func(n int) { b = binary.AppendVarint(b, int64(n)) }
	var last predict.Date
	day := func(d predict.Date) {
		b = binary.AppendVarint(b, int64(d)-int64(last))
		last = d
	}
	bit := func(v bool, n byte) byte {
		if v {
			return n
		}
		return 0
	}
	b = binary.AppendUvarint(b, uint64(len(logs)))
	for i, l := range logs {
		day(l.Date)
		ref(l.GameID)
		same := i > 0 && l.Season == logs[i-1].Season && l.SeasonType == logs[i-1].SeasonType &&
			l.PlayerName == logs[i-1].PlayerName && l.Team == logs[i-1].Team
		b = append(b, bit(l.Home, 1)|bit(l.Starter, 2)|bit(l.Played, 4)|bit(same, 8))
		if !same {
			ref(l.Season)
			ref(l.SeasonType)
			ref(l.PlayerName)
			ref(l.Team)
		}
		ref(l.Opponent)
		ref(l.DNPReason)
		b = appendFixed(b, l.Minutes, 100)
		s := l.Stats
		for _, v := range [...]int{s.Pts, s.Reb, s.OReb, s.DReb, s.Ast, s.Stl, s.Blk, s.Tov, s.PF, s.FGM, s.FGA, s.FG3M, s.FG3A, s.FTM, s.FTA, s.PlusMinus} {
			num(v)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(lines)))
	for _, p := range lines {
		day(p.Date)
		ref(p.GameID)
		ref(p.Team)
		ref(p.Book)
		b = appendFixed(b, p.Line, 2)
		num(p.OverOdds)
		num(p.UnderOdds)
		b = append(b, bit(p.Main, 1))
		ref(p.Source)
	}
	return b
}

// appendTable appends the string table of a blob: the keys of idx,
// sorted, each as the uvarint length of the prefix it shares with the one
// before, the uvarint length of the rest, and the rest. It sets each
// string's index in idx.
func appendTable(b []byte, idx map[string]int) []byte {
	table := slices.Sorted(maps.Keys(idx))
	b = binary.AppendUvarint(b, uint64(len(table)))
	prev := ""
	for i, s := range table {
		idx[s] = i
		n := 0
		for n < len(prev) && n < len(s) && prev[n] == s[n] {
			n++
		}
		b = binary.AppendUvarint(b, uint64(n))
		b = binary.AppendUvarint(b, uint64(len(s)-n))
		b = append(b, s[n:]...)
		prev = s
	}
	return b
}

// appendFixed appends v as a whole number of 1/scale units when that
// number gives back v bit for bit (-0 and NaN do not), else its 8 bytes.
func appendFixed(b []byte, v, scale float64) []byte {
	if f := math.Round(v * scale); math.Abs(f) < 1<<52 {
		n := int64(f)
		if math.Float64bits(float64(n)/scale) == math.Float64bits(v) {
			return binary.AppendUvarint(b, (uint64(n<<1)^uint64(n>>63))<<1)
		}
	}
	b = append(b, 1)
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}

var errHistory = errors.New("truncated or corrupt player history")

// historyDecoder decodes what [encodeHistory] wrote (or, for format
// [historyV1], the encoder before it), interning strings in strs: each
// distinct string of the blobs it decodes is allocated once.
type historyDecoder struct {
	b      []byte
	format int // data_players.format: historyV1 or historyFormat
	err    error
	strs   map[string]string

	table   []string // the blob's strings
	scratch []byte
}

func (d *historyDecoder) fail() {
	d.err, d.b = errHistory, nil
}

func (d *historyDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *historyDecoder) num() int {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

func (d *historyDecoder) intern(raw []byte) string {
	if s, ok := d.strs[string(raw)]; ok {
		return s
	}
	s := string(raw)
	d.strs[s] = s
	return s
}

func (d *historyDecoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	raw := d.b[:n]
	d.b = d.b[n:]
	return d.intern(raw)
}

// readTable reads a string table (see appendTable) into d.table.
func (d *historyDecoder) readTable() {
	n := d.uvarint()
	if n > uint64(len(d.b)) { // an entry takes 2 bytes or more
		d.fail()
	}
	d.table = d.table[:0]
	d.scratch = d.scratch[:0]
	for range n {
		shared, size := d.uvarint(), d.uvarint()
		if d.err != nil {
			break
		}
		if shared > uint64(len(d.scratch)) || size > uint64(len(d.b)) {
			d.fail()
			break
		}
		d.scratch = append(d.scratch[:shared], d.b[:size]...)
		d.b = d.b[size:]
		d.table = append(d.table, d.intern(d.scratch))
	}
}

// ref reads a string of the table.
func (d *historyDecoder) ref() string {
	i := d.uvarint()
	if i >= uint64(len(d.table)) {
		d.fail()
		return ""
	}
	return d.table[i]
}

func (d *historyDecoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *historyDecoder) flt() float64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

// fixed reads what [appendFixed] wrote.
func (d *historyDecoder) fixed(scale float64) float64 {
	u := d.uvarint()
	switch {
	case u&1 == 0:
		z := u >> 1
		return float64(int64(z>>1)^-int64(z&1)) / scale
	case u == 1:
		return d.flt()
	}
	d.fail()
	return 0
}

// decode calls keepLog for each of the player's game logs and keepLine
// for each of his prop lines, in stored order, appending those they
// accept to logs and lines.
func (d *historyDecoder) decode(player string, logs []predict.GameLog, lines []predict.PropLine,
	keepLog func(*predict.GameLog) bool, keepLine func(*predict.PropLine) bool) ([]predict.GameLog, []predict.PropLine, error) {
	d.err = nil
	switch d.format {
	case historyFormat:
		logs, lines = d.decodeV2(player, logs, lines, keepLog, keepLine)
	case historyV1:
		logs, lines = d.decodeV1(player, logs, lines, keepLog, keepLine)
	default:
		return logs, lines, fmt.Errorf("%w: format %d is not one this program reads", errHistory, d.format)
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = errHistory
	}
	return logs, lines, d.err
}

func (d *historyDecoder) decodeV2(player string, logs []predict.GameLog, lines []predict.PropLine,
	keepLog func(*predict.GameLog) bool, keepLine func(*predict.PropLine) bool) ([]predict.GameLog, []predict.PropLine) {
	d.readTable()
	var date int64
	n := d.uvarint()
	logs = slices.Grow(logs, int(min(n, uint64(len(d.b))/16))) // a log takes more than 16 bytes
	// The log before's, for one that leaves them out.
	var season, seasonType, name, team string
	for i := range n {
		if d.err != nil {
			break
		}
		date += int64(d.num())
		// Decoded in place (a row passed to keepLog from a local would
		// escape to the heap), and dropped if not kept.
		logs = append(logs, predict.GameLog{PlayerID: player, Date: predict.Date(date), GameID: d.ref()})
		l := &logs[len(logs)-1]
		f := d.byte()
		l.Home, l.Starter, l.Played = f&1 != 0, f&2 != 0, f&4 != 0
		switch {
		case f&^15 != 0 || f&8 != 0 && i == 0:
			d.fail()
		case f&8 == 0:
			season, seasonType, name, team = d.ref(), d.ref(), d.ref(), d.ref()
		}
		l.Season, l.SeasonType, l.PlayerName, l.Team = season, seasonType, name, team
		l.Opponent, l.DNPReason, l.Minutes = d.ref(), d.ref(), d.fixed(100)
		s := &l.Stats
		for _, v := range [...]*int{&s.Pts, &s.Reb, &s.OReb, &s.DReb, &s.Ast, &s.Stl, &s.Blk, &s.Tov, &s.PF, &s.FGM, &s.FGA, &s.FG3M, &s.FG3A, &s.FTM, &s.FTA, &s.PlusMinus} {
			*v = d.num()
		}
		if d.err != nil || !keepLog(l) {
			logs = logs[:len(logs)-1]
		}
	}
	n = d.uvarint()
	lines = slices.Grow(lines, int(min(n, uint64(len(d.b))/8))) // a line takes more than 8 bytes
	for range n {
		if d.err != nil {
			break
		}
		date += int64(d.num())
		lines = append(lines, predict.PropLine{PlayerID: player, Date: predict.Date(date)})
		p := &lines[len(lines)-1]
		p.GameID, p.Team, p.Book, p.Line = d.ref(), d.ref(), d.ref(), d.fixed(2)
		p.OverOdds, p.UnderOdds = d.num(), d.num()
		f := d.byte()
		p.Main, p.Source = f&1 != 0, d.ref()
		if f&^1 != 0 {
			d.fail()
		}
		if d.err != nil || !keepLine(p) {
			lines = lines[:len(lines)-1]
		}
	}
	return logs, lines
}

func (d *historyDecoder) decodeV1(player string, logs []predict.GameLog, lines []predict.PropLine,
	keepLog func(*predict.GameLog) bool, keepLine func(*predict.PropLine) bool) ([]predict.GameLog, []predict.PropLine) {
	n := d.uvarint()
	logs = slices.Grow(logs, int(min(n, uint64(len(d.b))/8))) // a record takes more than 8 bytes
	for range n {
		if d.err != nil {
			break
		}
		l := predict.GameLog{PlayerID: player, Date: predict.Date(d.num())}
		l.GameID, l.Season, l.SeasonType, l.PlayerName, l.Team, l.Opponent = d.str(), d.str(), d.str(), d.str(), d.str(), d.str()
		f := d.byte()
		l.Home, l.Starter, l.Played = f&1 != 0, f&2 != 0, f&4 != 0
		l.DNPReason, l.Minutes = d.str(), d.flt()
		s := &l.Stats
		for _, v := range [...]*int{&s.Pts, &s.Reb, &s.OReb, &s.DReb, &s.Ast, &s.Stl, &s.Blk, &s.Tov, &s.PF, &s.FGM, &s.FGA, &s.FG3M, &s.FG3A, &s.FTM, &s.FTA, &s.PlusMinus} {
			*v = d.num()
		}
		if d.err == nil && keepLog(&l) {
			logs = append(logs, l)
		}
	}
	n = d.uvarint()
	lines = slices.Grow(lines, int(min(n, uint64(len(d.b))/8)))
	for range n {
		if d.err != nil {
			break
		}
		p := predict.PropLine{PlayerID: player, Date: predict.Date(d.num())}
		p.GameID, p.Team, p.Book, p.Line = d.str(), d.str(), d.str(), d.flt()
		p.OverOdds, p.UnderOdds, p.Main = d.num(), d.num(), d.byte()&1 != 0
		p.Source = d.str()
		if d.err == nil && keepLine(&p) {
			lines = append(lines, p)
		}
	}
	return logs, lines
}

// upgradeHistories re-encodes, in tx (migration 12's), the format 1
// blobs of data_players in format 2. A blob that does not decode is left
// as it is, for LoadDay to name its player when a date reads it.
func upgradeHistories(ctx context.Context, tx *sql.Tx) error {
	dec := historyDecoder{format: historyV1, strs: map[string]string{}}
	all := func(*predict.GameLog) bool { return true }
	allLines := func(*predict.PropLine) bool { return true }
	var logs []predict.GameLog
	var lines []predict.PropLine
	type row struct {
		id     int64
		player string
		blob   []byte
	}
	var rows []row
	for last := int64(0); ; {
		rows = rows[:0]
		err := scanRows(ctx, tx, "SELECT rowid, player_id, history FROM data_players WHERE rowid > ? AND format = 1 ORDER BY rowid LIMIT 256",
			func(rs *sql.Rows) error {
				var r row
				err := rs.Scan(&r.id, &r.player, &r.blob)
				rows = append(rows, r)
				return err
			}, last)
		if err != nil {
			return fmt.Errorf("read player histories: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		for _, r := range rows {
			last = r.id
			dec.b, dec.format = r.blob, historyV1
			var err error
			if logs, lines, err = dec.decode(r.player, logs[:0], lines[:0], all, allLines); err != nil {
				continue
			}
			if _, err := tx.ExecContext(ctx, "UPDATE data_players SET history = ?, format = ? WHERE rowid = ?",
				encodeHistory(logs, lines), historyFormat, r.id); err != nil {
				return fmt.Errorf("history of player %s: %w", r.player, err)
			}
		}
	}
}
