package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"tipoff/batch"
	"tipoff/httpapi"
	"tipoff/sqlite"
)

const statusUsage = `Usage: tipoff status [--date D | BATCH_ID] [--json] [--db FILE]

Prints a batch's state, outcome counts, progress, the players still
without an outcome, and whether its predictions are the date's live
publication (and if not, whose are): every batch of the date (default today
in the league's time zone), or the one batch named.`

func runStatus(ctx context.Context, m *Main, args []string) error {
	fs, b := newFlagSet(m, "status", statusUsage)
	b.db()
	b.date()
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	missing := fs.Int("missing", 20, "list at most `n` players without an outcome per batch")
	cfg, err := b.parse(args)
	if err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("status: want at most one batch id, got %q", fs.Args())
	}
	// Read-only: a mistyped --db must not create an empty database, and
	// status must work on a file it may not write.
	db, err := sqlite.OpenReadOnly(ctx, cfg.DB)
	if errors.Is(err, batch.ErrNotFound) {
		return fmt.Errorf("status: %w (check --db or TIPOFF_DB)", err)
	}
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	defer db.Close()
	store := sqlite.NewStore(db)
	var ids []string
	if fs.NArg() == 1 {
		ids = []string{fs.Arg(0)}
	} else {
		date := cfg.GameDate(time.Now())
		bs, err := store.ListBatches(ctx, batch.ListOptions{Date: date})
		if err != nil {
			return fmt.Errorf("status: list batches of %s: %w", date, err)
		}
		if len(bs) == 0 {
			if *asJSON {
				fmt.Fprintln(m.Stdout, "[]")
				return nil
			}
			return fmt.Errorf("status: no batch for %s in %s", date, cfg.DB)
		}
		for _, bt := range bs {
			ids = append(ids, bt.ID)
		}
	}
	ps, err := httpapi.ProgressOf(ctx, store, ids, *missing)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		if fs.NArg() == 1 {
			return enc.Encode(ps[0])
		}
		return enc.Encode(ps)
	}
	if err := httpapi.WriteStatusText(ctx, m.Stdout, ps, db, db); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	return nil
}
