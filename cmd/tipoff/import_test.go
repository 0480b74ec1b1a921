package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tipoff/dataimport"
	"tipoff/predict"
)

func TestImport_Synthetic(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "tipoff.db")
	// A few weeks: what is checked does not depend on the league's size.
	args := []string{"import", "--db", db, "--synthetic", "--seed", "3", "--from", "2025-10-21", "--to", "2025-11-05"}
	out, err := runMain(t, args...)
	if err != nil || !strings.Contains(out, "imported data set sha256:") {
		t.Fatalf("first import: %q, %v", out, err)
	}
	out, err = runMain(t, args...)
	if err != nil || !strings.Contains(out, "nothing to do") {
		t.Fatalf("second import of the same data: %q, %v; want nothing to do", out, err)
	}
	args[5] = "4" // another seed replaces the data
	out, err = runMain(t, args...)
	if err != nil || !strings.Contains(out, "imported data set") {
		t.Fatalf("import of another seed: %q, %v", out, err)
	}
}

func TestImport_Errors(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "tipoff.db")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"nothing to import", []string{"import", "--db", db}, "want one data directory or --synthetic"},
		{"both", []string{"import", "--db", db, "--synthetic", t.TempDir()}, "not both"},
		{"empty directory", []string{"import", "--db", db, t.TempDir()}, "schedule.csv"},
		{"bad date", []string{"import", "--db", db, "--synthetic", "--from", "2025-13-01"}, `flag -from: date "2025-13-01" is not a calendar date`},
		{"dates without synthetic", []string{"import", "--db", db, "--from", "2025-10-01", t.TempDir()}, "only apply with --synthetic"},
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

// A directory whose game logs file has only its header would wipe the
// stored game logs: the import is refused, naming the file and the counts,
// and nothing stored changes; --allow-shrink lets it through.
func TestImport_RefusesShrink(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "tipoff.db")
	synth := []string{"import", "--db", db, "--synthetic", "--seed", "3", "--from", "2025-10-21", "--to", "2025-11-05"}
	importSynthetic(t, db, synth[4:]...)
	league, err := dataimport.Synthetic(3, dataimport.SyntheticOptions{From: predict.MustParseDate("2025-10-21"), To: predict.MustParseDate("2025-11-05")})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	g := league.Games()[0]
	for name, body := range map[string]string{
		"schedule.csv": "season,season_type,game_date,game_id,away_abbr,home_abbr,away_pts,home_pts,has_box_scores\n" +
			fmt.Sprintf("%s,%s,%s,%s,%s,%s,%d,%d,1\n", g.Season, g.SeasonType, g.Date, g.ID, g.Away, g.Home, g.AwayPts, g.HomePts),
		"player_game_logs.csv": "season,season_type,game_id,game_date,player_id,player_name,team_abbr,opp_abbr,home_away,starter,played,minutes,pts\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err = runMain(t, "import", "--db", db, dir)
	if err == nil {
		t.Fatal("import of a header-only game logs file succeeded")
	}
	for _, want := range []string{fmt.Sprintf("player_game_logs.csv: 0 game logs, %d stored", len(league.Logs())),
		fmt.Sprintf("schedule.csv: 1 games, %d stored", len(league.Games())), "--allow-shrink"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// The stored data set is still the league's.
	if out, err := runMain(t, synth...); err != nil || !strings.Contains(out, "nothing to do") {
		t.Fatalf("re-import of the stored league after the refusal: %q, %v; want nothing to do", out, err)
	}
	out, err := runMain(t, "import", "--db", db, "--allow-shrink", dir)
	if err != nil || !strings.Contains(out, "1 games, 0 game logs") {
		t.Fatalf("import with --allow-shrink: %q, %v", out, err)
	}
}

// status only reads: a mistyped --db is an error and creates no file, and
// on an existing file it reads what import wrote.
func TestStatus_OpensReadOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.db")
	_, err := runMain(t, "status", "--db", typo, "--date", "2025-11-01")
	if err == nil || !strings.Contains(err.Error(), "typo.db") || !strings.Contains(err.Error(), "no such database") {
		t.Fatalf("status of a missing file: got %v, want an error naming typo.db as missing", err)
	}
	if _, err := os.Stat(typo); !os.IsNotExist(err) {
		t.Fatalf("status created %s (stat: %v)", typo, err)
	}
	db := filepath.Join(dir, "tipoff.db")
	importSynthetic(t, db, "--seed", "3", "--from", "2025-10-21", "--to", "2025-11-15")
	out, err := runMain(t, "status", "--db", db, "--date", "2025-11-01", "--json")
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Fatalf("status of a file without batches: %q, %v; want []", out, err)
	}
}
