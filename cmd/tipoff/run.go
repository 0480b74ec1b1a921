package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"tipoff/batch"
	"tipoff/internal/progress"
	"tipoff/pipeline"
	"tipoff/predict"
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
	return sum.report(ctx, m.Stdout, app.db, app.exportState(ctx, sum.batch))
}

// exportState returns the state of the export of b's date (see
// [pipeline.Job.ExportOf]).
func (a *embedded) exportState(ctx context.Context, b batch.Batch) *predict.ExportState {
	date, err := predict.ParseDate(b.Key.Date)
	if err != nil {
		return nil
	}
	return a.job.ExportOf(ctx, date)
}

// runSummary is what a finished run reports.
type runSummary struct {
	batch   batch.Batch
	resumed bool // the batch existed before this run started
	took    time.Duration
}

// runDay starts (or resumes) the batch req asks for and runs the
// coordinator and workers in this process until it is finalized. Progress
// goes to out. Starting an existing key reads no data: after a crash this
// resumes the batch the first run created, with its manifest, whatever the
// data says now.
func (a *embedded) runDay(ctx context.Context, req pipeline.StartRequest, out io.Writer) (*runSummary, error) {
	start := time.Now()
	b, created, err := a.starter.Start(ctx, req)
	if err != nil {
		return nil, err
	}
	failpoint("created")
	log := a.log.With("batch_id", b.ID, "trace_id", b.Meta[batch.AttrTraceID])
	if b.State == batch.Finalized {
		log.Info("batch already finalized", "result", b.Result)
		// A run killed between finalizing and relaying left the event in
		// the outbox: relay it now rather than wait for a serve process.
		if _, err := a.engine.RelayEvents(ctx); err != nil {
			log.Warn("event relay incomplete", "err", err)
		}
		return &runSummary{batch: b, resumed: !created, took: time.Since(start)}, nil
	}
	if !created {
		log.Info("resuming batch", "done", b.Counts.Done(), "total", b.Total)
	}

	wk := a.worker("run", nil)
	view := progress.New(out, b.Total)
	waitSaid := false
	update := func(cur batch.Batch) {
		view.Update(cur.Counts.Done())
		// Another process (or one killed while finalizing) holds the
		// lease: say once whose it is and when the sweeper may take over.
		if l := cur.Lease; cur.State == batch.Finalizing && !waitSaid && l.Owner != "" && !a.engine.Holds(l.Owner) && time.Now().Before(l.Expires) {
			waitSaid = true
			view.Note(fmt.Sprintf("every player has an outcome; %s holds the finalize lease until %s (%s from now): waiting for it to finish, or to take over then",
				l.Owner, l.Expires.Local().Format(time.TimeOnly), time.Until(l.Expires).Round(time.Second)))
		}
	}
	cur, err := pipeline.RunToEnd(ctx, a.coord, wk, a.store, b.ID, update)
	if cur.State != batch.Finalized {
		view.Abort()
		return nil, err
	}
	view.Finish()
	if err != nil {
		log.Warn("event relay incomplete; the next run or serve relays it", "err", err)
	}
	return &runSummary{batch: cur, resumed: !created, took: time.Since(start)}, nil
}

// report prints the summary and returns the run's exit status as an error:
// nil for succeeded or partial, exit status 2 when the picks are published
// but their export failed (ex), 1 for a batch that failed or was cancelled.
func (s *runSummary) report(ctx context.Context, w io.Writer, pubs predict.Publisher, ex *predict.ExportState) error {
	b := s.batch
	if reason, ok := b.NoItems(); ok {
		fmt.Fprintf(w, "%s: nothing to predict (batch %s records it)\n", reason, b.ID)
		return nil
	}
	fmt.Fprintf(w, "\nbatch %s (%s): %s, %s\n", b.ID, b.Key, b.State, b.Result)
	fmt.Fprintf(w, "players %d: succeeded %d, skipped %d, failed %d, timed out %d\n",
		b.Total, b.Counts.Succeeded, b.Counts.Skipped, b.Counts.Failed, b.Counts.TimedOut)
	if s.resumed && b.FinalizedAt.Before(time.Now().Add(-s.took)) {
		fmt.Fprintf(w, "this batch had already finished at %s; use another --run label for a new run\n", b.FinalizedAt.Format(time.RFC3339))
	} else {
		rate := float64(b.Total) / s.took.Seconds()
		fmt.Fprintf(w, "took %s (%.0f players/s)\n", s.took.Round(time.Millisecond), rate)
	}
	date, _ := predict.ParseDate(b.Key.Date)
	pub, err := pubs.Published(ctx, date)
	switch {
	case errors.Is(err, batch.ErrNotFound):
		fmt.Fprintln(w, "nothing published for the date")
	case err != nil:
		return err
	case pub.BatchID != b.ID:
		fmt.Fprintf(w, "not published (the publication policy kept the live picks): batch %s (run %s, %s)\n", pub.BatchID, pub.Run, pub.Result)
	default:
		fmt.Fprintf(w, "published %d predictions for %d players (batch %s)\n", pub.Count(), len(pub.Players), pub.BatchID)
		pub.WriteTopPicks(w, "ensemble", 10)
	}
	switch {
	case ex == nil:
	case ex.Failing():
		fmt.Fprintf(w, "export to %s FAILED (%d time(s) since %s): %s\nthe picks are published; \"tipoff serve\" retries the export, or run this command again\n",
			ex.Path, ex.Failures, ex.FailingSince.Format(time.RFC3339), ex.Error)
	default:
		fmt.Fprintf(w, "export: %s\n", ex.Path)
	}
	switch {
	case b.Result == batch.ResultCancelled && b.CancelReason != "":
		return exitCodeError{code: 1, err: fmt.Errorf("batch %s ended %s: %s", b.ID, b.Result, b.CancelReason)}
	case b.Result != batch.ResultSucceeded && b.Result != batch.ResultPartial:
		return exitCodeError{code: 1, err: fmt.Errorf("batch %s finished %s", b.ID, b.Result)}
	case ex != nil && ex.Failing():
		return exitCodeError{code: 2, err: fmt.Errorf("batch %s finished %s, but its export %s failed: %s", b.ID, b.Result, ex.Path, ex.Error)}
	}
	return nil
}
