package main

import (
	"context"
	"fmt"
	"time"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/pipeline"
	"tipoff/predict"
)

const demoUsage = `Usage: tipoff demo [--date D] [--db FILE] [flags]

Runs the whole daily job on a synthetic league, with no external data: makes
a deterministic league (teams, schedule, players, game logs and sportsbook
lines) in the SQLite file, runs one day's batch through the queue and the
workers, publishes the picks, prints the summary and exits. Each demo is a new
run (its label has the time in it); the file keeps them all, so
"tipoff status --db FILE --date D" shows them afterwards.`

// demoDate is the date the crash tests run on in the synthetic league:
// mid-season, with months of history behind it.
const demoDate = "2026-01-15"

func runDemo(ctx context.Context, m *Main, args []string) error {
	fs, b := newFlagSet(m, "demo", demoUsage)
	b.cfg.DB = "tipoff-demo.db"
	b.fs.StringVar(&b.cfg.DB, "db", b.cfg.DB, "SQLite `file` for the demo league and its runs")
	b.fs.StringVar(&b.cfg.Date, "date", b.cfg.Date, "game `date` YYYY-MM-DD in the synthetic season (2025-10-21 to 2026-04-12); default its busiest day")
	seed := fs.Int64("seed", 1, "synthetic league `seed`: the same seed gives the same league")
	b.work()
	b.policy()
	b.log()
	var pc predictConfig
	b.predict(&pc)
	b.cfg.Run = "demo-" + time.Now().UTC().Format("20060102-150405")
	b.fs.StringVar(&b.cfg.Run, "run", b.cfg.Run, "run `label`")
	b.cfg.LogLevel = "warn"
	cfg, err := b.parse(args)
	if err != nil {
		return err
	}
	if cfg.Workers < 1 {
		return fmt.Errorf("%s: workers %d: want at least 1", fs.Name(), cfg.Workers)
	}
	log := cfg.Logger(m.Stderr, "")
	league, err := dataimport.Synthetic(*seed, dataimport.SyntheticOptions{})
	if err != nil {
		return err
	}
	app, err := openEmbedded(ctx, cfg, pc.settings(cfg), func(context.Context) (*predict.Dataset, error) { return league, nil }, log)
	if err != nil {
		return err
	}
	defer app.Close()
	if v, err := app.db.DatasetVersion(ctx); err != nil || v != league.Version() {
		fmt.Fprintf(m.Stdout, "making the synthetic league (seed %d) in %s\n", *seed, cfg.DB)
		if err := app.db.ImportDataset(ctx, league); err != nil {
			return err
		}
	}
	if cfg.Date == "" {
		cfg.Date = league.BusiestDate(league.Games()[0].Date.AddDays(60), 0).String()
	}
	date, err := predict.ParseDate(cfg.Date)
	if err != nil {
		return err
	}
	if len(league.GamesOn(date)) == 0 {
		return fmt.Errorf("demo: the synthetic league has no games on %s; pick another --date", date)
	}
	fmt.Fprintf(m.Stdout, "running %s: %d games\n", batch.Key{Date: cfg.Date, Run: cfg.Run}, len(league.GamesOn(date)))
	sum, err := app.runDay(ctx, pipeline.StartRequest{Date: cfg.Date, Run: cfg.Run}, m.Stdout)
	if err != nil {
		return err
	}
	if err := app.report(ctx, m.Stdout, sum); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "\nstatus: tipoff status --db %s --date %s\n", cfg.DB, cfg.Date)
	return nil
}
