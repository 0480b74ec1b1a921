package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"tipoff/batch"
	"tipoff/internal/progress"
	"tipoff/predict"
)

// LocalRun is what [RunDay] runs a day's batch with, all in this process:
// the shape's starter, coordinator runtime and store, and its workers.
type LocalRun struct {
	Starter     *Starter
	Coordinator *batch.Coordinator
	Store       batch.Store
	// Worker returns the in-process workers, which record their outcomes
	// through the engine (the shape decides whether in the commit that
	// acknowledges their requests, and sets its own failpoints there).
	Worker func() *batch.Worker
	// Failpoint, when set, is called at "created" (the batch exists), so
	// the crash tests can kill the process exactly there.
	Failpoint func(name string)
	Log       *slog.Logger
}

// RunSummary is what a finished run reports.
type RunSummary struct {
	Batch   batch.Batch
	Resumed bool // the batch existed before this run started
	Took    time.Duration
}

// Date returns the game date of the summary's batch.
func (s *RunSummary) Date() predict.Date {
	d, _ := predict.ParseDate(s.Batch.Key.Date)
	return d
}

// RunDay starts (or resumes) the batch req asks for and runs r's
// coordinator and workers until it is finalized (see [RunToEnd]). Progress
// goes to out. Starting an existing key reads no data: after a crash this
// resumes the batch the first run created, with its manifest, whatever the
// data says now.
func RunDay(ctx context.Context, r LocalRun, req StartRequest, out io.Writer) (*RunSummary, error) {
	failpoint, log := r.Failpoint, r.Log
	if failpoint == nil {
		failpoint = func(string) {}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	b, created, err := r.Starter.Start(ctx, req)
	if err != nil {
		return nil, err
	}
	failpoint("created")
	log = log.With("batch_id", b.ID, "trace_id", b.Meta[batch.AttrTraceID])
	engine := r.Coordinator.Engine()
	if b.State == batch.Finalized {
		log.Info("batch already finalized", "result", b.Result)
		// A run killed between finalizing and relaying left the event in
		// the outbox: relay it now rather than wait for a serve process.
		if _, err := engine.RelayEvents(ctx); err != nil {
			log.Warn("event relay incomplete", "err", err)
		}
		return &RunSummary{Batch: b, Resumed: !created, Took: time.Since(start)}, nil
	}
	if !created {
		log.Info("resuming batch", "done", b.Counts.Done(), "total", b.Total)
	}

	wk := r.Worker()
	view := progress.New(out, b.Total)
	waitSaid := false
	update := func(cur batch.Batch) {
		view.Update(cur.Counts.Done())
		// Another process (or one killed while finalizing) holds the
		// lease: say once whose it is and when the sweeper may take over.
		if l := cur.Lease; cur.State == batch.Finalizing && !waitSaid && l.Owner != "" && !engine.Holds(l.Owner) && time.Now().Before(l.Expires) {
			waitSaid = true
			view.Note(fmt.Sprintf("every player has an outcome; %s holds the finalize lease until %s (%s from now): waiting for it to finish, or to take over then",
				l.Owner, l.Expires.Local().Format(time.TimeOnly), time.Until(l.Expires).Round(time.Second)))
		}
	}
	cur, err := RunToEnd(ctx, r.Coordinator, wk, r.Store, b.ID, update)
	if cur.State != batch.Finalized {
		view.Abort()
		return nil, err
	}
	view.Finish()
	if err != nil {
		log.Warn("event relay incomplete; the next run or serve relays it", "err", err)
	}
	return &RunSummary{Batch: cur, Resumed: !created, Took: time.Since(start)}, nil
}

// Report writes the summary for a person: the batch's result and counts,
// how long it took, what was published for its date (read through
// published) and where the export went (ex; nil when nothing records
// exports). It returns the run's exit status and, unless it is 0, why: 0
// when the batch succeeded or was partial (or had nothing to predict), 1
// when it failed or was cancelled (or the publication could not be read),
// 2 when its picks are published but their export is failing.
func (s *RunSummary) Report(ctx context.Context, w io.Writer, published func(context.Context, predict.Date) (*predict.Publication, error), ex *predict.ExportState) (int, error) {
	b := s.Batch
	if reason, ok := b.NoItems(); ok {
		fmt.Fprintf(w, "%s: nothing to predict (batch %s records it)\n", reason, b.ID)
		return 0, nil
	}
	fmt.Fprintf(w, "\nbatch %s (%s): %s, %s\n", b.ID, b.Key, b.State, b.Result)
	fmt.Fprintf(w, "players %d: succeeded %d, skipped %d, failed %d, timed out %d\n",
		b.Total, b.Counts.Succeeded, b.Counts.Skipped, b.Counts.Failed, b.Counts.TimedOut)
	if s.Resumed && b.FinalizedAt.Before(time.Now().Add(-s.Took)) {
		fmt.Fprintf(w, "this batch had already finished at %s; use another --run label for a new run\n", b.FinalizedAt.Format(time.RFC3339))
	} else {
		rate := float64(b.Total) / s.Took.Seconds()
		fmt.Fprintf(w, "took %s (%.0f players/s)\n", s.Took.Round(time.Millisecond), rate)
	}
	pub, err := published(ctx, s.Date())
	switch {
	case errors.Is(err, batch.ErrNotFound):
		fmt.Fprintln(w, "nothing published for the date")
	case err != nil:
		return 1, err
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
		return 1, fmt.Errorf("batch %s ended %s: %s", b.ID, b.Result, b.CancelReason)
	case b.Result != batch.ResultSucceeded && b.Result != batch.ResultPartial:
		return 1, fmt.Errorf("batch %s finished %s", b.ID, b.Result)
	case ex != nil && ex.Failing():
		return 2, fmt.Errorf("batch %s finished %s, but its export %s failed: %s", b.ID, b.Result, ex.Path, ex.Error)
	}
	return 0, nil
}
