package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"

	"tipoff/predict"
)

// The schedule is also kept whole in one blob (data_schedule), written by
// the import that writes data_games: a date's batch reads every game.
//
//	table: the blob's strings (see appendTable)
//	games: uvarint count, then each game's date (varint days after the
//	       game before's), ID, Season, SeasonType, Home, Away (indexes in
//	       the table), HomePts, AwayPts (varints) and a flags byte
//	       (Final 1)
//
// with the games in the order data_games returns them to loadGames.

var errSchedule = errors.New("truncated or corrupt schedule (data_schedule): import the data again")

func encodeSchedule(games []predict.Game) []byte {
	idx := map[string]int{}
	for _, g := range games {
		for _, s := range [...]string{g.ID, g.Season, g.SeasonType, g.Home, g.Away} {
			idx[s] = 0
		}
	}
	b := appendTable(nil, idx)
	b = binary.AppendUvarint(b, uint64(len(games)))
	var last predict.Date
	for _, g := range games {
		b = binary.AppendVarint(b, int64(g.Date)-int64(last))
		last = g.Date
		for _, s := range [...]string{g.ID, g.Season, g.SeasonType, g.Home, g.Away} {
			b = binary.AppendUvarint(b, uint64(idx[s]))
		}
		b = binary.AppendVarint(b, int64(g.HomePts))
		b = binary.AppendVarint(b, int64(g.AwayPts))
		var f byte
		if g.Final {
			f = 1
		}
		b = append(b, f)
	}
	return b
}

func decodeSchedule(b []byte) ([]predict.Game, error) {
	d := historyDecoder{b: b, strs: map[string]string{}}
	d.readTable()
	n := d.uvarint()
	if n > uint64(len(d.b)) { // a game takes 9 bytes or more
		d.fail()
	}
	var games []predict.Game
	if d.err == nil {
		games = make([]predict.Game, 0, n)
	}
	var date int64
	for range n {
		if d.err != nil {
			break
		}
		date += int64(d.num())
		g := predict.Game{Date: predict.Date(date), ID: d.ref(), Season: d.ref(), SeasonType: d.ref(), Home: d.ref(), Away: d.ref(),
			HomePts: d.num(), AwayPts: d.num()}
		f := d.byte()
		if f > 1 {
			d.fail()
		}
		g.Final = f&1 != 0
		games = append(games, g)
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail()
	}
	if d.err != nil {
		return nil, errSchedule
	}
	return games, nil
}

// writeSchedule stores games as the schedule's blob (in tx), replacing it.
func writeSchedule(ctx context.Context, tx *sql.Tx, games []predict.Game) error {
	_, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO data_schedule (id, games) VALUES (1, ?)", encodeSchedule(games))
	return err
}

// readSchedule returns the stored schedule: the blob's, or data_games'
// rows when there is no blob.
func readSchedule(ctx context.Context, tx *sql.Tx) ([]predict.Game, error) {
	var b []byte
	err := tx.QueryRowContext(ctx, "SELECT games FROM data_schedule WHERE id = 1").Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return loadGames(ctx, tx)
	}
	if err != nil {
		return nil, err
	}
	return decodeSchedule(b)
}

// upgradeSchedule writes, in tx (migration 14's), the blob of a file's
// imported schedule.
func upgradeSchedule(ctx context.Context, tx *sql.Tx) error {
	games, err := loadGames(ctx, tx)
	if err != nil {
		return fmt.Errorf("read schedule: %w", err)
	}
	if len(games) == 0 {
		return nil
	}
	return writeSchedule(ctx, tx, games)
}
