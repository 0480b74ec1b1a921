package dataimport

import (
	"strconv"

	"tipoff/predict"
)

// Row decoders: one per file kind. Each returns an error naming the file,
// line and column of the first bad field. The matching encoders write a
// value back as a record in the column order of the *Header slices, so
// decode → encode → decode round-trips.

// Column orders the encoders write.
var (
	scheduleHeader = []string{"season", "season_type", "game_date", "game_id", "away_abbr", "home_abbr", "away_pts", "home_pts", "has_box_scores"}
	logHeader      = []string{"season", "season_type", "game_id", "game_date", "player_id", "player_name", "team_abbr", "opp_abbr",
		"home_away", "starter", "played", "dnp_reason", "minutes", "pts", "reb", "oreb", "dreb", "ast", "stl", "blk", "tov", "pf",
		"fgm", "fga", "fg3m", "fg3a", "ftm", "fta", "plus_minus"}
	propHeader   = []string{"game_date", "game_id", "player_id", "team_abbr", "bookmaker", "line", "over_odds", "under_odds", "is_main_line", "source"}
	statusHeader = []string{"game_date", "player_id", "status"}
)

func decodeGame(r *row) (predict.Game, error) {
	var g predict.Game
	var errs [9]error
	g.Season, errs[0] = r.str("season", true)
	g.SeasonType, errs[1] = r.str("season_type", true)
	g.Date, errs[2] = r.date("game_date")
	g.ID, errs[3] = r.str("game_id", false)
	g.Away, errs[4] = r.str("away_abbr", true)
	g.Home, errs[5] = r.str("home_abbr", true)
	g.Final, errs[6] = r.flag("has_box_scores", true)
	g.AwayPts, errs[7] = r.integer("away_pts", g.Final, 0, 400)
	g.HomePts, errs[8] = r.integer("home_pts", g.Final, 0, 400)
	if err := first(errs[:]...); err != nil {
		return predict.Game{}, err
	}
	if g.Home == g.Away {
		return predict.Game{}, r.errorf("home_abbr", "%q is also the away team", g.Home)
	}
	if !g.Final {
		// Without box scores a game counts as not played: its scores, if
		// any, are not used.
		g.HomePts, g.AwayPts = 0, 0
	}
	if g.Final && g.ID == "" {
		return predict.Game{}, r.errorf("game_id", "empty, but has_box_scores is 1")
	}
	return g, nil
}

func encodeGame(g predict.Game) []string {
	pts := func(n int) string {
		if !g.Final {
			return ""
		}
		return strconv.Itoa(n)
	}
	return []string{g.Season, g.SeasonType, g.Date.String(), g.ID, g.Away, g.Home, pts(g.AwayPts), pts(g.HomePts), flag(g.Final)}
}

func decodeGameLog(r *row) (predict.GameLog, error) {
	var l predict.GameLog
	var errs [14]error
	l.Season, errs[0] = r.str("season", true)
	l.SeasonType, errs[1] = r.str("season_type", true)
	l.GameID, errs[2] = r.str("game_id", true)
	l.Date, errs[3] = r.date("game_date")
	l.PlayerID, errs[4] = r.str("player_id", true)
	l.PlayerName, errs[5] = r.str("player_name", true)
	l.Team, errs[6] = r.str("team_abbr", true)
	l.Opponent, errs[7] = r.str("opp_abbr", true)
	switch v := r.get("home_away"); v {
	case "H":
		l.Home = true
	case "A":
	default:
		errs[8] = r.errorf("home_away", "%q is not H or A", v)
	}
	l.Starter, errs[9] = r.flag("starter", true)
	l.Played, errs[10] = r.flag("played", true)
	l.DNPReason, errs[11] = r.str("dnp_reason", false)
	l.Minutes, errs[12] = r.number("minutes", 0, 96)
	l.Stats.Pts, errs[13] = r.integer("pts", true, 0, 200)
	if err := first(errs[:]...); err != nil {
		return predict.GameLog{}, err
	}
	s := &l.Stats
	for _, f := range []struct {
		col string
		dst *int
		lo  int
	}{
		{"reb", &s.Reb, 0}, {"oreb", &s.OReb, 0}, {"dreb", &s.DReb, 0}, {"ast", &s.Ast, 0}, {"stl", &s.Stl, 0},
		{"blk", &s.Blk, 0}, {"tov", &s.Tov, 0}, {"pf", &s.PF, 0}, {"fgm", &s.FGM, 0}, {"fga", &s.FGA, 0},
		{"fg3m", &s.FG3M, 0}, {"fg3a", &s.FG3A, 0}, {"ftm", &s.FTM, 0}, {"fta", &s.FTA, 0}, {"plus_minus", &s.PlusMinus, -200},
	} {
		v, err := r.integer(f.col, false, f.lo, 200)
		if err != nil {
			return predict.GameLog{}, err
		}
		*f.dst = v
	}
	if l.Team == l.Opponent {
		return predict.GameLog{}, r.errorf("opp_abbr", "%q is the player's own team", l.Opponent)
	}
	if !l.Played && (l.Minutes > 0 || l.Stats.Pts > 0) {
		return predict.GameLog{}, r.errorf("played", "0, but minutes %v and points %d are recorded", l.Minutes, l.Stats.Pts)
	}
	return l, nil
}

func encodeGameLog(l predict.GameLog) []string {
	s := l.Stats
	ha := "A"
	if l.Home {
		ha = "H"
	}
	out := []string{l.Season, l.SeasonType, l.GameID, l.Date.String(), l.PlayerID, l.PlayerName, l.Team, l.Opponent,
		ha, flag(l.Starter), flag(l.Played), l.DNPReason, strconv.FormatFloat(l.Minutes, 'f', -1, 64)}
	for _, v := range []int{s.Pts, s.Reb, s.OReb, s.DReb, s.Ast, s.Stl, s.Blk, s.Tov, s.PF, s.FGM, s.FGA, s.FG3M, s.FG3A, s.FTM, s.FTA, s.PlusMinus} {
		out = append(out, strconv.Itoa(v))
	}
	return out
}

func decodePropLine(r *row) (predict.PropLine, error) {
	var p predict.PropLine
	var errs [10]error
	p.Date, errs[0] = r.date("game_date")
	p.GameID, errs[1] = r.str("game_id", false)
	p.PlayerID, errs[2] = r.str("player_id", true)
	p.Team, errs[3] = r.str("team_abbr", false)
	p.Book, errs[4] = r.str("bookmaker", true)
	p.Line, errs[5] = r.number("line", 0, 199.5)
	p.OverOdds, errs[6] = r.integer("over_odds", false, -100000, 100000)
	p.UnderOdds, errs[7] = r.integer("under_odds", false, -100000, 100000)
	// Files without is_main_line hold one line per player-game and book.
	p.Main = true
	if r.has("is_main_line") {
		p.Main, errs[8] = r.flag("is_main_line", true)
	}
	p.Source, errs[9] = r.str("source", false)
	if err := first(errs[:]...); err != nil {
		return predict.PropLine{}, err
	}
	for _, o := range []struct {
		col string
		v   int
	}{{"over_odds", p.OverOdds}, {"under_odds", p.UnderOdds}} {
		if o.v > -100 && o.v < 100 && o.v != 0 {
			return predict.PropLine{}, r.errorf(o.col, "%d is not American odds (at most -100 or at least +100)", o.v)
		}
	}
	if p.Source == "" {
		p.Source = r.File
	}
	return p, nil
}

func encodePropLine(p predict.PropLine) []string {
	odds := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	return []string{p.Date.String(), p.GameID, p.PlayerID, p.Team, p.Book, strconv.FormatFloat(p.Line, 'f', -1, 64),
		odds(p.OverOdds), odds(p.UnderOdds), flag(p.Main), p.Source}
}

func decodeStatus(r *row) (predict.Status, error) {
	var s predict.Status
	var errs [3]error
	s.Date, errs[0] = r.date("game_date")
	s.PlayerID, errs[1] = r.str("player_id", true)
	s.Status, errs[2] = r.str("status", true)
	if err := first(errs[:]...); err != nil {
		return predict.Status{}, err
	}
	if !predict.ValidStatus(s.Status) {
		return predict.Status{}, r.errorf("status", "%q is not one of OUT, DOUBTFUL, QUESTIONABLE, PROBABLE, AVAILABLE", s.Status)
	}
	return s, nil
}

func encodeStatus(s predict.Status) []string {
	return []string{s.Date.String(), s.PlayerID, s.Status}
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
