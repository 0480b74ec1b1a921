package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"tipoff/dataimport"
	"tipoff/predict"
	"tipoff/predict/systems"
	"tipoff/sqlite"
)

const backtestUsage = `Usage: tipoff backtest --from DATE --to DATE [flags]

Replays every date from --from to --to (inclusive) as the daily batch would:
selects the players, builds each request from data strictly before that
date, runs every prediction system, and grades the predictions against the
points actually scored. For each system it prints the mean absolute error
and bias (predicted minus actual) of its points, and the hit rate of its
OVER/UNDER picks against the real sportsbook line (pushes and players who
did not play are void). The sportsbook line itself is graded the same way
as a reference predictor. Only player-games with a real line whose player
played count as rows.

The data comes from the SQLite file (see "tipoff import"), or with --data
straight from a CSV directory.`

// backtestJSON is the --json output.
type backtestJSON struct {
	From    string                `json:"from"`
	To      string                `json:"to"`
	Rows    int                   `json:"rows"`
	Systems []predict.SystemScore `json:"systems"`
	Line    struct {
		Rows int     `json:"rows"`
		MAE  float64 `json:"mae"`
	} `json:"line"`
}

// runBacktest is the "backtest" subcommand.
func runBacktest(ctx context.Context, m *Main, args []string) error {
	fs, b := newFlagSet(m, "backtest", backtestUsage)
	b.db()
	fromS := fs.String("from", "", "first game `date` YYYY-MM-DD (required)")
	toS := fs.String("to", "", "last game `date` YYYY-MM-DD (required)")
	dir := fs.String("data", "", "read the data from this CSV `directory` instead of the SQLite file")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	books := fs.String("books", strings.Join(predict.DefaultBooks, ","), "bookmaker preference for the real line, comma-separated `list`")
	cfg, err := b.parse(args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("backtest: unexpected arguments %q (dates go in --from and --to)", fs.Args())
	}
	from, err1 := predict.ParseDate(*fromS)
	to, err2 := predict.ParseDate(*toS)
	switch {
	case *fromS == "" || *toS == "":
		fs.Usage()
		return fmt.Errorf("backtest: --from and --to are required")
	case err1 != nil:
		return fmt.Errorf("backtest: --from: %w", err1)
	case err2 != nil:
		return fmt.Errorf("backtest: --to: %w", err2)
	case to < from:
		return fmt.Errorf("backtest: --to %s is before --from %s", to, from)
	}
	var bookList []string
	for _, s := range strings.Split(*books, ",") {
		if s = strings.TrimSpace(s); s != "" {
			bookList = append(bookList, s)
		}
	}
	if len(bookList) == 0 {
		return fmt.Errorf("backtest: --books %q names no bookmaker", *books)
	}
	start := time.Now()
	var ds *predict.Dataset
	if *dir != "" {
		ds, err = dataimport.ReadDir(*dir)
	} else {
		var db *sqlite.DB
		db, err = sqlite.Open(ctx, cfg.DB)
		if err != nil {
			return fmt.Errorf("backtest: %w", err)
		}
		ds, err = db.LoadDataset(ctx)
		db.Close()
	}
	if err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	loaded := time.Since(start)
	rep, err := predict.Backtest(ds, from, to, systems.Default(), predict.BacktestOptions{
		Select:  predict.SelectOptions{Books: bookList},
		Request: predict.RequestOptions{Books: bookList},
	})
	if err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	if *asJSON {
		out := backtestJSON{From: from.String(), To: to.String(), Rows: rep.Rows, Systems: rep.Systems}
		out.Line.Rows, out.Line.MAE = rep.Line.Rows, rep.Line.MAE
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(m.Stdout, "backtest %s..%s on data set %s: %d graded player-games with a real line (%d requests)\n",
		from, to, ds.Version(), rep.Rows, rep.Requests)
	fmt.Fprintf(m.Stdout, "loaded in %.1fs, replayed in %.1fs\n\n", loaded.Seconds(), (time.Since(start) - loaded).Seconds())
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\trows\tMAE\tbias\tpicks\thits\thit rate\t")
	for _, s := range rep.Systems {
		rate := "-"
		if s.Picks > 0 {
			rate = strconv.FormatFloat(100*s.HitRate, 'f', 1, 64) + "%"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%+.3f\t%d\t%d\t%s\t\n", s.Name, s.Rows, s.MAE, s.Bias, s.Picks, s.Hits, rate)
	}
	fmt.Fprintf(tw, "line (reference)\t%d\t%.3f\t%+.3f\t-\t-\t-\t\n", rep.Line.Rows, rep.Line.MAE, rep.Line.Bias)
	tw.Flush()
	fmt.Fprintln(m.Stdout, "\nbias is predicted minus actual points; break-even hit rate at -110 odds is 52.4%.")
	return nil
}
