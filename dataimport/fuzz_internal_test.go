package dataimport

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzKinds are the row decoders, each with its header and encoder.
var fuzzKinds = []struct {
	file   string
	cols   columns
	header []string
	decode func(*row) (any, error)
	encode func(any) []string
}{
	{"schedule.csv", scheduleColumns, scheduleHeader,
		func(r *row) (any, error) { return decodeGame(r) },
		func(v any) []string { return encodeGame(v.(gameT)) }},
	{"player_game_logs.csv", logColumns, logHeader,
		func(r *row) (any, error) { return decodeGameLog(r) },
		func(v any) []string { return encodeGameLog(v.(logT)) }},
	{"props.csv", propColumns, propHeader,
		func(r *row) (any, error) { return decodePropLine(r) },
		func(v any) []string { return encodePropLine(v.(propT)) }},
	{"player_status.csv", statusColumns, statusHeader,
		func(r *row) (any, error) { return decodeStatus(r) },
		func(v any) []string { return encodeStatus(v.(statusT)) }},
}

// FuzzDecodeRow feeds CSV rows to every row decoder: none panics, and a
// row that decodes encodes and decodes back to the same value.
func FuzzDecodeRow(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "rows", "*.csv"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata/rows: %v", err)
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		for k := range fuzzKinds {
			f.Add(uint8(k), b)
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, line []byte) {
		k := fuzzKinds[int(kind)%len(fuzzKinds)]
		cr := csv.NewReader(bytes.NewReader(line))
		cr.FieldsPerRecord = -1
		rec, err := cr.Read()
		if err != nil {
			return
		}
		r, err := newRow(k.file, k.header, k.cols)
		if err != nil {
			t.Fatal(err)
		}
		r.Line, r.rec = 2, rec
		v, err := k.decode(r)
		if err != nil {
			return
		}
		r.rec = k.encode(v)
		v2, err := k.decode(r)
		if err != nil {
			t.Fatalf("re-decode of %q: %v", r.rec, err)
		}
		if d := cmp.Diff(v, v2); d != "" {
			t.Fatalf("round trip changed the row (-first +second):\n%s", d)
		}
	})
}

type (
	gameT   = predictGame
	logT    = predictGameLog
	propT   = predictPropLine
	statusT = predictStatus
)
