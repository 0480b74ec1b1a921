package predict

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"tipoff/batch"
)

// Calibration turns each system's own probability of OVER (its
// [Prediction.ModelPOver]) into the stated, calibrated P(over). It is
// fitted by [Calibrate] from graded predictions strictly before the date it
// serves, and travels in the request so that a worker needs nothing else.
//
// Where the line has prices the model starts from the market:
//
//	logit P = Market[0] + Market[1]·logit(m) + Market[2]·(logit(q) − logit(m))
//
// with m the market's vig-free P(over) and q the system's own. The fit is a
// logistic regression penalised toward (0, 1, 0), which is the market price
// itself: the system moves the price only as far as its graded record
// earns. Without prices (estimated lines, variants, books that publish no
// odds) it is
//
//	logit P = NoMarket[0] + NoMarket[1]·logit(q)
//
// penalised toward (0, 0), a coin flip: again, what the model says counts
// only as far as its record supports it.
type Calibration struct {
	// From and Through are the first and last dates whose graded
	// predictions were fitted (Through is before the date served).
	From    Date                `json:"from"`
	Through Date                `json:"through"`
	Systems []SystemCalibration `json:"systems"`
}

// SystemCalibration is one system's fitted calibration.
type SystemCalibration struct {
	System       string     `json:"system"`
	Market       [3]float64 `json:"market"`
	MarketRows   int        `json:"market_rows"`
	NoMarket     [2]float64 `json:"no_market"`
	NoMarketRows int        `json:"no_market_rows"`
}

// POver returns the calibrated probability of OVER for system, given its
// own probability model and the market's vig-free probability market (ok
// false when the line has no prices). A nil calibration, or one without
// the system, has no record to go on: it returns the market's price, or
// 0.5 without one.
func (c *Calibration) POver(system string, model, market float64, ok bool) float64 {
	var sc *SystemCalibration
	if c != nil {
		for i := range c.Systems {
			if c.Systems[i].System == system {
				sc = &c.Systems[i]
				break
			}
		}
	}
	switch {
	case sc == nil && ok:
		return market
	case sc == nil:
		return 0.5
	case ok:
		lm := logit(market)
		return sigmoid(sc.Market[0] + sc.Market[1]*lm + sc.Market[2]*(logit(model)-lm))
	}
	return sigmoid(sc.NoMarket[0] + sc.NoMarket[1]*logit(model))
}

func (c *Calibration) validate() error {
	if c == nil {
		return nil
	}
	var errs []error
	for i, sc := range c.Systems {
		ok := sc.System != "" && sc.MarketRows >= 0 && sc.NoMarketRows >= 0
		for _, v := range append(sc.Market[:], sc.NoMarket[:]...) {
			ok = ok && !math.IsNaN(v) && math.Abs(v) < 100
		}
		if !ok {
			errs = append(errs, fmt.Errorf("%w: request: calibration.systems[%d] %+v out of range", batch.ErrInvalid, i, sc))
		}
	}
	return errors.Join(errs...)
}

// CalibrateOptions sets how [Calibrate] replays the past.
type CalibrateOptions struct {
	Select  SelectOptions
	Request RequestOptions
	// Window is how many days before the date are replayed and graded
	// (default [DefaultCalibrationWindow]).
	Window int
	// Ridge is the weight of the penalty that holds the fit to the market
	// (default [DefaultRidge]).
	Ridge float64
	// Workers is how many dates are replayed at once (default GOMAXPROCS).
	Workers int
}

// DefaultCalibrationWindow is how many days of graded predictions a
// calibration is fitted on by default.
const DefaultCalibrationWindow = 60

// DefaultRidge is the default penalty weight: about the information of 80
// graded rows on the intercept, so a few days of luck cannot move it.
const DefaultRidge = 20.0

func (o CalibrateOptions) withDefaults() CalibrateOptions {
	if o.Window <= 0 {
		o.Window = DefaultCalibrationWindow
	}
	if !(o.Ridge > 0) {
		o.Ridge = DefaultRidge
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

// Calibrate fits the calibration for date: it replays the Window days
// before date exactly as the daily batch would (selection, requests built
// from data before each day, every system), grades the base-line
// predictions against the points scored, and fits each system. It reads
// nothing dated on or after date. Errors are those of [BuildRequest] and
// [Run].
func Calibrate(ds *Dataset, date Date, systems []System, opts CalibrateOptions) (*Calibration, error) {
	CheckSystems(systems)
	opts = opts.withDefaults()
	from := date - Date(opts.Window)
	days := make([]replayDay, opts.Window)
	errs := make([]error, opts.Window)
	parallel(opts.Window, opts.Workers, func(i int) {
		days[i], errs[i] = replayDate(ds, from+Date(i), systems, opts.Select, opts.Request)
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return fitCalibration(systems, days, from, date-1, opts.Ridge), nil
}

// replayRow is one graded player-game at its base line: the line, every
// system's unpriced prediction, and what happened.
type replayRow struct {
	line   Line
	preds  []Prediction
	points int
	played bool
}

// replayDay is one replayed date.
type replayDay struct {
	date     Date
	requests int
	rows     []replayRow
}

// replayDate builds every selected player's request for d and runs the
// systems without a calibration, keeping the base-line predictions of the
// players who played.
func replayDate(ds *Dataset, d Date, systems []System, sel SelectOptions, ro RequestOptions) (replayDay, error) {
	day := replayDay{date: d}
	ro.Offsets = nil // only the base line is graded
	for _, c := range SelectPlayers(ds, d, sel) {
		req, err := BuildRequest(ds, d, c.PlayerID, ro)
		if errors.Is(err, batch.ErrNotFound) {
			continue
		}
		if err != nil {
			return day, fmt.Errorf("%s: %w", d, err)
		}
		day.requests++
		log, ok := ds.LogOn(c.PlayerID, d)
		if !ok || !log.Played {
			continue
		}
		req.Calibration = nil
		res, err := Run(&req, systems)
		if err != nil {
			return day, fmt.Errorf("%s: %w", d, err)
		}
		day.rows = append(day.rows, replayRow{line: req.Lines[0], preds: res.Predictions, points: log.Stats.Pts, played: true})
	}
	return day, nil
}

// fitCalibration fits every system on the graded rows of days, which
// cover from..through.
func fitCalibration(systems []System, days []replayDay, from, through Date, ridge float64) *Calibration {
	cal := &Calibration{From: from, Through: through, Systems: make([]SystemCalibration, len(systems))}
	var mx, nx [][]float64
	var my, ny []bool
	for si, s := range systems {
		mx, nx, my, ny = mx[:0], nx[:0], my[:0], ny[:0]
		for _, day := range days {
			for _, r := range day.rows {
				if float64(r.points) == r.line.Value {
					continue // a push grades neither side
				}
				over := float64(r.points) > r.line.Value
				lq := logit(r.preds[si].ModelPOver)
				nx = append(nx, []float64{1, lq})
				ny = append(ny, over)
				if m, ok := r.preds[si].marketPOver(); ok {
					lm := logit(m)
					mx = append(mx, []float64{1, lm, lq - lm})
					my = append(my, over)
				}
			}
		}
		sc := SystemCalibration{System: s.Name(), MarketRows: len(mx), NoMarketRows: len(nx)}
		copy(sc.Market[:], fitLogistic(mx, my, []float64{0, 1, 0}, ridge))
		copy(sc.NoMarket[:], fitLogistic(nx, ny, []float64{0, 0}, ridge))
		for i, v := range sc.Market {
			sc.Market[i] = round6(v)
		}
		for i, v := range sc.NoMarket {
			sc.NoMarket[i] = round6(v)
		}
		cal.Systems[si] = sc
	}
	return cal
}

// fitLogistic fits logit P(y) = θ·x by Newton's method, maximising the
// log-likelihood minus ridge·|θ − prior|². With no rows it returns prior.
func fitLogistic(xs [][]float64, ys []bool, prior []float64, ridge float64) []float64 {
	k := len(prior)
	theta := append([]float64(nil), prior...)
	grad := make([]float64, k)
	hess := make([]float64, k*k)
	for range 50 {
		for i := range k {
			grad[i] = -2 * ridge * (theta[i] - prior[i])
			for j := range k {
				hess[i*k+j] = 0
			}
			hess[i*k+i] = 2 * ridge
		}
		for n, x := range xs {
			z := 0.0
			for i := range k {
				z += theta[i] * x[i]
			}
			p := sigmoid(z)
			y := 0.0
			if ys[n] {
				y = 1
			}
			w := p * (1 - p)
			for i := range k {
				grad[i] += (y - p) * x[i]
				for j := range k {
					hess[i*k+j] += w * x[i] * x[j]
				}
			}
		}
		step := solve(hess, grad, k)
		size := 0.0
		for i := range k {
			theta[i] += step[i]
			size += math.Abs(step[i])
		}
		if size < 1e-9 {
			break
		}
	}
	return theta
}

// solve solves the k×k positive definite system a·x = b by Gaussian
// elimination with partial pivoting. It overwrites a and b.
func solve(a, b []float64, k int) []float64 {
	for c := range k {
		p := c
		for r := c + 1; r < k; r++ {
			if math.Abs(a[r*k+c]) > math.Abs(a[p*k+c]) {
				p = r
			}
		}
		if p != c {
			for j := range k {
				a[c*k+j], a[p*k+j] = a[p*k+j], a[c*k+j]
			}
			b[c], b[p] = b[p], b[c]
		}
		for r := c + 1; r < k; r++ {
			f := a[r*k+c] / a[c*k+c]
			for j := c; j < k; j++ {
				a[r*k+j] -= f * a[c*k+j]
			}
			b[r] -= f * b[c]
		}
	}
	x := make([]float64, k)
	for r := k - 1; r >= 0; r-- {
		s := b[r]
		for j := r + 1; j < k; j++ {
			s -= a[r*k+j] * x[j]
		}
		x[r] = s / a[r*k+r]
	}
	return x
}

// parallel calls f(0..n-1) on up to workers goroutines and waits.
func parallel(n, workers int, f func(int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }
