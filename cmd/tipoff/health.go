package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"time"

	"golang.org/x/term"

	"tipoff/health"
	"tipoff/httpapi"
	"tipoff/pipeline"
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
	b.env.String("TIPOFF_RUN", &run)
	fs.StringVar(&run, "run", run, "check the batch of this run `label`; default the date's newest batch (TIPOFF_RUN)")
	coord := ""
	b.env.String("TIPOFF_COORDINATOR", &coord)
	fs.StringVar(&coord, "coordinator", coord, "read the status API of the coordinator at this `URL` instead of the SQLite file (TIPOFF_COORDINATOR)")
	useToken := false
	fs.BoolVar(&useToken, "id-token", useToken, "call the coordinator with a Google ID token for its URL, from Application Default Credentials (Cloud Run with authentication)")
	dailyAt := ""
	b.env.String("TIPOFF_DAILY", &dailyAt)
	fs.StringVar(&dailyAt, "daily", dailyAt, "the schedule: the run starts every day at `HH:MM` league time, so a missing batch is overdue only after it (TIPOFF_DAILY)")
	grace := 10 * time.Minute
	fs.DurationVar(&grace, "grace", grace, "how long after the --daily time a missing batch is still not overdue")
	b.env.String("TIPOFF_EXPORT_DIR", &b.cfg.ExportDir)
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
	now := time.Now()
	date, err := predict.ParseDate(cfg.GameDate(now))
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	in := health.Input{Date: date, Run: run, Grace: grace, Now: now}
	if dailyAt != "" {
		d, err := pipeline.ParseDaily(dailyAt)
		if err != nil {
			return fmt.Errorf("health: %w", err)
		}
		in.Schedule = &health.Schedule{Hour: d.Hour, Minute: d.Minute, Location: pipeline.LeagueLocation()}
	}
	if grace < 0 {
		return fmt.Errorf("health: grace %v: want a duration of 0 or more", grace)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var rep health.Report
	if coord != "" {
		rep, err = healthFromCoordinator(ctx, coord, useToken, in)
		if err != nil {
			return err
		}
	} else {
		rep = healthFromDB(ctx, cfg, in)
	}
	rep.Finish()
	if *asJSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
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

// healthFromDB checks the SQLite file. A file that does not exist is
// reported unhealthy, and not created.
func healthFromDB(ctx context.Context, cfg Config, in health.Input) health.Report {
	source := "db " + cfg.DB
	if _, err := os.Stat(cfg.DB); err != nil {
		return withSource(emptyReport(in), source, health.Check{Name: "store", Level: health.Fail, Message: fmt.Sprintf("cannot read %s: %v", cfg.DB, err)})
	}
	app, err := openEmbedded(ctx, cfg, pipeline.Settings{}, nil, discardLogger())
	if err != nil {
		return withSource(emptyReport(in), source, health.Check{Name: "store", Level: health.Fail, Message: fmt.Sprintf("cannot open %s: %v", cfg.DB, err)})
	}
	defer app.Close()
	src := httpapi.NewStatus(app.statusConfig(func() time.Time { return in.Now }))
	return withSource(health.Assess(ctx, src, in), source, health.Check{Name: "store", Level: health.OK, Message: cfg.DB + " opened"})
}

// healthFromCoordinator checks through a coordinator's API.
func healthFromCoordinator(ctx context.Context, base string, useToken bool, in health.Input) (health.Report, error) {
	source := "coordinator " + base
	client, err := coordinatorClient(ctx, base, useToken)
	if err != nil {
		return health.Report{}, fmt.Errorf("health: %w", err)
	}
	info, err := client.Health(ctx)
	if err != nil {
		return withSource(emptyReport(in), source, health.Check{Name: "coordinator", Level: health.Fail, Message: fmt.Sprintf("%s does not answer: %v", base, err)}), nil
	}
	rep := health.Assess(ctx, client, in)
	if info.Status != http.StatusOK {
		return withSource(rep, source, health.Check{Name: "coordinator", Level: health.OK, Message: fmt.Sprintf("%s answers (GET /health: %d)", base, info.Status)}), nil
	}
	rep.Service = &info
	return withSource(rep, source, health.Check{Name: "coordinator", Level: health.OK, Message: fmt.Sprintf("%s answers: %s %s (commit %s)", base, orDash(info.Program), orDash(info.Version), orDash(info.Commit))}), nil
}

// emptyReport is the report of in's date when its source cannot be read.
func emptyReport(in health.Input) health.Report {
	return health.Report{Date: in.Date.String(), Run: in.Run, CheckedAt: in.Now}
}

// withSource names the source of rep and puts c, the check of the source
// itself, first. An OK c leaves the status as it is; the caller finishes
// the report again after a failing one.
func withSource(rep health.Report, source string, c health.Check) health.Report {
	rep.Source = source
	rep.Checks = slices.Insert(rep.Checks, 0, c)
	return rep
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// useColour reports whether stdout is a terminal that wants colour.
func useColour(m *Main) bool {
	if m.Getenv("NO_COLOR") != "" || m.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := m.Stdout.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
