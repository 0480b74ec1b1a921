package market

import (
	"tipoff/predict"
	"tipoff/predict/matchup"
)

// Name is the system's name in predictions.
const Name = "market"

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
}

var _ predict.System = System{}

// New returns the system with its default settings.
func New() System {
	return System{ModelWeight: modelWeight}
}

// Name returns "market".
func (System) Name() string { return Name }

// Predict returns the line-anchored estimate and its normal-model
// probability of scoring over the line: N(points, PointsSD(points)). Its
// calibration then weighs that against the market's own price.
func (s System) Predict(req *predict.Request, line predict.Line, _ []predict.Prediction) (predict.Estimate, error) {
	model := matchup.Points(req)
	base := req.Lines[0]
	pts := model
	if !base.Estimated {
		pts = base.Value + s.ModelWeight*(model-base.Value)
	}
	pts = max(0, pts)
	return predict.Estimate{Points: pts, POver: predict.NormalPOver(pts, req.PointsSD(pts), line.Value)}, nil
}
