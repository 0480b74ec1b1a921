package predict_test

import (
	"math"
	"testing"

	"tipoff/predict"
	"tipoff/predict/systems"
)

// PublishedReliability grades exactly the priced base-line predictions of
// the system whose player played, bucketed by P(over), against the points
// the data records.
func TestPublishedReliability(t *testing.T) {
	t.Parallel()
	ds := synthetic(t)
	sys := systems.Default()
	cal := &predict.Calibration{}
	for _, s := range sys {
		cal.Systems = append(cal.Systems, predict.SystemCalibration{System: s.Name(), Market: [3]float64{0, 1, 1}, Move: 1, Earned: true})
	}
	var pubs []*predict.Publication
	var total, overs, picks int
	for _, day := range []string{"2026-01-10", "2026-01-11", "2026-01-12"} {
		d := predict.MustParseDate(day)
		pub := &predict.Publication{Date: d}
		for _, c := range predict.SelectPlayers(ds, d, predict.SelectOptions{}) {
			req, err := predict.BuildRequest(ds, d, c.PlayerID, predict.RequestOptions{Calibration: cal, Offsets: []float64{1}})
			if err != nil {
				t.Fatal(err)
			}
			res, err := predict.Run(&req, sys)
			if err != nil {
				t.Fatal(err)
			}
			pub.Players = append(pub.Players, predict.PublishedPlayer{PlayerID: c.PlayerID, Predictions: res.Predictions})
			log, ok := ds.LogOn(c.PlayerID, d)
			for _, p := range res.Predictions {
				if !ok || !log.Played || p.System != "ensemble" || p.LineOffset != 0 || p.MarketPOver == 0 || float64(log.Stats.Pts) == p.Line {
					continue
				}
				total++
				if float64(log.Stats.Pts) > p.Line {
					overs++
				}
				if p.Pick != predict.Pass {
					picks++
				}
			}
		}
		pubs = append(pubs, pub)
	}
	if total == 0 || picks == 0 {
		t.Fatalf("%d gradable predictions, %d picks: the test checks nothing", total, picks)
	}
	rel := predict.PublishedReliability(ds, pubs, "ensemble")
	n, over := 0, 0.0
	for _, b := range rel.Buckets {
		n += b.N
		over += b.Realized * float64(b.N)
		if b.N > 0 && (b.Stated < b.Lo || b.Stated >= b.Hi) {
			t.Errorf("bucket %+v: mean stated outside the bucket", b)
		}
	}
	if n != total || rel.Score.Rows != total || math.Abs(over-float64(overs)) > 0.01 {
		t.Errorf("graded %d rows (score %d), %.2f over; want %d rows, %d over", n, rel.Score.Rows, over, total, overs)
	}
	if rel.Picks != picks || rel.Days != 3 || rel.From != pubs[0].Date || rel.Through != pubs[2].Date {
		t.Errorf("reliability %+v: want %d picks over 3 days %s..%s", rel, picks, pubs[0].Date, pubs[2].Date)
	}
	if other := predict.PublishedReliability(ds, pubs, "no-such-system"); other.Score.Rows != 0 || other.Days != 0 {
		t.Errorf("an unknown system graded %+v", other)
	}
}
