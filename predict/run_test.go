package predict_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/internal/realdata"
	"tipoff/predict"
	"tipoff/predict/systems"
)

// realData reads the real data set, or skips when it is absent.
func realData(tb testing.TB) *predict.Dataset {
	tb.Helper()
	ds, err := dataimport.ReadDir(realdata.Dir(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return ds
}

func synthetic(tb testing.TB) *predict.Dataset {
	tb.Helper()
	ds, err := dataimport.Synthetic(3, dataimport.SyntheticOptions{
		From: predict.MustParseDate("2025-10-21"), To: predict.MustParseDate("2026-01-31"), Teams: 12})
	if err != nil {
		tb.Fatal(err)
	}
	return ds
}

// truncate keeps only what is known before date's games start: games,
// logs and scores strictly before date, date's schedule without results,
// and date's lines and statuses (published before tip-off).
func truncate(tb testing.TB, ds *predict.Dataset, date predict.Date) *predict.Dataset {
	tb.Helper()
	var games []predict.Game
	for _, g := range ds.Games() {
		switch {
		case g.Date < date:
			games = append(games, g)
		case g.Date == date:
			g.Final, g.HomePts, g.AwayPts = false, 0, 0
			games = append(games, g)
		}
	}
	var logs []predict.GameLog
	for _, l := range ds.Logs() {
		if l.Date < date {
			logs = append(logs, l)
		}
	}
	var lines []predict.PropLine
	for _, p := range ds.Lines() {
		if p.Date <= date {
			lines = append(lines, p)
		}
	}
	var sts []predict.Status
	for _, s := range ds.Statuses() {
		if s.Date <= date {
			sts = append(sts, s)
		}
	}
	out, err := predict.NewDataset(games, logs, lines, sts)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestBuildRequest_NoLookAhead proves requests use nothing on or after
// their date: with every later row deleted, selection, calibration,
// requests (prices included) and predictions are identical.
func TestBuildRequest_NoLookAhead(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		ds    func(testing.TB) *predict.Dataset
		dates []string
	}{
		{"real", realData, []string{"2025-11-01", "2025-12-12", "2025-12-25"}},
		{"synthetic", synthetic, []string{"2025-11-15", "2026-01-10"}},
	}
	sys := systems.Default()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			full := c.ds(t)
			for _, ds := range c.dates {
				d := predict.MustParseDate(ds)
				cut := truncate(t, full, d)
				sel := predict.SelectPlayers(full, d, predict.SelectOptions{})
				if len(sel) == 0 {
					t.Fatalf("%s: nobody selected; the test checks nothing", d)
				}
				if diff := cmp.Diff(sel, predict.SelectPlayers(cut, d, predict.SelectOptions{})); diff != "" {
					t.Fatalf("%s: selection changed when later data was deleted (-full +cut):\n%s", d, diff)
				}
				co := predict.CalibrateOptions{Window: 30}
				calA, err1 := predict.Calibrate(full, d, sys, co)
				calB, err2 := predict.Calibrate(cut, d, sys, co)
				if err1 != nil || err2 != nil {
					t.Fatalf("%s: calibrate: %v / %v", d, err1, err2)
				}
				if diff := cmp.Diff(calA, calB); diff != "" {
					t.Fatalf("%s: calibration changed when later data was deleted (-full +cut):\n%s", d, diff)
				}
				if calA.Through != d-1 || calA.Systems[0].NoMarketRows < 100 {
					t.Fatalf("%s: calibration %+v: want one through the day before, fitted on 100+ rows", d, calA)
				}
				// The moves and pick records compared above are not empty.
				records := 0
				for _, sc := range calA.Systems {
					records += sc.Record.Picks
				}
				if c.name == "real" && d > predict.MustParseDate("2025-11-01") && records == 0 {
					t.Fatalf("%s: no system has a pick record: the gate is not checked", d)
				}
				priced := 0
				for _, cand := range sel {
					pricing := predict.Pricing{MinEV: 0.01, BestPrice: true, Consensus: true}
					optsA := predict.RequestOptions{Offsets: []float64{1, 2}, Calibration: calA, Pricing: &pricing}
					optsB := optsA
					optsB.Calibration = calB
					a, err1 := predict.BuildRequest(full, d, cand.PlayerID, optsA)
					b, err2 := predict.BuildRequest(cut, d, cand.PlayerID, optsB)
					if err1 != nil || err2 != nil {
						t.Fatalf("%s %s: %v / %v", d, cand.PlayerID, err1, err2)
					}
					b.DataVersion = a.DataVersion
					if diff := cmp.Diff(a, b); diff != "" {
						t.Fatalf("%s %s: request changed when later data was deleted (-full +cut):\n%s", d, cand.PlayerID, diff)
					}
					ra, err1 := predict.Run(&a, sys)
					rb, err2 := predict.Run(&b, sys)
					if err1 != nil || err2 != nil || !cmp.Equal(ra, rb) {
						t.Fatalf("%s %s: predictions differ (%v, %v)", d, cand.PlayerID, err1, err2)
					}
					if ra.Predictions[0].Price != 0 {
						priced++
					}
				}
				if c.name == "real" && priced == 0 {
					t.Fatalf("%s: no priced prediction: the prices are not checked", d)
				}
			}
		})
	}
}

// The same data and date give byte-identical results, every line variant
// gets its own prediction per system, and every prediction is in range.
func TestRun_DeterministicAndBounded(t *testing.T) {
	t.Parallel()
	ds := synthetic(t)
	sys := systems.Default()
	n := 0
	for d := predict.MustParseDate("2025-11-20"); d < predict.MustParseDate("2025-11-27"); d++ {
		for _, c := range predict.SelectPlayers(ds, d, predict.SelectOptions{}) {
			req, err := predict.BuildRequest(ds, d, c.PlayerID, predict.RequestOptions{Offsets: []float64{1, 2}})
			if err != nil {
				t.Fatal(err)
			}
			res1, err := predict.Run(&req, sys)
			if err != nil {
				t.Fatal(err)
			}
			res2, _ := predict.Run(&req, sys)
			b1, err := predict.EncodeResult(res1)
			if err != nil {
				t.Fatal(err)
			}
			b2, _ := predict.EncodeResult(res2)
			if !bytes.Equal(b1, b2) {
				t.Fatalf("%s %s: two runs differ", d, c.PlayerID)
			}
			if got, want := len(res1.Predictions), len(sys)*len(req.Lines); got != want || len(req.Lines) != 5 {
				t.Fatalf("%s %s: %d predictions for %d lines", d, c.PlayerID, got, len(req.Lines))
			}
			keys := map[predict.Key]bool{}
			for _, p := range res1.Predictions {
				if keys[p.Key()] {
					t.Fatalf("key %+v appears twice", p.Key())
				}
				keys[p.Key()] = true
				if !(p.Confidence >= 0 && p.Confidence <= 1) || !(p.Points >= 0) || math.Abs(p.Edge-(p.Points-p.Line)) > 0.011 || !p.Pick.Valid() {
					t.Fatalf("out of range: %+v", p)
				}
				if p.Pick != predict.Pass && (p.LineOffset != 0 || p.Estimated || p.Price == 0) {
					t.Fatalf("a pick on a variant, estimated or unpriced line: %+v", p)
				}
			}
			n++
		}
	}
	if n < 100 {
		t.Fatalf("only %d requests checked", n)
	}
}

func TestGradePick(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pick   predict.Pick
		line   float64
		pts    int
		played bool
		want   predict.Verdict
	}{
		{predict.Over, 20.5, 21, true, predict.Win},
		{predict.Over, 20.5, 20, true, predict.Loss},
		{predict.Under, 20.5, 20, true, predict.Win},
		{predict.Under, 20.5, 21, true, predict.Loss},
		{predict.Over, 20, 20, true, predict.Void}, // push
		{predict.Over, 20.5, 0, false, predict.Void},
		{predict.Pass, 20.5, 30, true, predict.Void},
	}
	for _, tt := range tests {
		if got := predict.GradePick(tt.pick, tt.line, tt.pts, tt.played); got != tt.want {
			t.Errorf("GradePick(%s, %v, %d, %v) = %v, want %v", tt.pick, tt.line, tt.pts, tt.played, got, tt.want)
		}
	}
}

func TestDecodeRequest_Invalid(t *testing.T) {
	t.Parallel()
	ds := tinyDataset(t)
	good, err := predict.BuildRequest(ds, jan5, "p1", predict.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(r *predict.Request)
	}{
		{"format", func(r *predict.Request) { r.Format = 2 }},
		{"no player", func(r *predict.Request) { r.PlayerID = "" }},
		{"future game in history", func(r *predict.Request) { r.Recent[0].Date = r.Date }},
		{"no lines", func(r *predict.Request) { r.Lines = nil }},
		{"rest out of range", func(r *predict.Request) { r.RestDays = -1 }},
		{"estimate flag mismatch", func(r *predict.Request) { r.Lines[0].Estimated = true }},
		{"NaN-free but negative points", func(r *predict.Request) { r.Recent[0].Points = -3 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := good
			r.Recent = append([]predict.PastGame(nil), good.Recent...)
			r.Lines = append([]predict.Line(nil), good.Lines...)
			tt.edit(&r)
			if _, err := predict.EncodeRequest(r); !errors.Is(err, batch.ErrInvalid) {
				t.Errorf("encode: got %v, want ErrInvalid", err)
			}
			if _, err := predict.Run(&r, systems.Default()); !errors.Is(err, batch.ErrInvalid) || !batch.IsPermanent(err) {
				t.Errorf("run: got %v, want a permanent ErrInvalid", err)
			}
		})
	}
	for _, raw := range []string{"", "{", "[]", `{"format":1}`, `{"format":1,"date":"2025-02-30"}`, "{}{}"} {
		if _, err := predict.DecodeRequest([]byte(raw)); !errors.Is(err, batch.ErrInvalid) {
			t.Errorf("DecodeRequest(%q): got %v, want ErrInvalid", raw, err)
		}
	}
}

func BenchmarkRun(b *testing.B) {
	ds := synthetic(b)
	d := predict.MustParseDate("2026-01-10")
	var reqs []predict.Request
	for _, c := range predict.SelectPlayers(ds, d, predict.SelectOptions{}) {
		r, err := predict.BuildRequest(ds, d, c.PlayerID, predict.RequestOptions{Offsets: []float64{1, 2}})
		if err != nil {
			b.Fatal(err)
		}
		reqs = append(reqs, r)
	}
	sys := systems.Default()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := predict.Run(&reqs[i%len(reqs)], sys); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkBuildRequest(b *testing.B) {
	ds := synthetic(b)
	d := predict.MustParseDate("2026-01-10")
	sel := predict.SelectPlayers(ds, d, predict.SelectOptions{})
	i := 0
	for b.Loop() {
		if _, err := predict.BuildRequest(ds, d, sel[i%len(sel)].PlayerID, predict.RequestOptions{Offsets: []float64{1, 2}}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BusiestDate picks the played date with the most games in its range, the
// earliest of equals.
func TestDataset_BusiestDate(t *testing.T) {
	t.Parallel()
	ds := synthetic(t)
	from, to := predict.MustParseDate("2025-11-01"), predict.MustParseDate("2025-12-31")
	got := ds.BusiestDate(from, to)
	if got < from || got > to || len(ds.GamesOn(got)) == 0 {
		t.Fatalf("BusiestDate = %v: not a date with games in %v..%v", got, from, to)
	}
	for d := from; d <= to; d++ {
		if n := len(ds.GamesOn(d)); n > len(ds.GamesOn(got)) || (n == len(ds.GamesOn(got)) && d < got) {
			t.Fatalf("BusiestDate = %v with %d games, but %v has %d", got, len(ds.GamesOn(got)), d, n)
		}
	}
	if got := ds.BusiestDate(to, from); got != 0 {
		t.Errorf("BusiestDate of an empty range = %v, want 0", got)
	}
}
