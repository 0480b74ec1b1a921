package predict

import (
	"context"
	"encoding/json"
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
//
// A fit that is calibrated over all rows still overstates the rows it
// picks: picks are chosen where the fitted probability is furthest from
// the price, which is where the fit's own errors are largest. So the move
// away from the market is then scaled by [SystemCalibration.Move], fitted
// on the window's would-be picks alone, each priced by a fit that did not
// see its own days (see [Calibrate]). A system whose past picks did not
// earn their move keeps none of it: it states the market price and, at the
// book's margin, picks nothing.
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
	// Move, in [0, 1], is the share of the priced fit's move away from the
	// market that is stated: 1 keeps the fit, 0 states the market's price.
	Move float64 `json:"move"`
	// Record is how the system's picks fared in the window, each priced
	// by a fit that did not see its own days, with Move applied.
	Record PickRecord `json:"record"`
	// Earned is whether Record shows calibrated probabilities and a profit
	// at the offered prices (see [PickRecord]); a system picks only then.
	Earned bool `json:"earned"`
}

// PickRecord is the out-of-sample record of a system's picks in a
// calibration window: how many, how many won, the sum of their stated
// probabilities of winning, and the profit at their prices per unit staked
// on each.
type PickRecord struct {
	Picks  int     `json:"picks"`
	Hits   int     `json:"hits"`
	Stated float64 `json:"stated"`
	Profit float64 `json:"profit"`
}

// Thresholds for a [PickRecord] to earn picks.
const (
	// MinRecordPicks is the fewest past picks that can show anything.
	MinRecordPicks = 100
	// MaxRecordGap is how far, in probability, the picks' realized hit
	// rate may fall below their mean stated probability.
	MaxRecordGap = 0.02
)

// earned reports whether the record shows calibrated probabilities and an
// edge at the offered prices: at least [MinRecordPicks] picks, a hit rate
// no more than [MaxRecordGap] below the mean stated probability, and a
// return per unit staked at least one standard error (about 1/√picks at
// even-money-like prices) above zero.
func (r PickRecord) earned() bool {
	if r.Picks < MinRecordPicks {
		return false
	}
	n := float64(r.Picks)
	return float64(r.Hits)/n >= r.Stated/n-MaxRecordGap && r.Profit/n >= 1/math.Sqrt(n)
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
		return sigmoid(lm + sc.Move*(sc.marketLogit(lm, logit(model))-lm))
	}
	return sigmoid(sc.NoMarket[0] + sc.NoMarket[1]*logit(model))
}

// marketLogit is the priced fit's log-odds of OVER, before Move.
func (sc *SystemCalibration) marketLogit(lm, lq float64) float64 {
	return sc.Market[0] + sc.Market[1]*lm + sc.Market[2]*(lq-lm)
}

func (c *Calibration) validate() error {
	if c == nil {
		return nil
	}
	var errs []error
	for i, sc := range c.Systems {
		ok := sc.System != "" && sc.MarketRows >= 0 && sc.NoMarketRows >= 0 && sc.Record.Picks >= 0 && sc.Record.Hits >= 0 && sc.Record.Hits <= sc.Record.Picks && sc.Move >= 0 && sc.Move <= 1
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
	// MoveRidge is the weight of the penalty that holds [SystemCalibration.Move]
	// to 0, the market (default [DefaultMoveRidge]).
	MoveRidge float64
	// Ungated lets every system pick whatever its record, to measure
	// what the record gate ([PickRecord]) keeps out; never the default.
	Ungated bool
	// Workers is how many dates are replayed at once (default GOMAXPROCS).
	Workers int
}

// DefaultCalibrationWindow is how many days of graded predictions a
// calibration is fitted on by default.
const DefaultCalibrationWindow = 60

// DefaultRidge is the default penalty weight: about the information of 80
// graded rows on the intercept, so a few days of luck cannot move it.
const DefaultRidge = 20.0

// DefaultMoveRidge is the default weight of the penalty on Move: about
// the information of a quarter of a window's would-be picks, whose moves
// are small.
const DefaultMoveRidge = 1.0

func (o CalibrateOptions) withDefaults() CalibrateOptions {
	if o.Window <= 0 {
		o.Window = DefaultCalibrationWindow
	}
	if !(o.Ridge > 0) {
		o.Ridge = DefaultRidge
	}
	if !(o.MoveRidge > 0) {
		o.MoveRidge = DefaultMoveRidge
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
// [Run], and one wrapping [batch.ErrInvalid] for a partial data set
// ([NewPartialDataset]), which lacks the days replayed.
func Calibrate(ds *Dataset, date Date, systems []System, opts CalibrateOptions) (*Calibration, error) {
	CheckSystems(systems)
	if ds.Partial() {
		return nil, fmt.Errorf("%w: calibrate for %s: the data set (version %s) holds only one date's rows", batch.ErrInvalid, date, ds.Version())
	}
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
	return fitCalibration(systems, days, from, date-1, opts, opts.Request.pricing()), nil
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

// moveFolds is how many blocks of days the window is cut into so that
// each would-be pick is priced by a fit that did not see its own block.
const moveFolds = 4

// calRow is one graded, priced-or-not row of one system in a window.
type calRow struct {
	fold   int
	line   Line
	pred   Prediction
	over   bool
	priced bool
}

// fitCalibration fits every system on the graded rows of days, which
// cover from..through, picking would-be picks under pr.
func fitCalibration(systems []System, days []replayDay, from, through Date, opts CalibrateOptions, pr Pricing) *Calibration {
	cal := &Calibration{From: from, Through: through, Systems: make([]SystemCalibration, len(systems))}
	var rows []calRow
	var mx, nx [][]float64
	var my, ny []bool
	for si, s := range systems {
		rows, nx, ny = rows[:0], nx[:0], ny[:0]
		for di, day := range days {
			for _, r := range day.rows {
				if float64(r.points) == r.line.Value {
					continue // a push grades neither side
				}
				over := float64(r.points) > r.line.Value
				_, priced := r.preds[si].marketPOver()
				rows = append(rows, calRow{fold: di * moveFolds / len(days), line: r.line, pred: r.preds[si], over: over, priced: priced})
				nx = append(nx, []float64{1, logit(r.preds[si].ModelPOver)})
				ny = append(ny, over)
			}
		}
		sc := SystemCalibration{System: s.Name(), NoMarketRows: len(nx)}
		mx, my = marketRows(rows, -1, mx[:0], my[:0])
		sc.MarketRows = len(mx)
		copy(sc.Market[:], fitLogistic(mx, my, []float64{0, 1, 0}, opts.Ridge))
		copy(sc.NoMarket[:], fitLogistic(nx, ny, []float64{0, 0}, opts.Ridge))
		sc.Move, sc.Record = fitMove(rows, opts.Ridge, opts.MoveRidge, pr)
		sc.Earned = opts.Ungated || sc.Record.earned()
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

// marketRows appends the priced fit's rows (1, logit m, logit q − logit m)
// of every fold but skip (-1 for all) to xs and their outcomes to ys.
func marketRows(rows []calRow, skip int, xs [][]float64, ys []bool) ([][]float64, []bool) {
	for _, r := range rows {
		if !r.priced || r.fold == skip {
			continue
		}
		lm := logit(r.pred.MarketPOver)
		xs = append(xs, []float64{1, lm, logit(r.pred.ModelPOver) - lm})
		ys = append(ys, r.over)
	}
	return xs, ys
}

// fitMove prices each priced row with the fit of the other folds and fits,
// on the rows that would then have been picked, how much of the fitted
// move away from the market their outcomes bear out: logit P = logit m +
// k·(logit P̂ − logit m), penalised toward k = 0 (the market) with weight
// moveRidge and held to [0, 1]. It then prices the same rows again with k
// and returns the record of those that are picked.
func fitMove(rows []calRow, ridge, moveRidge float64, pr Pricing) (float64, PickRecord) {
	folds := make([]SystemCalibration, moveFolds)
	var mx [][]float64
	var my []bool
	for f := range folds {
		mx, my = marketRows(rows, f, mx[:0], my[:0])
		copy(folds[f].Market[:], fitLogistic(mx, my, []float64{0, 1, 0}, ridge))
	}
	// each calls pick for every priced row picked at move k.
	each := func(k float64, pick func(r calRow, p Prediction)) {
		cal := &Calibration{Systems: make([]SystemCalibration, 1)}
		for _, r := range rows {
			if !r.priced {
				continue
			}
			cal.Systems[0] = folds[r.fold]
			cal.Systems[0].System, cal.Systems[0].Move, cal.Systems[0].Earned = r.pred.System, k, true
			p := r.pred
			p.price(r.line, cal, pr)
			if p.Pick != Pass {
				pick(r, p)
			}
		}
	}
	var offs, xs []float64
	var ys []bool
	each(1, func(r calRow, p Prediction) {
		lm := logit(p.MarketPOver)
		offs = append(offs, lm)
		xs = append(xs, logit(p.POver)-lm)
		ys = append(ys, r.over)
	})
	k := 0.0
	for range 50 {
		g, h := -2*moveRidge*k, 2*moveRidge
		for i, x := range xs {
			p := sigmoid(offs[i] + k*x)
			y := 0.0
			if ys[i] {
				y = 1
			}
			g += (y - p) * x
			h += p * (1 - p) * x * x
		}
		step := g / h
		k += step
		if math.Abs(step) < 1e-9 {
			break
		}
	}
	k = round6(min(max(k, 0), 1))
	var rec PickRecord
	each(k, func(r calRow, p Prediction) {
		rec.Picks++
		rec.Stated += p.Confidence
		if (p.Pick == Over) == r.over {
			rec.Hits++
			rec.Profit += Payout(p.Price)
		} else {
			rec.Profit--
		}
	})
	rec.Stated, rec.Profit = round6(rec.Stated), round6(rec.Profit)
	return k, rec
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

// earned reports whether system's calibration earned it picks.
func (c *Calibration) earned(system string) bool {
	if c == nil {
		return false
	}
	for _, sc := range c.Systems {
		if sc.System == system {
			return sc.Earned
		}
	}
	return false
}

// CalibrationCache keeps the last few calibrations. [Calibrate] is
// deterministic in the data version, the date, the systems and the
// options, so a second batch for the same date on the same data (a rerun,
// a retried start) reuses the fit instead of replaying the window again.
// It is safe for concurrent use; the zero value keeps
// [DefaultCalibrationCacheSize] entries.
type CalibrationCache struct {
	mu   sync.Mutex
	keys []string
	m    map[string]*Calibration
	// Size is how many calibrations are kept (default
	// [DefaultCalibrationCacheSize]).
	Size int
}

// DefaultCalibrationCacheSize is how many calibrations a
// [CalibrationCache] keeps by default.
const DefaultCalibrationCacheSize = 8

// Calibrate returns the calibration [Calibrate] fits for these arguments,
// from the cache when it holds one for the same data version, date,
// systems and options. Each caller gets its own copy.
func (c *CalibrationCache) Calibrate(ds *Dataset, date Date, systems []System, opts CalibrateOptions) (*Calibration, error) {
	fit, err := CalibrationKey(systems, opts)
	if err != nil {
		return nil, err
	}
	key := ds.Version() + " " + date.String() + " " + fit
	c.mu.Lock()
	cal, ok := c.m[string(key)]
	c.mu.Unlock()
	if ok {
		return cal.Clone(), nil
	}
	cal, err = Calibrate(ds, date, systems, opts)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*Calibration{}
	}
	if _, ok := c.m[string(key)]; !ok {
		c.keys = append(c.keys, string(key))
		c.m[string(key)] = cal
		size := c.Size
		if size <= 0 {
			size = DefaultCalibrationCacheSize
		}
		for len(c.keys) > size {
			delete(c.m, c.keys[0])
			c.keys = c.keys[1:]
		}
	}
	return cal.Clone(), nil
}

// CalibrationKey identifies what, besides the data version and the date,
// decides the calibration [Calibrate] fits: the systems' names and the
// options that change the fit. Two calls with equal keys on the same data
// version and date fit the same calibration, so a store may keep fits
// under (version, date, key).
func CalibrationKey(systems []System, opts CalibrateOptions) (string, error) {
	names := make([]string, len(systems))
	for i, s := range systems {
		names[i] = s.Name()
	}
	o := opts.withDefaults()
	o.Workers = 0               // how many goroutines replay does not change the fit
	o.Request.Calibration = nil // nor does a calibration: the replay runs without
	key, err := json.Marshal(struct {
		Systems []string
		Opts    CalibrateOptions
	}{names, o})
	if err != nil {
		return "", fmt.Errorf("calibration key: %w", err)
	}
	return string(key), nil
}

// Clone returns a copy of c that shares nothing with it that a caller
// could change.
func (c *Calibration) Clone() *Calibration {
	out := *c
	out.Systems = append([]SystemCalibration(nil), c.Systems...)
	return &out
}

// CalibrationStore keeps fitted calibrations under the data version, the
// date they serve and their [CalibrationKey], so that the fit of a date is
// paid once per data version rather than once per process. A store drops
// the fits of a data version when other data replaces it.
type CalibrationStore interface {
	// Calibration returns the stored fit, or an error wrapping
	// [batch.ErrNotFound] when there is none.
	Calibration(ctx context.Context, version string, date Date, key string) (*Calibration, error)
	// PutCalibration stores a fit. Storing one for a data version that is
	// no longer the stored data's stores nothing.
	PutCalibration(ctx context.Context, version string, date Date, key string, cal *Calibration) error
}
