package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"tipoff/batch"
	"tipoff/pipeline"
)

const runUsage = `Usage: tipoff run [--date D] [--run LABEL] [--workers N] [--db FILE] [flags]

Runs one day's prediction batch on this machine and waits for it to finish:
selects the players with a game on the date, predicts each one's points with
every system against every line, and when every player has an outcome
publishes the day's picks exactly once and writes them to <export-dir>/<date>.json.

The batch's state lives in the SQLite file, so an interrupted run (Ctrl-C, a
crash, a power cut) resumes where it stopped when started again with the same
date and run label; it never creates a second batch for them. Import data
first with "tipoff import DIR", or try "tipoff demo".

A date with no games is recorded as such ("no games scheduled on DATE") and
exits 0. The published picks are the source of truth: if the export file
cannot be written the batch still finishes, the failure is recorded (see
"tipoff health"), and serve, or this command run again, writes it later.

Exit status: 0 when the batch finished succeeded or partial (or the date has
no games), 2 when it did but its export could not be written, 1 otherwise
(the batch failed, was cancelled, or its finalize kept failing until its
deadline; the message names the cause).`

func runRun(ctx context.Context, m *Main, args []string) error {
	fs, b := newFlagSet(m, "run", runUsage)
	b.db()
	b.date()
	b.run()
	b.work()
	b.policy()
	b.log()
	var pc predictConfig
	b.predict(&pc)
	cfg, err := b.parse(args)
	if err != nil {
		return err
	}
	if cfg.Workers < 1 {
		return fmt.Errorf("%s: workers %d: want at least 1", fs.Name(), cfg.Workers)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("run: unexpected arguments %q", fs.Args())
	}
	log := cfg.Logger(m.Stderr, "")
	app, err := openEmbedded(ctx, cfg, pc.settings(cfg), nil, log)
	if err != nil {
		return err
	}
	defer app.Close()
	sum, err := app.runDay(ctx, pipeline.StartRequest{Date: cfg.GameDate(time.Now())}, m.Stdout)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return app.report(ctx, m.Stdout, sum)
}

// runDay runs the batch req asks for in this process until it is
// finalized (see [pipeline.RunDay]).
func (a *embedded) runDay(ctx context.Context, req pipeline.StartRequest, out io.Writer) (*pipeline.RunSummary, error) {
	return pipeline.RunDay(ctx, pipeline.LocalRun{Starter: a.starter, Coordinator: a.coord, Store: a.store,
		Worker: func() *batch.Worker { return a.worker("run", nil) }, Failpoint: hitFailpoint, Log: a.log}, req, out)
}

// report prints the summary and returns the run's exit status as an error
// (see [pipeline.RunSummary.Report]).
func (a *embedded) report(ctx context.Context, w io.Writer, sum *pipeline.RunSummary) error {
	if code, err := sum.Report(ctx, w, a.db.Published, a.job.ExportOf(ctx, sum.Date())); code != 0 {
		return exitCodeError{code: code, err: err}
	}
	return nil
}
