package similar

import (
	"math"

	"tipoff/predict"
)

// Name is the system's name in predictions.
const Name = "similar"

// Scales of the similarity distance: a difference of one scale unit in a
// feature counts as much as playing at the other venue.
const (
	oppScale  = 0.05 // opponent defence rating (about its spread across teams)
	restScale = 1.0  // days off, capped at 2
	formScale = 0.2  // form ratio (last 5 over last 20)
)

const (
	// minHistory is how many older games a past game needs for its own
	// moving average.
	minHistory = 5
	// recency discounts older games per game back.
	recency = 0.97
	// shrinkWeight is the weight of "no change" (ratio 1) in the average:
	// about two perfectly similar games.
	shrinkWeight = 2.0
)

// System is the similar-games system.
type System struct{}

var _ predict.System = System{}

// New returns the system.
func New() System { return System{} }

// Name returns "similar".
func (System) Name() string { return Name }

// Predict returns the expected points and the normal-model probability
// of scoring over the line: N(points, PointsSD(points)).
func (System) Predict(req *predict.Request, line predict.Line, _ []predict.Prediction) (predict.Estimate, error) {
	pts := Points(req)
	return predict.Estimate{Points: pts, POver: predict.NormalPOver(pts, req.PointsSD(pts), line.Value)}, nil
}

// Points returns Blend × the ratio of points to moving average in similar
// past games (weighted by similarity and recency, shrunk toward 1).
func Points(req *predict.Request) float64 {
	rec := req.Recent
	now := req.Blend()
	formNow := formRatio(rec)
	sumW, sumWP, sumWE := 0.0, 0.0, 0.0
	w0 := 1.0
	for i := range rec {
		older := rec[i+1:]
		if len(older) < minHistory {
			break
		}
		exp := blend(older)
		if exp < 1 {
			w0 *= recency
			continue
		}
		g := rec[i]
		d := sq((g.OppDefense-req.OppRating.Defense)/oppScale) +
			sq(float64(min(g.RestDays, 2)-min(req.RestDays, 2))/restScale) +
			sq((formRatio(older)-formNow)/formScale)
		if g.Home != req.Home {
			d++
		}
		w := w0 * math.Exp(-d/2)
		sumW += w
		sumWP += w * float64(g.Points)
		sumWE += w * exp
		w0 *= recency
	}
	if sumW == 0 {
		return now
	}
	// Ratio of weighted sums, not mean of ratios: the latter is biased
	// upward (Jensen) when the moving average is noisy.
	ratio := sumWP / sumWE
	return now * (sumW*ratio + shrinkWeight) / (sumW + shrinkWeight)
}

// blend is the moving average over games (newest first), as Request.Blend
// but with the last 20 games standing in for the season.
func blend(games []predict.PastGame) float64 {
	return 0.5*mean(games, 5) + 0.3*mean(games, 10) + 0.2*mean(games, 20)
}

// formRatio is the last 5 games' average over the last 20's (1 when flat).
func formRatio(games []predict.PastGame) float64 {
	long := mean(games, 20)
	if long < 1 {
		return 1
	}
	return mean(games, 5) / long
}

func mean(games []predict.PastGame, n int) float64 {
	n = min(n, len(games))
	if n == 0 {
		return 0
	}
	s := 0
	for _, g := range games[:n] {
		s += g.Points
	}
	return float64(s) / float64(n)
}

func sq(x float64) float64 { return x * x }
