package predict

import (
	"slices"
)

// Team strength is computed from final scores in the schedule, using only
// games strictly before the date asked about, so a request never sees the
// result of its own game or any later one.

// cumulative holds running totals over a team's (or the league's) games in
// one season, by date.
type cumulative struct {
	dates   []Date
	scored  []float64 // cumulative points scored after each game
	allowed []float64 // cumulative points allowed after each game
}

// before returns the totals over games dated strictly before d.
func (c *cumulative) before(d Date) (n int, scored, allowed float64) {
	n, _ = slices.BinarySearch(c.dates, d)
	if n == 0 {
		return 0, 0, 0
	}
	return n, c.scored[n-1], c.allowed[n-1]
}

func (c *cumulative) add(d Date, scored, allowed float64) {
	// Several games share a date in the league total; BinarySearch above
	// finds the first of equal dates, which is what "strictly before" needs.
	var s, a float64
	if k := len(c.dates); k > 0 {
		s, a = c.scored[k-1], c.allowed[k-1]
	}
	c.dates = append(c.dates, d)
	c.scored = append(c.scored, s+scored)
	c.allowed = append(c.allowed, a+allowed)
}

// teamSeasons is one team's totals per season.
type teamSeasons struct {
	seasons map[string]*cumulative
}

// defenseShrinkGames is how many league-average games are blended into a
// team's rating: with n games played, the team's own record gets weight
// n/(n+defenseShrinkGames). Ten games is where a team's points-allowed
// average has as much signal as noise (game-to-game sd ≈ 12 points against a
// spread of team means ≈ 4).
const defenseShrinkGames = 10

// fallbackLeaguePoints is the points per team-game used before any game of a
// season is known.
const fallbackLeaguePoints = 112.0

func (ds *Dataset) buildDefense() {
	ds.defense = make(map[string]*teamSeasons)
	ds.league = make(map[string]*cumulative)
	ds.leagueHome = make(map[string]*cumulative)
	ds.leagueB2B = make(map[string]*cumulative)
	ds.gameSeason = ds.gameSeason[:0]
	get := func(m map[string]*cumulative, season string) *cumulative {
		c := m[season]
		if c == nil {
			c = &cumulative{}
			m[season] = c
		}
		return c
	}
	for _, g := range ds.games {
		if n := len(ds.gameSeason); n == 0 || ds.gameSeason[n-1].season != g.Season {
			ds.gameSeason = append(ds.gameSeason, dateSeason{g.Date, g.Season})
		}
		if !g.Final || g.SeasonType != "Regular Season" && g.SeasonType != "Playoffs" && g.SeasonType != "PlayIn" {
			continue
		}
		for _, side := range [2]struct {
			team            string
			scored, allowed int
		}{{g.Home, g.HomePts, g.AwayPts}, {g.Away, g.AwayPts, g.HomePts}} {
			ts := ds.defense[side.team]
			if ts == nil {
				ts = &teamSeasons{seasons: make(map[string]*cumulative)}
				ds.defense[side.team] = ts
			}
			c := ts.seasons[g.Season]
			if c == nil {
				c = &cumulative{}
				ts.seasons[g.Season] = c
			}
			c.add(g.Date, float64(side.scored), float64(side.allowed))
			get(ds.league, g.Season).add(g.Date, float64(side.scored), float64(side.allowed))
			if ds.restDays(side.team, g.Date) == 0 {
				get(ds.leagueB2B, g.Season).add(g.Date, float64(side.scored), float64(side.allowed))
			}
		}
		get(ds.leagueHome, g.Season).add(g.Date, float64(g.HomePts), float64(g.AwayPts))
	}
}

// leagueShrinkGames is how many average games are blended into the
// league-wide home and back-to-back factors: they are small effects (1-3 %)
// against a game-to-game sd of about 10 %.
const leagueShrinkGames = 100

// LeagueRating is the league's scoring environment as of a date, from its
// games that season strictly before the date.
type LeagueRating struct {
	// Points is points per team-game.
	Points float64 `json:"points"`
	// Home and Away are the home and away teams' points per game over
	// Points; BackToBack is the points per game of teams on the second night
	// of a back-to-back over Points. Each is shrunk toward 1 by
	// [leagueShrinkGames] games.
	Home       float64 `json:"home"`
	Away       float64 `json:"away"`
	BackToBack float64 `json:"back_to_back"`
}

// League returns the league's rating as of date.
func (ds *Dataset) League(date Date) LeagueRating {
	season := ds.SeasonOf(date)
	lr := LeagueRating{Points: ds.LeaguePoints(date), Home: 1, Away: 1, BackToBack: 1}
	shrink := func(sum float64, n int) float64 {
		if n == 0 {
			return 1
		}
		ratio := sum / float64(n) / lr.Points
		w := float64(n) / float64(n+leagueShrinkGames)
		return w*ratio + (1 - w)
	}
	if c := ds.leagueHome[season]; c != nil {
		n, home, away := c.before(date)
		lr.Home, lr.Away = shrink(home, n), shrink(away, n)
	}
	if c := ds.leagueB2B[season]; c != nil {
		n, scored, _ := c.before(date)
		lr.BackToBack = shrink(scored, n)
	}
	return lr
}

// prevSeason returns the season before s in the schedule, or "".
func (ds *Dataset) prevSeason(s string) string {
	for i := len(ds.gameSeason) - 1; i > 0; i-- {
		if ds.gameSeason[i].season == s {
			return ds.gameSeason[i-1].season
		}
	}
	return ""
}

// TeamRating describes a team's scoring environment as of a date, from its
// games that season strictly before the date.
type TeamRating struct {
	// Defense is points the team allows per game divided by the league's
	// points per team-game: above 1 means a weaker defence (or a faster
	// pace) than average. It is shrunk toward the team's previous season,
	// itself halfway regressed to 1, by [defenseShrinkGames] games.
	Defense float64 `json:"defense"`
	// Pace is the team's combined points per game (scored + allowed) over
	// the league's, shrunk the same way.
	Pace float64 `json:"pace"`
	// Games is how many of the team's games that season went in.
	Games int `json:"games"`
}

// Rating returns team's rating as of date (games strictly before date).
func (ds *Dataset) Rating(team string, date Date) TeamRating {
	season := ds.SeasonOf(date)
	def, pace, n := ds.rawRating(team, season, date)
	priorDef, priorPace := 1.0, 1.0
	if prev := ds.prevSeason(season); prev != "" {
		pd, pp, pn := ds.rawRating(team, prev, date)
		if pn > 0 {
			priorDef = 1 + 0.5*(pd-1)
			priorPace = 1 + 0.5*(pp-1)
		}
	}
	w := float64(n) / float64(n+defenseShrinkGames)
	return TeamRating{
		Defense: w*def + (1-w)*priorDef,
		Pace:    w*pace + (1-w)*priorPace,
		Games:   n,
	}
}

// rawRating returns the team's unshrunk ratios over season's games before
// date, and how many games they cover.
func (ds *Dataset) rawRating(team, season string, date Date) (def, pace float64, n int) {
	ts := ds.defense[team]
	if ts == nil {
		return 1, 1, 0
	}
	c := ts.seasons[season]
	if c == nil {
		return 1, 1, 0
	}
	n, scored, allowed := c.before(date)
	if n == 0 {
		return 1, 1, 0
	}
	league := fallbackLeaguePoints
	if l := ds.league[season]; l != nil {
		if ln, ls, _ := l.before(date); ln > 0 {
			league = ls / float64(ln)
		}
	}
	fn := float64(n)
	return allowed / fn / league, (scored + allowed) / fn / (2 * league), n
}

// LeaguePoints returns the league's points per team-game in date's season
// before date (a fallback constant before the first game).
func (ds *Dataset) LeaguePoints(date Date) float64 {
	if l := ds.league[ds.SeasonOf(date)]; l != nil {
		if n, s, _ := l.before(date); n > 0 {
			return s / float64(n)
		}
	}
	return fallbackLeaguePoints
}
