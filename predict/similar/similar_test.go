package similar_test

import (
	"math"
	"testing"

	"tipoff/predict/predicttest"
	"tipoff/predict/similar"
)

func TestPoints_OneComparableGame(t *testing.T) {
	t.Parallel()
	// Six games: only the newest (24 points) has the five older games a
	// past moving average needs; those five scored 20 each, so its moving
	// average was 20 and its ratio 24/20 = 1.2. Same venue (home), rest and
	// opponent defence as tonight; only form differs: then 20/20 = 1, now
	// last-5 / last-6 = (24+80)/5 / (124/6).
	req := predicttest.Request(20.5, 24, 20, 20, 20, 20, 20)
	for i := range req.Recent {
		req.Recent[i].Home = true
	}
	req.Season.Points = 20
	formNow := (104.0 / 5) / (124.0 / 6)
	w := math.Exp(-0.5 * math.Pow((1-formNow)/0.2, 2))
	blend := 0.5*(104.0/5) + 0.3*(124.0/6) + 0.2*20
	want := blend * (w*1.2 + 2) / (w + 2) // shrunk toward 1 by two games' weight
	if got := similar.Points(req); math.Abs(got-want) > 1e-9 {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestPoints_DissimilarGamesCountLess(t *testing.T) {
	t.Parallel()
	// The same history, but the 24-point game was against a much weaker
	// defence than tonight's: it says less about tonight.
	near := predicttest.Request(20.5, 24, 20, 20, 20, 20, 20)
	far := predicttest.Request(20.5, 24, 20, 20, 20, 20, 20)
	far.Recent[0].OppDefense = 1.15
	blend := near.Blend()
	gn, gf := similar.Points(near)-blend, similar.Points(far)-blend
	if !(gn > gf && gf > 0) {
		t.Fatalf("lift over the moving average: similar game %v, dissimilar %v; want 0 < dissimilar < similar", gn, gf)
	}
}

func TestPoints_NoHistory(t *testing.T) {
	t.Parallel()
	req := predicttest.Request(10.5, 12, 8)
	if got, want := similar.Points(req), req.Blend(); got != want {
		t.Fatalf("with no comparable games got %v, want the moving average %v", got, want)
	}
	if _, err := similar.New().Predict(req, req.Lines[0], nil); err != nil {
		t.Fatal(err)
	}
}
