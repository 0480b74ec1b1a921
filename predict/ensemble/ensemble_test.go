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
	p := func(pts, q float64) predict.Prediction {
		// POver is a calibrated figure the ensemble must not read.
		return predict.Prediction{Points: pts, ModelPOver: q, POver: 0.5}
	}
	logit := func(q float64) float64 { return math.Log(q / (1 - q)) }
	tests := []struct {
		name  string
		prior []predict.Prediction
		want  float64
		wantP float64
	}{
		{"agree", []predict.Prediction{p(20, 0.6), p(22, 0.6), p(24, 0.6)}, 22, 0.6},
		// Opposite log-odds cancel out.
		{"cancel", []predict.Prediction{p(20, 0.3), p(22, 0.7)}, 21, 0.5},
		{"mean of log-odds", []predict.Prediction{p(18, 0.2), p(19, 0.4), p(20, 0.45)}, 19,
			1 / (1 + math.Exp(-(logit(0.2)+logit(0.4)+logit(0.45))/3))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ensemble.New().Predict(req, req.Lines[0], tt.prior)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.Points-tt.want) > 1e-9 || math.Abs(got.POver-tt.wantP) > 1e-9 {
				t.Fatalf("got %v points, P(over) %v; want %v, %v", got.Points, got.POver, tt.want, tt.wantP)
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
