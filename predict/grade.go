package predict

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"tipoff/batch"
)

// Verdict is how a pick fared.
type Verdict int

// Verdicts. Void covers PASS, pushes and players who did not play.
const (
	Void Verdict = iota
	Win
	Loss
)

// GradePick grades a pick against line given the points scored. played is
// false when the player has no box score line or did not play: the bet is
// void. A result equal to the line is a push: void too.
func GradePick(pick Pick, line float64, points int, played bool) Verdict {
	if !played || pick == Pass || float64(points) == line {
		return Void
	}
	over := float64(points) > line
	if (pick == Over) == over {
		return Win
	}
	return Loss
}

// BacktestOptions sets how [Backtest] selects players and builds requests.
type BacktestOptions struct {
	Select  SelectOptions
	Request RequestOptions
	// Workers is how many dates run at once (default GOMAXPROCS).
	Workers int
}

// SystemScore is one system's graded record in a backtest. MAE and Bias
// are over rows (player-games with a real line whose player played); picks
// and hits count its OVER/UNDER picks on the real line, pushes excluded.
type SystemScore struct {
	Name    string  `json:"name"`
	Rows    int     `json:"rows"`
	MAE     float64 `json:"mae"`
	Bias    float64 `json:"bias"`
	Picks   int     `json:"picks"`
	Hits    int     `json:"hits"`
	HitRate float64 `json:"hit_rate"`
}

// LineScore is the sportsbook line's own record as a predictor of points.
type LineScore struct {
	Rows int     `json:"rows"`
	MAE  float64 `json:"mae"`
	Bias float64 `json:"bias"`
}

// BacktestReport is the result of [Backtest].
type BacktestReport struct {
	From Date `json:"from"`
	To   Date `json:"to"`
	// Rows counts graded player-games that have a real line.
	Rows int `json:"rows"`
	// Requests counts every request built (with or without a real line).
	Requests int           `json:"requests"`
	Systems  []SystemScore `json:"systems"`
	Line     LineScore     `json:"line"`
}

// Backtest replays every date from..to (inclusive): it selects players,
// builds each request from data strictly before the date, runs every
// system, and grades the base-line predictions against the points actually
// scored. Only player-games with a real sportsbook base line whose player
// played are graded. It returns an error wrapping [batch.ErrInvalid] for a
// bad range, and any system error.
func Backtest(ds *Dataset, from, to Date, systems []System, opts BacktestOptions) (*BacktestReport, error) {
	if to < from {
		return nil, fmt.Errorf("%w: backtest range %s..%s ends before it starts", batch.ErrInvalid, from, to)
	}
	CheckSystems(systems)
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	days := int(to-from) + 1
	tallies := make([]tally, days)
	errs := make([]error, days)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				tallies[i], errs[i] = backtestDate(ds, from+Date(i), systems, opts)
			}
		})
	}
	for i := range days {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	rep := &BacktestReport{From: from, To: to, Systems: make([]SystemScore, len(systems))}
	var absErr, sumErr []float64 = make([]float64, len(systems)), make([]float64, len(systems))
	var lineAbs, lineErr float64
	for _, t := range tallies {
		rep.Requests += t.requests
		rep.Rows += t.rows
		lineAbs += t.lineAbs
		lineErr += t.lineErr
		for si := range systems {
			absErr[si] += t.absErr[si]
			sumErr[si] += t.err[si]
			rep.Systems[si].Picks += t.picks[si]
			rep.Systems[si].Hits += t.hits[si]
		}
	}
	n := float64(max(rep.Rows, 1))
	rep.Line = LineScore{Rows: rep.Rows, MAE: round3(lineAbs / n), Bias: round3(lineErr / n)}
	for si, s := range systems {
		sc := &rep.Systems[si]
		sc.Name, sc.Rows = s.Name(), rep.Rows
		sc.MAE, sc.Bias = round3(absErr[si]/n), round3(sumErr[si]/n)
		if sc.Picks > 0 {
			sc.HitRate = round3(float64(sc.Hits) / float64(sc.Picks))
		}
	}
	return rep, nil
}

type tally struct {
	requests int
	rows     int
	absErr   []float64
	err      []float64
	picks    []int
	hits     []int
	lineAbs  float64
	lineErr  float64
}

func backtestDate(ds *Dataset, d Date, systems []System, opts BacktestOptions) (tally, error) {
	t := tally{
		absErr: make([]float64, len(systems)), err: make([]float64, len(systems)),
		picks: make([]int, len(systems)), hits: make([]int, len(systems)),
	}
	for _, c := range SelectPlayers(ds, d, opts.Select) {
		req, err := BuildRequest(ds, d, c.PlayerID, opts.Request)
		if errors.Is(err, batch.ErrNotFound) {
			continue
		}
		if err != nil {
			return t, fmt.Errorf("%s: %w", d, err)
		}
		t.requests++
		base := req.Lines[0]
		log, ok := ds.LogOn(c.PlayerID, d)
		if !base.Real() || !ok || !log.Played {
			continue
		}
		res, err := Run(&req, systems)
		if err != nil {
			return t, fmt.Errorf("%s: %w", d, err)
		}
		pts := float64(log.Stats.Pts)
		t.rows++
		t.lineAbs += math.Abs(base.Value - pts)
		t.lineErr += base.Value - pts
		for si := range systems {
			p := res.Predictions[si] // the base line's predictions come first, in system order
			t.absErr[si] += math.Abs(p.Points - pts)
			t.err[si] += p.Points - pts
			switch GradePick(p.Pick, p.Line, log.Stats.Pts, true) {
			case Win:
				t.picks[si]++
				t.hits[si]++
			case Loss:
				t.picks[si]++
			}
		}
	}
	return t, nil
}
