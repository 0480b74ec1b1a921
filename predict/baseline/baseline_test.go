package baseline_test

import (
	"math"
	"testing"

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
	}{
		// last 5: (30+20+10+20+20)/5 = 20; last 10: 200/10 = 20; season 18
		// → 0.5·20 + 0.3·20 + 0.2·18 = 19.6.
		{"line below", 17.5, 18, 19.6},
		{"line above", 21.5, 18, 19.6},
		// season 28 → 10 + 6 + 5.6 = 21.6.
		{"season pulls", 17.5, 28, 21.6},
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
			// The probability is the normal model's around the points,
			// with the player's spread.
			sd := req.PointsSD(tt.want)
			wantP := 0.5 * math.Erfc((tt.line-tt.want)/sd/math.Sqrt2)
			if math.Abs(got.Points-tt.want) > 1e-9 || math.Abs(got.POver-wantP) > 1e-12 {
				t.Fatalf("got %v points, P(over) %v; want %v, %v", got.Points, got.POver, tt.want, wantP)
			}
			if (tt.line < tt.want) != (got.POver > 0.5) {
				t.Fatalf("P(over) %v on the wrong side of 0.5 for line %v and points %v", got.POver, tt.line, got.Points)
			}
		})
	}
}
