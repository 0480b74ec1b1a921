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
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO data_players (player_id, start, history) VALUES (?, ?, ?)")
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
			if _, err := stmt.ExecContext(ctx, id, int(st), encodeHistory(c.logs, c.lines)); err != nil {
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

// encodeHistory encodes one player's game logs (by date) and prop lines
// (in import order); the player id is the row's key.
func encodeHistory(logs []predict.GameLog, lines []predict.PropLine) []byte {
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

var errHistory = errors.New("truncated or corrupt player history")

// historyDecoder decodes what [encodeHistory] wrote, interning repeated
// strings (seasons, teams, books) in strs.
type historyDecoder struct {
	b    []byte
	err  error
	strs map[string]string
}

func (d *historyDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err, d.b = errHistory, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *historyDecoder) num() int {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err, d.b = errHistory, nil
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

func (d *historyDecoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err, d.b = errHistory, nil
		return ""
	}
	raw := d.b[:n]
	d.b = d.b[n:]
	if s, ok := d.strs[string(raw)]; ok {
		return s
	}
	s := string(raw)
	d.strs[s] = s
	return s
}

func (d *historyDecoder) byte() byte {
	if len(d.b) == 0 {
		d.err = errHistory
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *historyDecoder) flt() float64 {
	if len(d.b) < 8 {
		d.err, d.b = errHistory, nil
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

// decodeHistory calls keepLog for each of the player's game logs and
// keepLine for each of his prop lines, in stored order, appending those
// they accept to logs and lines.
func (d *historyDecoder) decode(player string, logs []predict.GameLog, lines []predict.PropLine,
	keepLog func(*predict.GameLog) bool, keepLine func(*predict.PropLine) bool) ([]predict.GameLog, []predict.PropLine, error) {
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
	if d.err == nil && len(d.b) > 0 {
		d.err = errHistory
	}
	return logs, lines, d.err
}
