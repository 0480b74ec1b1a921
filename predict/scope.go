package predict

import "slices"

// DayScope is what the batch of one date reads from a data set, so that a
// store can load just those rows ([NewPartialDataset]) instead of the whole
// data set. Of the players of the teams playing on Date who played for
// them in the teams' recent games (the selection window), it is
//
//   - every game log before Date dated from the earlier of Since and the
//     player's History-th most recent played game, and every one of
//     Date's season (Seasons[0]);
//   - his totals over his played games of the season before (Seasons[1],
//     see [SeasonTotals]), which stand for that season's older game logs;
//   - his prop lines on Date, and on the dates of those game logs his main
//     lines of the first book in Books that has one;
//
// and, whoever they are about, every game and the statuses on Date.
// Requests built from those rows for Date equal the ones the whole data
// set gives (TestDB_LoadDay and TestDB_LoadDay_RealData in package sqlite
// are the judges).
type DayScope struct {
	Date Date
	// Teams are the teams playing on Date, each with the first date of
	// its selection window.
	Teams []TeamSince
	// Seasons are Date's season and the one before it, as the schedule
	// has them (either may be missing).
	Seasons []string
	// Since is the first date of the longest window a request looks at
	// (selection, missed games) over the playing teams.
	Since Date
	// History is how many recent played games a request carries.
	History int
	// Books is the bookmaker preference of the requests' past lines.
	Books []string
	// From is the earlier of Since and the first date of a stretch of
	// the schedule ([Dataset.SeasonStart]) of a season in Seasons: with
	// every row from From on and a player's History-th last played game,
	// a store has all of the player's rows the date reads.
	From Date
}

// TeamSince is a team and a date.
type TeamSince struct {
	Team  string
	Since Date
}

// DayScope returns the scope of date's batch under sel and ro. ds needs to
// hold the schedule only; a date without games has an empty scope.
func (ds *Dataset) DayScope(date Date, sel SelectOptions, ro RequestOptions) DayScope {
	sel, ro = sel.withDefaults(), ro.withDefaults()
	sc := DayScope{Date: date, Since: date, From: date, History: ro.History, Books: ro.Books}
	if s := ds.SeasonOf(date); s != "" {
		sc.Seasons = append(sc.Seasons, s)
		if p := ds.prevSeason(s); p != "" {
			sc.Seasons = append(sc.Seasons, p)
		}
	}
	for _, g := range ds.gameSeason {
		if slices.Contains(sc.Seasons, g.season) && g.first < date {
			sc.From = min(sc.From, g.first)
		}
	}
	window := max(sel.Window, MissedWindow)
	for _, g := range ds.GamesOn(date) {
		for _, team := range [2]string{g.Home, g.Away} {
			past := ds.TeamGamesBefore(team, date)
			t := TeamSince{Team: team, Since: date}
			if n := len(past); n > 0 {
				t.Since = past[max(0, n-sel.Window)].Date
				sc.Since = min(sc.Since, past[max(0, n-window)].Date)
			}
			sc.Teams = append(sc.Teams, t)
		}
	}
	sc.From = min(sc.From, sc.Since)
	return sc
}

// SeasonTotals are one player's sums over his played games of one season:
// what [Averages] are before they are divided by the games. A store
// loading one date's rows ([DayScope]) adds each game of the season before
// the date's to them, newest first, as [BuildRequest] adds them, and then
// keeps only that season's recent game logs.
type SeasonTotals struct {
	PlayerID string
	Season   string
	sum      Averages
}

// Add adds the game log l to t if l is a played game.
func (t *SeasonTotals) Add(l *GameLog) {
	if l.Played {
		t.sum.add(*l)
	}
}
