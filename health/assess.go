package health

import (
	"context"
	"fmt"
	"time"

	"tipoff/batch"
	"tipoff/httpapi"
	"tipoff/predict"
)

// Source is what [Assess] reads: the status API. An in-process
// [httpapi.Status] on the SQLite file and an [httpapi.Client] of a
// coordinator both satisfy it, and give the same answers.
type Source interface {
	ListBatches(ctx context.Context, opts batch.ListOptions) (httpapi.BatchList, error)
	Batch(ctx context.Context, id string) (httpapi.BatchReport, error)
	Queue(ctx context.Context) (httpapi.QueueReport, error)
}

var (
	_ Source = (*httpapi.Status)(nil)
	_ Source = (*httpapi.Client)(nil)
)

// Schedule is when the daily run starts: every day at Hour:Minute in
// Location.
type Schedule struct {
	Hour, Minute int
	Location     *time.Location // nil means UTC
}

// Due returns when the run of game date d is due.
func (s Schedule) Due(d predict.Date) time.Time {
	loc := s.Location
	if loc == nil {
		loc = time.UTC
	}
	y, m, dd := d.Civil()
	return time.Date(y, time.Month(m), dd, s.Hour, s.Minute, 0, 0, loc)
}

// Input is what [Assess] checks, and against which clock.
type Input struct {
	Date predict.Date
	Run  string // the run label; "" checks the date's newest batch, whatever its label
	// Schedule, when known, tells a run not yet due from a missing one;
	// nil makes a date without a batch unhealthy at any time.
	Schedule *Schedule
	// Grace is how long after the scheduled time a missing batch is still
	// not overdue.
	Grace time.Duration
	Now   time.Time
}

// Assess checks in's date through src: whether its batch exists (or is not
// due yet), the batch's state and result, its outcomes, failed, missing and
// stuck players, its finalize, the date's publication and export file
// against it, and the queue's dead letters. It returns the report with
// Status and ExitCode set and Source empty.
//
// Errors from src are reported as checks, not returned: a list or batch
// read that fails is a failed run check, a queue read that fails a
// degraded dead_letters check. Checks of the source itself (does the store
// open, does the coordinator answer) are the caller's; it adds them and
// calls [Report.Finish] again.
func Assess(ctx context.Context, src Source, in Input) Report {
	rep := Report{Date: in.Date.String(), Run: in.Run, CheckedAt: in.Now}
	assess(ctx, src, in, &rep)
	rep.Finish()
	return rep
}

func assess(ctx context.Context, src Source, in Input, rep *Report) {
	l, err := src.ListBatches(ctx, batch.ListOptions{Date: rep.Date, Run: in.Run})
	if err != nil {
		rep.Add("run", Fail, fmt.Sprintf("cannot list the batches of %s: %v", rep.Date, err))
		return
	}
	if len(l.Batches) == 0 {
		checkMissingRun(rep, in)
	} else {
		defer checkNewerRuns(ctx, src, in, rep)
		b := l.Batches[0]
		for _, o := range l.Batches[1:] {
			rep.Others = append(rep.Others, o.ID)
		}
		br, err := src.Batch(ctx, b.ID)
		if err != nil {
			rep.Add("run", Fail, fmt.Sprintf("cannot read batch %s: %v", b.ID, err))
		} else {
			rep.Batch = &br
			checkBatch(rep, br, in.Now)
		}
	}
	q, err := src.Queue(ctx)
	if err != nil {
		rep.Add("dead_letters", Warn, fmt.Sprintf("cannot read the queue: %v", err))
		return
	}
	rep.Queue = &q
	checkDeadLetters(rep, q)
}

// checkMissingRun reports a date without a batch: not due yet, overdue by
// the schedule, or simply missing.
func checkMissingRun(rep *Report, in Input) {
	what := "no batch for " + rep.Date
	if in.Run != "" {
		what += " with run label " + in.Run
	}
	if in.Schedule == nil {
		rep.Add("run", Fail, what+" (with --daily HH:MM a run not yet due is told from a missing one)")
		return
	}
	due := in.Schedule.Due(in.Date)
	if in.Now.Before(due.Add(in.Grace)) {
		rep.Add("run", OK, fmt.Sprintf("%s yet: the daily run is due at %s", what, due.Format(time.RFC3339)))
		return
	}
	rep.Add("run", Fail, fmt.Sprintf("%s: the daily run due at %s is %s overdue; is \"tipoff serve --daily\" (or Cloud Scheduler) running?",
		what, due.Format(time.RFC3339), humanDuration(in.Now.Sub(due))))
}

// humanDuration prints d in seconds up to two days, in days beyond.
func humanDuration(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	}
	return d.Round(time.Second).String()
}

// checkBatch adds the checks of one batch's report.
func checkBatch(rep *Report, r httpapi.BatchReport, now time.Time) {
	b := r.Batch
	pol := b.Policy.WithDefaults()
	runMsg := fmt.Sprintf("batch %s (%s) created %s", b.ID, b.Key, b.CreatedAt.Format(time.RFC3339))
	if r.TraceID != "" {
		runMsg += ", trace " + r.TraceID
	}
	if n := len(rep.Others); n > 0 {
		runMsg += fmt.Sprintf("; %d older batch(es) of the date", n)
	}
	rep.Add("run", OK, runMsg)

	progress := fmt.Sprintf("%d/%d players have an outcome (%.1f%%)", b.Done, b.Total, b.Percent)
	switch b.State {
	case batch.Running:
		if !now.Before(b.Deadline) {
			rep.Add("state", Fail, fmt.Sprintf("running %s past its deadline %s, %s: the sweeper should have timed out the rest; is the coordinator running?",
				now.Sub(b.Deadline).Round(time.Second), b.Deadline.Format(time.RFC3339), progress))
		} else {
			rep.Add("state", OK, fmt.Sprintf("running, %s; deadline %s", progress, b.Deadline.Format(time.RFC3339)))
		}
	case batch.Finalizing:
		if r.Finalize.LeaseExpired {
			rep.Add("state", Warn, fmt.Sprintf("finalizing, but the lease of %s expired at %s: its finalizer stopped and the sweeper has not taken over",
				r.Finalize.LeaseOwner, r.Finalize.LeaseExpires.Format(time.RFC3339)))
		} else {
			rep.Add("state", OK, fmt.Sprintf("finalizing (lease %s until %s)", r.Finalize.LeaseOwner, r.Finalize.LeaseExpires.Format(time.RFC3339)))
		}
	case batch.Finalized:
		reason, quiet := b.NoItems()
		switch {
		case quiet && b.Result == batch.ResultSucceeded:
			rep.Add("state", OK, "finalized: "+reason)
		case b.Result == batch.ResultSucceeded:
			rep.Add("state", OK, "finalized: succeeded")
		case b.Result == batch.ResultPartial:
			rep.Add("state", Warn, fmt.Sprintf("finalized: partial, %d of %d players failed or timed out (at least %.0f%% had to succeed)",
				b.Counts.Failed+b.Counts.TimedOut, b.Total, 100*pol.MinSuccessRatio))
		case b.Result == batch.ResultCancelled:
			rep.Add("state", Fail, fmt.Sprintf("finalized: cancelled (%s), %s", orDash(b.CancelReason), progress))
		default:
			rep.Add("state", Fail, fmt.Sprintf("finalized: %s, only %d of %d players succeeded or were skipped (%.0f%% had to)",
				b.Result, b.Counts.Succeeded+b.Counts.Skipped, b.Total, 100*pol.MinSuccessRatio))
		}
	default:
		rep.Add("state", Fail, fmt.Sprintf("unknown state %q", b.State))
	}
	rep.Add("outcomes", OK, fmt.Sprintf("succeeded %d, skipped %d, failed %d, timed out %d, none yet %d, of %d",
		b.Counts.Succeeded, b.Counts.Skipped, b.Counts.Failed, b.Counts.TimedOut, b.Remaining, b.Total))

	if n := b.Counts.Failed + b.Counts.TimedOut; n > 0 {
		items := make([]string, len(r.Failed))
		for i, f := range r.Failed {
			items[i] = fmt.Sprintf("%s: %s after %d attempt(s): %s", f.ID, f.Outcome, f.Attempts, f.Error)
		}
		rep.Add("failed", Warn, fmt.Sprintf("%d player(s) failed or timed out", n), items...)
	} else {
		rep.Add("failed", OK, "no player failed or timed out")
	}

	switch {
	case b.Remaining == 0:
		rep.Add("missing", OK, "every player has an outcome")
	case b.State == batch.Finalized:
		rep.Add("missing", Warn, fmt.Sprintf("%d player(s) never got an outcome (the batch was cancelled)", b.Remaining), r.Missing...)
	default:
		rep.Add("missing", OK, fmt.Sprintf("%d player(s) without an outcome yet", b.Remaining), r.Missing...)
	}

	if b.State == batch.Running {
		if len(r.Stuck) > 0 {
			items := make([]string, len(r.Stuck))
			oldest := 0.0
			for i, s := range r.Stuck {
				items[i] = fmt.Sprintf("%s: %s, %d attempt(s), waiting %s", s.ID, s.Reason, s.Attempts, (time.Duration(s.WaitSeconds) * time.Second).String())
				oldest = max(oldest, s.WaitSeconds)
			}
			rep.Add("stuck", Warn, fmt.Sprintf("%d player(s) without an outcome for longer than the item timeout %v (longest %s); the sweeper re-drives them, so if this persists the coordinator is not sweeping",
				len(r.Stuck), pol.ItemTimeout, (time.Duration(oldest)*time.Second).String()), items...)
		} else {
			rep.Add("stuck", OK, "no player waits longer than the item timeout "+pol.ItemTimeout.String())
		}
	} else {
		rep.Add("stuck", Skip, "the batch is not running")
	}

	f := r.Finalize
	switch {
	case b.State == batch.Finalized && !f.FinalizedAt.IsZero():
		rep.Add("finalize", OK, fmt.Sprintf("finalized %s after %d attempt(s)", f.FinalizedAt.Format(time.RFC3339), f.Attempts))
	case b.State == batch.Finalized:
		rep.Add("finalize", Skip, "ended without finalizing")
	case b.State == batch.Running && b.Remaining == 0:
		rep.Add("finalize", Warn, fmt.Sprintf("every player has an outcome but the batch is not finalized yet (%d attempt(s) so far); the sweeper retries", f.Attempts))
	default:
		rep.Add("finalize", OK, fmt.Sprintf("not yet (%d attempt(s) so far)", f.Attempts))
	}

	checkPublication(rep, r)
}

// checkPublication checks the date's published picks and export file
// against the batch and the publication policy, and says which picks are
// live.
func checkPublication(rep *Report, r httpapi.BatchReport) {
	b := r.Batch
	pub := r.Publication
	done := b.State == batch.Finalized && b.Result != batch.ResultCancelled
	if pub != nil {
		rep.Live = pub
	}
	switch {
	case !r.PublicationChecked:
		rep.Add("published", Skip, "not checked: the source cannot read publications")
	case b.Result == batch.ResultCancelled && pub == nil:
		rep.Add("published", Skip, "cancelled: nothing of it is published, and nothing is published for "+b.Key.Date)
	case b.Result == batch.ResultCancelled && !pub.ThisBatch:
		rep.Add("published", Skip, "cancelled, not published; "+livePicks(pub))
	case !done && pub == nil:
		rep.Add("published", Skip, "not yet; nothing is published for "+b.Key.Date)
	case !done && !pub.ThisBatch:
		rep.Add("published", Skip, "not yet; "+livePicks(pub))
	case pub == nil:
		rep.Add("published", Fail, fmt.Sprintf("nothing is published for %s although batch %s finalized at %s", b.Key.Date, b.ID, b.FinalizedAt.Format(time.RFC3339)))
	case pub.ThisBatch && pub.PublishedAt.Before(b.CreatedAt):
		rep.Add("published", Fail, fmt.Sprintf("the publication names this batch but is dated %s, before the batch was created", pub.PublishedAt.Format(time.RFC3339)))
	case pub.ThisBatch:
		pin := ""
		if pub.Pinned {
			pin = ", pinned by an operator"
		}
		rep.Add("published", OK, fmt.Sprintf("live: %d predictions for %d players published at %s%s", pub.Predictions, pub.Players, pub.PublishedAt.Format(time.RFC3339), pin))
	case !supersedes(b.Batch, pub):
		rep.Add("published", OK, fmt.Sprintf("not live: the publication policy keeps the better, newer or pinned picks of another batch (this batch's %s predictions stay as its own record); %s",
			b.Result, livePicks(pub)))
	default:
		rep.Add("published", Fail, fmt.Sprintf("stale: this %s batch should have replaced the publication but did not: its finalize did not publish; %s",
			b.Result, livePicks(pub)))
	}
	ex := r.Export
	switch {
	case ex == nil:
		rep.Add("export", Skip, "not checked: the source does not know the export directory")
	case !done || pub == nil:
		rep.Add("export", Skip, "not checked: nothing to export yet")
	case ex.Failing != "":
		rep.Add("export", Warn, fmt.Sprintf("writing %s has failed %d time(s) since %s: %s; the picks are published and the export is retried",
			ex.Path, ex.Failures, ex.FailingSince.Format(time.RFC3339), ex.Failing))
	case !ex.Exists && ex.Problem != "":
		rep.Add("export", Fail, fmt.Sprintf("%s cannot be read: %s", ex.Path, ex.Problem))
	case !ex.Exists:
		rep.Add("export", Fail, fmt.Sprintf("%s does not exist", ex.Path))
	case ex.Problem != "":
		rep.Add("export", Fail, fmt.Sprintf("%s cannot be read: %s", ex.Path, ex.Problem))
	case ex.BatchID != pub.BatchID || !ex.PublishedAt.Equal(pub.PublishedAt):
		rep.Add("export", Fail, fmt.Sprintf("stale: %s holds batch %s published at %s, not the current publication (batch %s at %s)",
			ex.Path, orDash(ex.BatchID), ex.PublishedAt.Format(time.RFC3339), pub.BatchID, pub.PublishedAt.Format(time.RFC3339)))
	default:
		rep.Add("export", OK, fmt.Sprintf("%s holds the current publication (%d predictions), written %s", ex.Path, ex.Predictions, ex.ModTime.Format(time.RFC3339)))
	}
}

// checkDeadLetters reports messages waiting in dead-letter topics.
func checkDeadLetters(rep *Report, q httpapi.QueueReport) {
	if q.DeadLetters == nil {
		rep.Add("dead_letters", Skip, "not checked: the queue cannot count dead letters")
		return
	}
	var items []string
	total := 0
	for _, t := range httpapi.BatchTopics {
		if n := q.DeadLetters[t]; n > 0 {
			total += n
			items = append(items, fmt.Sprintf("%s: %d", batch.DeadLetterTopic(t), n))
		}
	}
	if total == 0 {
		rep.Add("dead_letters", OK, "no dead-lettered messages")
		return
	}
	rep.Add("dead_letters", Warn, fmt.Sprintf("%d dead-lettered message(s) waiting (all dates); dead letters the coordinator has not taken (a request re-driven or failed, an outcome recorded) mean it is not consuming them", total), items...)
}

// supersedes reports whether b, finalized, should have replaced pub under
// the publication policy.
func supersedes(b batch.Batch, pub *httpapi.PublicationReport) bool {
	this := &predict.Publication{BatchID: b.ID, Result: b.Result, BatchAt: b.CreatedAt}
	return this.Supersedes(&predict.Publication{BatchID: pub.BatchID, Result: pub.Result, BatchAt: pub.BatchAt, Pinned: pub.Pinned})
}

// livePicks says which picks are live: the publication's batch, run label
// and result.
func livePicks(pub *httpapi.PublicationReport) string {
	s := fmt.Sprintf("the live picks are batch %s (run %s, %s), %d predictions published at %s",
		pub.BatchID, pub.Run, pub.Result, pub.Predictions, pub.PublishedAt.Format(time.RFC3339))
	if pub.Pinned {
		s += ", pinned by an operator"
	}
	return s
}

// checkNewerRuns fails the report when a run of the date created after the
// checked batch ended failed or cancelled: the live picks may be an older
// run's, but the latest attempt went wrong and a person must look. With
// no run label the checked batch is the newest and its own state says so.
func checkNewerRuns(ctx context.Context, src Source, in Input, rep *Report) {
	if in.Run == "" || rep.Batch == nil {
		return
	}
	l, err := src.ListBatches(ctx, batch.ListOptions{Date: rep.Date})
	if err != nil {
		rep.Add("newer_runs", Warn, fmt.Sprintf("cannot list the other runs of %s: %v", rep.Date, err))
		return
	}
	cur := rep.Batch.Batch
	var bad, other []string
	for _, o := range l.Batches {
		if o.ID == cur.ID || !o.CreatedAt.After(cur.CreatedAt) {
			continue
		}
		line := fmt.Sprintf("%s (run %s) created %s: %s", o.ID, o.Key.Run, o.CreatedAt.Format(time.RFC3339), o.State)
		if o.Result != "" {
			line += ", " + string(o.Result)
		}
		if o.State == batch.Finalized && (o.Result == batch.ResultFailed || o.Result == batch.ResultCancelled) {
			bad = append(bad, line)
		} else {
			other = append(other, line)
		}
	}
	live := "nothing is published"
	if rep.Live != nil {
		live = livePicks(rep.Live)
	}
	switch {
	case len(bad) > 0:
		rep.Add("newer_runs", Fail, fmt.Sprintf("%d newer run(s) of %s failed or were cancelled; %s", len(bad), rep.Date, live), append(bad, other...)...)
	case len(other) > 0:
		rep.Add("newer_runs", OK, fmt.Sprintf("%d newer run(s) of %s, none failed; %s", len(other), rep.Date, live), other...)
	default:
		rep.Add("newer_runs", OK, "no newer run of "+rep.Date)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
