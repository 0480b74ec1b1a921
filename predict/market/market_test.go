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
	}{
		// 17.5 + 0.3·(21.111552 − 17.5) = 18.5834656.
		{"real line, model above", 17.5, false, 17.5 + 0.3*(model-17.5)},
		// 20.5 + 0.3·0.611552 = 20.683.
		{"real line, small gap", 20.5, false, 20.5 + 0.3*(model-20.5)},
		// 25.5 + 0.3·(−4.388448) = 24.183.
		{"real line, model below", 25.5, false, 25.5 + 0.3*(model-25.5)},
		// An estimated line carries no market information: the model stands.
		{"estimated line", 17.5, true, model},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := *req // each subtest asks about its own line
			req := &r
			req.Lines = []predict.Line{{Value: tt.base, Estimated: tt.estimated, Source: "draftkings"}}
			if tt.estimated {
				req.Lines[0].Source = predict.SourceEstimate
			}
			got, err := market.New().Predict(req, req.Lines[0], nil)
			if err != nil {
				t.Fatal(err)
			}
			wantP := predict.NormalPOver(tt.want, req.PointsSD(tt.want), tt.base)
			if math.Abs(got.Points-tt.want) > 1e-9 || math.Abs(got.POver-wantP) > 1e-12 {
				t.Fatalf("got %v points, P(over) %v; want %v, %v", got.Points, got.POver, tt.want, wantP)
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
	if !(alt.POver > base.POver && alt.POver > 0.5) {
		t.Fatalf("variant 2 points lower: P(over) %v, base %v; want above both the base's and 0.5", alt.POver, base.POver)
	}
}
