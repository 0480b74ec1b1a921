package systems_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"tipoff/predict"
	"tipoff/predict/matchup"
	"tipoff/predict/predicttest"
	"tipoff/predict/systems"
)

// randomRequest draws a valid request: 1-40 past games with random points,
// minutes, venues, rest and opponent defences, and a line with variants.
func randomRequest(rng *rand.Rand) *predict.Request {
	n := 1 + rng.IntN(40)
	pts := make([]int, n)
	for i := range pts {
		pts[i] = rng.IntN(45)
	}
	line := predict.HalfPoint(rng.Float64() * 35)
	r := predicttest.Request(line, pts...)
	for i := range r.Recent {
		g := &r.Recent[i]
		g.Home = rng.IntN(2) == 0
		g.RestDays = rng.IntN(predict.MaxRestDays + 1)
		g.OppDefense = 0.9 + 0.2*rng.Float64()
		g.Minutes = 40 * rng.Float64()
	}
	r.Home = rng.IntN(2) == 0
	r.RestDays = rng.IntN(predict.MaxRestDays + 1)
	r.OppRating.Defense = 0.9 + 0.2*rng.Float64()
	r.League.BackToBack = 0.9 + 0.1*rng.Float64()
	switch rng.IntN(3) {
	case 0:
		r.Lines[0].Source, r.Lines[0].Estimated = predict.SourceEstimate, true
	case 1:
		r.Lines[0].OverOdds, r.Lines[0].UnderOdds = randomOdds(rng), randomOdds(rng)
		r.Lines[0].Offers = []predict.Offer{{Book: "fanduel", OverOdds: randomOdds(rng), UnderOdds: randomOdds(rng)}}
	}
	r.Pricing = predict.Pricing{MinEV: 0.05 * rng.Float64(), BestPrice: rng.IntN(2) == 0, Consensus: rng.IntN(2) == 0}
	if rng.IntN(2) == 0 {
		r.Calibration = &predict.Calibration{}
		for _, s := range systems.Default() {
			r.Calibration.Systems = append(r.Calibration.Systems, predict.SystemCalibration{System: s.Name(),
				Market:   [3]float64{0.2 * (rng.Float64() - 0.5), 0.8 + 0.4*rng.Float64(), 0.5 * rng.Float64()},
				NoMarket: [2]float64{0.2 * (rng.Float64() - 0.5), rng.Float64()},
				Move:     rng.Float64(), Earned: rng.IntN(3) > 0})
		}
	}
	for _, k := range []float64{1, 2} {
		for _, s := range []float64{-1, 1} {
			if v := line + s*k; v >= 0.5 {
				l := r.Lines[0]
				l.Value, l.Offset, l.OverOdds, l.UnderOdds, l.Offers = v, s*k, 0, 0, nil
				r.Lines = append(r.Lines, l)
			}
		}
	}
	return r
}

// randomOdds draws American odds between -200 and +180.
func randomOdds(rng *rand.Rand) int {
	if v := rng.IntN(280) - 100; v >= 0 {
		return 100 + v
	}
	return -100 - rng.IntN(100)
}

// Every default system, on many random valid requests, returns the same
// predictions twice, in range, with figures that agree: the confidence is
// the side's calibrated probability, the EV is the one of that probability
// at the price, and only a priced sportsbook line whose EV clears the
// threshold, for a system whose calibration earned picks, is picked.
func TestDefault_Properties(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	sys := systems.Default()
	picks := 0
	for i := range 2000 {
		r := randomRequest(rng)
		a, err := predict.Run(r, sys)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := predict.Run(r, sys)
		for j, p := range a.Predictions {
			if p != b.Predictions[j] {
				t.Fatalf("request %d: %+v then %+v", i, p, b.Predictions[j])
			}
			if math.IsNaN(p.Points) || p.Points < 0 || !(p.POver >= 0 && p.POver <= 1) {
				t.Fatalf("request %d: out of range %+v", i, p)
			}
			want := p.POver
			if p.Side == predict.Under {
				want = 1 - p.POver
			}
			if math.Abs(p.Confidence-want) > 1e-4 || p.Side != predict.Over && p.Side != predict.Under {
				t.Fatalf("request %d: confidence %v is not P(%s) (P(over) %v)", i, p.Confidence, p.Side, p.POver)
			}
			if p.Price != 0 && math.Abs(p.EV-predict.ExpectedValue(p.Confidence, p.Price)) > 1e-3 {
				t.Fatalf("request %d: EV %v is not that of %v at %d", i, p.EV, p.Confidence, p.Price)
			}
			line := r.Lines[0]
			if p.Pick != predict.Pass && (p.Pick != p.Side || p.Price == 0 || p.LineOffset != 0 || line.Estimated || p.EV < r.Pricing.MinEV) {
				t.Fatalf("request %d: pick %+v on line %+v with min EV %v", i, p, line, r.Pricing.MinEV)
			}
			if p.Price == 0 && p.Pick != predict.Pass {
				t.Fatalf("request %d: an unpriced pick %+v", i, p)
			}
			if p.Pick != predict.Pass {
				picks++
				if !earned(r.Calibration, p.System) {
					t.Fatalf("request %d: pick %+v by a system whose record earned none", i, p)
				}
			}
		}
	}
	if picks == 0 {
		t.Fatal("no picks in 2,000 requests: the pick properties are not checked")
	}
}

func earned(c *predict.Calibration, system string) bool {
	if c == nil {
		return false
	}
	for _, sc := range c.Systems {
		if sc.System == system {
			return sc.Earned
		}
	}
	return false
}

// Rest and opponent defence push the same way in every request: more rest
// never lowers the matchup expectation, nor does a weaker defence.
func TestMatchup_Monotone(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		r := randomRequest(rng)
		prev := -1.0
		for rest := 0; rest <= predict.MaxRestDays; rest++ {
			r.RestDays = rest
			if got := matchup.Points(r); got < prev-1e-12 {
				t.Fatalf("request %d: %d days' rest gives %v, less than %v with one day less", i, rest, got, prev)
			} else {
				prev = got
			}
		}
		prev = -1
		for def := 0.85; def <= 1.15; def += 0.05 {
			r.OppRating.Defense = def
			if got := matchup.Points(r); got < prev-1e-12 {
				t.Fatalf("request %d: defence %v gives %v, less than %v against a stronger one", i, def, got, prev)
			} else {
				prev = got
			}
		}
	}
}
