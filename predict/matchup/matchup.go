package matchup

import "tipoff/predict"

// Name is the system's name in predictions.
const Name = "matchup"

// window is how many recent games set the "mix" the moving average was
// earned against (the blend's longest window besides the season).
const window = 10

// System is the matchup system.
type System struct{}

var _ predict.System = System{}

// New returns the system.
func New() System { return System{} }

// Name returns "matchup".
func (System) Name() string { return Name }

// Predict returns the expected points and the normal-model probability
// of scoring over the line: N(points, PointsSD(points)).
func (System) Predict(req *predict.Request, line predict.Line, _ []predict.Prediction) (predict.Estimate, error) {
	pts := Points(req)
	return predict.Estimate{Points: pts, POver: predict.NormalPOver(pts, req.PointsSD(pts), line.Value)}, nil
}

// Points returns the matchup-adjusted expectation: Blend × (tonight's
// factor / the average factor of the last games), for opponent defence,
// venue and rest.
func Points(req *predict.Request) float64 {
	n := min(window, len(req.Recent))
	var opp, venue, rest float64
	for _, g := range req.Recent[:n] {
		opp += g.OppDefense
		venue += req.VenueFactor(g.Home)
		rest += req.RestFactor(g.RestDays)
	}
	fn := float64(n)
	mix := (opp / fn) * (venue / fn) * (rest / fn)
	now := req.OppRating.Defense * req.VenueFactor(req.Home) * req.RestFactor(req.RestDays)
	return req.Blend() * now / mix
}
