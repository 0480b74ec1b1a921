package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"tipoff/dataimport"
	"tipoff/predict"
	"tipoff/predict/systems"
	"tipoff/sqlite"
)

const backtestUsage = `Usage: tipoff backtest --from DATE --to DATE [flags]

Replays every date from --from to --to (inclusive) as the daily batch would:
selects the players, builds each request from data strictly before that
date, fits the date's calibration on the graded predictions of the --window
days before it, runs every prediction system, and grades the predictions
against the points actually scored. Only player-games with a real line
whose player played count as rows.

For each system it prints the mean absolute error and bias (predicted minus
actual) of its points; the Brier score and log loss of its calibrated
P(over) on the lines with prices, beside the market's vig-free probability
on the same rows; its OVER/UNDER picks (a side is picked only when its
expected value at the offered price reaches --min-ev), their mean stated
probability, hit rate, and return per unit staked at the offered odds and
at -110 (pushes and players who did not play are void). The sportsbook
line is the reference: its vig-free probability is scored, priced and
picked the same way. Then a reliability table per system: predictions by
stated P(over), the mean stated and the share that went over.

The data comes from the SQLite file (see "tipoff import"), or with --data
straight from a CSV directory.`

// runBacktest is the "backtest" subcommand.
func runBacktest(ctx context.Context, m *Main, args []string) error {
	fs, b := newFlagSet(m, "backtest", backtestUsage)
	b.db()
	var from, to predict.Date
	var fromSet, toSet bool
	dateVar(fs, &from, &fromSet, "from", "first game `date` YYYY-MM-DD (required)")
	dateVar(fs, &to, &toSet, "to", "last game `date` YYYY-MM-DD (required)")
	dir := fs.String("data", "", "read the data from this CSV `directory` instead of the SQLite file")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	books := fs.String("books", strings.Join(predict.DefaultBooks, ","), "bookmaker preference for the real line, comma-separated `list`")
	pricing := predict.DefaultPricing()
	fs.Float64Var(&pricing.MinEV, "min-ev", pricing.MinEV, "pick a side only when its expected profit per unit staked at the offered price reaches `ev`")
	fs.BoolVar(&pricing.BestPrice, "best-price", pricing.BestPrice, "price each side at the best odds among the books offering the same line")
	fs.BoolVar(&pricing.Consensus, "consensus", pricing.Consensus, "take the market probability as the mean vig-free probability of every book offering the line")
	window := fs.Int("window", predict.DefaultCalibrationWindow, "fit each date's calibration on the graded predictions of this many `days` before it")
	ridge := fs.Float64("ridge", predict.DefaultRidge, "`weight` of the penalty holding the calibration to the market price")
	moveRidge := fs.Float64("move-ridge", predict.DefaultMoveRidge, "`weight` of the penalty holding the stated move away from the price to zero")
	ungated := fs.Bool("ungated", false, "let every system pick whatever its past picks' record (to measure the gate)")
	cfg, err := b.parse(args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("backtest: unexpected arguments %q (dates go in --from and --to)", fs.Args())
	}
	switch {
	case !fromSet || !toSet:
		fs.Usage()
		return fmt.Errorf("backtest: --from and --to are required")
	case to < from:
		return fmt.Errorf("backtest: --to %s is before --from %s", to, from)
	case !(pricing.MinEV >= 0 && pricing.MinEV < 1):
		return fmt.Errorf("backtest: --min-ev %v is outside [0,1)", pricing.MinEV)
	case *window < 1:
		return fmt.Errorf("backtest: --window %d is below 1 day", *window)
	case !(*ridge > 0 && *moveRidge > 0):
		return fmt.Errorf("backtest: --ridge %v or --move-ridge %v is not above 0", *ridge, *moveRidge)
	}
	bookList, err := predict.ParseBooks(*books)
	if err != nil {
		return fmt.Errorf("backtest: --books %q: %w", *books, err)
	}
	start := time.Now()
	var ds *predict.Dataset
	if *dir != "" {
		ds, err = dataimport.ReadDir(*dir)
	} else {
		var db *sqlite.DB
		// Read-only: a mistyped --db must not create an empty database.
		db, err = sqlite.OpenReadOnly(ctx, cfg.DB)
		if err != nil {
			return fmt.Errorf("backtest: %w (check --db or TIPOFF_DB; \"tipoff import\" makes one)", err)
		}
		ds, err = db.LoadDataset(ctx)
		db.Close()
	}
	if err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	if err := ds.CheckBooks(bookList); err != nil {
		return fmt.Errorf("backtest: --books: %w", err)
	}
	loaded := time.Since(start)
	rep, err := predict.Backtest(ds, from, to, systems.Default(), predict.BacktestOptions{
		Select:  predict.SelectOptions{Books: bookList},
		Request: predict.RequestOptions{Books: bookList, Pricing: &pricing},
		Window:  *window,
		Ridge:   *ridge, MoveRidge: *moveRidge, Ungated: *ungated,
	})
	if err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	if *asJSON {
		return rep.WriteJSON(m.Stdout, pricing)
	}
	fmt.Fprintf(m.Stdout, "backtest %s..%s on data set %s: %d graded player-games with a real line (%d requests)\n",
		from, to, ds.Version(), rep.Rows, rep.Requests)
	fmt.Fprintf(m.Stdout, "loaded in %.1fs, replayed in %.1fs; picks need EV >= %+.3f per unit at the %s price\n\n",
		loaded.Seconds(), (time.Since(start) - loaded).Seconds(), pricing.MinEV, map[bool]string{false: "base book's", true: "best book's"}[pricing.BestPrice])
	rep.WriteTables(m.Stdout)
	return nil
}
