package ensemble

import (
	"errors"
	"math"

	"tipoff/predict"
)

// Name is the system's name in predictions.
const Name = "ensemble"

// System is the ensemble.
type System struct{}

var _ predict.System = System{}

// New returns the system.
func New() System { return System{} }

// Name returns "ensemble".
func (System) Name() string { return Name }

// Predict combines prior, which must hold at least one prediction: the
// mean of their points, and as its own probability of OVER the mean of
// their own probabilities in log-odds (uncalibrated, so that it does not
// depend on the others' calibrations; its own calibration weighs it).
func (System) Predict(req *predict.Request, line predict.Line, prior []predict.Prediction) (predict.Estimate, error) {
	if len(prior) == 0 {
		return predict.Estimate{}, errors.New("ensemble needs the other systems' predictions: run it after them")
	}
	pts, lo := 0.0, 0.0
	for _, p := range prior {
		pts += p.Points
		q := math.Min(math.Max(p.ModelPOver, 1e-4), 1-1e-4)
		lo += math.Log(q / (1 - q))
	}
	n := float64(len(prior))
	return predict.Estimate{Points: pts / n, POver: 1 / (1 + math.Exp(-lo/n))}, nil
}
