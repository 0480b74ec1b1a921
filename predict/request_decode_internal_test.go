package predict

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecodeRequestFast: whatever the fast path decodes, encoding/json
// decodes without error to a deeply equal request (nil and empty lists
// told apart, as their JSON is).
func FuzzDecodeRequestFast(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "request.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, s := range [][2]string{
		{`"lines":[`, `"lines":[],"x":[`},
		{`"recent":[`, `"recent":[{"line":5}],"recent":[`},
		{`"lines":[`, `"lines":[{"value":1}],"lines":[`},
		{`"opp_rating":{`, `"opp_rating":{"pace":2},"opp_rating":{`},
		{`"player_name":"`, `"player_name":"\u00e9\\u00e9`},
		{`"format":1`, `"format":1.0`},
		{`"format":1`, `"format":1e0`},
		{`"format":1`, `"Format":1`},
		{`"home":`, `"home":null,"home":`},
		{`"pricing":{`, `"pricing":{"min_ev":1},"pricing":{`},
		{`"league":{`, ` "league" : {`},
	} {
		f.Add(bytes.Replace(b, []byte(s[0]), []byte(s[1]), 1))
	}
	f.Add(withCalibration(f, b))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"recent":[],"lines":[]}`))
	f.Add(append(bytes.Clone(b), " {}"...))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodeRequestFast(b)
		if !ok {
			return
		}
		want, err := decodeRequestSlow(b)
		if err != nil {
			t.Fatalf("fast path decoded what encoding/json refuses (%v):\n%s", err, b)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fast path decoded\n%+v\nencoding/json\n%+v\nfrom\n%s", got, want, b)
		}
	})
}

// The request EncodeRequest writes takes the fast path.
func TestDecodeRequestFast_Encoded(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("testdata", "request.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, ok := decodeRequestFast(b)
	if !ok {
		t.Fatal("an encoded request left to encoding/json")
	}
	want, err := decodeRequestSlow(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fast path decoded\n%+v\nencoding/json\n%+v", got, want)
	}
	if len(got.Recent) == 0 || len(got.Lines) == 0 {
		t.Fatalf("the test request lacks what it should exercise: %d recent games, %d lines", len(got.Recent), len(got.Lines))
	}
	b = withCalibration(t, b)
	got, ok = decodeRequestFast(b)
	want, _ = decodeRequestSlow(b)
	if !ok || got.Calibration == nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("with a calibration: fast path %v, decoded\n%+v\nencoding/json\n%+v", ok, got, want)
	}
}

// withCalibration returns the request b with a calibration.
func withCalibration(tb testing.TB, b []byte) []byte {
	tb.Helper()
	r, err := decodeRequestSlow(b)
	if err != nil {
		tb.Fatal(err)
	}
	r.Calibration = &Calibration{From: r.Date - 60, Through: r.Date - 1, Systems: []SystemCalibration{{
		System: "baseline", Market: [3]float64{0.1234567, 1.0000001, -0.3333333}, MarketRows: 120,
		NoMarket: [2]float64{-0.012, 0.987654321}, NoMarketRows: 300, Move: 0.25,
		Record: PickRecord{Picks: 101, Hits: 55, Stated: 53.123456, Profit: 2.5}, Earned: true,
	}}}
	out, err := json.Marshal(r)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func BenchmarkDecodeRequest(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "request.json"))
	if err != nil {
		b.Fatal(err)
	}
	raw = withCalibration(b, raw)
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, ok := decodeRequestFast(raw); !ok {
				b.Fatal("left to encoding/json")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := decodeRequestSlow(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzDecodeResultFast: whatever the fast path decodes, encoding/json
// decodes without error to a deeply equal result.
func FuzzDecodeResultFast(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "result.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, s := range [][2]string{
		{`"predictions":[`, `"predictions":[],"predictions":[`},
		{`"predictions":[`, `"predictions":null,"x":[`},
		{`"system":`, `"system":"a","System":`},
		{`"price":`, `"price":1.5,"x":`},
		{`"pick":"`, `"pick":"\u00e9`},
		{`"player":{`, `"player":{"name":"x"},"player":{`},
		{`"player":{`, `"player":null,"x":{`},
		{`"home":`, `"home":false,"Home":`},
	} {
		f.Add(bytes.Replace(b, []byte(s[0]), []byte(s[1]), 1))
	}
	f.Add([]byte(`{"predictions":[]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodeResultFast(b)
		if !ok {
			return
		}
		want, err := decodeResultSlow(b)
		if err != nil {
			t.Fatalf("fast path decoded what encoding/json refuses (%v):\n%s", err, b)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fast path decoded\n%+v\nencoding/json\n%+v\nfrom\n%s", got, want, b)
		}
	})
}

// The result EncodeResult writes takes the fast path.
func TestDecodeResultFast_Encoded(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("testdata", "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, ok := decodeResultFast(b)
	want, err := decodeResultSlow(b)
	if !ok || err != nil || !reflect.DeepEqual(got, want) || len(got.Predictions) == 0 {
		t.Fatalf("fast path %v (%d predictions), encoding/json %v: decoded\n%+v\nencoding/json\n%+v", ok, len(got.Predictions), err, got, want)
	}
}

// bookLineOn, which reads a date's lines in place, gives the line
// preferredProp picks from a copy of them, on every player's every date
// of a data set with several books, under several preferences.
func TestBookLineOn(t *testing.T) {
	t.Parallel()
	games := []Game{{ID: "g", Date: 10, Season: "s", SeasonType: "Regular Season", Home: "A", Away: "B", Final: true}}
	var lines []PropLine
	for i, b := range []string{"x", "y", "z", "x", "y"} {
		lines = append(lines,
			PropLine{Date: 10, PlayerID: "p", Book: b, Line: 10.5 + float64(i), Main: i != 2, OverOdds: -110 * (i % 2)},
			PropLine{Date: 11, PlayerID: "p", Book: b, Line: 20.5 - float64(i), Main: true},
			PropLine{Date: 10, PlayerID: "q", Book: "z", Line: 5.5, Main: true})
	}
	ds, err := NewDataset(games, nil, lines, nil)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, books := range [][]string{{"x"}, {"y", "x"}, {"z", "y"}, {"w"}, nil} {
		for _, player := range []string{"p", "q", "r"} {
			for _, d := range []Date{10, 11, 12} {
				want := 0.0
				if p, ok := preferredProp(ds.LinesOn(player, d), books); ok {
					want = p.Line
					checked++
				}
				if got := ds.bookLineOn(player, d, books); got != want {
					t.Errorf("books %v, %s on %d: %v, want %v", books, player, d, got, want)
				}
			}
		}
	}
	if checked < 5 {
		t.Fatalf("only %d cases with a line: the test checks too little", checked)
	}
}
