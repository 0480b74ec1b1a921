package predict

import (
	"math"
	"math/rand/v2"
	"testing"
)

// drawRows draws n rows whose outcome follows logit P = θ·(1, x1, x2), with
// x1 and x2 spread like the logits of market and model probabilities.
func drawRows(rng *rand.Rand, n int, theta []float64) ([][]float64, []bool) {
	xs := make([][]float64, n)
	ys := make([]bool, n)
	for i := range xs {
		x := []float64{1, 0.3 * rng.NormFloat64(), 0.5 * rng.NormFloat64()}
		z := 0.0
		for j, t := range theta {
			z += t * x[j]
		}
		xs[i], ys[i] = x, rng.Float64() < sigmoid(z)
	}
	return xs, ys
}

func TestFitLogistic(t *testing.T) {
	prior := []float64{0, 1, 0}
	t.Run("NoRows", func(t *testing.T) {
		if got := fitLogistic(nil, nil, prior, DefaultRidge); got[0] != 0 || got[1] != 1 || got[2] != 0 {
			t.Fatalf("got %v, want the prior %v", got, prior)
		}
	})
	t.Run("RecoversTheModel", func(t *testing.T) {
		want := []float64{-0.1, 0.9, 0.4}
		xs, ys := drawRows(rand.New(rand.NewPCG(7, 8)), 40000, want)
		got := fitLogistic(xs, ys, prior, DefaultRidge)
		for i := range want {
			if math.Abs(got[i]-want[i]) > 0.06 {
				t.Fatalf("got %v, want about %v", got, want)
			}
		}
	})
	t.Run("FewRowsStayNearTheMarket", func(t *testing.T) {
		// 60 rows where the model is worth a lot: the penalty keeps the
		// fit much closer to the market than the full data would.
		xs, ys := drawRows(rand.New(rand.NewPCG(9, 10)), 60, []float64{0, 1, 1})
		got := fitLogistic(xs, ys, prior, DefaultRidge)
		if !(math.Abs(got[2]) < 0.5) {
			t.Fatalf("model weight %v from 60 rows: the penalty did not hold it", got[2])
		}
	})
	t.Run("Deterministic", func(t *testing.T) {
		xs, ys := drawRows(rand.New(rand.NewPCG(1, 1)), 5000, []float64{0.05, 1.1, 0.2})
		a, b := fitLogistic(xs, ys, prior, DefaultRidge), fitLogistic(xs, ys, prior, DefaultRidge)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("two fits differ: %v, %v", a, b)
			}
		}
	})
}

func TestCalibration_POver(t *testing.T) {
	var none *Calibration
	if got := none.POver("x", 0.9, 0.45, true); got != 0.45 {
		t.Errorf("no calibration, priced: got %v, want the market's 0.45", got)
	}
	if got := none.POver("x", 0.9, 0, false); got != 0.5 {
		t.Errorf("no calibration, unpriced: got %v, want 0.5", got)
	}
	c := &Calibration{Systems: []SystemCalibration{{System: "x", Market: [3]float64{0, 1, 0.5}, NoMarket: [2]float64{0, 0.5}, Move: 1}}}
	// Half the model's log-odds gap to the market.
	want := sigmoid(logit(0.5) + 0.5*(logit(0.6)-logit(0.5)))
	if got := c.POver("x", 0.6, 0.5, true); math.Abs(got-want) > 1e-12 {
		t.Errorf("priced: got %v, want %v", got, want)
	}
	// Move scales the fitted move away from the market, not the model's.
	c.Systems[0].Move = 0.5
	want = sigmoid(logit(0.45) + 0.5*(logit(0.45)+0.5*(logit(0.6)-logit(0.45))-logit(0.45)))
	if got := c.POver("x", 0.6, 0.45, true); math.Abs(got-want) > 1e-12 {
		t.Errorf("priced, half the move: got %v, want %v", got, want)
	}
	c.Systems[0].Move = 0
	if got := c.POver("x", 0.9, 0.45, true); math.Abs(got-0.45) > 1e-12 {
		t.Errorf("priced, no move: got %v, want the market's 0.45", got)
	}
	if got, want := c.POver("x", 0.6, 0, false), sigmoid(0.5*logit(0.6)); math.Abs(got-want) > 1e-12 {
		t.Errorf("unpriced: got %v, want %v", got, want)
	}
}

func TestVigFreeAndExpectedValue(t *testing.T) {
	if p, ok := VigFree(-110, -110); !ok || math.Abs(p-0.5) > 1e-12 {
		t.Errorf("VigFree(-110, -110) = %v, %v; want 0.5", p, ok)
	}
	// -150 / +130: implied 0.6 and 0.4348, vig-free 0.6 / 1.0348.
	if p, _ := VigFree(-150, 130); math.Abs(p-0.6/(0.6+100.0/230)) > 1e-12 {
		t.Errorf("VigFree(-150, +130) = %v", p)
	}
	if _, ok := VigFree(-110, 0); ok {
		t.Error("VigFree with a missing price reported a probability")
	}
	if got := ExpectedValue(0.5, -110); math.Abs(got-(0.5*100/110-0.5)) > 1e-12 {
		t.Errorf("EV of a coin flip at -110 = %v", got)
	}
	if got := ExpectedValue(0.5, 0); got != 0 {
		t.Errorf("EV without a price = %v, want 0", got)
	}
}

// moveRows draws n priced rows at -110/-110 around a market near 0.5 whose
// outcomes follow the market moved by weight·(the model's log-odds gap):
// weight 0 is a model that knows nothing the price does not.
func moveRows(rng *rand.Rand, n int, weight float64) []calRow {
	rows := make([]calRow, n)
	for i := range rows {
		m := 0.5
		q := sigmoid(0.4 * rng.NormFloat64())
		over := rng.Float64() < sigmoid(logit(m)+weight*(logit(q)-logit(m)))
		rows[i] = calRow{fold: i * moveFolds / n, over: over, priced: true,
			line: Line{Value: 20.5, Source: "book", OverOdds: -110, UnderOdds: -110},
			pred: Prediction{System: "x", ModelPOver: q, MarketPOver: m}}
	}
	return rows
}

func TestFitMove(t *testing.T) {
	t.Parallel()
	pr := DefaultPricing()
	t.Run("ModelWithoutInformation", func(t *testing.T) {
		t.Parallel()
		k, rec := fitMove(moveRows(rand.New(rand.NewPCG(3, 4)), 6000, 0), DefaultRidge, DefaultMoveRidge, pr)
		if k > 0.3 || rec.earned() {
			t.Fatalf("a model that knows nothing kept move %v with record %+v (earned %v)", k, rec, rec.earned())
		}
	})
	t.Run("InformedModel", func(t *testing.T) {
		t.Parallel()
		k, rec := fitMove(moveRows(rand.New(rand.NewPCG(5, 6)), 6000, 1), DefaultRidge, DefaultMoveRidge, pr)
		if k < 0.7 || rec.Picks < MinRecordPicks || !rec.earned() {
			t.Fatalf("an informed model kept move %v with record %+v (earned %v)", k, rec, rec.earned())
		}
		// The record's stated probability is about what its picks won.
		if n := float64(rec.Picks); math.Abs(rec.Stated/n-float64(rec.Hits)/n) > 0.03 {
			t.Fatalf("record %+v: stated %.3f, won %.3f", rec, rec.Stated/n, float64(rec.Hits)/n)
		}
	})
	t.Run("NoRows", func(t *testing.T) {
		t.Parallel()
		if k, rec := fitMove(nil, DefaultRidge, DefaultMoveRidge, pr); k != 0 || rec != (PickRecord{}) {
			t.Fatalf("no rows: move %v, record %+v; want none", k, rec)
		}
	})
}

func TestPickRecord_Earned(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		rec  PickRecord
		want bool
	}{
		{PickRecord{Picks: 99, Hits: 80, Stated: 55, Profit: 50}, false},    // too few to show anything
		{PickRecord{Picks: 200, Hits: 120, Stated: 110, Profit: 25}, true},  // 60 % won, 55 % stated, +12.5 %
		{PickRecord{Picks: 200, Hits: 110, Stated: 120, Profit: 25}, false}, // won 5 points below stated
		{PickRecord{Picks: 200, Hits: 112, Stated: 110, Profit: 10}, false}, // +5 %: within one standard error of 0
		{PickRecord{Picks: 400, Hits: 230, Stated: 220, Profit: -1}, false}, // loses at the offered prices
		{PickRecord{Picks: 400, Hits: 230, Stated: 234, Profit: 21}, true},  // 1 point below stated, +5.25 % ≥ 5 %
	} {
		if got := c.rec.earned(); got != c.want {
			t.Errorf("%+v earned = %v, want %v", c.rec, got, c.want)
		}
	}
}

// A calibration picks only for a system whose record earned it; without a
// calibration nothing is picked, however good the price looks.
func TestPrice_PicksOnlyWhenEarned(t *testing.T) {
	t.Parallel()
	line := Line{Value: 20.5, Source: "book", OverOdds: -110, UnderOdds: -110}
	sc := SystemCalibration{System: "x", Market: [3]float64{0, 1, 1}, Move: 1}
	for _, c := range []struct {
		name string
		cal  *Calibration
		want Pick
	}{
		{"none", nil, Pass},
		{"not earned", &Calibration{Systems: []SystemCalibration{sc}}, Pass},
		{"earned", &Calibration{Systems: []SystemCalibration{func() SystemCalibration { s := sc; s.Earned = true; return s }()}}, Over},
	} {
		p := Prediction{System: "x", ModelPOver: 0.7, MarketPOver: 0.5}
		p.price(line, c.cal, DefaultPricing())
		if p.Pick != c.want {
			t.Errorf("%s: pick %s (P(over) %v, EV %v), want %s", c.name, p.Pick, p.POver, p.EV, c.want)
		}
	}
}
