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
)

// System is the line-aware system. Its fields are the defaults of [New];
// tests and experiments may set others.
type System struct {
	ModelWeight float64
	MinEdge     float64
}

var _ predict.System = System{}

// New returns the system with its default settings.
func New() System {
	return System{ModelWeight: modelWeight, MinEdge: MinEdge}
}

// Name returns "market".
func (System) Name() string { return Name }

// Predict returns the line-anchored estimate and a pick when it is at least
// MinEdge from the line.
func (s System) Predict(req *predict.Request, line predict.Line, _ []predict.Prediction) (predict.Estimate, error) {
	model := matchup.Points(req)
	base := req.Lines[0]
	pts := model
	if !base.Estimated {
		pts = base.Value + s.ModelWeight*(model-base.Value)
	}
	pick, conf := predict.Decide(pts, req.PointsSD(pts), line.Value, s.MinEdge)
	return predict.Estimate{Points: max(0, pts), Confidence: conf, Pick: pick}, nil
}
