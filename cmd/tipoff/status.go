package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"tipoff/batch"
	"tipoff/predict"
	"tipoff/sqlite"
)

const statusUsage = `Usage: tipoff status [--date D | BATCH_ID] [--json] [--db FILE]

Prints a batch's state, outcome counts, progress and the players still
without an outcome: every batch of the date (default today in the league's
time zone), or the one batch named.`

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
	var ps []batch.Progress
	for _, id := range ids {
		p, err := store.Progress(ctx, id, *missing)
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		ps = append(ps, p)
	}
	if *asJSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		if fs.NArg() == 1 {
			return enc.Encode(ps[0])
		}
		return enc.Encode(ps)
	}
	for i, p := range ps {
		if i > 0 {
			fmt.Fprintln(m.Stdout)
		}
		writeProgress(m.Stdout, p)
		writeExport(ctx, m.Stdout, db, p.Batch)
	}
	return nil
}

// writeExport prints the recorded state of the export of b's date, if any.
func writeExport(ctx context.Context, w io.Writer, exports predict.ExportLog, b batch.Batch) {
	date, err := predict.ParseDate(b.Key.Date)
	if err != nil {
		return
	}
	switch st, err := exports.ExportState(ctx, date); {
	case err != nil:
	case st.Failing():
		fmt.Fprintf(w, "export      %s FAILING %d time(s) since %s: %s (retried)\n", st.Path, st.Failures, st.FailingSince.Format(time.RFC3339), st.Error)
	default:
		fmt.Fprintf(w, "export      %s written %s\n", st.Path, st.At.Format(time.RFC3339))
	}
}

// writeProgress prints one batch's progress for a person.
func writeProgress(w io.Writer, p batch.Progress) {
	b := p.Batch
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	state := string(b.State)
	if b.Result != "" {
		state += " (" + string(b.Result) + ")"
	}
	done := b.Counts.Done()
	pct := 100.0
	if b.Total > 0 {
		pct = 100 * float64(done) / float64(b.Total)
	}
	fmt.Fprintf(tw, "batch\t%s\n", b.ID)
	fmt.Fprintf(tw, "date / run\t%s / %s\n", b.Key.Date, b.Key.Run)
	fmt.Fprintf(tw, "state\t%s\n", state)
	fmt.Fprintf(tw, "progress\t%d/%d (%.1f%%), %d remaining\n", done, b.Total, pct, p.Remaining)
	fmt.Fprintf(tw, "outcomes\tsucceeded %d, skipped %d, failed %d, timed out %d\n",
		b.Counts.Succeeded, b.Counts.Skipped, b.Counts.Failed, b.Counts.TimedOut)
	fmt.Fprintf(tw, "created\t%s\n", b.CreatedAt.Format(time.RFC3339))
	fmt.Fprintf(tw, "deadline\t%s\n", b.Deadline.Format(time.RFC3339))
	if !b.FinalizedAt.IsZero() {
		fmt.Fprintf(tw, "finalized\t%s (%d finalize attempts)\n", b.FinalizedAt.Format(time.RFC3339), b.FinalizeAttempts)
	} else if b.FinalizeAttempts > 0 {
		fmt.Fprintf(tw, "finalize\t%d attempts, lease %s until %s\n", b.FinalizeAttempts, b.Lease.Owner, b.Lease.Expires.Format(time.RFC3339))
	}
	if b.CancelReason != "" {
		fmt.Fprintf(tw, "cancelled\t%s\n", b.CancelReason)
	}
	if reason, ok := b.NoItems(); ok {
		fmt.Fprintf(tw, "no items\t%s\n", reason)
	}
	tw.Flush()
	if len(p.Missing) > 0 {
		more := ""
		if p.Remaining > len(p.Missing) {
			more = fmt.Sprintf(" (first %d of %d)", len(p.Missing), p.Remaining)
		}
		fmt.Fprintf(w, "without an outcome%s: %s\n", more, strings.Join(p.Missing, ", "))
	}
}
