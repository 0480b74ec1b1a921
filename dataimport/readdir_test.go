package dataimport_test

import (
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/predict"
)

const (
	scheduleCSV = `season,season_type,game_date,game_id,away_abbr,home_abbr,away_pts,home_pts,total_pts,has_box_scores,source
2024-25,Regular Season,2025-01-01,g1,BBB,AAA,100,110,210,1,x
2024-25,Regular Season,2025-01-05,,CCC,AAA,,,,0,x
`
	logsCSV = `season,season_type,game_id,game_date,player_id,player_name,team_id,team_abbr,opp_abbr,home_away,starter,played,dnp_reason,minutes,pts,reb,oreb,dreb,ast,stl,blk,tov,pf,fgm,fga,fg3m,fg3a,ftm,fta,plus_minus
2024-25,Regular Season,g1,2025-01-01,p1,Player One,1,AAA,BBB,H,1,1,,30.50,20,5,1,4,3,1,0,2,2,8,15,2,5,2,2,7
2024-25,Regular Season,g1,2025-01-01,p2,Player Two,1,AAA,BBB,H,0,0,DNP - Coach's Decision,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0
`
	propsCSV = `game_date,season,game_id,player_id,team_abbr,bookmaker,line,over_odds,under_odds,is_main_line,source
2025-01-05,2024-25,,p1,AAA,draftkings,18.5,-110,-110,1,test
`
)

func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		path := filepath.Join(dir, name)
		if strings.HasSuffix(name, ".gz") {
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			zw := gzip.NewWriter(f)
			zw.Write([]byte(body))
			zw.Close()
			f.Close()
			continue
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReadDir(t *testing.T) {
	t.Parallel()
	dir := writeDir(t, map[string]string{
		"schedule.csv": scheduleCSV, "player_game_logs.csv.gz": logsCSV, "props_points_test.csv": propsCSV,
		"player_status.csv": "game_date,player_id,status\n2025-01-05,p2,OUT\n", "notes.txt": "ignored",
	})
	ds, err := dataimport.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Games()) != 2 || len(ds.Logs()) != 2 || len(ds.Lines()) != 1 || len(ds.Statuses()) != 1 {
		t.Fatalf("got %d games, %d logs, %d lines, %d statuses; want 2, 2, 1, 1", len(ds.Games()), len(ds.Logs()), len(ds.Lines()), len(ds.Statuses()))
	}
	l, ok := ds.LogOn("p1", predict.MustParseDate("2025-01-01"))
	if !ok || l.Minutes != 30.5 || l.Stats.Pts != 20 || l.Stats.FG3A != 5 || !l.Home || !l.Starter || l.Stats.PlusMinus != 7 {
		t.Fatalf("p1's log: got %+v", l)
	}
	g := ds.Games()[1]
	if g.Final || g.ID != "" || g.Home != "AAA" {
		t.Fatalf("unplayed game: got %+v", g)
	}
	if p := ds.Lines()[0]; p.Line != 18.5 || !p.Main || p.Book != "draftkings" || p.OverOdds != -110 {
		t.Fatalf("line: got %+v", p)
	}
	if s := ds.StatusOn("p2", predict.MustParseDate("2025-01-05")); s != predict.StatusOut {
		t.Fatalf("status: got %q", s)
	}
}

func TestReadDir_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings the error must contain
	}{
		{"no schedule", map[string]string{"player_game_logs.csv": logsCSV}, []string{"schedule.csv"}},
		{"csv and gz", map[string]string{"schedule.csv": scheduleCSV, "schedule.csv.gz": scheduleCSV, "player_game_logs.csv": logsCSV},
			[]string{"schedule.csv", "schedule.csv.gz"}},
		{"missing column", map[string]string{"schedule.csv": scheduleCSV,
			"player_game_logs.csv": strings.Replace(logsCSV, ",pts,", ",points,", 1)},
			[]string{"player_game_logs.csv:1", "pts"}},
		{"bad minutes", map[string]string{"schedule.csv": scheduleCSV,
			"player_game_logs.csv": strings.Replace(logsCSV, ",30.50,", ",thirty,", 1)},
			[]string{"player_game_logs.csv:2", "column minutes", `"thirty"`}},
		{"bad date", map[string]string{"schedule.csv": strings.Replace(scheduleCSV, "2025-01-05", "2025-01-32", 1),
			"player_game_logs.csv": logsCSV}, []string{"schedule.csv:3", "column game_date"}},
		{"bad venue", map[string]string{"schedule.csv": scheduleCSV,
			"player_game_logs.csv": strings.Replace(logsCSV, "BBB,H,1,1", "BBB,X,1,1", 1)},
			[]string{"player_game_logs.csv:2", "column home_away"}},
		{"unknown game", map[string]string{"schedule.csv": scheduleCSV,
			"player_game_logs.csv": strings.Replace(logsCSV, "g1,2025-01-01,p2", "g9,2025-01-01,p2", 1)},
			[]string{"player_game_logs.csv:3", "column game_id", "g9"}},
		{"bad odds", map[string]string{"schedule.csv": scheduleCSV, "player_game_logs.csv": logsCSV,
			"props_x.csv": strings.Replace(propsCSV, "-110,-110", "-50,-110", 1)},
			[]string{"props_x.csv:2", "column over_odds"}},
		{"short row", map[string]string{"schedule.csv": scheduleCSV, "player_game_logs.csv": logsCSV,
			"props_x.csv": propsCSV + "2025-01-05,2024-25\n"},
			[]string{"props_x.csv:3", "fields"}},
		{"bad status", map[string]string{"schedule.csv": scheduleCSV, "player_game_logs.csv": logsCSV,
			"player_status.csv": "game_date,player_id,status\n2025-01-05,p2,SICK\n"},
			[]string{"player_status.csv:2", "column status", "SICK"}},
		{"played 0 with points", map[string]string{"schedule.csv": scheduleCSV,
			"player_game_logs.csv": strings.Replace(logsCSV, "Decision,0,0,", "Decision,0,4,", 1)},
			[]string{"player_game_logs.csv:3", "column played"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := dataimport.ReadDir(writeDir(t, tt.files))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestReadDir_ErrInvalid(t *testing.T) {
	t.Parallel()
	_, err := dataimport.ReadDir(writeDir(t, map[string]string{"schedule.csv": scheduleCSV,
		"player_game_logs.csv": strings.Replace(logsCSV, ",20,5,", ",-20,5,", 1)}))
	if !errors.Is(err, batch.ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
}

func TestSynthetic(t *testing.T) {
	t.Parallel()
	opts := dataimport.SyntheticOptions{From: predict.MustParseDate("2025-10-21"), To: predict.MustParseDate("2025-12-31"),
		PlayedThrough: predict.MustParseDate("2025-12-20")}
	a, err := dataimport.Synthetic(1, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := dataimport.Synthetic(1, opts)
	c, _ := dataimport.Synthetic(2, opts)
	if a.Version() != b.Version() {
		t.Fatalf("same seed: versions %s and %s differ", a.Version(), b.Version())
	}
	if a.Version() == c.Version() {
		t.Fatalf("seeds 1 and 2 gave the same data set %s", a.Version())
	}
	// Realistic scoring: team totals near NBA levels, top scorers near 30,
	// box scores consistent with the final score.
	var games, total int
	for _, g := range a.Games() {
		if g.Final {
			games++
			total += g.HomePts + g.AwayPts
		} else if g.Date <= opts.PlayedThrough {
			t.Fatalf("game %s on %s before PlayedThrough has no result", g.ID, g.Date)
		}
	}
	if avg := float64(total) / float64(2*games); avg < 95 || avg > 130 {
		t.Errorf("team points per game %.1f outside 95..130", avg)
	}
	per := map[string][2]int{}
	for _, l := range a.Logs() {
		s := l.Stats
		if s.Pts != 2*(s.FGM-s.FG3M)+3*s.FG3M+s.FTM || s.FGM > s.FGA || s.FG3M > s.FG3A || s.FTM > s.FTA {
			t.Fatalf("inconsistent box score %+v", l)
		}
		if l.Played {
			v := per[l.PlayerID]
			per[l.PlayerID] = [2]int{v[0] + s.Pts, v[1] + 1}
		}
	}
	best := 0.0
	for _, v := range per {
		if v[1] >= 10 {
			best = max(best, float64(v[0])/float64(v[1]))
		}
	}
	if best < 20 || best > 40 {
		t.Errorf("top scorer averages %.1f, want 20..40", best)
	}
	if len(a.Lines()) == 0 || len(a.Statuses()) == 0 {
		t.Errorf("%d lines and %d statuses; want some of each", len(a.Lines()), len(a.Statuses()))
	}
	for _, bad := range []dataimport.SyntheticOptions{{Teams: 3}, {Roster: 30},
		{From: predict.MustParseDate("2025-01-02"), To: predict.MustParseDate("2025-01-01")}} {
		if _, err := dataimport.Synthetic(1, bad); !errors.Is(err, batch.ErrInvalid) {
			t.Errorf("options %+v: got %v, want ErrInvalid", bad, err)
		}
	}
}

// TestReadFS reads the same files from a directory and from an fs.FS that
// is not one: the data sets agree, and errors name the FS as given.
func TestReadFS(t *testing.T) {
	t.Parallel()
	files := map[string]string{"schedule.csv": scheduleCSV, "player_game_logs.csv": logsCSV, "props_points_test.csv": propsCSV}
	want, err := dataimport.ReadDir(writeDir(t, files))
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{"notes.txt": {Data: []byte("ignored")}, "sub/schedule.csv": {Data: []byte("not read")}}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	got, err := dataimport.ReadFS(fsys, "gs://b/p")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version() != want.Version() || len(got.Lines()) != 1 {
		t.Fatalf("ReadFS: version %s with %d lines; want %s with 1", got.Version(), len(got.Lines()), want.Version())
	}
	delete(fsys, "player_game_logs.csv")
	_, err = dataimport.ReadFS(fsys, "gs://b/p")
	if !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), "gs://b/p has no player_game_logs.csv") {
		t.Fatalf("without game logs: got %v, want ErrInvalid naming gs://b/p", err)
	}
}
