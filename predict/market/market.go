// Package market is the line-aware prediction system. It treats the
// sportsbook line as the best single forecast and moves off it only as far
// as independent evidence justifies: it starts from the line, adds a
// shrunken share of the gap between the matchup-adjusted moving average and
// the line, and a shrunken estimate of how the book's lines have missed
// this player before. Against an estimated line it is the matchup model.
//
// It imports, of tipoff's packages, only predict (and matchup for its
// model). It is pure and deterministic.
package market

import (
	"tipoff/predict"
	"tipoff/predict/matchup"
)

// Name is the system's name in predictions.
const Name = "market"

// MinEdge is how far, in points, the prediction must be from the line
// before the system picks a side.
const MinEdge = 0.75

const (
	// modelWeight is the share of the model-line gap kept. For two
	// forecasts with error sds σ_line ≈ 6.3, σ_model ≈ 6.5 and error
	// correlation ρ ≈ 0.9, the minimum-variance weight on the model is
	// (σ_l² − ρσ_lσ_m)/(σ_l² + σ_m² − 2ρσ_lσ_m) ≈ 0.25-0.3.
	modelWeight = 0.3
	// biasPriorGames is the shrinkage of the player's past line misses:
	// with n past lines, their mean miss gets weight n/(n+biasPriorGames).
	biasPriorGames = 20
)

// System is the line-aware system.
type System struct{}

var _ predict.System = System{}

// New returns the system.
func New() System { return System{} }

// Name returns "market".
func (System) Name() string { return Name }

// Predict returns the line-anchored estimate and a pick when it is at least
// MinEdge from the line.
func (System) Predict(req *predict.Request, line predict.Line, _ []predict.Prediction) (predict.Estimate, error) {
	model := matchup.Points(req)
	base := req.Lines[0]
	pts := model
	if !base.Estimated {
		pts = base.Value + modelWeight*(model-base.Value) + lineBias(req)
	}
	pick, conf := predict.Decide(pts, req.PointsSD(pts), line.Value, MinEdge)
	return predict.Estimate{Points: max(0, pts), Confidence: conf, Pick: pick}, nil
}

// lineBias is the shrunk mean of (points − line) over the player's past
// games that had a line.
func lineBias(req *predict.Request) float64 {
	n, sum := 0, 0.0
	for _, g := range req.Recent {
		if g.Line > 0 {
			n++
			sum += float64(g.Points) - g.Line
		}
	}
	return sum / float64(n+biasPriorGames)
}
