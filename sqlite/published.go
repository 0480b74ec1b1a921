package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"tipoff/batch"
	"tipoff/predict"
)

var _ predict.Publisher = (*DB)(nil)

// Publish is the automatic publish of a finalized batch: in one
// transaction it reads the date's current publication and, if pub
// supersedes it ([predict.Publication.Supersedes]), replaces the date's
// rows with pub's. A fenced publication (pub.Fence set) is checked against
// the batch's finalize lease first, in the same transaction: a stale fence
// writes nothing and returns [batch.ErrLeaseLost]. See [predict.Publisher].
func (db *DB) Publish(ctx context.Context, pub *predict.Publication) error {
	return db.publish(ctx, pub, false)
}

// PublishExplicit is an operator's publish: pub replaces the date's
// publication whatever it is, pinned if pub.Pinned. See [predict.Publisher].
func (db *DB) PublishExplicit(ctx context.Context, pub *predict.Publication) error {
	return db.publish(ctx, pub, true)
}

func (db *DB) publish(ctx context.Context, pub *predict.Publication, explicit bool) error {
	if pub == nil {
		return fmt.Errorf("%w: publish: no publication", batch.ErrInvalid)
	}
	date := pub.Date.String()
	if !pub.Fence.IsZero() && pub.Fence.BatchID != pub.BatchID {
		return fmt.Errorf("publish predictions of %s (batch %s): %w: fenced by a lease of batch %s", date, pub.BatchID, batch.ErrInvalid, pub.Fence.BatchID)
	}
	pinned := explicit && pub.Pinned
	written := false
	err := db.Write(ctx, func(tx *sql.Tx) error {
		written = false
		if err := checkFence(ctx, tx, pub.Fence); err != nil {
			return err
		}
		cur := &predict.Publication{Date: pub.Date}
		var result string
		var curAt int64
		err := tx.QueryRowContext(ctx, `SELECT batch_id, result, batch_created_at, pinned FROM publications WHERE game_date = ?`, date).
			Scan(&cur.BatchID, &result, &curAt, &cur.Pinned)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			cur = nil
		case err != nil:
			return err
		default:
			cur.Result, cur.BatchAt = batch.Result(result), time.Unix(0, curAt).UTC()
		}
		if !explicit && !pub.Supersedes(cur) {
			return nil // the current publication stays; nothing written
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM published_predictions WHERE game_date = ?`, date); err != nil {
			return err
		}
		if err := insertPredictions(ctx, tx, date, pub); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO publications (game_date, batch_id, run_label, result, data_version, batch_created_at, published_at, pinned)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (game_date) DO UPDATE SET batch_id = excluded.batch_id, run_label = excluded.run_label,
				result = excluded.result, data_version = excluded.data_version,
				batch_created_at = excluded.batch_created_at, published_at = excluded.published_at, pinned = excluded.pinned`,
			date, pub.BatchID, pub.Run, string(pub.Result), pub.DataVersion, pub.BatchAt.UnixNano(), pub.PublishedAt.UnixNano(), pinned)
		written = err == nil
		return err
	})
	if err != nil {
		return fmt.Errorf("publish predictions of %s (batch %s): %w", date, pub.BatchID, err)
	}
	if written {
		// The finalize exports what is published right after: it reads
		// this from the cache instead of every row back.
		db.pubs.put(storedPublication(pub, pinned))
	}
	return nil
}

// predictionRow is one published prediction with its player.
type predictionRow struct {
	pl *predict.PublishedPlayer
	p  *predict.Prediction
}

// predictionRows returns pub's predictions, a row each, in pub's order.
func predictionRows(pub *predict.Publication) []predictionRow {
	var rows []predictionRow
	for i := range pub.Players {
		for j := range pub.Players[i].Predictions {
			rows = append(rows, predictionRow{&pub.Players[i], &pub.Players[i].Predictions[j]})
		}
	}
	return rows
}

// storedPublication returns pub as [DB.Published] reads it back once
// published (pinned or not): the stored fields only, times at their
// stored precision in UTC, and the predictions ordered and grouped by
// player as the read groups its rows.
func storedPublication(pub *predict.Publication, pinned bool) *predict.Publication {
	rows := predictionRows(pub)
	slices.SortStableFunc(rows, func(a, b predictionRow) int {
		if c := strings.Compare(a.pl.PlayerID, b.pl.PlayerID); c != 0 {
			return c
		}
		if c := strings.Compare(a.p.System, b.p.System); c != 0 {
			return c
		}
		return cmp.Compare(a.p.Line, b.p.Line)
	})
	out := &predict.Publication{Date: pub.Date, BatchID: pub.BatchID, Run: pub.Run, Result: pub.Result, DataVersion: pub.DataVersion,
		BatchAt: time.Unix(0, pub.BatchAt.UnixNano()).UTC(), PublishedAt: time.Unix(0, pub.PublishedAt.UnixNano()).UTC(),
		Pinned: pinned, Players: []predict.PublishedPlayer{}}
	for _, r := range rows {
		if n := len(out.Players); n == 0 || out.Players[n-1].PlayerID != r.pl.PlayerID {
			out.Players = append(out.Players, predict.PublishedPlayer{PlayerID: r.pl.PlayerID, Name: r.pl.Name, Team: r.pl.Team,
				Opponent: r.pl.Opponent, Home: r.pl.Home})
		}
		last := &out.Players[len(out.Players)-1]
		p := r.p
		// SQLite keeps -0 as 0: adding +0 makes it so.
		last.Predictions = append(last.Predictions, predict.Prediction{Date: pub.Date, PlayerID: r.pl.PlayerID, System: p.System,
			Line: p.Line + 0, LineOffset: p.LineOffset + 0, LineSource: p.LineSource, Estimated: p.Estimated, Points: p.Points + 0,
			Confidence: p.Confidence + 0, Edge: p.Edge + 0, Pick: p.Pick, ModelPOver: p.ModelPOver + 0, MarketPOver: p.MarketPOver + 0,
			POver: p.POver + 0, Side: p.Side, Price: p.Price, PriceBook: p.PriceBook, EV: p.EV + 0})
	}
	return out
}

// predictionsPerInsert is how many rows one INSERT of predictions carries:
// 22 parameters each, far below SQLite's 32,766 a statement. One
// statement a row cost the busiest day's finalize ~25 ms for 1,555 rows.
const predictionsPerInsert = 64

const insertPredictionSQL = `INSERT INTO published_predictions
	(game_date, player_id, system, line, player_name, team, opponent, home, line_offset, line_source, estimated, points, confidence, edge, pick,
	 model_p_over, market_p_over, p_over, side, price, price_book, ev) VALUES `

const predictionValues = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

// insertPredictions inserts pub's predictions (in tx), predictionsPerInsert
// rows a statement. A statement that fails is tried again a row at a
// time, for the error to name the row.
func insertPredictions(ctx context.Context, tx *sql.Tx, date string, pub *predict.Publication) error {
	rows := predictionRows(pub)
	args := func(args []any, r predictionRow) []any {
		pl, p := r.pl, r.p
		return append(args, date, pl.PlayerID, p.System, p.Line, pl.Name, pl.Team, pl.Opponent, pl.Home,
			p.LineOffset, p.LineSource, p.Estimated, p.Points, p.Confidence, p.Edge, string(p.Pick),
			p.ModelPOver, p.MarketPOver, p.POver, string(p.Side), p.Price, p.PriceBook, p.EV)
	}
	stmts := map[int]*sql.Stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	stmt := func(n int) (*sql.Stmt, error) {
		if st := stmts[n]; st != nil {
			return st, nil
		}
		st, err := tx.PrepareContext(ctx, insertPredictionSQL+strings.Repeat(predictionValues+", ", n-1)+predictionValues)
		if err != nil {
			return nil, err
		}
		stmts[n] = st
		return st, nil
	}
	var vals []any
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), predictionsPerInsert)]
		rows = rows[len(chunk):]
		st, err := stmt(len(chunk))
		if err != nil {
			return err
		}
		vals = vals[:0]
		for _, r := range chunk {
			vals = args(vals, r)
		}
		if _, err := st.ExecContext(ctx, vals...); err == nil {
			continue
		}
		one, err := stmt(1)
		if err != nil {
			return err
		}
		for _, r := range chunk {
			if _, err := one.ExecContext(ctx, args(vals[:0], r)...); err != nil {
				return fmt.Errorf("player %s system %s line %v: %w", r.pl.PlayerID, r.p.System, r.p.Line, err)
			}
		}
	}
	return nil
}

// checkFence returns nil for a zero fence or the batch's current finalize
// lease, and an error wrapping [batch.ErrLeaseLost] otherwise.
func checkFence(ctx context.Context, tx *sql.Tx, fence batch.LeaseToken) error {
	if fence.IsZero() {
		return nil
	}
	var st, owner string
	var epoch int
	err := tx.QueryRowContext(ctx, `SELECT state, lease_owner, finalize_attempts FROM batches WHERE id = ?`, fence.BatchID).
		Scan(&st, &owner, &epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: batch %s does not exist", batch.ErrLeaseLost, fence.BatchID)
	}
	if err != nil {
		return err
	}
	return batch.CheckLease(fence, batch.State(st), owner, epoch)
}

// Published returns the date's publication; see [predict.Publisher].
func (db *DB) Published(ctx context.Context, date predict.Date) (*predict.Publication, error) {
	ds := date.String()
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("published %s: %w", ds, err)
	}
	defer tx.Rollback()
	pub := &predict.Publication{Date: date, Players: []predict.PublishedPlayer{}}
	var result string
	var batchAt, pubAt int64
	err = tx.QueryRowContext(ctx, `SELECT batch_id, run_label, result, data_version, batch_created_at, published_at, pinned
		FROM publications WHERE game_date = ?`, ds).Scan(&pub.BatchID, &pub.Run, &result, &pub.DataVersion, &batchAt, &pubAt, &pub.Pinned)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("published %s: %w", ds, batch.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("published %s: %w", ds, err)
	}
	pub.Result = batch.Result(result)
	pub.BatchAt, pub.PublishedAt = time.Unix(0, batchAt).UTC(), time.Unix(0, pubAt).UTC()
	if c := db.pubs.get(pub); c != nil {
		return c, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT player_id, system, line, player_name, team, opponent, home,
		line_offset, line_source, estimated, points, confidence, edge, pick,
		model_p_over, market_p_over, p_over, side, price, price_book, ev
		FROM published_predictions WHERE game_date = ? ORDER BY player_id, system, line`, ds)
	if err != nil {
		return nil, fmt.Errorf("published %s: %w", ds, err)
	}
	defer rows.Close()
	for rows.Next() {
		var pl predict.PublishedPlayer
		p := predict.Prediction{Date: date}
		var pick, side string
		if err := rows.Scan(&pl.PlayerID, &p.System, &p.Line, &pl.Name, &pl.Team, &pl.Opponent, &pl.Home,
			&p.LineOffset, &p.LineSource, &p.Estimated, &p.Points, &p.Confidence, &p.Edge, &pick,
			&p.ModelPOver, &p.MarketPOver, &p.POver, &side, &p.Price, &p.PriceBook, &p.EV); err != nil {
			return nil, fmt.Errorf("published %s: %w", ds, err)
		}
		p.PlayerID, p.Pick, p.Side = pl.PlayerID, predict.Pick(pick), predict.Pick(side)
		if n := len(pub.Players); n == 0 || pub.Players[n-1].PlayerID != pl.PlayerID {
			pub.Players = append(pub.Players, pl)
		}
		last := &pub.Players[len(pub.Players)-1]
		last.Predictions = append(last.Predictions, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("published %s: %w", ds, err)
	}
	db.pubs.put(pub)
	return pub, nil
}

// publicationCache keeps the last publication read of each date, so the
// status pages, which show it on every view, read one row instead of every
// prediction. Every publish rewrites the date's publications row
// (published_at at least) in the same transaction as its predictions, so
// an entry whose head matches the row read is the stored set, whichever
// process wrote it. Entries are shared with callers, who only read them
// (see [predict.Publisher]).
type publicationCache struct {
	mu sync.Mutex
	m  map[predict.Date]*predict.Publication
}

// get returns the kept publication whose head equals head's, or nil.
func (c *publicationCache) get(head *predict.Publication) *predict.Publication {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.m[head.Date]
	if p == nil || p.BatchID != head.BatchID || !p.PublishedAt.Equal(head.PublishedAt) || p.Run != head.Run ||
		p.Result != head.Result || p.DataVersion != head.DataVersion || !p.BatchAt.Equal(head.BatchAt) || p.Pinned != head.Pinned {
		return nil
	}
	return p
}

func (c *publicationCache) put(p *predict.Publication) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[predict.Date]*predict.Publication)
	}
	c.m[p.Date] = p
}
