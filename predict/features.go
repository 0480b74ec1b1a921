package predict

import "math"

// Feature helpers shared by the systems, so that every system reads the
// request the same way (one meaning of rest, form and spread).

// Form returns the mean points of the player's last n played games (all of
// them if he has fewer).
func (r *Request) Form(n int) float64 {
	n = min(n, len(r.Recent))
	if n == 0 {
		return 0
	}
	s := 0
	for _, g := range r.Recent[:n] {
		s += g.Points
	}
	return float64(s) / float64(n)
}

// MinutesForm returns the mean minutes of the last n played games.
func (r *Request) MinutesForm(n int) float64 {
	n = min(n, len(r.Recent))
	if n == 0 {
		return 0
	}
	s := 0.0
	for _, g := range r.Recent[:n] {
		s += g.Minutes
	}
	return s / float64(n)
}

// seasonPriorGames is how many games of last season's average are blended
// into this season's: early in a season, last season is the better guide.
const seasonPriorGames = 5

// SeasonPoints returns the player's points per game this season, blended
// with last season's by [seasonPriorGames] games (or the recent form when
// he has neither).
func (r *Request) SeasonPoints() float64 {
	return r.seasonMean(func(a Averages) float64 { return a.Points }, r.Form)
}

// SeasonMinutes is [Request.SeasonPoints] for minutes.
func (r *Request) SeasonMinutes() float64 {
	return r.seasonMean(func(a Averages) float64 { return a.Minutes }, r.MinutesForm)
}

// seasonMean blends this season's and last season's value of stat as
// [Request.SeasonPoints] describes, falling back to form over all the
// recent games.
func (r *Request) seasonMean(stat func(Averages) float64, form func(int) float64) float64 {
	s, p := r.Season, r.PrevSeason
	switch {
	case s.Games == 0 && p.Games == 0:
		return form(len(r.Recent))
	case p.Games == 0:
		return stat(s)
	}
	k := float64(min(seasonPriorGames, p.Games))
	return (float64(s.Games)*stat(s) + k*stat(p)) / (float64(s.Games) + k)
}

// Blend is the classic moving-average expectation:
// 0.5·(last 5) + 0.3·(last 10) + 0.2·(season).
func (r *Request) Blend() float64 {
	return 0.5*r.Form(5) + 0.3*r.Form(10) + 0.2*r.SeasonPoints()
}

// sdPriorGames is how many games' worth of the spread model is blended into
// the player's own sample spread.
const sdPriorGames = 10

// PointsSD returns the spread (standard deviation) of the player's points
// around his mean: his sample sd over up to 20 recent games, shrunk toward
// sqrt(2·mean), the over-dispersed Poisson spread player points follow.
func (r *Request) PointsSD(mean float64) float64 {
	n := min(20, len(r.Recent))
	prior := math.Sqrt(2 * math.Max(mean, 1))
	if n < 2 {
		return prior
	}
	m := r.Form(n)
	ss := 0.0
	for _, g := range r.Recent[:n] {
		d := float64(g.Points) - m
		ss += d * d
	}
	v := ss / float64(n-1)
	return math.Sqrt((float64(n-1)*v + sdPriorGames*prior*prior) / float64(n-1+sdPriorGames))
}

// VenueFactor returns the league's scoring factor for the player's venue in
// a game (home or away).
func (r *Request) VenueFactor(home bool) float64 {
	if home {
		return r.League.Home
	}
	return r.League.Away
}

// RestFactor returns the league's scoring factor for rest days: the
// back-to-back factor for 0 days off, 1 otherwise. More rest never lowers
// the expectation.
func (r *Request) RestFactor(restDays int) float64 {
	if restDays == 0 {
		return math.Min(1, r.League.BackToBack)
	}
	return 1
}
