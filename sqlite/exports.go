package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"tipoff/batch"
	"tipoff/predict"
)

var _ predict.ExportLog = (*DB)(nil)

// RecordExport stores the outcome of an attempt to write a date's export.
// See [predict.ExportLog].
func (db *DB) RecordExport(ctx context.Context, s predict.ExportState) (predict.ExportState, error) {
	date := s.Date.String()
	err := db.Write(ctx, func(tx *sql.Tx) error {
		s.Failures, s.FailingSince = 0, time.Time{}
		if s.Failing() {
			var failures int
			var since int64
			err := tx.QueryRowContext(ctx, `SELECT failures, failing_since FROM exports WHERE game_date = ?`, date).Scan(&failures, &since)
			switch {
			case err == nil && failures > 0:
				s.Failures, s.FailingSince = failures+1, time.Unix(0, since).UTC()
			case err == nil, errors.Is(err, sql.ErrNoRows):
				s.Failures, s.FailingSince = 1, s.At
			default:
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO exports (game_date, batch_id, path, error, failures, at, failing_since)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (game_date) DO UPDATE SET batch_id = excluded.batch_id, path = excluded.path, error = excluded.error,
				failures = excluded.failures, at = excluded.at, failing_since = excluded.failing_since`,
			date, s.BatchID, s.Path, s.Error, s.Failures, s.At.UnixNano(), unixNanoOrZero(s.FailingSince))
		return err
	})
	if err != nil {
		return s, fmt.Errorf("record export of %s: %w", date, err)
	}
	return s, nil
}

func unixNanoOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

const exportCols = `game_date, batch_id, path, error, failures, at, failing_since`

func scanExport(row interface{ Scan(...any) error }) (predict.ExportState, error) {
	var s predict.ExportState
	var date string
	var at, since int64
	if err := row.Scan(&date, &s.BatchID, &s.Path, &s.Error, &s.Failures, &at, &since); err != nil {
		return s, err
	}
	d, err := predict.ParseDate(date)
	if err != nil {
		return s, fmt.Errorf("export of %q: %w", date, err)
	}
	s.Date, s.At = d, time.Unix(0, at).UTC()
	if since != 0 {
		s.FailingSince = time.Unix(0, since).UTC()
	}
	return s, nil
}

// ExportState returns the date's export state. See [predict.ExportLog].
func (db *DB) ExportState(ctx context.Context, date predict.Date) (predict.ExportState, error) {
	s, err := scanExport(db.read.QueryRowContext(ctx, `SELECT `+exportCols+` FROM exports WHERE game_date = ?`, date.String()))
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("export of %s: %w", date, batch.ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("export of %s: %w", date, err)
	}
	return s, nil
}

// FailingExports returns the exports whose last attempt failed. See
// [predict.ExportLog].
func (db *DB) FailingExports(ctx context.Context) ([]predict.ExportState, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+exportCols+` FROM exports WHERE error != '' ORDER BY game_date`)
	if err != nil {
		return nil, fmt.Errorf("failing exports: %w", err)
	}
	defer rows.Close()
	var out []predict.ExportState
	for rows.Next() {
		s, err := scanExport(rows)
		if err != nil {
			return nil, fmt.Errorf("failing exports: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("failing exports: %w", err)
	}
	return out, nil
}
