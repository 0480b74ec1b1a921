package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"tipoff/httpapi"
	"tipoff/internal/envflag"
	"tipoff/pipeline"
	"tipoff/predict"
)

// flags binds the settings a subcommand uses to fs, with defaults read from
// the environment. which lists the groups: "db", "date", "run", "work",
// "policy", "log".
type flagBinder struct {
	cfg *Config
	env *envflag.Source
	fs  *flag.FlagSet
	// checks validate settings bound outside Config once flags are parsed.
	checks []func() error
}

func newFlagSet(m *Main, name, usage string) (*flag.FlagSet, *flagBinder) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nFlags (each also settable by the TIPOFF_* variable named in it):\n", strings.TrimSpace(usage))
		fs.PrintDefaults()
	}
	cfg := DefaultConfig()
	return fs, &flagBinder{cfg: &cfg, env: envflag.New(m.Getenv), fs: fs}
}

func (b *flagBinder) db() {
	b.env.String("TIPOFF_DB", &b.cfg.DB)
	b.fs.StringVar(&b.cfg.DB, "db", b.cfg.DB, "SQLite `file` holding data, batches, queue and published picks (TIPOFF_DB)")
}

// operator binds --db, --coordinator and --id-token for a command that
// changes one batch (cancel, publish) on the SQLite file or through a
// coordinator.
func (b *flagBinder) operator(verb string) *operatorTarget {
	b.db()
	o := &operatorTarget{}
	b.env.String("TIPOFF_COORDINATOR", &o.coord)
	b.fs.StringVar(&o.coord, "coordinator", o.coord, verb+" through the coordinator at this `URL` instead of the SQLite file (TIPOFF_COORDINATOR)")
	b.fs.BoolVar(&o.token, "id-token", false, "call the coordinator with a Google ID token for its URL, from Application Default Credentials")
	return o
}

// operatorTarget is where an operator's command acts.
type operatorTarget struct {
	coord string
	token bool
}

// open returns a client of the coordinator when one is named, or else the
// embedded shape on the file, which must exist (the caller closes it).
func (o *operatorTarget) open(ctx context.Context, m *Main, cfg Config) (*httpapi.Client, *embedded, error) {
	if o.coord != "" {
		c, err := httpapi.NewClient(ctx, o.coord, o.token, m.Getenv("TIPOFF_TOKEN"))
		return c, nil, err
	}
	if _, err := os.Stat(cfg.DB); err != nil {
		return nil, nil, err
	}
	app, err := openEmbedded(ctx, cfg, pipeline.Settings{}, nil, cfg.Logger(m.Stderr, ""))
	return nil, app, err
}

func (b *flagBinder) date() {
	b.env.String("TIPOFF_DATE", &b.cfg.Date)
	b.fs.StringVar(&b.cfg.Date, "date", b.cfg.Date, "game `date` YYYY-MM-DD; default today in "+pipeline.LeagueTZ+" (TIPOFF_DATE)")
}

func (b *flagBinder) run() {
	b.env.String("TIPOFF_RUN", &b.cfg.Run)
	b.fs.StringVar(&b.cfg.Run, "run", b.cfg.Run, "run `label`: one batch per date and label (TIPOFF_RUN)")
}

func (b *flagBinder) work() {
	b.env.Int("TIPOFF_WORKERS", &b.cfg.Workers)
	b.env.Int("TIPOFF_RECEIVE_BATCH", &b.cfg.Receive)
	b.env.Duration("TIPOFF_LEASE", &b.cfg.Lease)
	b.env.Duration("TIPOFF_SWEEP_EVERY", &b.cfg.SweepEvery)
	b.env.String("TIPOFF_EXPORT_DIR", &b.cfg.ExportDir)
	b.fs.IntVar(&b.cfg.Workers, "workers", b.cfg.Workers, "worker goroutines `n` (TIPOFF_WORKERS)")
	b.fs.IntVar(&b.cfg.Receive, "receive-batch", b.cfg.Receive, "requests a worker takes from the queue at a time, `n` (TIPOFF_RECEIVE_BATCH)")
	b.fs.DurationVar(&b.cfg.Lease, "lease", b.cfg.Lease, "how long a received request stays claimed by a process before another may take it over (TIPOFF_LEASE)")
	b.fs.DurationVar(&b.cfg.SweepEvery, "sweep-every", b.cfg.SweepEvery, "period of the sweeper that re-drives overdue items and enforces deadlines (TIPOFF_SWEEP_EVERY)")
	b.fs.StringVar(&b.cfg.ExportDir, "export-dir", b.cfg.ExportDir, "`directory` for the day's picks export, <date>.json (TIPOFF_EXPORT_DIR)")
}

func (b *flagBinder) policy() {
	p := &b.cfg.Policy
	b.env.Duration("TIPOFF_ITEM_TIMEOUT", &p.ItemTimeout)
	b.env.Int("TIPOFF_MAX_ATTEMPTS", &p.MaxAttempts)
	b.env.Duration("TIPOFF_DEADLINE", &p.Deadline)
	b.env.Float("TIPOFF_MIN_SUCCESS", &p.MinSuccessRatio)
	b.env.Duration("TIPOFF_FINALIZE_LEASE", &b.cfg.Finalize)
	b.fs.DurationVar(&b.cfg.Finalize, "finalize-lease", b.cfg.Finalize, "how long a finalize may run before another process takes it over; the late one's writes are refused (TIPOFF_FINALIZE_LEASE)")
	b.fs.DurationVar(&p.ItemTimeout, "item-timeout", p.ItemTimeout, "re-drive a player's request after this long without an outcome (TIPOFF_ITEM_TIMEOUT)")
	b.fs.IntVar(&p.MaxAttempts, "max-attempts", p.MaxAttempts, "times a request is dispatched before the player times out, or fails if its last request is dead-lettered (TIPOFF_MAX_ATTEMPTS)")
	b.fs.DurationVar(&p.Deadline, "deadline", p.Deadline, "the batch ends this long after it starts; players still missing time out (TIPOFF_DEADLINE)")
	b.fs.Float64Var(&p.MinSuccessRatio, "min-success", p.MinSuccessRatio, "share of players that must succeed for a batch with failures to be partial, not failed (TIPOFF_MIN_SUCCESS)")
}

func (b *flagBinder) log() {
	b.env.String("TIPOFF_LOG_LEVEL", &b.cfg.LogLevel)
	b.env.String("TIPOFF_LOG_FORMAT", &b.cfg.LogFormat)
	b.fs.StringVar(&b.cfg.LogLevel, "log-level", b.cfg.LogLevel, "debug, info, warn or error (TIPOFF_LOG_LEVEL)")
	b.fs.StringVar(&b.cfg.LogFormat, "log-format", b.cfg.LogFormat, "text, or json for Cloud Logging (TIPOFF_LOG_FORMAT)")
}

// parse parses args and validates the result, returning every problem.
func (b *flagBinder) parse(args []string) (Config, error) {
	if err := b.fs.Parse(args); err != nil {
		return Config{}, err
	}
	errs := b.env.Errs()
	if err := b.cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, check := range b.checks {
		if err := check(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("%s: %w", b.fs.Name(), errors.Join(errs...))
	}
	return *b.cfg, nil
}

// predictConfig is what the prediction job is tuned by.
type predictConfig struct {
	Offsets    []float64 // base ± k line variants
	Books      []string  // bookmaker preference
	MinGames   int
	MinMinutes float64
}

func (b *flagBinder) predict(p *predictConfig) {
	offsets, books := "", strings.Join(predict.DefaultBooks, ",")
	b.env.String("TIPOFF_LINES", &offsets)
	b.env.String("TIPOFF_BOOKS", &books)
	p.MinGames, p.MinMinutes = 3, 12
	b.env.Int("TIPOFF_MIN_GAMES", &p.MinGames)
	b.env.Float("TIPOFF_MIN_MINUTES", &p.MinMinutes)
	parseOffsets := func(s string) (err error) {
		p.Offsets, err = predict.ParseOffsets(s)
		return err
	}
	parseBooks := func(s string) (err error) {
		p.Books, err = predict.ParseBooks(s)
		return err
	}
	if err := parseOffsets(offsets); err != nil {
		b.env.Fail(fmt.Errorf("TIPOFF_LINES: %w", err))
	}
	if err := parseBooks(books); err != nil {
		b.env.Fail(fmt.Errorf("TIPOFF_BOOKS: %w", err))
	}
	b.fs.Func("lines", "line variants: comma-separated offsets `k` adding base-k and base+k lines, e.g. 1,2 for five lines (TIPOFF_LINES)", parseOffsets)
	b.fs.Func("books", "bookmaker preference for the base line, comma-separated (TIPOFF_BOOKS; default "+books+")", parseBooks)
	b.fs.IntVar(&p.MinGames, "min-games", p.MinGames, "select players who played at least `n` of their team's last 10 games (TIPOFF_MIN_GAMES)")
	b.fs.Float64Var(&p.MinMinutes, "min-minutes", p.MinMinutes, "select players averaging at least this many minutes in those games (TIPOFF_MIN_MINUTES)")
	b.checks = append(b.checks, func() error {
		return predict.SelectOptions{MinGames: p.MinGames, MinMinutes: p.MinMinutes}.Validate()
	})
}

// settings returns the run settings of cfg and p: what a new batch is built
// with unless a start request's options say otherwise.
func (p predictConfig) settings(cfg Config) pipeline.Settings {
	return pipeline.Settings{Run: cfg.Run, Policy: cfg.Policy,
		Select:  predict.SelectOptions{MinGames: p.MinGames, MinMinutes: p.MinMinutes},
		Request: predict.RequestOptions{Offsets: p.Offsets, Books: p.Books}}
}
