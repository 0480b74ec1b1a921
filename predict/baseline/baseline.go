package baseline

import "tipoff/predict"

// Name is the system's name in predictions.
const Name = "baseline"

// System is the moving-average system.
type System struct{}

var _ predict.System = System{}

// New returns the system.
func New() System { return System{} }

// Name returns "baseline".
func (System) Name() string { return Name }

// Predict returns the expected points and the normal-model probability
// of scoring over the line: N(points, PointsSD(points)).
func (System) Predict(req *predict.Request, line predict.Line, _ []predict.Prediction) (predict.Estimate, error) {
	pts := req.Blend()
	return predict.Estimate{Points: pts, POver: predict.NormalPOver(pts, req.PointsSD(pts), line.Value)}, nil
}
