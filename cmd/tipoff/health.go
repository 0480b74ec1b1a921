package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
	"google.golang.org/api/idtoken"

	"tipoff/batch"
	"tipoff/httpapi"
	"tipoff/predict"
)

const healthUsage = `Usage: tipoff health [--date D] [--run LABEL] [--db FILE | --coordinator URL] [--daily HH:MM] [--json]

Checks one game date's batch from the system's own state, not from logs:
whether the run happened (or, with --daily, whether the scheduled run is
overdue), its state and result, outcome counts, the players missing, failed
or timed out and why, players stuck without an outcome past their item
timeout, finalize attempts, whether the day's picks were published and the
export file holds them, and dead-lettered messages.

It reads the SQLite file (--db), or a coordinator's status API
(--coordinator URL: "tipoff serve" or the cloud coordinator), checking that
the coordinator answers. Without --run it checks the newest batch of the
date, whatever its run label.

Output: one line per check, coloured on a terminal; --json for machines.

Exit status:
  0  healthy: everything checked is as it should be (a batch that is still
     running on time is healthy)
  1  unhealthy: a person must act (no run, run failed or cancelled, running
     past its deadline, picks or export missing or stale, store or
     coordinator unreachable, bad flags)
  2  degraded: it worked, with losses or delays to look at (partial result,
     failed players, stuck players, dead letters, a finalize lease expired)
"tipoff help health" exits 0.`

// Health check levels, best first.
const (
	levelOK   = "ok"
	levelSkip = "skip" // not checked, or not applicable yet
	levelWarn = "warn"
	levelFail = "fail"
)

// Health statuses and their exit codes.
const (
	statusHealthy   = "healthy"
	statusDegraded  = "degraded"
	statusUnhealthy = "unhealthy"
)

var exitCodes = map[string]int{statusHealthy: 0, statusUnhealthy: 1, statusDegraded: 2}

// healthCheck is one line of the health report.
type healthCheck struct {
	Name    string   `json:"name"`
	Level   string   `json:"level"`
	Message string   `json:"message"`
	Items   []string `json:"items,omitempty"`
}

// healthReport is what "tipoff health" finds; --json prints it.
type healthReport struct {
	Status    string               `json:"status"`
	ExitCode  int                  `json:"exit_code"`
	Date      string               `json:"date"`
	Run       string               `json:"run,omitempty"`
	Source    string               `json:"source"`
	CheckedAt time.Time            `json:"checked_at"`
	Checks    []healthCheck        `json:"checks"`
	Service   *httpapi.ServiceInfo `json:"service,omitempty"`
	Batch     *httpapi.BatchReport `json:"batch,omitempty"`
	Others    []string             `json:"other_batches,omitempty"` // other batches of the date, newest first
	Queue     *httpapi.QueueReport `json:"queue,omitempty"`
}

func (r *healthReport) add(name, level, msg string, items ...string) {
	r.Checks = append(r.Checks, healthCheck{Name: name, Level: level, Message: msg, Items: items})
}

// finish sets the status from the worst check.
func (r *healthReport) finish() {
	r.Status = statusHealthy
	for _, c := range r.Checks {
		switch c.Level {
		case levelFail:
			r.Status = statusUnhealthy
		case levelWarn:
			if r.Status == statusHealthy {
				r.Status = statusDegraded
			}
		}
	}
	r.ExitCode = exitCodes[r.Status]
}

// healthSource is where the health check reads: an in-process
// [httpapi.Status] on the SQLite file, or a coordinator's API through an
// [httpapi.Client]. Both give the same answers.
type healthSource interface {
	ListBatches(ctx context.Context, opts batch.ListOptions) (httpapi.BatchList, error)
	Batch(ctx context.Context, id string) (httpapi.BatchReport, error)
	Queue(ctx context.Context) (httpapi.QueueReport, error)
}

// healthInput is what the checks are about.
type healthInput struct {
	date  string
	run   string // "" for the newest batch of the date
	daily *daily // the schedule, if known
	grace time.Duration
	now   time.Time
}

func runHealth(ctx context.Context, m *Main, args []string) error {
	fs, b := newFlagSet(m, "health", healthUsage)
	b.db()
	b.date()
	run := ""
	b.env.str("TIPOFF_RUN", &run)
	fs.StringVar(&run, "run", run, "check the batch of this run `label`; default the date's newest batch (TIPOFF_RUN)")
	coord := ""
	b.env.str("TIPOFF_COORDINATOR", &coord)
	fs.StringVar(&coord, "coordinator", coord, "read the status API of the coordinator at this `URL` instead of the SQLite file (TIPOFF_COORDINATOR)")
	useToken := false
	fs.BoolVar(&useToken, "id-token", useToken, "call the coordinator with a Google ID token for its URL, from Application Default Credentials (Cloud Run with authentication)")
	dailyAt := ""
	b.env.str("TIPOFF_DAILY", &dailyAt)
	fs.StringVar(&dailyAt, "daily", dailyAt, "the schedule: the run starts every day at `HH:MM` league time, so a missing batch is overdue only after it (TIPOFF_DAILY)")
	grace := 10 * time.Minute
	fs.DurationVar(&grace, "grace", grace, "how long after the --daily time a missing batch is still not overdue")
	b.env.str("TIPOFF_EXPORT_DIR", &b.cfg.ExportDir)
	fs.StringVar(&b.cfg.ExportDir, "export-dir", b.cfg.ExportDir, "`directory` of the <date>.json picks export to check, with --db (TIPOFF_EXPORT_DIR)")
	timeout := 15 * time.Second
	fs.DurationVar(&timeout, "timeout", timeout, "give up on the store or coordinator after this long")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	cfg, err := b.parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return exitCodeError{code: 0}
	}
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("health: unexpected arguments %q", fs.Args())
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if coord != "" && explicit["db"] {
		return fmt.Errorf("health: --db %s and --coordinator %s: give one source, not both", cfg.DB, coord)
	}
	in := healthInput{date: cfg.GameDate(time.Now()), run: run, grace: grace, now: time.Now()}
	if dailyAt != "" {
		d, err := parseDaily(dailyAt)
		if err != nil {
			return fmt.Errorf("health: %w", err)
		}
		in.daily = &d
	}
	if grace < 0 {
		return fmt.Errorf("health: grace %v: want a duration of 0 or more", grace)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var rep *healthReport
	if coord != "" {
		rep, err = healthFromCoordinator(ctx, coord, useToken, in)
	} else {
		rep, err = healthFromDB(ctx, cfg, in)
	}
	if err != nil {
		return err
	}
	rep.finish()
	if *asJSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		writeHealth(m.Stdout, rep, useColour(m))
	}
	if rep.ExitCode != 0 {
		return exitCodeError{code: rep.ExitCode}
	}
	return nil
}

// healthFromDB checks the SQLite file. A file that does not exist is
// reported unhealthy, and not created.
func healthFromDB(ctx context.Context, cfg Config, in healthInput) (*healthReport, error) {
	rep := &healthReport{Date: in.date, Run: in.run, Source: "db " + cfg.DB, CheckedAt: in.now}
	if _, err := os.Stat(cfg.DB); err != nil {
		rep.add("store", levelFail, fmt.Sprintf("cannot read %s: %v", cfg.DB, err))
		return rep, nil
	}
	app, err := openEmbedded(ctx, cfg, discardLogger())
	if err != nil {
		rep.add("store", levelFail, fmt.Sprintf("cannot open %s: %v", cfg.DB, err))
		return rep, nil
	}
	defer app.Close()
	rep.add("store", levelOK, cfg.DB+" opened")
	src := httpapi.NewStatus(app.statusConfig(func() time.Time { return in.now }))
	checkHealth(ctx, src, in, rep)
	return rep, nil
}

// healthFromCoordinator checks through a coordinator's API.
func healthFromCoordinator(ctx context.Context, base string, useToken bool, in healthInput) (*healthReport, error) {
	rep := &healthReport{Date: in.date, Run: in.run, Source: "coordinator " + base, CheckedAt: in.now}
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("health: coordinator %q: want an http:// or https:// URL", base)
	}
	hc := &http.Client{}
	if useToken {
		c, err := idtoken.NewClient(ctx, strings.TrimRight(base, "/"))
		if err != nil {
			return nil, fmt.Errorf("health: ID token for %s: %w", base, err)
		}
		hc = c
	}
	client := &httpapi.Client{BaseURL: base, HTTPClient: hc}
	info, err := client.Health(ctx)
	switch {
	case err != nil:
		rep.add("coordinator", levelFail, fmt.Sprintf("%s does not answer: %v", base, err))
		return rep, nil
	case info.Status == http.StatusOK:
		rep.Service = &info
		rep.add("coordinator", levelOK, fmt.Sprintf("%s answers: %s %s (commit %s)", base, orDash(info.Program), orDash(info.Version), orDash(info.Commit)))
	default:
		rep.add("coordinator", levelOK, fmt.Sprintf("%s answers (GET /health: %d)", base, info.Status))
	}
	checkHealth(ctx, client, in, rep)
	return rep, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// checkHealth adds the checks of the date's batch and the queue to rep.
func checkHealth(ctx context.Context, src healthSource, in healthInput, rep *healthReport) {
	l, err := src.ListBatches(ctx, batch.ListOptions{Date: in.date, Run: in.run})
	if err != nil {
		rep.add("run", levelFail, fmt.Sprintf("cannot list the batches of %s: %v", in.date, err))
		return
	}
	if len(l.Batches) == 0 {
		checkMissingRun(rep, in)
	} else {
		b := l.Batches[0]
		for _, o := range l.Batches[1:] {
			rep.Others = append(rep.Others, o.ID)
		}
		br, err := src.Batch(ctx, b.ID)
		if err != nil {
			rep.add("run", levelFail, fmt.Sprintf("cannot read batch %s: %v", b.ID, err))
		} else {
			rep.Batch = &br
			checkBatch(rep, br, in.now)
		}
	}
	q, err := src.Queue(ctx)
	if err != nil {
		rep.add("dead_letters", levelWarn, fmt.Sprintf("cannot read the queue: %v", err))
		return
	}
	rep.Queue = &q
	checkDeadLetters(rep, q)
}

// checkMissingRun reports a date without a batch: not due yet, overdue by
// the schedule, or simply missing.
func checkMissingRun(rep *healthReport, in healthInput) {
	what := "no batch for " + in.date
	if in.run != "" {
		what += " with run label " + in.run
	}
	if in.daily == nil {
		rep.add("run", levelFail, what+" (with --daily HH:MM a run not yet due is told from a missing one)")
		return
	}
	d, _ := predict.ParseDate(in.date)
	y, mo, dd := d.Civil()
	due := time.Date(y, time.Month(mo), dd, in.daily.hour, in.daily.min, 0, 0, in.daily.loc)
	if in.now.Before(due.Add(in.grace)) {
		rep.add("run", levelOK, fmt.Sprintf("%s yet: the daily run is due at %s", what, due.Format(time.RFC3339)))
		return
	}
	rep.add("run", levelFail, fmt.Sprintf("%s: the daily run due at %s is %s overdue; is \"tipoff serve --daily\" (or Cloud Scheduler) running?",
		what, due.Format(time.RFC3339), humanDuration(in.now.Sub(due))))
}

// humanDuration prints d in seconds up to two days, in days beyond.
func humanDuration(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	}
	return d.Round(time.Second).String()
}

// listLimit bounds the players listed under one check in text output.
const listLimit = 20

// checkBatch adds the checks of one batch's report.
func checkBatch(rep *healthReport, r httpapi.BatchReport, now time.Time) {
	b := r.Batch
	pol := b.Policy.WithDefaults()
	runMsg := fmt.Sprintf("batch %s (%s) created %s", b.ID, b.Key, b.CreatedAt.Format(time.RFC3339))
	if r.TraceID != "" {
		runMsg += ", trace " + r.TraceID
	}
	if n := len(rep.Others); n > 0 {
		runMsg += fmt.Sprintf("; %d older batch(es) of the date", n)
	}
	rep.add("run", levelOK, runMsg)

	progress := fmt.Sprintf("%d/%d players have an outcome (%.1f%%)", b.Done, b.Total, b.Percent)
	switch b.State {
	case batch.Running:
		if !now.Before(b.Deadline) {
			rep.add("state", levelFail, fmt.Sprintf("running %s past its deadline %s, %s: the sweeper should have timed out the rest; is the coordinator running?",
				now.Sub(b.Deadline).Round(time.Second), b.Deadline.Format(time.RFC3339), progress))
		} else {
			rep.add("state", levelOK, fmt.Sprintf("running, %s; deadline %s", progress, b.Deadline.Format(time.RFC3339)))
		}
	case batch.Finalizing:
		if r.Finalize.LeaseExpired {
			rep.add("state", levelWarn, fmt.Sprintf("finalizing, but the lease of %s expired at %s: its finalizer stopped and the sweeper has not taken over",
				r.Finalize.LeaseOwner, r.Finalize.LeaseExpires.Format(time.RFC3339)))
		} else {
			rep.add("state", levelOK, fmt.Sprintf("finalizing (lease %s until %s)", r.Finalize.LeaseOwner, r.Finalize.LeaseExpires.Format(time.RFC3339)))
		}
	case batch.Finalized:
		switch b.Result {
		case batch.ResultSucceeded:
			rep.add("state", levelOK, "finalized: succeeded")
		case batch.ResultPartial:
			rep.add("state", levelWarn, fmt.Sprintf("finalized: partial, %d of %d players failed or timed out (at least %.0f%% had to succeed)",
				b.Counts.Failed+b.Counts.TimedOut, b.Total, 100*pol.MinSuccessRatio))
		case batch.ResultCancelled:
			rep.add("state", levelFail, fmt.Sprintf("finalized: cancelled (%s), %s", orDash(b.CancelReason), progress))
		default:
			rep.add("state", levelFail, fmt.Sprintf("finalized: %s, only %d of %d players succeeded or were skipped (%.0f%% had to)",
				b.Result, b.Counts.Succeeded+b.Counts.Skipped, b.Total, 100*pol.MinSuccessRatio))
		}
	default:
		rep.add("state", levelFail, fmt.Sprintf("unknown state %q", b.State))
	}
	rep.add("outcomes", levelOK, fmt.Sprintf("succeeded %d, skipped %d, failed %d, timed out %d, none yet %d, of %d",
		b.Counts.Succeeded, b.Counts.Skipped, b.Counts.Failed, b.Counts.TimedOut, b.Remaining, b.Total))

	if n := b.Counts.Failed + b.Counts.TimedOut; n > 0 {
		items := make([]string, len(r.Failed))
		for i, f := range r.Failed {
			items[i] = fmt.Sprintf("%s: %s after %d attempt(s): %s", f.ID, f.Outcome, f.Attempts, f.Error)
		}
		rep.add("failed", levelWarn, fmt.Sprintf("%d player(s) failed or timed out", n), items...)
	} else {
		rep.add("failed", levelOK, "no player failed or timed out")
	}

	switch {
	case b.Remaining == 0:
		rep.add("missing", levelOK, "every player has an outcome")
	case b.State == batch.Finalized:
		rep.add("missing", levelWarn, fmt.Sprintf("%d player(s) never got an outcome (the batch was cancelled)", b.Remaining), r.Missing...)
	default:
		rep.add("missing", levelOK, fmt.Sprintf("%d player(s) without an outcome yet", b.Remaining), r.Missing...)
	}

	if b.State == batch.Running {
		if len(r.Stuck) > 0 {
			items := make([]string, len(r.Stuck))
			oldest := 0.0
			for i, s := range r.Stuck {
				items[i] = fmt.Sprintf("%s: %s, %d attempt(s), waiting %s", s.ID, s.Reason, s.Attempts, (time.Duration(s.WaitSeconds) * time.Second).String())
				oldest = max(oldest, s.WaitSeconds)
			}
			rep.add("stuck", levelWarn, fmt.Sprintf("%d player(s) without an outcome for longer than the item timeout %v (longest %s); the sweeper re-drives them, so if this persists the coordinator is not sweeping",
				len(r.Stuck), pol.ItemTimeout, (time.Duration(oldest)*time.Second).String()), items...)
		} else {
			rep.add("stuck", levelOK, "no player waits longer than the item timeout "+pol.ItemTimeout.String())
		}
	} else {
		rep.add("stuck", levelSkip, "the batch is not running")
	}

	f := r.Finalize
	switch {
	case b.State == batch.Finalized && !f.FinalizedAt.IsZero():
		rep.add("finalize", levelOK, fmt.Sprintf("finalized %s after %d attempt(s)", f.FinalizedAt.Format(time.RFC3339), f.Attempts))
	case b.State == batch.Finalized:
		rep.add("finalize", levelSkip, "ended without finalizing")
	case b.State == batch.Running && b.Remaining == 0:
		rep.add("finalize", levelWarn, fmt.Sprintf("every player has an outcome but the batch is not finalized yet (%d attempt(s) so far); the sweeper retries", f.Attempts))
	default:
		rep.add("finalize", levelOK, fmt.Sprintf("not yet (%d attempt(s) so far)", f.Attempts))
	}

	checkPublication(rep, r)
}

// checkPublication checks the date's published picks and export file
// against the batch.
func checkPublication(rep *healthReport, r httpapi.BatchReport) {
	b := r.Batch
	pub := r.Publication
	done := b.State == batch.Finalized && b.Result != batch.ResultCancelled
	switch {
	case !r.PublicationChecked:
		rep.add("published", levelSkip, "not checked: the source cannot read publications")
	case !done && pub == nil:
		rep.add("published", levelSkip, "not yet; nothing is published for "+b.Key.Date)
	case !done:
		rep.add("published", levelSkip, fmt.Sprintf("not yet; published now: batch %s (%s) at %s", pub.BatchID, pub.Run, pub.PublishedAt.Format(time.RFC3339)))
	case pub == nil:
		rep.add("published", levelFail, fmt.Sprintf("nothing is published for %s although batch %s finalized at %s", b.Key.Date, b.ID, b.FinalizedAt.Format(time.RFC3339)))
	case pub.ThisBatch && pub.PublishedAt.Before(b.CreatedAt):
		rep.add("published", levelFail, fmt.Sprintf("the publication names this batch but is dated %s, before the batch was created", pub.PublishedAt.Format(time.RFC3339)))
	case pub.ThisBatch:
		rep.add("published", levelOK, fmt.Sprintf("%d predictions for %d players published at %s", pub.Predictions, pub.Players, pub.PublishedAt.Format(time.RFC3339)))
	case pub.BatchAt.After(b.CreatedAt):
		rep.add("published", levelOK, fmt.Sprintf("superseded by the newer run %s (batch %s), published at %s", pub.Run, pub.BatchID, pub.PublishedAt.Format(time.RFC3339)))
	default:
		rep.add("published", levelFail, fmt.Sprintf("stale: the published picks are batch %s's (%s) from %s, not this batch's: its finalize did not publish",
			pub.BatchID, pub.Run, pub.PublishedAt.Format(time.RFC3339)))
	}

	ex := r.Export
	switch {
	case ex == nil:
		rep.add("export", levelSkip, "not checked: the source does not know the export directory")
	case !done || pub == nil:
		rep.add("export", levelSkip, "not checked: nothing to export yet")
	case !ex.Exists:
		rep.add("export", levelFail, fmt.Sprintf("%s does not exist", ex.Path))
	case ex.Problem != "":
		rep.add("export", levelFail, fmt.Sprintf("%s cannot be read: %s", ex.Path, ex.Problem))
	case ex.BatchID != pub.BatchID || !ex.PublishedAt.Equal(pub.PublishedAt):
		rep.add("export", levelFail, fmt.Sprintf("stale: %s holds batch %s published at %s, not the current publication (batch %s at %s)",
			ex.Path, orDash(ex.BatchID), ex.PublishedAt.Format(time.RFC3339), pub.BatchID, pub.PublishedAt.Format(time.RFC3339)))
	default:
		rep.add("export", levelOK, fmt.Sprintf("%s holds the current publication (%d predictions), written %s", ex.Path, ex.Predictions, ex.ModTime.Format(time.RFC3339)))
	}
}

// checkDeadLetters reports messages waiting in dead-letter topics.
func checkDeadLetters(rep *healthReport, q httpapi.QueueReport) {
	if q.DeadLetters == nil {
		rep.add("dead_letters", levelSkip, "not checked: the queue cannot count dead letters")
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
		rep.add("dead_letters", levelOK, "no dead-lettered messages")
		return
	}
	rep.add("dead_letters", levelWarn, fmt.Sprintf("%d dead-lettered message(s) waiting (all dates); a dead-lettered request the coordinator has not recorded as failed means it is not consuming them", total), items...)
}

// Terminal colours of the levels.
var levelColour = map[string]string{levelOK: "\x1b[32m", levelWarn: "\x1b[33m", levelFail: "\x1b[31m", levelSkip: "\x1b[2m"}

var levelLabel = map[string]string{levelOK: "ok  ", levelWarn: "WARN", levelFail: "FAIL", levelSkip: "--  "}

var statusColour = map[string]string{statusHealthy: "\x1b[1;32m", statusDegraded: "\x1b[1;33m", statusUnhealthy: "\x1b[1;31m"}

// useColour reports whether stdout is a terminal that wants colour.
func useColour(m *Main) bool {
	if m.Getenv("NO_COLOR") != "" || m.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := m.Stdout.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// writeHealth prints the report for a person: a verdict line, then one line
// per check and up to listLimit of its players.
func writeHealth(w io.Writer, r *healthReport, colour bool) {
	paint := func(code, s string) string {
		if !colour {
			return s
		}
		return code + s + "\x1b[0m"
	}
	what := r.Date
	if r.Run != "" {
		what += "/" + r.Run
	}
	fmt.Fprintf(w, "tipoff health %s (%s): %s\n", what, r.Source, paint(statusColour[r.Status], strings.ToUpper(r.Status)))
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	for _, c := range r.Checks {
		fmt.Fprintf(w, "  %s %-*s  %s\n", paint(levelColour[c.Level], levelLabel[c.Level]), width, c.Name, c.Message)
		for i, it := range c.Items {
			if i == listLimit {
				fmt.Fprintf(w, "       … and %d more (--json lists them all)\n", len(c.Items)-listLimit)
				break
			}
			fmt.Fprintf(w, "       - %s\n", it)
		}
	}
}
