package dataimport

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"tipoff/batch"
	"tipoff/predict"
)

// SyntheticOptions shapes the demo league. The zero value means the
// defaults.
type SyntheticOptions struct {
	// From and To bound the schedule (default 2025-10-21 to 2026-04-12).
	From, To predict.Date
	// PlayedThrough is the last date with results; later games are on the
	// schedule without box scores (default To).
	PlayedThrough predict.Date
	// Teams is the number of teams, even, 2 to 30 (default 30).
	Teams int
	// Roster is the players per team, 8 to 17 (default 13).
	Roster int
	// Books lists the sportsbooks that post lines (default draftkings and
	// fanduel).
	Books []string
}

func (o SyntheticOptions) withDefaults() SyntheticOptions {
	if o.From == 0 {
		o.From = predict.MustParseDate("2025-10-21")
	}
	if o.To == 0 {
		o.To = predict.MustParseDate("2026-04-12")
	}
	if o.PlayedThrough == 0 {
		o.PlayedThrough = o.To
	}
	if o.Teams == 0 {
		o.Teams = 30
	}
	if o.Roster == 0 {
		o.Roster = 13
	}
	if len(o.Books) == 0 {
		o.Books = []string{"draftkings", "fanduel"}
	}
	return o
}

func (o SyntheticOptions) validate() error {
	switch {
	case !o.From.Valid() || !o.To.Valid() || o.To < o.From:
		return fmt.Errorf("%w: synthetic league: dates %s..%s are not an increasing range", batch.ErrInvalid, o.From, o.To)
	case o.To-o.From > 3*366:
		return fmt.Errorf("%w: synthetic league: range %s..%s is longer than three years", batch.ErrInvalid, o.From, o.To)
	case o.Teams < 2 || o.Teams > len(teamCodes) || o.Teams%2 != 0:
		return fmt.Errorf("%w: synthetic league: teams %d must be even and 2..%d", batch.ErrInvalid, o.Teams, len(teamCodes))
	case o.Roster < 8 || o.Roster > 17:
		return fmt.Errorf("%w: synthetic league: roster %d must be 8..17", batch.ErrInvalid, o.Roster)
	}
	for _, b := range o.Books {
		if b == "" || b == predict.SourceEstimate {
			return fmt.Errorf("%w: synthetic league: book name %q not allowed", batch.ErrInvalid, b)
		}
	}
	return nil
}

// teamCodes are the demo league's team codes (fictional cities).
var teamCodes = [...]string{
	"ALB", "BRK", "CDR", "DRV", "ELP", "FRG", "GLN", "HRB", "IRV", "JNP",
	"KNX", "LRD", "MDN", "NRF", "OAS", "PRV", "QNC", "RNO", "SLM", "TAC",
	"UTC", "VNT", "WLM", "XEN", "YRK", "ZNS", "AKR", "BOI", "CHR", "DUL",
}

var firstNames = [...]string{"Avery", "Blake", "Casey", "Devin", "Emery", "Finley", "Gray", "Harper", "Indy", "Jules",
	"Kai", "Logan", "Morgan", "Nico", "Oakley", "Parker", "Quinn", "Reese", "Sage", "Tatum", "Uri", "Val", "Wren", "Yael"}
var lastNames = [...]string{"Abbott", "Baker", "Castillo", "Dorsey", "Ellison", "Fischer", "Grant", "Holloway", "Ibarra",
	"Jensen", "Kowalski", "Lindqvist", "Mbeki", "Novak", "Okafor", "Petrov", "Quist", "Rahman", "Sato", "Thorne",
	"Ueda", "Varga", "Whitfield", "Yilmaz", "Zamora"}

type synthPlayer struct {
	id, name string
	minutes  float64 // typical minutes when healthy
	perMin   float64 // points per minute
	out      int     // games left on the injury list
	form     float64 // slow multiplicative drift of scoring
	recent   []int   // recent points, newest last (for the book)
}

type synthTeam struct {
	code     string
	off, def float64
	players  []*synthPlayer
	last     predict.Date
}

// Synthetic builds a deterministic demo league: teams with offensive and
// defensive strengths, a schedule over opts' date range, rosters whose
// minutes and scoring follow NBA-like distributions (stars near 30 points,
// over-dispersed game to game, with home, back-to-back and opponent
// effects), injuries with OUT reports, box scores for every game through
// PlayedThrough, and sportsbook-style main lines (x.5, -110ish odds) from
// each book for the players a book would list. The same seed and options
// always give the same data set and Version. It returns an error wrapping
// [batch.ErrInvalid] for bad options.
func Synthetic(seed int64, opts SyntheticOptions) (*predict.Dataset, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7469706f6666))
	teams := make([]*synthTeam, opts.Teams)
	pid := 1000
	for i := range teams {
		t := &synthTeam{code: teamCodes[i], off: 1 + 0.035*rng.NormFloat64(), def: 1 + 0.035*rng.NormFloat64(), last: -1}
		for j := range opts.Roster {
			pid++
			// Minutes: five starters ~28-36, a bench of ~12-26, then deep bench.
			var mins float64
			switch {
			case j < 5:
				mins = 31 + 3*rng.NormFloat64()
			case j < 9:
				mins = 20 + 4*rng.NormFloat64()
			default:
				mins = 8 + 4*rng.NormFloat64()
			}
			mins = math.Max(3, math.Min(40, mins))
			// Points per minute: log-normal around 0.45, so a 34-minute
			// star reaches ~25-30 and a role player ~8.
			ppm := 0.45 * math.Exp(0.3*rng.NormFloat64())
			if j < 2 {
				ppm *= 1.35
			}
			ppm = math.Max(0.15, math.Min(0.85, ppm)) // no 45-point scorers

			name := firstNames[rng.IntN(len(firstNames))] + " " + lastNames[rng.IntN(len(lastNames))]
			t.players = append(t.players, &synthPlayer{id: strconv.Itoa(pid), name: name, minutes: mins, perMin: ppm, form: 1})
		}
		teams[i] = t
	}
	var (
		games    []predict.Game
		logs     []predict.GameLog
		lines    []predict.PropLine
		statuses []predict.Status
	)
	gameNo := 0
	for d := opts.From; d <= opts.To; d++ {
		// About 45 % of teams play each day; a team that played yesterday
		// plays again (a back-to-back) less often.
		var playing []*synthTeam
		for _, t := range rng.Perm(len(teams)) {
			p := 0.47
			if teams[t].last == d-1 {
				p = 0.25
			}
			if rng.Float64() < p {
				playing = append(playing, teams[t])
			}
		}
		if len(playing)%2 == 1 {
			playing = playing[:len(playing)-1]
		}
		season := seasonOf(d)
		for k := 0; k < len(playing); k += 2 {
			home, away := playing[k], playing[k+1]
			gameNo++
			g := predict.Game{
				ID: fmt.Sprintf("SYN%07d", gameNo), Date: d, Season: season, SeasonType: "Regular Season",
				Home: home.code, Away: away.code,
			}
			played := d <= opts.PlayedThrough
			g.Final = played
			var pts [2]int
			for side, t := range [2]*synthTeam{home, away} {
				opp := away
				if side == 1 {
					opp = home
				}
				b2b := t.last == d-1
				venue := 1.015
				if side == 1 {
					venue = 0.985
				}
				for j, p := range t.players {
					// Injuries: a healthy player gets hurt now and then and
					// misses a spell of games, reported OUT.
					if p.out == 0 && rng.Float64() < 0.012 {
						p.out = 1 + rng.IntN(8)
					}
					p.form = 1 + 0.9*(p.form-1) + 0.03*rng.NormFloat64()
					mean := p.perMin * p.minutes * p.form * t.off * opp.def * venue
					if b2b {
						mean *= 0.97
					}
					if p.out == 0 && mean >= 6 {
						for bi, book := range opts.Books {
							// The book's number: mostly the true mean, partly
							// recent scoring, a little book-specific noise.
							est := 0.7*mean + 0.3*recentMean(p.recent, mean) + 0.4*rng.NormFloat64() + 0.2*float64(bi)
							over := -110 + 5*rng.IntN(3) - 5
							lines = append(lines, predict.PropLine{
								Date: d, GameID: g.ID, PlayerID: p.id, Team: t.code, Book: book,
								Line: predict.HalfPoint(est), OverOdds: over, UnderOdds: -220 - over, Main: true, Source: "synthetic",
							})
						}
					}
					if !played {
						if p.out > 0 {
							statuses = append(statuses, predict.Status{Date: d, PlayerID: p.id, Status: predict.StatusOut})
						}
						continue
					}
					l := predict.GameLog{
						GameID: g.ID, Date: d, Season: season, SeasonType: "Regular Season", PlayerID: p.id, PlayerName: p.name,
						Team: t.code, Opponent: opp.code, Home: side == 0, Starter: j < 5,
					}
					if p.out > 0 {
						p.out--
						l.Starter = false
						l.DNPReason = "DND - Injury/Illness"
						statuses = append(statuses, predict.Status{Date: d, PlayerID: p.id, Status: predict.StatusOut})
					} else if rng.Float64() < 0.04*float64(max(0, j-7)) {
						l.Starter = false
						l.DNPReason = "DNP - Coach's Decision"
					} else {
						l.Played = true
						l.Minutes = math.Round(math.Max(1, math.Min(48, p.minutes+3.5*rng.NormFloat64()))*100) / 100
						m := p.perMin * l.Minutes * p.form * t.off * opp.def * venue
						if b2b {
							m *= 0.97
						}
						l.Stats = boxScore(rng, m, l.Minutes)
						pts[side] += l.Stats.Pts
						p.recent = append(p.recent, l.Stats.Pts)
						if len(p.recent) > 10 {
							p.recent = p.recent[1:]
						}
					}
					logs = append(logs, l)
				}
			}
			if played {
				g.HomePts, g.AwayPts = pts[0], pts[1]
			}
			games = append(games, g)
			home.last, away.last = d, d
		}
	}
	return predict.NewDataset(games, logs, lines, statuses)
}

// boxScore draws a stat line with mean points m: over-dispersed (a
// gamma-Poisson mixture, variance ≈ 2·mean), split into free throws, twos
// and threes.
func boxScore(rng *rand.Rand, m, minutes float64) predict.Stats {
	lambda := gamma(rng, math.Max(m, 0.1)/1.0) // shape m, scale 1: mean m, adds variance m
	pts := poisson(rng, lambda)
	var s predict.Stats
	s.FTM = min(pts, poisson(rng, 0.18*float64(pts)))
	rest := pts - s.FTM
	s.FG3M = min(rest/3, poisson(rng, 0.1*float64(rest)))
	s.FGM = (rest-3*s.FG3M)/2 + s.FG3M
	s.FTM = pts - 2*(s.FGM-s.FG3M) - 3*s.FG3M
	s.FTA = s.FTM + poisson(rng, 0.25*float64(s.FTM))
	s.FG3A = s.FG3M + poisson(rng, 1.7*float64(s.FG3M)+0.5)
	s.FGA = s.FGM + s.FG3A - s.FG3M + poisson(rng, 0.9*float64(s.FGM-s.FG3M)+0.5)
	s.Pts = pts
	s.DReb = poisson(rng, 0.13*minutes)
	s.OReb = poisson(rng, 0.04*minutes)
	s.Reb = s.DReb + s.OReb
	s.Ast = poisson(rng, 0.09*minutes)
	s.Stl = poisson(rng, 0.03*minutes)
	s.Blk = poisson(rng, 0.02*minutes)
	s.Tov = poisson(rng, 0.05*minutes)
	s.PF = min(6, poisson(rng, 0.07*minutes))
	s.PlusMinus = int(math.Round(6 * rng.NormFloat64()))
	return s
}

func recentMean(pts []int, fallback float64) float64 {
	if len(pts) == 0 {
		return fallback
	}
	s := 0
	for _, p := range pts {
		s += p
	}
	return float64(s) / float64(len(pts))
}

// poisson draws from Poisson(lambda) (inversion for small lambda, a
// normal approximation above 30).
func poisson(rng *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 {
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*rng.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// gamma draws from Gamma(shape, 1) (Marsaglia-Tsang).
func gamma(rng *rand.Rand, shape float64) float64 {
	if shape < 1 {
		return gamma(rng, shape+1) * math.Pow(rng.Float64(), 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// seasonOf names the season a date falls in: July-June, e.g. "2025-26".
func seasonOf(d predict.Date) string {
	y, m, _ := d.Civil()
	if m < 7 {
		y--
	}
	return fmt.Sprintf("%d-%02d", y, (y+1)%100)
}
