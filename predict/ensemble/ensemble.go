package ensemble

import (
	"errors"

	"tipoff/predict"
)

// Name is the system's name in predictions.
const Name = "ensemble"

// MinEdge is how far, in points, the mean prediction must be from the line
// before the ensemble picks a side.
const MinEdge = 1.0

// System is the ensemble.
type System struct{}

var _ predict.System = System{}

// New returns the system.
func New() System { return System{} }

// Name returns "ensemble".
func (System) Name() string { return Name }

// Predict combines prior, which must hold at least one prediction.
func (System) Predict(req *predict.Request, line predict.Line, prior []predict.Prediction) (predict.Estimate, error) {
	if len(prior) == 0 {
		return predict.Estimate{}, errors.New("ensemble needs the other systems' predictions: run it after them")
	}
	sum := 0.0
	votes := map[predict.Pick]int{}
	for _, p := range prior {
		sum += p.Points
		votes[p.Pick]++
	}
	pts := sum / float64(len(prior))
	pick, conf := predict.Decide(pts, req.PointsSD(pts), line.Value, MinEdge)
	if pick != predict.Pass && 2*votes[pick] <= len(prior) {
		_, conf = predict.Decide(pts, req.PointsSD(pts), line.Value, 1e9)
		pick = predict.Pass
	}
	return predict.Estimate{Points: pts, Confidence: conf, Pick: pick}, nil
}
