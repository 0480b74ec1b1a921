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
	*envflag.FlagSet // binds a flag and its TIPOFF_* variable at once
	cfg              *Config
	env              *envflag.Source
	fs               *flag.FlagSet
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
	cfg, env := DefaultConfig(), envflag.New(m.Getenv)
	return fs, &flagBinder{FlagSet: envflag.NewFlagSet(fs, env), cfg: &cfg, env: env, fs: fs}
}

func (b *flagBinder) db() {
	b.String(&b.cfg.DB, "db", "TIPOFF_DB", "SQLite `file` holding data, batches, queue and published picks")
}

// operator binds --db, --coordinator and --id-token for a command that
// changes one batch (cancel, publish) on the SQLite file or through a
// coordinator.
func (b *flagBinder) operator(verb string) *operatorTarget {
	b.db()
	o := &operatorTarget{}
	b.String(&o.coord, "coordinator", "TIPOFF_COORDINATOR", verb+" through the coordinator at this `URL` instead of the SQLite file")
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

// dateVar binds a YYYY-MM-DD flag to d, noting in set that it was given.
func dateVar(fs *flag.FlagSet, d *predict.Date, set *bool, name, usage string) {
	fs.Func(name, usage, func(s string) (err error) { *d, err = predict.ParseDate(s); *set = true; return err })
}

func (b *flagBinder) date() {
	b.String(&b.cfg.Date, "date", "TIPOFF_DATE", "game `date` YYYY-MM-DD; default today in "+pipeline.LeagueTZ)
}

func (b *flagBinder) run() {
	b.String(&b.cfg.Run, "run", "TIPOFF_RUN", "run `label`: one batch per date and label")
}

func (b *flagBinder) work() {
	b.Int(&b.cfg.Workers, "workers", "TIPOFF_WORKERS", "worker goroutines `n`")
	b.Int(&b.cfg.Receive, "receive-batch", "TIPOFF_RECEIVE_BATCH", "requests a worker takes from the queue at a time, `n`")
	b.Duration(&b.cfg.Lease, "lease", "TIPOFF_LEASE", "how long a received request stays claimed by a process before another may take it over")
	b.Duration(&b.cfg.SweepEvery, "sweep-every", "TIPOFF_SWEEP_EVERY", "period of the sweeper that re-drives overdue items and enforces deadlines")
	b.String(&b.cfg.ExportDir, "export-dir", "TIPOFF_EXPORT_DIR", "`directory` for the day's picks export, <date>.json")
}

func (b *flagBinder) policy() {
	p := &b.cfg.Policy
	b.Duration(&b.cfg.Finalize, "finalize-lease", "TIPOFF_FINALIZE_LEASE", "how long a finalize may run before another process takes it over; the late one's writes are refused")
	b.Duration(&p.ItemTimeout, "item-timeout", "TIPOFF_ITEM_TIMEOUT", "re-drive a player's request after this long without an outcome")
	b.Int(&p.MaxAttempts, "max-attempts", "TIPOFF_MAX_ATTEMPTS", "times a request is dispatched before the player times out, or fails if its last request is dead-lettered")
	b.Duration(&p.Deadline, "deadline", "TIPOFF_DEADLINE", "the batch ends this long after it starts; players still missing time out")
	b.Float(&p.MinSuccessRatio, "min-success", "TIPOFF_MIN_SUCCESS", "share of players that must succeed for a batch with failures to be partial, not failed")
}

func (b *flagBinder) log() {
	b.String(&b.cfg.LogLevel, "log-level", "TIPOFF_LOG_LEVEL", "debug, info, warn or error")
	b.String(&b.cfg.LogFormat, "log-format", "TIPOFF_LOG_FORMAT", "text, or json for Cloud Logging")
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
	books := strings.Join(predict.DefaultBooks, ",")
	b.env.String("TIPOFF_BOOKS", &books)
	p.MinGames, p.MinMinutes = 3, 12
	b.Int(&p.MinGames, "min-games", "TIPOFF_MIN_GAMES", "select players who played at least `n` of their team's last 10 games")
	b.Float(&p.MinMinutes, "min-minutes", "TIPOFF_MIN_MINUTES", "select players averaging at least this many minutes in those games")
	parseBooks := func(s string) (err error) {
		p.Books, err = predict.ParseBooks(s)
		return err
	}
	b.Func("lines", "TIPOFF_LINES", "line variants: comma-separated offsets `k` adding base-k and base+k lines, e.g. 1,2 for five lines",
		func(s string) (err error) { p.Offsets, err = predict.ParseOffsets(s); return err })
	if err := parseBooks(books); err != nil {
		b.env.Fail(fmt.Errorf("TIPOFF_BOOKS: %w", err))
	}
	b.fs.Func("books", "bookmaker preference for the base line, comma-separated (TIPOFF_BOOKS; default "+books+")", parseBooks)
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
