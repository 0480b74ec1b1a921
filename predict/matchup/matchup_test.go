package matchup_test

import (
	"math"
	"testing"

	"tipoff/predict/matchup"
	"tipoff/predict/predicttest"
)

func TestPoints(t *testing.T) {
	t.Parallel()
	// The moving average is 19.6 (see baseline's test). The last 10 games
	// were against average defences (1.0), half home half away (mean venue
	// factor (1.02+0.98)/2 = 1) and rested (1), so the mix is 1.
	tests := []struct {
		name    string
		home    bool
		rest    int
		oppDef  float64
		pastDef float64
		want    float64
	}{
		{"neutral away rested", false, 1, 1, 1, 19.6 * 0.98},
		{"weak defence at home on a back-to-back", true, 0, 1.1, 1, 19.6 * 1.1 * 1.02 * 0.96},
		// Past opponents were weak (1.05): tonight's average defence is a
		// step down, 19.6 / 1.05.
		{"history against weak defences", true, 1, 1, 1.05, 19.6 * 1.02 / 1.05},
		// More rest never lowers the expectation.
		{"rested beats back-to-back", true, 3, 1.1, 1, 19.6 * 1.1 * 1.02},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := predicttest.Request(17.5, 30, 20, 10, 20, 20, 10, 30, 20, 10, 30)
			req.Season.Points = 18
			req.Home, req.RestDays, req.OppRating.Defense = tt.home, tt.rest, tt.oppDef
			for i := range req.Recent {
				req.Recent[i].OppDefense = tt.pastDef
			}
			if got := matchup.Points(req); math.Abs(got-tt.want) > 1e-9 {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			est, err := matchup.New().Predict(req, req.Lines[0], nil)
			if err != nil || est.Points != matchup.Points(req) {
				t.Fatalf("Predict = %+v, %v; want points %v", est, err, matchup.Points(req))
			}
		})
	}
}
