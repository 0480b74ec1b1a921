package predict_test

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tipoff/batch"
	"tipoff/predict"
)

var (
	jan1 = predict.MustParseDate("2025-01-01")
	jan2 = predict.MustParseDate("2025-01-02")
	jan5 = predict.MustParseDate("2025-01-05")
)

// tinyDataset: AAA beat BBB 110-100 at home on Jan 1, lost 95-105 at CCC
// on Jan 2 (a back-to-back), and hosts CCC on Jan 5. p1 scored 20 and 10;
// p2 played 5 minutes on Jan 1 (3 points) and sat out Jan 2.
func tinyDataset(t testing.TB, statuses ...predict.Status) *predict.Dataset {
	t.Helper()
	games := []predict.Game{
		{ID: "g1", Date: jan1, Season: "2024-25", SeasonType: "Regular Season", Home: "AAA", Away: "BBB", HomePts: 110, AwayPts: 100, Final: true},
		{ID: "g2", Date: jan2, Season: "2024-25", SeasonType: "Regular Season", Home: "CCC", Away: "AAA", HomePts: 105, AwayPts: 95, Final: true},
		{ID: "g3", Date: jan5, Season: "2024-25", SeasonType: "Regular Season", Home: "AAA", Away: "CCC"},
	}
	log := func(date predict.Date, game, player, opp string, home, played bool, min float64, pts int) predict.GameLog {
		return predict.GameLog{GameID: game, Date: date, Season: "2024-25", SeasonType: "Regular Season", PlayerID: player,
			PlayerName: "Player " + player, Team: "AAA", Opponent: opp, Home: home, Starter: played && player == "p1",
			Played: played, Minutes: min, Stats: predict.Stats{Pts: pts, FGA: pts / 2}}
	}
	logs := []predict.GameLog{
		log(jan1, "g1", "p1", "BBB", true, true, 30, 20),
		log(jan2, "g2", "p1", "CCC", false, true, 25, 10),
		log(jan1, "g1", "p2", "BBB", true, true, 5, 3),
		log(jan2, "g2", "p2", "CCC", false, false, 0, 0),
	}
	lines := []predict.PropLine{
		{Date: jan5, GameID: "g3", PlayerID: "p1", Team: "AAA", Book: "fanduel", Line: 15.5, OverOdds: -110, UnderOdds: -110, Main: true},
		{Date: jan5, GameID: "g3", PlayerID: "p1", Team: "AAA", Book: "draftkings", Line: 16.5, OverOdds: 120, UnderOdds: -150, Main: false},
		{Date: jan5, GameID: "g3", PlayerID: "p1", Team: "AAA", Book: "draftkings", Line: 14.5, OverOdds: -115, UnderOdds: -105, Main: true},
	}
	ds, err := predict.NewDataset(games, logs, lines, statuses)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestBuildRequest_Tiny(t *testing.T) {
	t.Parallel()
	ds := tinyDataset(t)
	r, err := predict.BuildRequest(ds, jan5, "p1", predict.RequestOptions{Offsets: []float64{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Team != "AAA" || r.Opponent != "CCC" || !r.Home || r.GameID != "g3" {
		t.Errorf("game: got %s vs %s home=%v %s, want AAA vs CCC home=true g3", r.Team, r.Opponent, r.Home, r.GameID)
	}
	// Jan 2 → Jan 5: Jan 3 and 4 off.
	if r.RestDays != 2 {
		t.Errorf("rest days: got %d, want 2", r.RestDays)
	}
	if len(r.Recent) != 2 || r.Recent[0].Date != jan2 || r.Recent[0].RestDays != 0 || r.Recent[0].Home ||
		r.Recent[0].Points != 10 || r.Recent[1].RestDays != predict.MaxRestDays {
		t.Errorf("recent: got %+v, want Jan 2 (back-to-back, away, 10 pts) then Jan 1 (first game)", r.Recent)
	}
	if r.Season.Games != 2 || r.Season.Points != 15 || r.Season.Minutes != 27.5 {
		t.Errorf("season: got %+v, want 2 games, 15 points, 27.5 minutes", r.Season)
	}
	// CCC allowed 95 in its one game; the league scored (110+100+105+95)/4
	// = 102.5 per team-game; shrunk by 10 games toward 1 (no prior season).
	wantDef := (95/102.5)*1/11 + 10.0/11
	if math.Abs(r.OppRating.Defense-wantDef) > 1e-12 || r.OppRating.Games != 1 {
		t.Errorf("opponent rating: got %+v, want defense %v over 1 game", r.OppRating, wantDef)
	}
	// The Jan 2 opponent rating is from before Jan 2: CCC had no game.
	if r.Recent[0].OppDefense != 1 {
		t.Errorf("Jan 2 opponent defence: got %v, want 1 (no games before)", r.Recent[0].OppDefense)
	}
	wantLines := []predict.Line{
		{Value: 14.5, Source: "draftkings", OverOdds: -115, UnderOdds: -105},
		{Value: 13.5, Offset: -1, Source: "draftkings"},
		{Value: 15.5, Offset: 1, Source: "draftkings"},
		{Value: 12.5, Offset: -2, Source: "draftkings"},
		{Value: 16.5, Offset: 2, Source: "draftkings"},
	}
	if d := cmp.Diff(wantLines, r.Lines); d != "" {
		t.Errorf("lines (-want +got):\n%s", d)
	}
	// Preferring FanDuel picks its main line.
	r, err = predict.BuildRequest(ds, jan5, "p1", predict.RequestOptions{Books: []string{"fanduel", "draftkings"}})
	if err != nil || r.Lines[0].Value != 15.5 || r.Lines[0].Source != "fanduel" {
		t.Errorf("fanduel first: got %+v, %v; want 15.5 from fanduel", r.Lines, err)
	}
}

func TestBuildRequest_EstimatedLine(t *testing.T) {
	t.Parallel()
	ds := tinyDataset(t)
	r, err := predict.BuildRequest(ds, jan5, "p2", predict.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := predict.Line{Value: 3.5, Source: predict.SourceEstimate, Estimated: true}
	if len(r.Lines) != 1 || !cmp.Equal(r.Lines[0], want) {
		t.Errorf("lines: got %+v, want %+v (3 points rounded to .5)", r.Lines, want)
	}
	if r.Missed != 1 {
		t.Errorf("missed: got %d, want 1 (the Jan 2 DNP)", r.Missed)
	}
}

func TestBuildRequest_Errors(t *testing.T) {
	t.Parallel()
	ds := tinyDataset(t)
	if _, err := predict.BuildRequest(ds, jan5, "nobody", predict.RequestOptions{}); !errors.Is(err, batch.ErrNotFound) {
		t.Errorf("unknown player: got %v, want ErrNotFound", err)
	}
	if _, err := predict.BuildRequest(ds, jan5+1, "p1", predict.RequestOptions{}); !errors.Is(err, predict.ErrNoGame) {
		t.Errorf("no game that day: got %v, want ErrNoGame", err)
	}
	if _, err := predict.BuildRequest(ds, jan5, "p1", predict.RequestOptions{Offsets: []float64{-1}}); !errors.Is(err, batch.ErrInvalid) {
		t.Errorf("negative offset: got %v, want ErrInvalid", err)
	}
}

func TestSelectPlayers_Tiny(t *testing.T) {
	t.Parallel()
	ds := tinyDataset(t)
	ids := func(cs []predict.Candidate) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.PlayerID)
		}
		return out
	}
	tests := []struct {
		name     string
		ds       *predict.Dataset
		opts     predict.SelectOptions
		want     []string
		wantNone bool
	}{
		// Defaults need 3 games: only p1 qualifies, through his DraftKings line.
		{"defaults", ds, predict.SelectOptions{}, []string{"p1"}, false},
		{"lines ignored", ds, predict.SelectOptions{IgnoreLines: true}, nil, true},
		{"low thresholds", ds, predict.SelectOptions{MinGames: 1, MinMinutes: 1}, []string{"p1", "p2"}, false},
		{"minutes threshold", ds, predict.SelectOptions{MinGames: 1, MinMinutes: 10, IgnoreLines: true}, []string{"p1"}, false},
		{"p1 out", tinyDataset(t, predict.Status{Date: jan5, PlayerID: "p1", Status: predict.StatusOut}),
			predict.SelectOptions{MinGames: 1, MinMinutes: 1}, []string{"p2"}, false},
		{"p2 doubtful", tinyDataset(t, predict.Status{Date: jan5, PlayerID: "p2", Status: predict.StatusDoubtful}),
			predict.SelectOptions{MinGames: 1, MinMinutes: 1}, []string{"p1"}, false},
		{"questionable plays", tinyDataset(t, predict.Status{Date: jan5, PlayerID: "p2", Status: predict.StatusQuestionable}),
			predict.SelectOptions{MinGames: 1, MinMinutes: 1}, []string{"p1", "p2"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ids(predict.SelectPlayers(tt.ds, jan5, tt.opts))
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("selected (-want +got):\n%s", d)
			}
		})
	}
	if got := predict.SelectPlayers(ds, jan5+1, predict.SelectOptions{}); len(got) != 0 {
		t.Fatalf("a date without games selected %v", got)
	}
}

func TestNewDataset_Invalid(t *testing.T) {
	t.Parallel()
	g := predict.Game{ID: "g1", Date: jan1, Season: "2024-25", Home: "AAA", Away: "BBB"}
	tests := []struct {
		name  string
		games []predict.Game
		logs  []predict.GameLog
		lines []predict.PropLine
		sts   []predict.Status
	}{
		{"same teams", []predict.Game{{ID: "g", Date: jan1, Season: "s", Home: "AAA", Away: "AAA"}}, nil, nil, nil},
		{"duplicate game id", []predict.Game{g, {ID: "g1", Date: jan2, Season: "2024-25", Home: "CCC", Away: "DDD"}}, nil, nil, nil},
		{"two logs a day", []predict.Game{g}, []predict.GameLog{
			{GameID: "g1", Date: jan1, PlayerID: "p", Team: "AAA", Opponent: "BBB"},
			{GameID: "g1", Date: jan1, PlayerID: "p", Team: "AAA", Opponent: "BBB"}}, nil, nil},
		{"negative line", []predict.Game{g}, nil, []predict.PropLine{{Date: jan1, PlayerID: "p", Book: "b", Line: -1}}, nil},
		{"bad status", []predict.Game{g}, nil, nil, []predict.Status{{Date: jan1, PlayerID: "p", Status: "MAYBE"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := predict.NewDataset(tt.games, tt.logs, tt.lines, tt.sts); !errors.Is(err, batch.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestDate(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"1970-01-01", "2000-02-29", "2024-12-31", "2025-03-01", "1900-01-01", "2999-12-31"} {
		d, err := predict.ParseDate(s)
		if err != nil || d.String() != s {
			t.Errorf("ParseDate(%q) = %v (%s), %v", s, int(d), d, err)
		}
	}
	for _, s := range []string{"", "2025-02-29", "2025-13-01", "2025-1-01", "20250101", "2025-01-32", "abcd-ef-gh", "1899-12-31"} {
		if _, err := predict.ParseDate(s); err == nil {
			t.Errorf("ParseDate(%q) accepted", s)
		}
	}
	// Every day of four centuries round-trips and is one day after the last.
	prev := predict.MustParseDate("1900-01-01")
	for d := prev + 1; d < predict.MustParseDate("2300-01-01"); d++ {
		back, err := predict.ParseDate(d.String())
		if err != nil || back != d || d-prev != 1 {
			t.Fatalf("day %d (%s): parsed back %d, %v", int(d), d, int(back), err)
		}
		prev = d
	}
}

// A partial data set's season totals stand for the season's game logs:
// the request's previous-season averages come from them, whether the
// partial data set holds those games (recent ones) or not.
func TestNewPartialDataset_SeasonTotals(t *testing.T) {
	t.Parallel()
	full := tinyDataset(t)
	prevDate := predict.MustParseDate("2024-03-01")
	games := append([]predict.Game{{ID: "g0", Date: prevDate, Season: "2023-24", SeasonType: "Regular Season",
		Home: "AAA", Away: "BBB", HomePts: 120, AwayPts: 90, Final: true}}, full.Games()...)
	old := predict.GameLog{GameID: "g0", Date: prevDate, Season: "2023-24", SeasonType: "Regular Season", PlayerID: "p1",
		PlayerName: "Player p1", Team: "AAA", Opponent: "BBB", Home: true, Starter: true, Played: true, Minutes: 33.5,
		Stats: predict.Stats{Pts: 31, FGA: 20, FTA: 7}}
	logs := append([]predict.GameLog{old}, full.Logs()...)
	whole, err := predict.NewDataset(slices.Clone(games), slices.Clone(logs), slices.Clone(full.Lines()), nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := predict.BuildRequest(whole, jan5, "p1", predict.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want.PrevSeason.Games != 1 || want.PrevSeason.Points != 31 {
		t.Fatalf("whole data set: previous season %+v, want p1's one game of 31 points", want.PrevSeason)
	}
	totals := predict.SeasonTotals{PlayerID: "p1", Season: "2023-24"}
	totals.Add(&old)
	part := func(logs []predict.GameLog, totals ...predict.SeasonTotals) *predict.Dataset {
		t.Helper()
		ds, err := predict.NewPartialDataset(whole.Version(), whole.Books(), slices.Clone(games), slices.Clone(logs),
			slices.Clone(full.Lines()), nil, totals)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	got, err := predict.BuildRequest(part(logs, totals), jan5, "p1", predict.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("request from the season's totals and its recent game (-whole +partial):\n%s", d)
	}
	got, err = predict.BuildRequest(part(full.Logs(), totals), jan5, "p1", predict.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want.PrevSeason, got.PrevSeason); d != "" {
		t.Errorf("previous season from the totals alone (-whole +partial):\n%s", d)
	}
	// The same rows added to a partial data set of the games alone.
	sched, err := predict.NewPartialDataset(whole.Version(), whole.Books(), slices.Clone(games), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	withRows, err := sched.WithDayRows(slices.Clone(logs), slices.Clone(full.Lines()), nil, []predict.SeasonTotals{totals})
	if err != nil {
		t.Fatal(err)
	}
	got, err = predict.BuildRequest(withRows, jan5, "p1", predict.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("request from rows added to the schedule (-whole +partial):\n%s", d)
	}
	if len(sched.Logs()) != 0 || withRows.Version() != whole.Version() || !withRows.Partial() {
		t.Errorf("WithDayRows changed its schedule (%d logs) or lost the version (%s) or partiality", len(sched.Logs()), withRows.Version())
	}
	if _, err := withRows.WithDayRows(nil, nil, nil, nil); !errors.Is(err, batch.ErrInvalid) {
		t.Errorf("rows added to a data set with rows: %v, want ErrInvalid", err)
	}
	_, err = predict.NewPartialDataset(whole.Version(), whole.Books(), slices.Clone(games), slices.Clone(logs), nil, nil,
		[]predict.SeasonTotals{totals, totals})
	if !errors.Is(err, batch.ErrInvalid) {
		t.Errorf("a player's season totals given twice: %v, want ErrInvalid", err)
	}
}
