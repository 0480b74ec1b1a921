package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tipoff/predict/systems"
)

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
	}
	if got.Line.Rows != got.Rows || got.Line.MAE <= 0 {
		t.Fatalf("line: %+v over %d rows", got.Line, got.Rows)
	}
	return got
}

func TestBacktest_Synthetic(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "tipoff.db")
	if _, err := runMain(t, "import", "--db", db, "--synthetic", "--from", "2025-10-21", "--to", "2025-12-31"); err != nil {
		t.Fatal(err)
	}
	out, err := runMain(t, "backtest", "--db", db, "--from", "2025-12-01", "--to", "2025-12-14", "--json")
	if err != nil {
		t.Fatal(err)
	}
	got := decodeBacktest(t, out)
	if got.From != "2025-12-01" || got.To != "2025-12-14" || got.Rows < 100 {
		t.Fatalf("got %s..%s with %d rows; want 2025-12-01..2025-12-14 with at least 100", got.From, got.To, got.Rows)
	}
	again, err := runMain(t, "backtest", "--db", db, "--from", "2025-12-01", "--to", "2025-12-14", "--json")
	if err != nil || again != out {
		t.Fatalf("a second backtest printed something else (%v)", err)
	}
	table, err := runMain(t, "backtest", "--db", db, "--from", "2025-12-01", "--to", "2025-12-14")
	if err != nil || !strings.Contains(table, "line (reference)") || !strings.Contains(table, "ensemble") {
		t.Fatalf("table output: %q, %v", table, err)
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
		{"bad date", []string{"backtest", "--db", db, "--from", "2025-11-31", "--to", "2025-12-01"}, "--from"},
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

// TestBacktest_RealData imports all of the real data and backtests
// November and December 2025: the numbers predict/README.md quotes. It
// checks the accuracy target on rows with a real line: the best
// line-aware system's MAE within 0.10 of the line's, and a hit rate above
// the -110 break-even (52.4 %) on at least 500 picks.
func TestBacktest_RealData(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("imports the whole real data set")
	}
	dir := realData(t)
	db := filepath.Join(t.TempDir(), "tipoff.db")
	start := time.Now()
	if _, err := runMain(t, "import", "--db", db, dir); err != nil {
		t.Fatal(err)
	}
	t.Logf("import took %v", time.Since(start))
	start = time.Now()
	out, err := runMain(t, "backtest", "--db", db, "--from", "2025-11-01", "--to", "2025-12-31", "--json")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backtest took %v", time.Since(start))
	got := decodeBacktest(t, out)
	t.Logf("rows %d, line MAE %.3f", got.Rows, got.Line.MAE)
	met := false
	for _, s := range got.Systems {
		t.Logf("%-9s MAE %.3f bias %+.3f picks %4d hits %4d hit rate %.3f", s.Name, s.MAE, s.Bias, s.Picks, s.Hits, s.HitRate)
		if s.MAE <= got.Line.MAE+0.10 && s.Picks >= 500 && s.HitRate > 0.524 {
			met = true
		}
	}
	if got.Rows < 4000 {
		t.Errorf("only %d graded rows with a real line", got.Rows)
	}
	if !met {
		t.Errorf("no system is within 0.10 of the line's MAE with a hit rate above 52.4%% on 500+ picks")
	}
}
