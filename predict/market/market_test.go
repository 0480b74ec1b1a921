package market_test

import (
	"math"
	"testing"

	"tipoff/predict"
	"tipoff/predict/market"
	"tipoff/predict/matchup"
	"tipoff/predict/predicttest"
)

func TestSystem_Predict(t *testing.T) {
	t.Parallel()
	req := predicttest.Request(17.5, 30, 20, 10, 20, 20, 10, 30, 20, 10, 30)
	req.Season.Points = 18
	req.OppRating.Defense, req.RestDays = 1.1, 0
	model := 19.6 * 1.1 * 1.02 * 0.96 // matchup's hand-computed value, 21.111552
	if got := matchup.Points(req); math.Abs(got-model) > 1e-9 {
		t.Fatalf("matchup model %v, want %v", got, model)
	}
	tests := []struct {
		name      string
		base      float64
		estimated bool
		want      float64
		pick      predict.Pick
	}{
		// 17.5 + 0.3·(21.111552 − 17.5) = 18.5834656: edge 1.08 ≥ 0.75.
		{"real line, model above", 17.5, false, 17.5 + 0.3*(model-17.5), predict.Over},
		// 20.5 + 0.3·0.611552 = 20.683: edge 0.18 < 0.75.
		{"real line, small gap", 20.5, false, 20.5 + 0.3*(model-20.5), predict.Pass},
		// 25.5 + 0.3·(−4.388448) = 24.183: edge −1.32.
		{"real line, model below", 25.5, false, 25.5 + 0.3*(model-25.5), predict.Under},
		// An estimated line carries no market information: the model stands.
		{"estimated line", 17.5, true, model, predict.Over},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req.Lines[0].Value = tt.base
			req.Lines[0].Estimated = tt.estimated
			req.Lines[0].Source = "draftkings"
			if tt.estimated {
				req.Lines[0].Source = predict.SourceEstimate
			}
			got, err := market.New().Predict(req, req.Lines[0], nil)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.Points-tt.want) > 1e-9 || got.Pick != tt.pick {
				t.Fatalf("got %v %s, want %v %s", got.Points, got.Pick, tt.want, tt.pick)
			}
		})
	}
}

// A variant line is judged against the same anchored estimate: the
// prediction depends on the base line, not on the variant being asked.
func TestSystem_PredictVariant(t *testing.T) {
	t.Parallel()
	req := predicttest.Request(20.5, 30, 20, 10, 20, 20, 10, 30, 20, 10, 30)
	v := predict.Line{Value: 18.5, Offset: -2, Source: "draftkings"}
	req.Lines = append(req.Lines, v)
	base, _ := market.New().Predict(req, req.Lines[0], nil)
	alt, _ := market.New().Predict(req, v, nil)
	if base.Points != alt.Points {
		t.Fatalf("points differ between base (%v) and variant (%v)", base.Points, alt.Points)
	}
	if alt.Pick != predict.Over {
		t.Fatalf("variant 2 points below an estimate of %v: got %s, want OVER", alt.Points, alt.Pick)
	}
}
