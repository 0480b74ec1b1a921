package baseline

import "tipoff/predict"

// Name is the system's name in predictions.
const Name = "baseline"

// MinEdge is how far, in points, the prediction must be from the line
// before the system picks a side.
const MinEdge = 1.5

// System is the moving-average system.
type System struct{}

var _ predict.System = System{}

// New returns the system.
func New() System { return System{} }

// Name returns "baseline".
func (System) Name() string { return Name }

// Predict returns the moving-average points and a pick when the line is at
// least MinEdge away.
func (System) Predict(req *predict.Request, line predict.Line, _ []predict.Prediction) (predict.Estimate, error) {
	pts := req.Blend()
	pick, conf := predict.Decide(pts, req.PointsSD(pts), line.Value, MinEdge)
	return predict.Estimate{Points: pts, Confidence: conf, Pick: pick}, nil
}
