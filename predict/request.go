package predict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"tipoff/batch"
)

// WireFormat is the version of the request and result JSON. A decoder
// rejects any other version as invalid.
const WireFormat = 1

// Request is everything a worker needs to predict one player's points on one
// date: the game, the player's recent games with their context, season
// averages, the opponent's strength and the line(s). It is built from data
// strictly before Date. It travels as JSON ([EncodeRequest]).
type Request struct {
	Format      int    `json:"format"`
	Date        Date   `json:"date"`
	DataVersion string `json:"data_version"`
	PlayerID    string `json:"player_id"`
	PlayerName  string `json:"player_name"`
	Team        string `json:"team"`
	Opponent    string `json:"opponent"`
	GameID      string `json:"game_id,omitempty"`
	Home        bool   `json:"home"`
	// RestDays is the number of full days the player's team had off before
	// this game: 0 is the second night of a back-to-back, 1 is one day off.
	// It is capped at [MaxRestDays] (also used for the first game of a
	// season). More rest means less fatigue, in every system.
	RestDays int `json:"rest_days"`
	// Missed is how many of the team's last [MissedWindow] games before the
	// date the player did not play in (no box score line or DNP).
	Missed int `json:"missed"`
	// OppRating and TeamRating rate the opponent and the player's own team
	// as of the date.
	OppRating  TeamRating `json:"opp_rating"`
	TeamRating TeamRating `json:"team_rating"`
	// League is the league's scoring environment this season so far.
	League     LeagueRating `json:"league"`
	Season     Averages     `json:"season"`
	PrevSeason Averages     `json:"prev_season"`
	// Recent holds the player's most recent played games, newest first.
	Recent []PastGame `json:"recent"`
	// Lines holds the line(s) to predict against: the base line first, then
	// any variants.
	Lines []Line `json:"lines"`
	// Calibration turns each system's probability into the stated one; nil
	// means no graded record yet (see [Calibration.POver]).
	Calibration *Calibration `json:"calibration,omitempty"`
	// Pricing sets how sides are priced and picked.
	Pricing Pricing `json:"pricing"`
}

// MaxRestDays caps [Request.RestDays] and [PastGame.RestDays].
const MaxRestDays = 5

// MissedWindow is how many team games [Request.Missed] looks back over.
const MissedWindow = 10

// PastGame is one played game in a player's history, with its context as it
// was known before that game.
type PastGame struct {
	Date       Date    `json:"date"`
	Season     string  `json:"season"`
	Opponent   string  `json:"opponent"`
	Home       bool    `json:"home"`
	RestDays   int     `json:"rest_days"`
	Starter    bool    `json:"starter"`
	Minutes    float64 `json:"minutes"`
	Points     int     `json:"points"`
	FGA        int     `json:"fga"`
	FG3A       int     `json:"fg3a"`
	FTA        int     `json:"fta"`
	OppDefense float64 `json:"opp_defense"` // the opponent's TeamRating.Defense as of that game
	// Line is the sportsbook base line that game had (same book preference
	// as the request), or 0 if none is known.
	Line float64 `json:"line,omitempty"`
}

// Averages are per-game averages over a player's played games.
type Averages struct {
	Games   int     `json:"games"`
	Starts  int     `json:"starts"`
	Minutes float64 `json:"minutes"`
	Points  float64 `json:"points"`
	FGA     float64 `json:"fga"`
	FTA     float64 `json:"fta"`
}

// Line is one points line to predict against.
type Line struct {
	Value float64 `json:"value"`
	// Offset is Value minus the base line: 0 for the base line itself.
	Offset float64 `json:"offset"`
	// Source is the bookmaker of the base line, or [SourceEstimate].
	Source string `json:"source"`
	// Estimated is true when the base line is not a sportsbook line but an
	// estimate from recent scoring.
	Estimated bool `json:"estimated"`
	OverOdds  int  `json:"over_odds,omitempty"`
	UnderOdds int  `json:"under_odds,omitempty"`
	// Offers holds the other books' prices for the same main line value,
	// with both sides priced, in book preference order (base line only).
	Offers []Offer `json:"offers,omitempty"`
}

// Real reports whether l is a sportsbook's own line (not estimated, not a
// variant).
func (l Line) Real() bool { return !l.Estimated && l.Offset == 0 }

// SourceEstimate is the Source of a line estimated from recent scoring.
const SourceEstimate = "estimate"

// DefaultBooks is the default bookmaker preference: DraftKings first, then
// the other US sportsbooks. Pick'em (DFS) books are left out because their
// lines carry no real odds.
var DefaultBooks = []string{"draftkings", "fanduel", "betmgm", "williamhill_us", "fanatics", "betrivers", "bovada", "betonlineag"}

// RequestOptions tunes [BuildRequest]. The zero value means the defaults.
type RequestOptions struct {
	// History is how many recent played games go in the request (default 40).
	History int
	// Books is the bookmaker preference for the base line (default
	// [DefaultBooks]). Only main lines count.
	Books []string
	// Offsets adds, for each k, the lines base-k and base+k (k > 0;
	// variants below 0.5 are dropped). E.g. {1, 2} gives five lines.
	Offsets []float64
	// EstimateGames is how many recent played games the estimated line
	// averages when there is no sportsbook line (default 10).
	EstimateGames int
	// Calibration goes into every request as is (see [Calibrate]).
	Calibration *Calibration
	// Pricing goes into every request; nil means [DefaultPricing].
	Pricing *Pricing
}

func (o RequestOptions) withDefaults() RequestOptions {
	if o.History <= 0 {
		o.History = 40
	}
	if len(o.Books) == 0 {
		o.Books = DefaultBooks
	}
	if o.EstimateGames <= 0 {
		o.EstimateGames = 10
	}
	return o
}

// ErrNoGame is returned by [BuildRequest] when the player's team has no game
// on the date; it wraps [batch.ErrNotFound].
var ErrNoGame = fmt.Errorf("no game for the player's team on that date: %w", batch.ErrNotFound)

// BuildRequest builds the request for player's game on date, using only data
// dated strictly before date (and the date's own schedule and lines, which
// are known before tip-off). It returns an error wrapping
// [batch.ErrNotFound] if the player has no played game before date or his
// team does not play on date, and [batch.ErrInvalid] for bad options.
func BuildRequest(ds *Dataset, date Date, player string, opts RequestOptions) (Request, error) {
	opts = opts.withDefaults()
	for _, k := range opts.Offsets {
		if !(k > 0 && k < 100) {
			return Request{}, fmt.Errorf("%w: line offset %v must be above 0 and below 100", batch.ErrInvalid, k)
		}
	}
	past := ds.LogsBefore(player, date)
	if len(past) == 0 {
		return Request{}, fmt.Errorf("player %s has no game logs before %s: %w", player, date, batch.ErrNotFound)
	}
	last := past[len(past)-1]
	team := last.Team
	game, ok := ds.TeamGameOn(team, date)
	if !ok {
		// A trade since his last game: a sportsbook listing names his new team.
		for _, p := range ds.LinesOn(player, date) {
			if p.Team != "" && p.Team != team {
				if g, ok := ds.TeamGameOn(p.Team, date); ok {
					team, game, ok = p.Team, g, true
					break
				}
			}
		}
		if !ok {
			return Request{}, fmt.Errorf("player %s (%s) on %s: %w", player, team, date, ErrNoGame)
		}
	}
	r := Request{
		Format:      WireFormat,
		Date:        date,
		DataVersion: ds.Version(),
		PlayerID:    player,
		PlayerName:  last.PlayerName,
		Team:        team,
		GameID:      game.ID,
		Home:        game.Home == team,
		League:      ds.League(date),
	}
	r.Opponent = game.Home
	if r.Home {
		r.Opponent = game.Away
	}
	r.RestDays = ds.restDays(team, date)
	r.OppRating = ds.Rating(r.Opponent, date)
	r.TeamRating = ds.Rating(team, date)
	season := ds.SeasonOf(date)
	prev := ds.prevSeason(season)
	prevTotals, summed := ds.totals[playerSeason{player, prev}]
	if summed {
		r.PrevSeason = prevTotals
	}
	for i := len(past) - 1; i >= 0; i-- {
		l := past[i]
		if !l.Played {
			continue
		}
		switch {
		case l.Season == season:
			r.Season.add(l)
		case l.Season == prev && !summed:
			r.PrevSeason.add(l)
		}
		if len(r.Recent) < opts.History {
			r.Recent = append(r.Recent, PastGame{
				Date: l.Date, Season: l.Season, Opponent: l.Opponent, Home: l.Home,
				RestDays: ds.restDays(l.Team, l.Date), Starter: l.Starter, Minutes: l.Minutes,
				Points: l.Stats.Pts, FGA: l.Stats.FGA, FG3A: l.Stats.FG3A, FTA: l.Stats.FTA,
				OppDefense: ds.Rating(l.Opponent, l.Date).Defense,
				Line:       ds.bookLineOn(player, l.Date, opts.Books),
			})
		}
	}
	r.Season.finish()
	r.PrevSeason.finish()
	if len(r.Recent) == 0 {
		return Request{}, fmt.Errorf("player %s has no played game before %s: %w", player, date, batch.ErrNotFound)
	}
	r.Missed = ds.missed(player, team, date)
	r.Lines = buildLines(ds.LinesOn(player, date), r.Recent, opts)
	r.Calibration = opts.Calibration
	r.Pricing = opts.pricing()
	return r, nil
}

// restDays returns the full days off team had before its game on date.
func (ds *Dataset) restDays(team string, date Date) int {
	prev, ok := ds.prevTeamGame(team, date)
	if !ok {
		return MaxRestDays
	}
	return min(MaxRestDays, max(0, int(date-prev)-1))
}

// missed counts the team's last MissedWindow games before date without a
// played game log of the player.
func (ds *Dataset) missed(player, team string, date Date) int {
	idx := ds.teamGames[team]
	n, _ := slices.BinarySearchFunc(idx, date, func(j int, d Date) int { return int(ds.games[j].Date - d) })
	missed := 0
	for _, j := range idx[max(0, n-MissedWindow):n] {
		g := ds.games[j]
		if !g.Final {
			continue
		}
		if l, ok := ds.LogOn(player, g.Date); !ok || !l.Played {
			missed++
		}
	}
	return missed
}

func (a *Averages) add(l GameLog) {
	a.Games++
	if l.Starter {
		a.Starts++
	}
	a.Minutes += l.Minutes
	a.Points += float64(l.Stats.Pts)
	a.FGA += float64(l.Stats.FGA)
	a.FTA += float64(l.Stats.FTA)
}

func (a *Averages) finish() {
	if a.Games == 0 {
		return
	}
	n := float64(a.Games)
	a.Minutes /= n
	a.Points /= n
	a.FGA /= n
	a.FTA /= n
}

// bookLineOn returns the preferred book's main line among the player's
// prop lines on date (see preferredProp), or 0. It reads them in place: a
// request looks up the line of each of its 40 recent games, and
// copying the lines for each (LinesOn) was a fifth of what building the
// busiest day's requests allocated.
func (ds *Dataset) bookLineOn(player string, date Date, books []string) float64 {
	idx := ds.linesByKey[playerDate{player, date}]
	for _, book := range books {
		var best *PropLine
		for _, j := range idx {
			if p := &ds.lines[j]; p.Book == book && p.Main && (best == nil || betterProp(p, best)) {
				best = p
			}
		}
		if best != nil {
			return best.Line
		}
	}
	return 0
}

// preferredProp returns the main line of the first book in books that has
// one.
func preferredProp(props []PropLine, books []string) (PropLine, bool) {
	for _, book := range books {
		var best *PropLine
		for i := range props {
			p := &props[i]
			if p.Book != book || !p.Main {
				continue
			}
			if best == nil || betterProp(p, best) {
				best = p
			}
		}
		if best != nil {
			return *best, true
		}
	}
	return PropLine{}, false
}

// buildLines picks the base line (the preferred book's main line, else an
// estimate) and adds the variants.
func buildLines(props []PropLine, recent []PastGame, opts RequestOptions) []Line {
	var base Line
	if best, ok := preferredProp(props, opts.Books); ok {
		base = Line{Value: best.Line, Source: best.Book, OverOdds: validOdds(best.OverOdds), UnderOdds: validOdds(best.UnderOdds),
			Offers: offers(props, best, opts.Books)}
	} else {
		n := min(len(recent), opts.EstimateGames)
		sum := 0.0
		for _, g := range recent[:n] {
			sum += float64(g.Points)
		}
		base = Line{Value: HalfPoint(sum / float64(n)), Source: SourceEstimate, Estimated: true}
	}
	lines := []Line{base}
	for _, k := range opts.Offsets {
		for _, sign := range [2]float64{-1, 1} {
			v := base.Value + sign*k
			if v < 0.5 {
				continue
			}
			l := base
			l.Value, l.Offset, l.OverOdds, l.UnderOdds, l.Offers = v, sign*k, 0, 0, nil
			lines = append(lines, l)
		}
	}
	return lines
}

// offers returns, in the order of books, each other book's priced main
// line at base's value (one per book, chosen as [preferredProp] does).
func offers(props []PropLine, base PropLine, books []string) []Offer {
	var out []Offer
	for _, book := range books {
		if book == base.Book {
			continue
		}
		var best *PropLine
		for i := range props {
			p := &props[i]
			if p.Book != book || !p.Main || p.Line != base.Line || Payout(p.OverOdds) == 0 || Payout(p.UnderOdds) == 0 {
				continue
			}
			if best == nil || comparePropLines(*p, *best) < 0 {
				best = p
			}
		}
		if best != nil {
			out = append(out, Offer{Book: book, OverOdds: best.OverOdds, UnderOdds: best.UnderOdds})
		}
	}
	return out
}

// betterProp orders two main lines of one book: one with odds first, then
// the canonical row order, so the choice does not depend on input order.
func betterProp(a, b *PropLine) bool {
	ao, bo := a.OverOdds != 0 || a.UnderOdds != 0, b.OverOdds != 0 || b.UnderOdds != 0
	if ao != bo {
		return ao
	}
	return comparePropLines(*a, *b) < 0
}

// HalfPoint rounds v to the nearest x.5 value (at least 0.5), the form
// sportsbook points lines take.
func HalfPoint(v float64) float64 {
	if !(v > 0.5) {
		return 0.5
	}
	return math.Floor(v) + 0.5
}

// EncodeRequest returns r's wire form (JSON).
func EncodeRequest(r Request) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

// DecodeRequest parses and validates a request's wire form. Every error
// wraps [batch.ErrInvalid], so a worker can tell bad input from a transient
// failure.
func DecodeRequest(b []byte) (Request, error) {
	r, ok := decodeRequestFast(b)
	if !ok {
		var err error
		if r, err = decodeRequestSlow(b); err != nil {
			return Request{}, fmt.Errorf("%w: decode request: %v", batch.ErrInvalid, err)
		}
	}
	if err := r.Validate(); err != nil {
		return Request{}, err
	}
	return r, nil
}

// decodeRequestSlow is DecodeRequest's decoding by encoding/json.
func decodeRequestSlow(b []byte) (Request, error) {
	var r Request
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&r); err != nil {
		return Request{}, err
	}
	if dec.More() {
		return Request{}, errors.New("data after the JSON object")
	}
	return r, nil
}

// Validate reports every field of r that a system could not use, wrapping
// [batch.ErrInvalid] and naming the field.
func (r *Request) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: request: "+format, append([]any{batch.ErrInvalid}, args...)...))
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if r.Format != WireFormat {
		bad("format %d is not %d", r.Format, WireFormat)
	}
	if !r.Date.Valid() {
		bad("date %d out of range", int(r.Date))
	}
	if r.PlayerID == "" {
		bad("player_id is empty")
	}
	if r.Team == "" || r.Opponent == "" || r.Team == r.Opponent {
		bad("team %q and opponent %q must be two different teams", r.Team, r.Opponent)
	}
	if r.RestDays < 0 || r.RestDays > MaxRestDays {
		bad("rest_days %d outside 0..%d", r.RestDays, MaxRestDays)
	}
	if r.Missed < 0 || r.Missed > MissedWindow {
		bad("missed %d outside 0..%d", r.Missed, MissedWindow)
	}
	for _, t := range [...]struct {
		name string
		TeamRating
	}{{"opp_rating", r.OppRating}, {"team_rating", r.TeamRating}} {
		name := t.name
		if !(t.Defense > 0 && t.Defense < 5) || !(t.Pace > 0 && t.Pace < 5) || t.Games < 0 {
			bad("%s %+v out of range", name, t.TeamRating)
		}
	}
	if lg := r.League; !(lg.Points > 0 && lg.Points < 500) || !(lg.Home > 0.5 && lg.Home < 2) || !(lg.Away > 0.5 && lg.Away < 2) || !(lg.BackToBack > 0.5 && lg.BackToBack < 2) {
		bad("league %+v out of range", r.League)
	}
	for _, a := range [...]struct {
		name string
		Averages
	}{{"season", r.Season}, {"prev_season", r.PrevSeason}} {
		name := a.name
		if a.Games < 0 || a.Starts < 0 || a.Starts > a.Games || !finite(a.Minutes) || !finite(a.Points) ||
			a.Minutes < 0 || a.Points < 0 || !finite(a.FGA) || !finite(a.FTA) || a.FGA < 0 || a.FTA < 0 {
			bad("%s averages %+v out of range", name, a.Averages)
		}
	}
	if len(r.Recent) == 0 {
		bad("recent is empty: at least one played game is needed")
	}
	for i, g := range r.Recent {
		if !(g.Date < r.Date) || !g.Date.Valid() {
			bad("recent[%d]: date %s is not before the request date %s", i, g.Date, r.Date)
		}
		if i > 0 && g.Date >= r.Recent[i-1].Date {
			bad("recent[%d]: date %s is not before recent[%d] (%s): newest first", i, g.Date, i-1, r.Recent[i-1].Date)
		}
		if !(g.Minutes >= 0 && g.Minutes <= 96) || g.Points < 0 || g.Points > 200 || g.FGA < 0 || g.FG3A < 0 || g.FTA < 0 {
			bad("recent[%d]: minutes %v or points %d out of range", i, g.Minutes, g.Points)
		}
		if g.RestDays < 0 || g.RestDays > MaxRestDays {
			bad("recent[%d]: rest_days %d outside 0..%d", i, g.RestDays, MaxRestDays)
		}
		if !(g.OppDefense > 0 && g.OppDefense < 5) {
			bad("recent[%d]: opp_defense %v out of range", i, g.OppDefense)
		}
		if len(errs) > 10 {
			break
		}
	}
	if len(r.Lines) == 0 {
		bad("lines is empty")
	}
	seen := make(map[float64]bool, len(r.Lines))
	for i, l := range r.Lines {
		if !(l.Value >= 0 && l.Value < 200) {
			bad("lines[%d]: value %v outside 0..200", i, l.Value)
		}
		if !finite(l.Offset) || (i == 0) != (l.Offset == 0) {
			bad("lines[%d]: offset %v (the first line, and only it, is the base with offset 0)", i, l.Offset)
		}
		if l.Source == "" {
			bad("lines[%d]: source is empty", i)
		}
		if l.Estimated != (l.Source == SourceEstimate) {
			bad("lines[%d]: estimated %v does not match source %q", i, l.Estimated, l.Source)
		}
		if seen[l.Value] {
			bad("lines[%d]: value %v appears twice", i, l.Value)
		}
		seen[l.Value] = true
		for _, odds := range [...]int{l.OverOdds, l.UnderOdds} {
			if odds != 0 && Payout(odds) == 0 {
				bad("lines[%d]: odds %d are not American odds", i, odds)
			}
		}
		for j, o := range l.Offers {
			if o.Book == "" || Payout(o.OverOdds) == 0 || Payout(o.UnderOdds) == 0 || l.Offset != 0 || l.Estimated {
				bad("lines[%d]: offers[%d] %+v: a priced offer of a named book on the base sportsbook line", i, j, o)
			}
		}
	}
	if pr := r.Pricing; !(pr.MinEV >= 0 && pr.MinEV < 1) {
		bad("pricing.min_ev %v outside [0,1)", pr.MinEV)
	}
	if err := r.Calibration.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validOdds returns odds, or 0 when they are not American odds.
func validOdds(odds int) int {
	if Payout(odds) == 0 {
		return 0
	}
	return odds
}

// pricing returns the pricing the options put in a request.
func (o RequestOptions) pricing() Pricing {
	if o.Pricing != nil {
		return *o.Pricing
	}
	return DefaultPricing()
}
