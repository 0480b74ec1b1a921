package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/predict"
	"tipoff/sqlite"
)

const importUsage = `Usage: tipoff import [flags] DIR
       tipoff import --synthetic [--seed N] [flags]

Imports a data set (schedule, player game logs, prop lines, availability)
into the SQLite file, replacing the one stored there in one transaction:
a failed import leaves the previous data as it was, and importing the same
data again changes nothing.

DIR holds schedule.csv, player_game_logs.csv, any props_*.csv files and an
optional player_status.csv (each may be gzipped as .csv.gz); the columns are
described in dataimport/README.md. Errors name the file, line and column.

With --synthetic it imports a generated demo league instead (30 teams, a
2025-26 schedule, box scores and DraftKings/FanDuel lines), the same for the
same --seed, so the whole pipeline runs without outside data.

An import that would leave a table (games, game logs, prop lines, statuses)
with less than half of its stored rows, or none, is refused and changes
nothing: a truncated or header-only file would otherwise wipe the stored
data. The error names the file and both counts; --allow-shrink imports it
anyway.`

// runImport is the "import" subcommand.
func runImport(ctx context.Context, m *Main, args []string) error {
	fs, b := newFlagSet(m, "import", importUsage)
	b.db()
	synthetic := fs.Bool("synthetic", false, "import a generated demo league instead of DIR")
	seed := fs.Int64("seed", 1, "random `seed` of the demo league (with --synthetic)")
	var opts dataimport.SyntheticOptions
	datesSet := false
	dateVar(fs, &opts.From, &datesSet, "from", "first `date` of the demo league's schedule (with --synthetic; default 2025-10-21)")
	dateVar(fs, &opts.To, &datesSet, "to", "last `date` of the demo league's schedule (with --synthetic; default 2026-04-12)")
	dateVar(fs, &opts.PlayedThrough, &datesSet, "played-through", "last `date` with results in the demo league (with --synthetic; default --to)")
	allowShrink := fs.Bool("allow-shrink", false, "import even if a table would keep less than half of its stored rows (or none)")
	cfg, err := b.parse(args)
	if err != nil {
		return err
	}
	start := time.Now()
	var ds *predict.Dataset
	switch {
	case *synthetic && fs.NArg() > 0:
		return fmt.Errorf("import: give either DIR or --synthetic, not both")
	case *synthetic:
		ds, err = dataimport.Synthetic(*seed, opts)
	case fs.NArg() == 1:
		if datesSet {
			return fmt.Errorf("import: --from, --to and --played-through only apply with --synthetic")
		}
		ds, err = dataimport.ReadDir(fs.Arg(0))
	default:
		fs.Usage()
		return fmt.Errorf("import: want one data directory or --synthetic, got %d arguments", fs.NArg())
	}
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	db, err := sqlite.Open(ctx, cfg.DB)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer db.Close()
	prev, err := db.DatasetVersion(ctx)
	if err != nil && !errors.Is(err, batch.ErrNotFound) {
		return fmt.Errorf("import: %w", err)
	}
	if prev == ds.Version() {
		fmt.Fprintf(m.Stdout, "data set %s is already in %s: nothing to do\n", ds.Version(), cfg.DB)
		return nil
	}
	if err := db.Import(ctx, ds, sqlite.ImportOptions{AllowShrink: *allowShrink}); err != nil {
		var se *sqlite.ShrinkError
		if errors.As(err, &se) {
			return shrinkError(se, cfg.DB, fs.Arg(0))
		}
		return fmt.Errorf("import: %w", err)
	}
	fmt.Fprintf(m.Stdout, "imported data set %s into %s: %d games, %d game logs, %d prop lines, %d statuses (%.1fs)\n",
		ds.Version(), cfg.DB, len(ds.Games()), len(ds.Logs()), len(ds.Lines()), len(ds.Statuses()), time.Since(start).Seconds())
	return nil
}

// shrinkError explains a refused import in terms of the files of dir (the
// demo league when dir is empty).
func shrinkError(se *sqlite.ShrinkError, db, dir string) error {
	source := func(string) string { return "the demo league" }
	if dir != "" {
		files, _ := dataimport.ListDir(dir) // ReadDir has just listed it
		source = files.Source
	}
	return fmt.Errorf("import: refused, nothing changed in %s: %s; an import may remove at most half of a table's rows: check the files, or pass --allow-shrink to replace the data anyway",
		db, se.Describe(source))
}
