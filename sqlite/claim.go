package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"tipoff/batch"
)

// Claim implements [batch.Store.Claim]: a read and a write of the claim's
// row in one transaction of the single writer.
func (s *Store) Claim(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (batch.Claim, error) {
	if err := batch.ValidateClaim(name, owner, ttl); err != nil {
		return batch.Claim{}, err
	}
	var out batch.Claim
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ *storeStmts) error {
		cur := batch.Claim{Name: name}
		var expires int64
		err := tx.QueryRowContext(ctx, `SELECT owner, epoch, expires FROM claims WHERE name = ?`, name).
			Scan(&cur.Owner, &cur.Epoch, &expires)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("claim %s: %w", name, err)
		}
		cur.Expires = fromNanos(expires)
		next, err := batch.NextClaim(cur, name, owner, now, ttl)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO claims (name, owner, epoch, expires) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, epoch = excluded.epoch, expires = excluded.expires`,
			name, owner, next.Epoch, next.Expires.UnixNano()); err != nil {
			return fmt.Errorf("claim %s: %w", name, err)
		}
		out = next
		return nil
	})
	if err != nil {
		return batch.Claim{}, err
	}
	return out, nil
}

// fromNanos is the inverse of UnixNano, 0 for no time; times come back in
// UTC.
func fromNanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
