package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"tipoff/batch"
	"tipoff/predict"
)

// Names of the data tables in a [ShrinkError]: the data set's own.
const (
	TableGames    = predict.TableGames
	TableLogs     = predict.TableLogs
	TableLines    = predict.TableLines
	TableStatuses = predict.TableStatuses
)

// ImportOptions controls [DB.Import].
type ImportOptions struct {
	// AllowShrink lets an import leave a table with less than half of its
	// stored rows, or none. Without it such an import is refused: a
	// truncated or header-only file would otherwise silently wipe most of
	// the stored data.
	AllowShrink bool
}

// ShrinkError is the error of an import refused because it would leave
// tables with less than half of their stored rows. It wraps
// [batch.ErrConflict].
type ShrinkError struct {
	Tables []TableShrink // the tables that would shrink, in the order games, game logs, prop lines, statuses
}

// TableShrink is one table's stored and imported row counts.
type TableShrink struct {
	Table       string // TableGames, TableLogs, TableLines or TableStatuses
	Stored, New int
}

func (e *ShrinkError) Error() string {
	parts := make([]string, len(e.Tables))
	for i, t := range e.Tables {
		parts[i] = fmt.Sprintf("%s from %d to %d rows", t.Table, t.Stored, t.New)
	}
	return fmt.Sprintf("refused: it would shrink %s (a table may lose at most half of its rows unless shrinking is allowed)",
		strings.Join(parts, ", "))
}

// Unwrap returns [batch.ErrConflict].
func (e *ShrinkError) Unwrap() error { return batch.ErrConflict }

// Describe says for a person what each shrinking table would keep, naming
// where its rows come from by source(table): "SOURCE: N TABLE, M stored",
// joined by "; ".
func (e *ShrinkError) Describe(source func(table string) string) string {
	parts := make([]string, len(e.Tables))
	for i, t := range e.Tables {
		parts[i] = fmt.Sprintf("%s: %d %s, %d stored", source(t.Table), t.New, t.Table, t.Stored)
	}
	return strings.Join(parts, "; ")
}

// shrinks reports whether a table going from stored to n rows loses more
// than half of them.
func shrinks(stored, n int) bool { return stored > 0 && 2*n < stored }

// ImportDataset replaces the stored data set with ds whatever their sizes:
// it is [DB.Import] with AllowShrink, for callers that replace the data on
// purpose (the demo league).
func (db *DB) ImportDataset(ctx context.Context, ds *predict.Dataset) error {
	return db.Import(ctx, ds, ImportOptions{AllowShrink: true})
}

// Import replaces the stored data set with ds in one write transaction:
// either all of ds is stored or none of it (a failed import leaves the
// previous data untouched). Importing the data set that is already stored
// (same [predict.Dataset.Version]) changes nothing. The same transaction
// writes each player's history for [DB.LoadDay] and deletes the
// calibrations fitted on the data it replaces. Unless
// opts.AllowShrink, an import that would leave any table with less than
// half of its stored rows changes nothing and returns a [*ShrinkError]
// (wrapping [batch.ErrConflict]). The import is one group-commit write:
// other writers of the file wait for it (a few seconds for the real data
// set).
func (db *DB) Import(ctx context.Context, ds *predict.Dataset, opts ImportOptions) error {
	if ds == nil {
		return fmt.Errorf("import data set: %w: nil data set", batch.ErrInvalid)
	}
	if v, err := db.DatasetVersion(ctx); err == nil && v == ds.Version() {
		return nil
	}
	// Move what is committed into the file and empty the WAL first, so that
	// if the import fails (a full disk, typically) the WAL holds nothing
	// but the import's own frames and can be emptied again without writing
	// to the file. If this checkpoint cannot finish (a reader in another
	// process holds an old snapshot), the import goes ahead: only the
	// clean-up after a failure depends on it.
	_ = db.truncateWAL(ctx)
	err := db.Write(ctx, func(tx *sql.Tx) error {
		var cur string
		err := tx.QueryRowContext(ctx, "SELECT value FROM data_meta WHERE key = 'version'").Scan(&cur)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if cur == ds.Version() {
			return nil
		}
		if !opts.AllowShrink {
			if err := db.checkShrink(ctx, tx, ds); err != nil {
				return err
			}
		}
		for _, t := range []string{"data_games", "data_schedule", "data_game_logs", "data_prop_lines", "data_statuses", "data_meta", "data_calibrations"} {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
				return err
			}
		}
		if err := insertRows(ctx, tx, `INSERT INTO data_games (date, home, away, id, season, season_type, home_pts, away_pts, final)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, ds.Games(), func(g predict.Game) []any {
			return []any{g.Date.String(), g.Home, g.Away, g.ID, g.Season, g.SeasonType, g.HomePts, g.AwayPts, g.Final}
		}); err != nil {
			return fmt.Errorf("games: %w", err)
		}
		if err := writeSchedule(ctx, tx, ds.Games()); err != nil {
			return fmt.Errorf("games: %w", err)
		}
		if err := insertRows(ctx, tx, `INSERT INTO data_game_logs (player_id, date, game_id, season, season_type, player_name,
			team, opponent, home, starter, played, dnp_reason, minutes, pts, reb, oreb, dreb, ast, stl, blk, tov, pf,
			fgm, fga, fg3m, fg3a, ftm, fta, plus_minus)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, ds.Logs(), func(l predict.GameLog) []any {
			s := l.Stats
			return []any{l.PlayerID, l.Date.String(), l.GameID, l.Season, l.SeasonType, l.PlayerName, l.Team, l.Opponent,
				l.Home, l.Starter, l.Played, l.DNPReason, l.Minutes, s.Pts, s.Reb, s.OReb, s.DReb, s.Ast, s.Stl, s.Blk,
				s.Tov, s.PF, s.FGM, s.FGA, s.FG3M, s.FG3A, s.FTM, s.FTA, s.PlusMinus}
		}); err != nil {
			return fmt.Errorf("game logs: %w", err)
		}
		seq := 0
		if err := insertRows(ctx, tx, `INSERT INTO data_prop_lines (seq, date, game_id, player_id, team, book, line,
			over_odds, under_odds, main, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, ds.Lines(), func(p predict.PropLine) []any {
			seq++
			return []any{seq, p.Date.String(), p.GameID, p.PlayerID, p.Team, p.Book, p.Line, p.OverOdds, p.UnderOdds, p.Main, p.Source}
		}); err != nil {
			return fmt.Errorf("prop lines: %w", err)
		}
		if err := insertRows(ctx, tx, `INSERT INTO data_statuses (date, player_id, status) VALUES (?, ?, ?)`, ds.Statuses(),
			func(s predict.Status) []any { return []any{s.Date.String(), s.PlayerID, s.Status} }); err != nil {
			return fmt.Errorf("statuses: %w", err)
		}
		if err := writePlayers(ctx, tx, ds); err != nil {
			return fmt.Errorf("player histories: %w", err)
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO data_meta (key, value) VALUES ('version', ?)", ds.Version())
		return err
	})
	var se *ShrinkError
	if errors.As(err, &se) {
		return fmt.Errorf("import data set %s into %s: %w", ds.Version(), db.path, err)
	}
	if err != nil {
		// The rolled-back import leaves its frames in the WAL, which keeps
		// their disk space; after a full disk, every later open of the
		// file then fails while rebuilding the WAL's index (-shm) on the
		// still-full disk. Give the space back now.
		if terr := db.truncateWAL(context.WithoutCancel(ctx)); terr != nil {
			err = fmt.Errorf("%w (and emptying the write-ahead log %s-wal after it failed: %v)", err, db.path, terr)
		}
		if e, ok := explain(db.path, err); ok {
			return fmt.Errorf("import data set %s: %w", ds.Version(), e)
		}
		return fmt.Errorf("import data set %s into %s: %w", ds.Version(), db.path, err)
	}
	return nil
}

// truncateWAL checkpoints the WAL into the file and truncates it to zero
// bytes. It fails if a reader still uses part of the WAL.
func (db *DB) truncateWAL(ctx context.Context) error {
	var busy, frames, done int
	if err := db.write.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &done); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("checkpoint: %d of %d frames copied, a reader holds the rest", done, frames)
	}
	return nil
}

// checkShrink returns a [*ShrinkError] if importing ds would leave a table
// with less than half of its stored rows.
func (db *DB) checkShrink(ctx context.Context, tx *sql.Tx, ds *predict.Dataset) error {
	se := &ShrinkError{}
	for _, t := range []struct {
		name, table string
		n           int
	}{
		{TableGames, "data_games", len(ds.Games())},
		{TableLogs, "data_game_logs", len(ds.Logs())},
		{TableLines, "data_prop_lines", len(ds.Lines())},
		{TableStatuses, "data_statuses", len(ds.Statuses())},
	} {
		var stored int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+t.table).Scan(&stored); err != nil {
			return fmt.Errorf("count %s: %w", t.name, err)
		}
		if shrinks(stored, t.n) {
			se.Tables = append(se.Tables, TableShrink{Table: t.name, Stored: stored, New: t.n})
		}
	}
	if len(se.Tables) > 0 {
		return se
	}
	return nil
}

func insertRows[T any](ctx context.Context, tx *sql.Tx, query string, rows []T, args func(T) []any) error {
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i, r := range rows {
		if _, err := stmt.ExecContext(ctx, args(r)...); err != nil {
			return fmt.Errorf("row %d: %w", i+1, err)
		}
	}
	return nil
}

// DatasetVersion returns the version of the stored data set, or an error
// wrapping [batch.ErrNotFound] if none has been imported.
func (db *DB) DatasetVersion(ctx context.Context) (string, error) {
	var v string
	err := db.read.QueryRowContext(ctx, "SELECT value FROM data_meta WHERE key = 'version'").Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("data set in %s: %w: nothing imported yet (run tipoff import)", db.path, batch.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("data set version in %s: %w", db.path, err)
	}
	return v, nil
}

// LoadDataset reads the stored data set into memory. It returns an error
// wrapping [batch.ErrNotFound] if none has been imported, and one wrapping
// [batch.ErrInvalid] if the rows read back do not match the stored version.
func (db *DB) LoadDataset(ctx context.Context) (*predict.Dataset, error) {
	// One read transaction, so an import committing meanwhile cannot mix
	// two data sets.
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("load data set from %s: %w", db.path, err)
	}
	defer tx.Rollback()
	var version string
	err = tx.QueryRowContext(ctx, "SELECT value FROM data_meta WHERE key = 'version'").Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("data set in %s: %w: nothing imported yet (run tipoff import)", db.path, batch.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load data set from %s: %w", db.path, err)
	}
	wrap := func(what string, err error) error { return fmt.Errorf("load %s from %s: %w", what, db.path, err) }
	var date string
	parse := func() (predict.Date, error) { return predict.ParseDate(date) }

	games, err := loadGames(ctx, tx)
	if err != nil {
		return nil, wrap("games", err)
	}
	logs := make([]predict.GameLog, 0, 1024)
	err = scanRows(ctx, tx, `SELECT player_id, date, game_id, season, season_type, player_name, team, opponent, home, starter,
		played, dnp_reason, minutes, pts, reb, oreb, dreb, ast, stl, blk, tov, pf, fgm, fga, fg3m, fg3a, ftm, fta, plus_minus
		FROM data_game_logs`, func(rows *sql.Rows) error {
		var l predict.GameLog
		s := &l.Stats
		if err := rows.Scan(&l.PlayerID, &date, &l.GameID, &l.Season, &l.SeasonType, &l.PlayerName, &l.Team, &l.Opponent,
			&l.Home, &l.Starter, &l.Played, &l.DNPReason, &l.Minutes, &s.Pts, &s.Reb, &s.OReb, &s.DReb, &s.Ast, &s.Stl,
			&s.Blk, &s.Tov, &s.PF, &s.FGM, &s.FGA, &s.FG3M, &s.FG3A, &s.FTM, &s.FTA, &s.PlusMinus); err != nil {
			return err
		}
		var err error
		l.Date, err = parse()
		logs = append(logs, l)
		return err
	})
	if err != nil {
		return nil, wrap("game logs", err)
	}
	var lines []predict.PropLine
	err = scanRows(ctx, tx, `SELECT date, game_id, player_id, team, book, line, over_odds, under_odds, main, source
		FROM data_prop_lines ORDER BY seq`, func(rows *sql.Rows) error {
		var p predict.PropLine
		if err := rows.Scan(&date, &p.GameID, &p.PlayerID, &p.Team, &p.Book, &p.Line, &p.OverOdds, &p.UnderOdds, &p.Main, &p.Source); err != nil {
			return err
		}
		var err error
		p.Date, err = parse()
		lines = append(lines, p)
		return err
	})
	if err != nil {
		return nil, wrap("prop lines", err)
	}
	var statuses []predict.Status
	err = scanRows(ctx, tx, "SELECT date, player_id, status FROM data_statuses", func(rows *sql.Rows) error {
		var s predict.Status
		if err := rows.Scan(&date, &s.PlayerID, &s.Status); err != nil {
			return err
		}
		var err error
		s.Date, err = parse()
		statuses = append(statuses, s)
		return err
	})
	if err != nil {
		return nil, wrap("statuses", err)
	}
	ds, err := predict.NewDataset(games, logs, lines, statuses)
	if err != nil {
		return nil, wrap("data set", err)
	}
	if ds.Version() != version {
		return nil, fmt.Errorf("load data set from %s: %w: rows read back have version %s, the import recorded %s",
			db.path, batch.ErrInvalid, ds.Version(), version)
	}
	return ds, nil
}

func scanRows(ctx context.Context, tx *sql.Tx, query string, fn func(*sql.Rows) error, args ...any) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
