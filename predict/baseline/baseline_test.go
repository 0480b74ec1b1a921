package baseline_test

import (
	"math"
	"testing"

	"tipoff/predict"
	"tipoff/predict/baseline"
	"tipoff/predict/predicttest"
)

func TestSystem_Predict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		line   float64
		season float64
		want   float64
		pick   predict.Pick
	}{
		// last 5: (30+20+10+20+20)/5 = 20; last 10: 200/10 = 20; season 18
		// → 0.5·20 + 0.3·20 + 0.2·18 = 19.6.
		{"over", 17.5, 18, 19.6, predict.Over},
		{"under", 21.5, 18, 19.6, predict.Under},
		{"pass inside the edge", 18.5, 18, 19.6, predict.Pass},
		// season 28 → 10 + 6 + 5.6 = 21.6.
		{"season pulls", 17.5, 28, 21.6, predict.Over},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := predicttest.Request(tt.line, 30, 20, 10, 20, 20, 10, 30, 20, 10, 30)
			req.Season.Points = tt.season
			got, err := baseline.New().Predict(req, req.Lines[0], nil)
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
