package predict_test

import (
	"testing"

	"tipoff/predict"
	"tipoff/predict/systems"
)

// busiestDate returns the date from..to with the most selected players.
func busiestDate(ds *predict.Dataset, from, to predict.Date) (predict.Date, int) {
	best, n := from, 0
	for d := from; d <= to; d++ {
		if k := len(predict.SelectPlayers(ds, d, predict.SelectOptions{})); k > n {
			best, n = d, k
		}
	}
	return best, n
}

// BenchmarkBusiestDate is one whole date of the pipeline's prediction work
// on the busiest real date of the 2025-26 data: select the players, build
// each request with five lines, encode it, decode it as a worker would, run
// all five systems, encode the result.
func BenchmarkBusiestDate(b *testing.B) {
	ds := realData(b)
	d, n := busiestDate(ds, predict.MustParseDate("2025-10-21"), predict.MustParseDate("2025-12-31"))
	b.Logf("busiest date %s: %d players", d, n)
	sys := systems.Default()
	for b.Loop() {
		for _, c := range predict.SelectPlayers(ds, d, predict.SelectOptions{}) {
			req, err := predict.BuildRequest(ds, d, c.PlayerID, predict.RequestOptions{Offsets: []float64{1, 2}})
			if err != nil {
				continue
			}
			raw, err := predict.EncodeRequest(req)
			if err != nil {
				b.Fatal(err)
			}
			got, err := predict.DecodeRequest(raw)
			if err != nil {
				b.Fatal(err)
			}
			res, err := predict.Run(&got, sys)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := predict.EncodeResult(res); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkBacktest_RealData is the two-month backtest predict/README.md
// quotes (the data already in memory).
func BenchmarkBacktest_RealData(b *testing.B) {
	ds := realData(b)
	for b.Loop() {
		if _, err := predict.Backtest(ds, predict.MustParseDate("2025-11-01"), predict.MustParseDate("2025-12-31"),
			systems.Default(), predict.BacktestOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCalibrate is the calibration the daily batch fits once per
// date: replaying and grading the 60 days before 2025-12-31.
func BenchmarkCalibrate(b *testing.B) {
	ds := realData(b)
	sys := systems.Default()
	for b.Loop() {
		if _, err := predict.Calibrate(ds, predict.MustParseDate("2025-12-31"), sys, predict.CalibrateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
