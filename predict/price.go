package predict

import "math"

// Prices: American odds as the sportsbooks quote them. -110 risks 110 to
// win 100; +120 risks 100 to win 120. 0 means no price is known.

// Payout returns the profit per unit staked when a bet at the American odds
// wins (0.909 at -110, 1.2 at +120), or 0 for a missing or invalid price.
func Payout(odds int) float64 {
	switch {
	case odds >= 100:
		return float64(odds) / 100
	case odds <= -100:
		return 100 / float64(-odds)
	}
	return 0
}

// ImpliedProb returns the break-even probability of the American odds,
// vig included (0.524 at -110), or 0 for a missing price.
func ImpliedProb(odds int) float64 {
	w := Payout(odds)
	if w == 0 {
		return 0
	}
	return 1 / (1 + w)
}

// VigFree returns the probability of OVER implied by a book's two prices
// with the book's margin removed proportionally, and false when either
// price is missing.
func VigFree(overOdds, underOdds int) (float64, bool) {
	o, u := ImpliedProb(overOdds), ImpliedProb(underOdds)
	if o == 0 || u == 0 {
		return 0, false
	}
	return o / (o + u), true
}

// ExpectedValue returns the expected profit per unit staked on a side that
// wins with probability p at the American odds (0 for a missing price).
func ExpectedValue(p float64, odds int) float64 {
	w := Payout(odds)
	if w == 0 {
		return 0
	}
	return p*w - (1 - p)
}

// Standard -110 price, the usual reference for a points prop.
const StandardOdds = -110

// DefaultMinEV is the default expected profit per unit staked a side must
// reach at its offered price before it is picked: 3 cents on the dollar.
// The margin covers the error of the calibrated probability itself; with
// none, noise in the probability alone produces picks whose expected value
// is negative.
const DefaultMinEV = 0.03

// Offer is one bookmaker's prices for a line.
type Offer struct {
	Book      string `json:"book"`
	OverOdds  int    `json:"over_odds"`
	UnderOdds int    `json:"under_odds"`
}

func logit(p float64) float64 {
	p = math.Min(math.Max(p, 1e-4), 1-1e-4)
	return math.Log(p / (1 - p))
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// NormalPOver returns the probability that a player with expected points
// mean and spread sd scores over line, under a normal model of his points.
// A line is a half point, so no continuity correction is needed.
func NormalPOver(mean, sd, line float64) float64 {
	if !(sd > 0) {
		sd = 1
	}
	return 1 - normCDF((line-mean)/sd)
}

func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// Pricing is how predictions are priced and picked. It travels in the
// request.
type Pricing struct {
	// MinEV is the expected profit per unit staked a side must reach at
	// its offered price to be picked.
	MinEV float64 `json:"min_ev"`
	// BestPrice prices each side at the best odds among the books that
	// offer the same line ([Line.Offers]), not only the base line's book.
	BestPrice bool `json:"best_price,omitempty"`
	// Consensus takes the market's P(over) as the mean of the vig-free
	// probabilities of every book offering the line, not only the base
	// line's book.
	Consensus bool `json:"consensus,omitempty"`
}

// DefaultPricing returns the default pricing: [DefaultMinEV], prices from
// the base line's book only, the base book's vig-free probability.
func DefaultPricing() Pricing { return Pricing{MinEV: DefaultMinEV} }

// market returns the market's vig-free P(over) for line, and false when
// the line has no prices (estimated lines and variants never do).
func (pr Pricing) market(line Line) (float64, bool) {
	if !line.Real() {
		return 0, false
	}
	m, ok := VigFree(line.OverOdds, line.UnderOdds)
	if !pr.Consensus {
		return m, ok
	}
	sum, n := 0.0, 0
	if ok {
		sum, n = m, 1
	}
	for _, o := range line.Offers {
		if v, ok := VigFree(o.OverOdds, o.UnderOdds); ok {
			sum += v
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// best returns the offer priced for OVER and the one for UNDER: the base
// line's book, or with BestPrice the book paying most for each side (the
// base book on ties, then the earlier offer).
func (pr Pricing) best(line Line) (over, under Offer) {
	base := Offer{Book: line.Source, OverOdds: line.OverOdds, UnderOdds: line.UnderOdds}
	over, under = base, base
	if !pr.BestPrice {
		return over, under
	}
	for _, o := range line.Offers {
		if Payout(o.OverOdds) > Payout(over.OverOdds) {
			over = o
		}
		if Payout(o.UnderOdds) > Payout(under.UnderOdds) {
			under = o
		}
	}
	return over, under
}
