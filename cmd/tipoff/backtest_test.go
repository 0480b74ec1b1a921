package main

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tipoff/predict"
	"tipoff/predict/systems"
)

// backtestJSON is what backtest --json prints.
type backtestJSON struct {
	From    string                `json:"from"`
	To      string                `json:"to"`
	Rows    int                   `json:"rows"`
	Pricing predict.Pricing       `json:"pricing"`
	Systems []predict.SystemScore `json:"systems"`
	Line    struct {
		Rows int     `json:"rows"`
		MAE  float64 `json:"mae"`
	} `json:"line"`
	Market predict.SystemScore `json:"market"`
}

func decodeBacktest(t *testing.T, out string) backtestJSON {
	t.Helper()
	var got backtestJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("backtest --json printed %q: %v", out, err)
	}
	var names []string
	for _, s := range systems.Default() {
		names = append(names, s.Name())
	}
	if len(got.Systems) != len(names) {
		t.Fatalf("got %d systems, want %v", len(got.Systems), names)
	}
	for i, s := range got.Systems {
		if s.Name != names[i] || s.Rows != got.Rows || s.Hits > s.Picks || s.HitRate < 0 || s.HitRate > 1 || s.MAE <= 0 {
			t.Fatalf("system %d: %+v (want %s over %d rows)", i, s, names[i], got.Rows)
		}
		checkScore(t, s, got.Rows)
		if s.Prob.Rows != got.Market.Prob.Rows || s.Prob.MarketBrier != got.Market.Prob.Brier {
			t.Fatalf("system %s scored on %d rows with market Brier %v; the reference on %d rows with %v",
				s.Name, s.Prob.Rows, s.Prob.MarketBrier, got.Market.Prob.Rows, got.Market.Prob.Brier)
		}
	}
	checkScore(t, got.Market, got.Rows)
	if got.Market.Prob.Brier != got.Market.Prob.MarketBrier || got.Market.Prob.LogLoss != got.Market.Prob.MarketLogLoss {
		t.Fatalf("the reference is the market itself, yet scores %+v", got.Market.Prob)
	}
	if got.Line.Rows != got.Rows || got.Line.MAE <= 0 {
		t.Fatalf("line: %+v over %d rows", got.Line, got.Rows)
	}
	return got
}

// checkScore checks that a system's figures hang together: probability
// scores in range, a reliability table that accounts for every priced row
// with each bucket's mean inside it, and picks whose stated probability,
// ROI and hit rate are possible.
func checkScore(t *testing.T, s predict.SystemScore, rows int) {
	t.Helper()
	p := s.Prob
	if p.Rows > rows || !(p.Brier >= 0 && p.Brier <= 1) || !(p.LogLoss >= 0) || !(p.MarketBrier >= 0 && p.MarketBrier <= 1) {
		t.Fatalf("%s: probability scores %+v out of range", s.Name, p)
	}
	n, booked := 0, 0
	for _, b := range s.Reliability {
		n += b.N
		if b.N > 0 && (b.Stated < b.Lo || b.Stated > b.Hi || b.Realized < 0 || b.Realized > 1) {
			t.Fatalf("%s: bucket %+v", s.Name, b)
		}
	}
	for _, b := range s.Books {
		booked += b.Rows
	}
	if len(s.Reliability) != predict.ReliabilityBuckets || n != p.Rows || booked != p.Rows {
		t.Fatalf("%s: %d buckets holding %d and books holding %d, for %d priced rows", s.Name, len(s.Reliability), n, booked, p.Rows)
	}
	if s.Picks > 0 && (!(s.Stated >= 0 && s.Stated <= 1) || s.ROI < -1 || s.ROI110 < -1 ||
		math.Abs(s.ROI110-(s.HitRate*(1+100.0/110)-1)) > 0.001) {
		t.Fatalf("%s: picks %+v: stated %v, ROI %v, at -110 %v", s.Name, s.Picks, s.Stated, s.ROI, s.ROI110)
	}
}

func TestBacktest_Synthetic(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "tipoff.db")
	importSynthetic(t, db, "--from", "2025-10-21", "--to", "2025-12-07")
	// A week with a 20-day calibration window keeps the three replays
	// quick; the default 60 days is the real-data test's.
	out, err := runMain(t, "backtest", "--db", db, "--from", "2025-12-01", "--to", "2025-12-07", "--window", "20", "--json")
	if err != nil {
		t.Fatal(err)
	}
	got := decodeBacktest(t, out)
	if got.From != "2025-12-01" || got.To != "2025-12-07" || got.Rows < 100 {
		t.Fatalf("got %s..%s with %d rows; want 2025-12-01..2025-12-07 with at least 100", got.From, got.To, got.Rows)
	}
	// The built binary repeats it (and prints the table) in another
	// process, at full speed.
	again, err := runBinary(t, "backtest", "--db", db, "--from", "2025-12-01", "--to", "2025-12-07", "--window", "20", "--json")
	if err != nil || again != out {
		t.Fatalf("a second backtest printed something else (%v)", err)
	}
	table, err := runBinary(t, "backtest", "--db", db, "--from", "2025-12-01", "--to", "2025-12-07", "--window", "20")
	if err != nil || !strings.Contains(table, "line (reference)") || !strings.Contains(table, "ensemble") || !strings.Contains(table, "reliability") {
		t.Fatalf("table output: %q, %v", table, err)
	}
	// A bookmaker the data lacks is refused, not a table of nothing.
	_, err = runBinary(t, "backtest", "--db", db, "--from", "2025-12-01", "--to", "2025-12-01", "--books", "nosuchbook")
	if err == nil || !strings.Contains(err.Error(), "nosuchbook") || !strings.Contains(err.Error(), "draftkings") {
		t.Fatalf("backtest --books nosuchbook: %v; want an error naming it and the data's books", err)
	}
}

func TestBacktest_Errors(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "tipoff.db")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no dates", []string{"backtest", "--db", db}, "--from and --to are required"},
		{"bad date", []string{"backtest", "--db", db, "--from", "2025-11-31", "--to", "2025-12-01"}, `flag -from: date "2025-11-31" is not a calendar date`},
		{"reversed", []string{"backtest", "--db", db, "--from", "2025-12-02", "--to", "2025-12-01"}, "before --from"},
		{"nothing imported", []string{"backtest", "--db", db, "--from", "2025-12-01", "--to", "2025-12-01"}, "tipoff import"},
		{"positional dates", []string{"backtest", "--db", db, "2025-12-01"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runMain(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

// Backtest opens the database read-only: a missing file is an error naming
// it and is not created, and a file that is not a tipoff database is left
// unwritten.
func TestBacktest_ReadOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing, empty := filepath.Join(dir, "missing.db"), filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{missing, empty} {
		_, err := runMain(t, "backtest", "--db", path, "--from", "2025-12-01", "--to", "2025-12-01")
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("backtest --db %s: %v; want an error naming the file", path, err)
		}
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("backtest created %s: %v", missing, err)
	}
	if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 {
		t.Errorf("backtest wrote %s: %v", empty, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("backtest left %d files in %s, want only %s", len(entries), dir, filepath.Base(empty))
	}
}

// TestBacktest_RealData imports all of the real data and backtests
// November and December 2025: the numbers predict/README.md quotes. It
// checks that the stated probabilities are honest: every reliability bucket
// of 100+ predictions is within 4 points of its realized rate, the picks of
// every system that picks are within 2 points of their hit rate on average,
// and the best system's P(over) scores a Brier no worse than the market's
// vig-free price on the DraftKings lines. Over this period no system's
// walk-forward record earns it picks (see predict/README.md), so the second
// holds because every system passes; the test holds any system that does
// pick to it all the same.
func TestBacktest_RealData(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("imports the whole real data set")
	}
	db := realDataDB(t)
	start := time.Now()
	out, err := runMain(t, "backtest", "--db", db, "--from", "2025-11-01", "--to", "2025-12-31", "--json")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backtest took %v", time.Since(start))
	got := decodeBacktest(t, out)
	t.Logf("rows %d, line MAE %.3f", got.Rows, got.Line.MAE)
	if got.Rows < 4000 {
		t.Errorf("only %d graded rows with a real line", got.Rows)
	}
	bestDK, marketDK := 1.0, 0.0
	for _, s := range append(got.Systems, got.Market) {
		t.Logf("%-12s MAE %.3f Brier %.4f (market %.4f) picks %4d stated %.3f hit rate %.3f ROI %+.3f",
			s.Name, s.MAE, s.Prob.Brier, s.Prob.MarketBrier, s.Picks, s.Stated, s.HitRate, s.ROI)
		if s.Picks > 0 && math.Abs(s.Stated-s.HitRate) > 0.02 {
			t.Errorf("%s: picks state %.3f on average but won %.3f", s.Name, s.Stated, s.HitRate)
		}
		for _, b := range s.Reliability {
			if b.N >= 100 && math.Abs(b.Stated-b.Realized) > 0.04 {
				t.Errorf("%s: %d predictions stated at %.3f went over %.3f of the time", s.Name, b.N, b.Stated, b.Realized)
			}
		}
		for _, b := range s.Books {
			if b.Book == "draftkings" && b.Brier < bestDK {
				bestDK, marketDK = b.Brier, b.MarketBrier
			}
		}
	}
	buckets := 0
	for _, b := range got.Systems[0].Reliability {
		if b.N >= 100 {
			buckets++
		}
	}
	if buckets < 2 {
		t.Errorf("%d reliability buckets of 100+ predictions: the check above checks little", buckets)
	}
	if marketDK == 0 || bestDK > marketDK {
		t.Errorf("best Brier on DraftKings lines %.4f, market %.4f: no system matches the market", bestDK, marketDK)
	}
}
