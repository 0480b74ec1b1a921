package predict

import (
	"errors"
	"fmt"
	"math"
	"slices"

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

// BacktestOptions sets how [Backtest] selects players, builds requests
// and calibrates.
type BacktestOptions struct {
	Select  SelectOptions
	Request RequestOptions
	// Window, Ridge, MoveRidge and Ungated are those of [CalibrateOptions].
	Window    int
	Ridge     float64
	MoveRidge float64
	Ungated   bool
	// Workers is how many dates run at once (default GOMAXPROCS).
	Workers int
}

// ProbScore scores probabilities of OVER on graded priced lines (pushes
// excluded): Brier score and log loss, beside the market's vig-free
// probability on the same rows.
type ProbScore struct {
	Rows          int     `json:"rows"`
	Brier         float64 `json:"brier"`
	LogLoss       float64 `json:"log_loss"`
	MarketBrier   float64 `json:"market_brier"`
	MarketLogLoss float64 `json:"market_log_loss"`
}

// BookProb is a [ProbScore] on the lines of one book.
type BookProb struct {
	Book string `json:"book"`
	ProbScore
}

// Bucket is one row of a reliability table: the predictions whose stated
// P(over) lies in [Lo, Hi), their mean stated P(over) and the share that
// went over.
type Bucket struct {
	Lo       float64 `json:"lo"`
	Hi       float64 `json:"hi"`
	N        int     `json:"n"`
	Stated   float64 `json:"stated"`
	Realized float64 `json:"realized"`
}

// ReliabilityBuckets is how many equal-width buckets a reliability table
// has.
const ReliabilityBuckets = 10

// SystemScore is one system's graded record in a backtest. MAE and Bias
// are over rows (player-games with a real line whose player played); Prob,
// Books and Reliability over those rows that have prices; picks count its
// OVER/UNDER picks, pushes excluded. Stated is the picks' mean stated
// probability of winning (Confidence, the side's calibrated probability);
// ROI is the profit per unit staked at the offered prices, ROI110 at -110.
type SystemScore struct {
	Name        string     `json:"name"`
	Rows        int        `json:"rows"`
	MAE         float64    `json:"mae"`
	Bias        float64    `json:"bias"`
	Picks       int        `json:"picks"`
	Hits        int        `json:"hits"`
	HitRate     float64    `json:"hit_rate"`
	Stated      float64    `json:"stated"`
	ROI         float64    `json:"roi"`
	ROI110      float64    `json:"roi_110"`
	Prob        ProbScore  `json:"prob"`
	Books       []BookProb `json:"books"`
	Reliability []Bucket   `json:"reliability"`
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
	// Market is the reference: the base line's vig-free probability as
	// P(over), priced and picked by the same rule as the systems.
	Market SystemScore `json:"market"`
}

// Backtest replays every date from..to (inclusive) as the daily batch
// would: it selects players, builds each request from data strictly before
// the date, fits the date's calibration on the graded predictions of the
// Window days before it (as [Calibrate] does), runs every system, and
// grades the base-line predictions against the points actually scored.
// Only player-games with a real sportsbook base line whose player played
// are graded. It returns an error wrapping [batch.ErrInvalid] for a bad
// range, and any system error.
func Backtest(ds *Dataset, from, to Date, systems []System, opts BacktestOptions) (*BacktestReport, error) {
	if to < from {
		return nil, fmt.Errorf("%w: backtest range %s..%s ends before it starts", batch.ErrInvalid, from, to)
	}
	CheckSystems(systems)
	co := CalibrateOptions(opts).withDefaults()
	w := co.Window
	start := from - Date(w)
	n := int(to-start) + 1
	days := make([]replayDay, n)
	errs := make([]error, n)
	parallel(n, co.Workers, func(i int) {
		days[i], errs[i] = replayDate(ds, start+Date(i), systems, co.Select, co.Request)
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	pricing := opts.Request.pricing()
	ts := make([]scoreTally, len(systems)+1) // the market reference last
	var line scoreTally
	rep := &BacktestReport{From: from, To: to}
	// Each date's calibration depends only on the days before it: fit
	// them all at once, then tally in date order.
	cals := make([]*Calibration, n)
	parallel(n-w, co.Workers, func(j int) {
		i := w + j
		cals[i] = fitCalibration(systems, days[i-w:i], days[i].date-Date(w), days[i].date-1, co, pricing)
	})
	for i := w; i < n; i++ {
		day := days[i]
		rep.Requests += day.requests
		cal := cals[i]
		for _, r := range day.rows {
			if !r.line.Real() {
				continue
			}
			rep.Rows++
			line.addPoints(r.line.Value, r.points)
			for si := range systems {
				p := r.preds[si]
				p.price(r.line, cal, pricing)
				ts[si].add(p, r.line, r.points)
			}
			ref := r.preds[0]
			ref.price(r.line, nil, pricing)
			ts[len(systems)].add(ref, r.line, r.points)
		}
	}
	rep.Line = LineScore{Rows: line.rows, MAE: line.mae(), Bias: line.bias()}
	for si, s := range systems {
		rep.Systems = append(rep.Systems, ts[si].score(s.Name()))
	}
	rep.Market = ts[len(systems)].score("market price")
	rep.Market.MAE, rep.Market.Bias = rep.Line.MAE, rep.Line.Bias
	return rep, nil
}

// scoreTally accumulates one system's record.
type scoreTally struct {
	rows                 int
	absErr, err          float64
	prob                 probTally
	books                map[string]*probTally
	buckets              [ReliabilityBuckets]struct{ n, stated, over float64 }
	picks, hits          int
	stated, profit, p110 float64
}

type probTally struct{ n, brier, logLoss, mBrier, mLogLoss float64 }

func (t *probTally) add(p, m float64, over bool) {
	y := 0.0
	if over {
		y = 1
	}
	t.n++
	t.brier += (p - y) * (p - y)
	t.mBrier += (m - y) * (m - y)
	t.logLoss += logLoss(p, over)
	t.mLogLoss += logLoss(m, over)
}

func (t *probTally) score() ProbScore {
	if t.n == 0 {
		return ProbScore{}
	}
	return ProbScore{Rows: int(t.n), Brier: round4(t.brier / t.n), LogLoss: round4(t.logLoss / t.n),
		MarketBrier: round4(t.mBrier / t.n), MarketLogLoss: round4(t.mLogLoss / t.n)}
}

func logLoss(p float64, over bool) float64 {
	p = math.Min(math.Max(p, 1e-6), 1-1e-6)
	if over {
		return -math.Log(p)
	}
	return -math.Log(1 - p)
}

func (t *scoreTally) addPoints(pred float64, points int) {
	t.rows++
	t.absErr += math.Abs(pred - float64(points))
	t.err += pred - float64(points)
}

func (t *scoreTally) mae() float64  { return round3(t.absErr / float64(max(t.rows, 1))) }
func (t *scoreTally) bias() float64 { return round3(t.err / float64(max(t.rows, 1))) }

func (t *scoreTally) add(p Prediction, line Line, points int) {
	t.addPoints(p.Points, points)
	if float64(points) == line.Value {
		return
	}
	over := float64(points) > line.Value
	if m, ok := p.marketPOver(); ok {
		t.prob.add(p.POver, m, over)
		if t.books == nil {
			t.books = map[string]*probTally{}
		}
		bt := t.books[line.Source]
		if bt == nil {
			bt = &probTally{}
			t.books[line.Source] = bt
		}
		bt.add(p.POver, m, over)
		b := &t.buckets[min(ReliabilityBuckets-1, int(p.POver*ReliabilityBuckets))]
		b.n++
		b.stated += p.POver
		if over {
			b.over++
		}
	}
	switch GradePick(p.Pick, p.Line, points, true) {
	case Win:
		t.picks++
		t.hits++
		t.stated += p.Confidence
		t.profit += Payout(p.Price)
		t.p110 += Payout(StandardOdds)
	case Loss:
		t.picks++
		t.stated += p.Confidence
		t.profit--
		t.p110--
	}
}

func (t *scoreTally) score(name string) SystemScore {
	sc := SystemScore{Name: name, Rows: t.rows, MAE: t.mae(), Bias: t.bias(), Picks: t.picks, Hits: t.hits, Prob: t.prob.score()}
	if t.picks > 0 {
		n := float64(t.picks)
		sc.HitRate, sc.Stated = round4(float64(t.hits)/n), round4(t.stated/n)
		sc.ROI, sc.ROI110 = round4(t.profit/n), round4(t.p110/n)
	}
	books := make([]string, 0, len(t.books))
	for b := range t.books {
		books = append(books, b)
	}
	slices.Sort(books)
	for _, b := range books {
		sc.Books = append(sc.Books, BookProb{Book: b, ProbScore: t.books[b].score()})
	}
	for i, b := range t.buckets {
		bk := Bucket{Lo: float64(i) / ReliabilityBuckets, Hi: float64(i+1) / ReliabilityBuckets, N: int(b.n)}
		if b.n > 0 {
			bk.Stated, bk.Realized = round4(b.stated/b.n), round4(b.over/b.n)
		}
		sc.Reliability = append(sc.Reliability, bk)
	}
	return sc
}
