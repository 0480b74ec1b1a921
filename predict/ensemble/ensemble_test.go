package ensemble_test

import (
	"math"
	"testing"

	"tipoff/predict"
	"tipoff/predict/ensemble"
	"tipoff/predict/predicttest"
)

func TestSystem_Predict(t *testing.T) {
	t.Parallel()
	req := predicttest.Request(20.5, 20, 22, 24, 18, 21)
	p := func(pts float64, pick predict.Pick) predict.Prediction {
		return predict.Prediction{Points: pts, Pick: pick}
	}
	tests := []struct {
		name  string
		prior []predict.Prediction
		want  float64
		pick  predict.Pick
	}{
		// mean 22, edge 1.5 ≥ 1, and 2 of 3 systems picked OVER.
		{"majority over", []predict.Prediction{p(20, predict.Over), p(22, predict.Over), p(24, predict.Pass)}, 22, predict.Over},
		// mean 22 again, but only 1 of 3 picked OVER: no majority.
		{"no majority", []predict.Prediction{p(20, predict.Over), p(22, predict.Pass), p(24, predict.Pass)}, 22, predict.Pass},
		// mean 19, edge −1.5, all three UNDER.
		{"under", []predict.Prediction{p(18, predict.Under), p(19, predict.Under), p(20, predict.Under)}, 19, predict.Under},
		// mean 21, edge 0.5 < 1.
		{"inside the edge", []predict.Prediction{p(21, predict.Over), p(21, predict.Over)}, 21, predict.Pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ensemble.New().Predict(req, req.Lines[0], tt.prior)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.Points-tt.want) > 1e-9 || got.Pick != tt.pick {
				t.Fatalf("got %v %s, want %v %s", got.Points, got.Pick, tt.want, tt.pick)
			}
			if !(got.Confidence >= 0.5 && got.Confidence <= 1) {
				t.Fatalf("confidence %v outside [0.5, 1]", got.Confidence)
			}
		})
	}
}

func TestSystem_PredictWithoutOthers(t *testing.T) {
	t.Parallel()
	req := predicttest.Request(20.5, 20, 22)
	if _, err := ensemble.New().Predict(req, req.Lines[0], nil); err == nil {
		t.Fatal("ensemble with no prior predictions succeeded")
	}
}
