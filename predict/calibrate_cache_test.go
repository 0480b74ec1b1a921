package predict_test

import (
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tipoff/predict"
	"tipoff/predict/systems"
)

// counting wraps a system and counts its predictions.
type counting struct {
	predict.System
	n *atomic.Int64
}

func (c counting) Predict(req *predict.Request, line predict.Line, prior []predict.Prediction) (predict.Estimate, error) {
	c.n.Add(1)
	return c.System.Predict(req, line, prior)
}

// A cached calibration is the one Calibrate fits, and asking again for the
// same data, date and options replays nothing; another date or other
// options fit afresh.
func TestCalibrationCache(t *testing.T) {
	t.Parallel()
	ds := synthetic(t)
	var n atomic.Int64
	var sys []predict.System
	for _, s := range systems.Default() {
		sys = append(sys, counting{s, &n})
	}
	d := predict.MustParseDate("2026-01-10")
	opts := predict.CalibrateOptions{Window: 10}
	want, err := predict.Calibrate(ds, d, sys, opts)
	if err != nil {
		t.Fatal(err)
	}
	var cache predict.CalibrationCache
	first, err := cache.Calibrate(ds, d, sys, opts)
	if err != nil || !cmp.Equal(first, want) {
		t.Fatalf("cached calibration differs from Calibrate's (%v):\n%s", err, cmp.Diff(want, first))
	}
	before := n.Load()
	again, err := cache.Calibrate(ds, d, sys, predict.CalibrateOptions{Window: 10, Workers: 1})
	if err != nil || !cmp.Equal(again, want) || n.Load() != before {
		t.Fatalf("second call: %v, %d predictions made; want the same calibration and none", err, n.Load()-before)
	}
	again.Systems[0].Move = 0.123 // a caller's copy is its own
	if third, _ := cache.Calibrate(ds, d, sys, opts); !cmp.Equal(third, want) {
		t.Fatal("a caller's change reached the cache")
	}
	for _, o := range []struct {
		date predict.Date
		opts predict.CalibrateOptions
	}{{d + 1, opts}, {d, predict.CalibrateOptions{Window: 10, Ridge: 5}}} {
		before = n.Load()
		if _, err := cache.Calibrate(ds, o.date, sys, o.opts); err != nil || n.Load() == before {
			t.Fatalf("%s %+v: %v, no replay; want a fresh fit", o.date, o.opts, err)
		}
	}
}
