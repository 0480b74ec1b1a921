// Command tipoff runs the daily NBA player-points prediction batch. See
// "tipoff help" for its subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"text/tabwriter"

	"tipoff/internal/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := NewMain().Run(ctx, os.Args[1:])
	stop()
	var ec exitCodeError
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case errors.As(err, &ec):
		if ec.err != nil {
			fmt.Fprintln(os.Stderr, "tipoff:", ec.err)
		}
		os.Exit(ec.code)
	case err != nil:
		fmt.Fprintln(os.Stderr, "tipoff:", err)
		os.Exit(1)
	}
}

// exitCodeError asks main to exit with a specific code (e.g. health's
// 1 unhealthy / 2 degraded), printing err if it is not nil.
type exitCodeError struct {
	code int
	err  error
}

func (e exitCodeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e exitCodeError) Unwrap() error { return e.err }

// Main holds the program's wiring and its standard streams, so tests can run
// whole commands in one process.
type Main struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment; tests replace it.
	Getenv func(string) string
}

// NewMain returns a Main on the process's streams and environment.
func NewMain() *Main {
	return &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// command is one subcommand: it parses its own flags from args.
type command struct {
	name     string
	synopsis string
	run      func(ctx context.Context, m *Main, args []string) error
}

// commands lists the subcommands; each is defined in its own file.
func commands() []command {
	cs := []command{
		{"version", "print the program's version and commit", runVersion},
		{"run", "run one day's prediction batch on this machine and wait for it", runRun},
		{"demo", "run a day's batch on a synthetic league (no data needed)", runDemo},
		{"status", "show a batch's progress and the players still missing", runStatus},
		{"health", "check a date's batch from state: exit 0 healthy, 1 unhealthy, 2 degraded", runHealth},
		{"worker", "run prediction workers: a process on the SQLite file, or (--cloud) the cloud worker service", runWorker},
		{"coordinator", "run the cloud coordinator service: Firestore, Pub/Sub, /start, pushes, status", runCoordinator},
		{"serve", "run the embedded coordinator, status pages and daily schedule", runServe},
		{"import", "import a data directory (or a synthetic league) into the SQLite file", runImport},
		{"backtest", "replay a date range and grade every system against real lines", runBacktest},
		{"data", "push a data directory to Cloud Storage as the coordinator's new data version", runData},
		{"cancel", "end a running batch now as cancelled (SQLite file, or a coordinator)", runCancel},
		{"publish", "make a finalized batch the date's published picks, pinned (SQLite file, or a coordinator)", runPublish},
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	return cs
}

// Run runs the subcommand named by args[0].
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			// Help that was asked for is not an error.
			if err := m.Run(ctx, []string{args[1], "-help"}); !errors.Is(err, flag.ErrHelp) {
				return err
			}
			return nil
		}
		m.usage(m.Stdout)
		if len(args) == 0 {
			return flag.ErrHelp
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, m, args[1:])
		}
	}
	m.usage(m.Stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func (m *Main) usage(w io.Writer) {
	fmt.Fprint(w, `tipoff runs the daily NBA player-points prediction batch: it selects the
players with a game on a date, predicts each one's points with several
systems, and publishes the day's OVER/UNDER picks exactly once.

Usage: tipoff <command> [flags]   ("tipoff help <command>" for its flags)

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.synopsis)
	}
	tw.Flush()
}

// version and commit are stamped by the build (the Dockerfile passes
// -ldflags "-X main.version=... -X main.commit=..."); empty means unstamped.
var version, commit string

// Version returns the version and VCS revision the binary was built from:
// as stamped by the build, else as the Go toolchain recorded them.
func Version() (v, c string) { return buildinfo.Version(version, commit) }

func runVersion(ctx context.Context, m *Main, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	v, c := Version()
	fmt.Fprintf(m.Stdout, "tipoff %s (commit %s)\n", v, c)
	return nil
}
