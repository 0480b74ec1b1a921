package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"tipoff/batch"
	"tipoff/predict"
)

var _ predict.CalibrationStore = (*DB)(nil)

// LoadDay reads the rows of the stored data set that date's batch reads
// under sel and ro ([predict.DayScope]) into a partial data set
// ([predict.NewPartialDataset]) of the stored version: requests built from
// it for date are those the whole data set gives, for a fraction of the
// reading. Errors are those of [DB.LoadDataset].
func (db *DB) LoadDay(ctx context.Context, date predict.Date, sel predict.SelectOptions, ro predict.RequestOptions) (*predict.Dataset, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("load data for %s from %s: %w", date, db.path, err)
	}
	defer tx.Rollback()
	wrap := func(what string, err error) error {
		return fmt.Errorf("load %s for %s from %s: %w", what, date, db.path, err)
	}
	var version string
	err = tx.QueryRowContext(ctx, "SELECT value FROM data_meta WHERE key = 'version'").Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("data set in %s: %w: nothing imported yet (run tipoff import)", db.path, batch.ErrNotFound)
	}
	if err != nil {
		return nil, wrap("data version", err)
	}
	games, err := readSchedule(ctx, tx)
	if err != nil {
		return nil, wrap("games", err)
	}
	var books []string
	err = scanRows(ctx, tx, `WITH RECURSIVE b(book) AS (
			SELECT min(book) FROM data_prop_lines
			UNION ALL SELECT (SELECT min(book) FROM data_prop_lines WHERE book > b.book) FROM b WHERE b.book IS NOT NULL)
		SELECT book FROM b WHERE book IS NOT NULL`, func(rows *sql.Rows) error {
		var b string
		err := rows.Scan(&b)
		books = append(books, b)
		return err
	})
	if err != nil {
		return nil, wrap("bookmakers", err)
	}
	sched, err := predict.NewPartialDataset(version, books, games, nil, nil, nil, nil)
	if err != nil {
		return nil, wrap("schedule", err)
	}
	scope := sched.DayScope(date, sel, ro)
	day := date.String()
	var players []string
	seen := map[string]bool{}
	for _, t := range scope.Teams {
		err := scanRows(ctx, tx, `SELECT DISTINCT player_id FROM data_game_logs WHERE team = ? AND date >= ? AND date < ?`, func(rows *sql.Rows) error {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			if !seen[id] {
				seen[id] = true
				players = append(players, id)
			}
			return nil
		}, t.Team, t.Since.String(), day)
		if err != nil {
			return nil, wrap("players of "+t.Team, err)
		}
	}
	// By id: the rows come out in the order the data set keeps them.
	slices.Sort(players)
	var have bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM data_players)").Scan(&have); err != nil {
		return nil, wrap("player histories", err)
	}
	if !have && len(players) > 0 {
		// A file imported before player histories were kept: read it all
		// once, and keep them for the next time.
		tx.Rollback()
		return db.loadAndKeepPlayers(ctx)
	}
	get, err := tx.PrepareContext(ctx, historySQL)
	if err != nil {
		return nil, wrap("player histories", err)
	}
	defer get.Close()
	gets := []*sql.Stmt{get}
	// A second reader, in a transaction of its own, when it sees the same
	// data set: its version is a checksum of the rows. One load at a time
	// takes one (secondReader): loads holding every connection of the
	// read pool while each waited for another would wait for ever.
	if runtime.GOMAXPROCS(0) > 1 && len(players) >= 64 && db.secondReader.TryLock() {
		defer db.secondReader.Unlock()
		if tx2, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}); err == nil {
			defer tx2.Rollback()
			var v string
			if err := tx2.QueryRowContext(ctx, "SELECT value FROM data_meta WHERE key = 'version'").Scan(&v); err == nil && v == version {
				if get2, err := tx2.PrepareContext(ctx, historySQL); err == nil {
					defer get2.Close()
					gets = append(gets, get2)
				}
			}
		}
	}
	// Date's season is kept whole; the season before it is summed
	// (predict.SeasonTotals) and kept only from since on.
	var season, prev string
	if len(scope.Seasons) > 0 {
		season = scope.Seasons[0]
	}
	if len(scope.Seasons) > 1 {
		prev = scope.Seasons[1]
	}
	var totals []predict.SeasonTotals
	if prev != "" {
		totals = make([]predict.SeasonTotals, 0, len(players))
	}
	// A past line is read for the first book of the preference with a
	// main line on its date (bookRank); the date's own lines are kept.
	bookRank := make(map[string]int, len(scope.Books))
	for i, b := range scope.Books {
		if _, ok := bookRank[b]; !ok {
			bookRank[b] = i
		}
	}
	bestBook := map[predict.Date]int{}
	// The players' recent games and this season's, and room for as many
	// lines (the date's, and one a game of the recent window): sized so
	// that they are seldom grown, each growth being a copy into fresh
	// memory.
	played := 0 // the most games a playing team has had this season
	for _, t := range scope.Teams {
		past := sched.TeamGamesBefore(t.Team, date)
		n := 0
		for i := len(past) - 1; i >= 0 && past[i].Season == season; i-- {
			n++
		}
		played = max(played, n)
	}
	// Goroutines read and decode the players' blobs (readPlayers), a
	// reader each, while this one keeps what the date needs of the
	// players before; the decoded rows of a few players circulate between
	// them, so their buffers are reused. They start before this one maps
	// in the memory it copies to (9 MB, ~15 ms on a VM).
	read, stop := db.readPlayers(ctx, gets, players, date, scope)
	defer stop()
	per := max(scope.History, played) + 10
	logs := make([]predict.GameLog, 0, per*len(players))
	lines := make([]predict.PropLine, 0, per*len(players))
	prefault(logs)
	prefault(lines)
	for i, id := range players {
		pr := read.next(i)
		if pr.err != nil {
			if err := ctx.Err(); err != nil {
				return nil, wrap("history of player "+id, err)
			}
			return nil, wrap("history of player "+id, pr.err)
		}
		chunks := pr.chunks
		// From the player's History-th last played game, or all of them.
		since, n := predict.Date(0), 0
		for ci := 0; ci < len(chunks) && n < scope.History; ci++ {
			ls := chunks[ci].logs
			for i := len(ls) - 1; i >= 0 && n < scope.History; i-- {
				if ls[i].Played {
					n++
					since = ls[i].Date
				}
			}
		}
		if n < scope.History {
			since = 0
		}
		since = min(since, scope.Since)
		if prev != "" {
			// Newest first, as BuildRequest adds them.
			t := predict.SeasonTotals{PlayerID: id, Season: prev}
			for ci := range chunks {
				ls := chunks[ci].logs
				for i := len(ls) - 1; i >= 0; i-- {
					if ls[i].Season == prev {
						t.Add(&ls[i])
					}
				}
			}
			totals = append(totals, t)
		}
		clear(bestBook)
		for ci := range chunks {
			for i := range chunks[ci].lines {
				p := &chunks[ci].lines[i]
				if r, ok := bookRank[p.Book]; ok && p.Date >= since && p.Date < date {
					if b, seen := bestBook[p.Date]; !seen || r < b {
						bestBook[p.Date] = r
					}
				}
			}
		}
		for ci := len(chunks) - 1; ci >= 0; ci-- {
			for i := range chunks[ci].logs {
				if l := &chunks[ci].logs[i]; l.Date >= since || l.Season == season && season != "" {
					logs = append(logs, *l)
				}
			}
			for i := range chunks[ci].lines {
				p := &chunks[ci].lines[i]
				if p.Date == date {
					lines = append(lines, *p)
					continue
				}
				if r, ok := bookRank[p.Book]; ok && p.Date >= since && bestBook[p.Date] == r {
					lines = append(lines, *p)
				}
			}
		}
		read.done(i, pr)
	}
	stop()
	var statuses []predict.Status
	err = scanRows(ctx, tx, "SELECT player_id, status FROM data_statuses WHERE date = ?", func(rows *sql.Rows) error {
		s := predict.Status{Date: date}
		err := rows.Scan(&s.PlayerID, &s.Status)
		statuses = append(statuses, s)
		return err
	}, day)
	if err != nil {
		return nil, wrap("statuses", err)
	}
	ds, err := sched.WithDayRows(logs, lines, statuses, totals)
	if err != nil {
		return nil, wrap("data set", err)
	}
	return ds, nil
}

// loadAndKeepPlayers reads the whole data set and writes its players'
// histories, for a file imported before they were kept.
func (db *DB) loadAndKeepPlayers(ctx context.Context) (*predict.Dataset, error) {
	ds, err := db.LoadDataset(ctx)
	if err != nil {
		return nil, err
	}
	err = db.Write(ctx, func(tx *sql.Tx) error {
		var cur string
		if err := tx.QueryRowContext(ctx, "SELECT value FROM data_meta WHERE key = 'version'").Scan(&cur); err != nil || cur != ds.Version() {
			return err // another import came first: its histories are its own
		}
		return writePlayers(ctx, tx, ds)
	})
	if err != nil {
		return nil, fmt.Errorf("keep player histories in %s: %w", db.path, err)
	}
	return ds, nil
}

// loadGames reads the whole schedule.
func loadGames(ctx context.Context, tx *sql.Tx) ([]predict.Game, error) {
	var games []predict.Game
	var date string
	err := scanRows(ctx, tx, "SELECT date, home, away, id, season, season_type, home_pts, away_pts, final FROM data_games",
		func(rows *sql.Rows) error {
			var g predict.Game
			if err := rows.Scan(&date, &g.Home, &g.Away, &g.ID, &g.Season, &g.SeasonType, &g.HomePts, &g.AwayPts, &g.Final); err != nil {
				return err
			}
			var err error
			g.Date, err = predict.ParseDate(date)
			games = append(games, g)
			return err
		})
	return games, err
}

// Calibration returns the calibration stored for the data version, date
// and key (see [predict.CalibrationStore]), or an error wrapping
// [batch.ErrNotFound].
func (db *DB) Calibration(ctx context.Context, version string, date predict.Date, key string) (*predict.Calibration, error) {
	var body string
	err := db.read.QueryRowContext(ctx, `SELECT calibration FROM data_calibrations WHERE version = ? AND date = ? AND key = ?`,
		version, date.String(), key).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("calibration for %s on data %s: %w", date, version, batch.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read calibration for %s from %s: %w", date, db.path, err)
	}
	var cal predict.Calibration
	if err := json.Unmarshal([]byte(body), &cal); err != nil {
		return nil, fmt.Errorf("calibration for %s in %s: %w: %v", date, db.path, batch.ErrInvalid, err)
	}
	return &cal, nil
}

// PutCalibration stores a calibration for the data version, date and key
// (see [predict.CalibrationStore]) in one transaction, unless version is
// no longer the stored data set's: an import deletes every stored
// calibration, and one fitted on the data it replaced is not kept.
func (db *DB) PutCalibration(ctx context.Context, version string, date predict.Date, key string, cal *predict.Calibration) error {
	body, err := json.Marshal(cal)
	if err != nil {
		return fmt.Errorf("store calibration for %s: %w", date, err)
	}
	err = db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO data_calibrations (version, date, key, calibration)
			SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM data_meta WHERE key = 'version' AND value = ?)`,
			version, date.String(), key, string(body), version)
		return err
	})
	if err != nil {
		return fmt.Errorf("store calibration for %s in %s: %w", date, db.path, err)
	}
	return nil
}

// decodedPlayer is one player's blobs, decoded, newest first.
type decodedPlayer struct {
	chunks []historyChunk
	err    error
}

// historySQL reads a player's history blobs from a date back.
const historySQL = "SELECT start, format, history FROM data_players WHERE player_id = ? AND start <= ? ORDER BY start DESC"

// playerReader hands out the decoded players in the order asked for
// (next), and takes each back for reuse (done).
type playerReader struct {
	ready, free []chan *decodedPlayer // of each reading goroutine
}

func (r playerReader) next(i int) *decodedPlayer { return <-r.ready[i%len(r.ready)] }

func (r playerReader) done(i int, pr *decodedPlayer) { r.free[i%len(r.free)] <- pr }

// readPlayers reads and decodes each player's blobs, newest first, until
// they hold every row from scope.From on and the player's
// scope.History-th last played game, keeping game logs before date and
// lines on date or main ones before it. Each of gets, in transactions of
// the same data set, reads on a goroutine of its own every len(gets)-th
// player. A player whose blobs cannot be read comes with the error, and
// is the last of his goroutine. stop ends the goroutines and waits for
// them; after it returns gets are free again.
func (db *DB) readPlayers(ctx context.Context, gets []*sql.Stmt, players []string, date predict.Date, scope predict.DayScope) (r playerReader, stop func()) {
	const inFlight = 4 // players decoded ahead by each goroutine
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for g, get := range gets {
		ready, free := make(chan *decodedPlayer, inFlight), make(chan *decodedPlayer, inFlight)
		for range inFlight {
			free <- &decodedPlayer{}
		}
		r.ready, r.free = append(r.ready, ready), append(r.free, free)
		wg.Go(func() {
			dec := historyDecoder{strs: map[string]string{}}
			before := func(l *predict.GameLog) bool { return l.Date < date }
			// Past lines count only as a game's main line.
			pastMain := func(p *predict.PropLine) bool { return p.Date == date || p.Main && p.Date < date }
			for i := g; i < len(players); i += len(gets) {
				id := players[i]
				var pr *decodedPlayer
				select {
				case pr = <-free:
				case <-quit:
					return
				}
				pr.chunks = pr.chunks[:0]
				pr.err = func() error {
					rows, err := get.QueryContext(ctx, id, int(date))
					if err != nil {
						return err
					}
					defer rows.Close()
					played := 0
					for rows.Next() {
						var start, format int
						var raw sql.RawBytes // decoded before the next row: every string is copied
						if err := rows.Scan(&start, &format, &raw); err != nil {
							return err
						}
						dec.b, dec.format = raw, format
						pr.chunks = slices.Grow(pr.chunks, 1)[:len(pr.chunks)+1] // its buffers kept from an earlier player, if any
						c := &pr.chunks[len(pr.chunks)-1]
						if c.logs, c.lines, err = dec.decode(id, c.logs[:0], c.lines[:0], before, pastMain); err != nil {
							return err
						}
						for _, l := range c.logs {
							if l.Played {
								played++
							}
						}
						if predict.Date(start) <= scope.From && played >= scope.History {
							return nil
						}
					}
					return rows.Err()
				}()
				ready <- pr // never blocks: at most inFlight are out
				if pr.err != nil {
					return
				}
			}
		})
	}
	var once sync.Once
	return r, func() { once.Do(func() { close(quit); wg.Wait() }) }
}
