package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"tipoff/batch"
)

// RedriveAttempt implements [batch.Store.RedriveAttempt]: one conditional
// update, so a second call for the same attempt finds the item moved.
func (s *Store) RedriveAttempt(ctx context.Context, batchID, itemID string, attempt int) (bool, error) {
	if attempt < 1 {
		return false, fmt.Errorf("%w: redrive %s/%s: attempt %d is below 1", batch.ErrInvalid, batchID, itemID, attempt)
	}
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ *storeStmts) error {
		st, err := batchState(ctx, tx, batchID)
		if err != nil {
			return fmt.Errorf("redrive: %w", err)
		}
		if st != batch.Running {
			return fmt.Errorf("redrive in %s: %w (state %s)", batchID, batch.ErrFinalized, st)
		}
		if err := checkItems(ctx, tx, batchID, idList([]string{itemID})); err != nil {
			return fmt.Errorf("redrive: %w", err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE items SET published = 0
			WHERE batch_id = ?1 AND id = ?2 AND published = 1 AND outcome = '' AND attempts = ?3`, batchID, itemID, attempt)
		if err != nil {
			return fmt.Errorf("redrive %s/%s: %w", batchID, itemID, err)
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, err
	}
	return n == 1, nil
}
