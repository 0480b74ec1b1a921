package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"golang.org/x/term"

	"tipoff/health"
	"tipoff/httpapi"
	"tipoff/pipeline"
	"tipoff/predict"
	"tipoff/sqlite"
)

const healthUsage = `Usage: tipoff health [--date D] [--run LABEL] [--db FILE | --coordinator URL] [--daily HH:MM] [--json]

Checks one game date's batch from the system's own state, not from logs:
whether the run happened (or, with --daily, whether the scheduled run is
overdue), its state and result, outcome counts, the players missing, failed
or timed out and why, players stuck without an outcome past their item
timeout, finalize attempts, whether the day's picks were published and the
export file holds them, and dead-lettered messages.

It reads the SQLite file (--db, read-only: never created or written), or a
coordinator's status API (--coordinator URL: "tipoff serve" or the cloud
coordinator), checking that the coordinator answers. Without --run it checks
the newest batch of the date, whatever its run label; with --run, a newer
run of the date that failed or was cancelled makes the date unhealthy even
while an older run's picks stay published. Either way it names the live
picks: the batch, run label and result whose predictions are published (see
"tipoff help publish").

Output: one line per check, coloured on a terminal; --json for machines.

Exit status:
  0  healthy: everything checked is as it should be (a batch that is still
     running on time is healthy, and so is a date recorded as having no games)
  1  unhealthy: a person must act (no run, run failed or cancelled, running
     past its deadline, picks or export missing or stale, store or
     coordinator unreachable, bad flags)
  2  degraded: it worked, with losses or delays to look at (partial result,
     failed players, stuck players, dead letters, a finalize lease expired,
     an export file whose writing is failing and being retried)
"tipoff help health" exits 0.`

func runHealth(ctx context.Context, m *Main, args []string) error {
	fs, b := newFlagSet(m, "health", healthUsage)
	b.db()
	b.date()
	run := ""
	b.String(&run, "run", "TIPOFF_RUN", "check the batch of this run `label`; default the date's newest batch")
	coord := ""
	b.String(&coord, "coordinator", "TIPOFF_COORDINATOR", "read the status API of the coordinator at this `URL` instead of the SQLite file")
	useToken := false
	fs.BoolVar(&useToken, "id-token", useToken, "call the coordinator with a Google ID token for its URL, from Application Default Credentials (Cloud Run with authentication)")
	var sched *pipeline.Daily
	b.Func("daily", "TIPOFF_DAILY", "the schedule: the run starts every day at `HH:MM` league time, so a missing batch is overdue only after it",
		func(s string) error { d, err := pipeline.ParseDaily(s); sched = &d; return err })
	grace := 10 * time.Minute
	fs.DurationVar(&grace, "grace", grace, "how long after the --daily time a missing batch is still not overdue")
	b.String(&b.cfg.ExportDir, "export-dir", "TIPOFF_EXPORT_DIR", "`directory` of the <date>.json picks export to check, with --db")
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
	now := time.Now()
	date, err := predict.ParseDate(cfg.GameDate(now))
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	in := health.Input{Date: date, Run: run, Grace: grace, Now: now}
	if sched != nil {
		in.Schedule = &health.Schedule{Hour: sched.Hour, Minute: sched.Minute, Location: pipeline.LeagueLocation()}
	}
	if grace < 0 {
		return fmt.Errorf("health: grace %v: want a duration of 0 or more", grace)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var rep health.Report
	if coord != "" {
		client, err := httpapi.NewClient(ctx, coord, useToken, m.Getenv("TIPOFF_TOKEN"))
		if err != nil {
			return fmt.Errorf("health: %w", err)
		}
		rep = health.AssessCoordinator(ctx, client, in)
	} else {
		rep = healthFromDB(ctx, cfg, in)
	}
	rep.Finish()
	if *asJSON {
		if err := health.WriteJSON(m.Stdout, &rep); err != nil {
			return err
		}
	} else {
		health.WriteText(m.Stdout, &rep, useColour(m))
	}
	if rep.ExitCode != 0 {
		return exitCodeError{code: rep.ExitCode}
	}
	return nil
}

// healthFromDB checks the SQLite file, opened read-only: health never
// creates, migrates or writes a database, and a missing one is unhealthy.
func healthFromDB(ctx context.Context, cfg Config, in health.Input) health.Report {
	db, err := sqlite.OpenReadOnly(ctx, cfg.DB)
	if err != nil {
		return health.Unread(in, "db "+cfg.DB, health.Check{Name: "store", Level: health.Fail, Message: fmt.Sprintf("cannot read %s: %v", cfg.DB, err)})
	}
	defer db.Close()
	queue := sqlite.NewQueue(db, sqlite.QueueConfig{})
	defer queue.Close()
	src := httpapi.NewStatus(httpapi.StatusConfig{Store: sqlite.NewStore(db), Publications: db, DeadLetters: queue, QueueDepths: queue.Depths,
		Export: httpapi.ExportDir(cfg.ExportDir, db), NowFunc: func() time.Time { return in.Now }, Log: discardLogger()})
	rep := health.Assess(ctx, src, in)
	rep.AddSource("db "+cfg.DB, health.Check{Name: "store", Level: health.OK, Message: cfg.DB + " opened"})
	return rep
}

// useColour reports whether stdout is a terminal that wants colour.
func useColour(m *Main) bool {
	if m.Getenv("NO_COLOR") != "" || m.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := m.Stdout.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
