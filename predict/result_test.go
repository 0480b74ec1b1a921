package predict_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"tipoff/batch"
	"tipoff/predict"
)

// resultOf returns a valid result with n predictions, one per system.
func resultOf(n int) predict.Result {
	res := predict.Result{Format: predict.WireFormat, Date: jan5, PlayerID: "p1", DataVersion: "v1"}
	for i := range n {
		res.Predictions = append(res.Predictions, predict.Prediction{Date: jan5, PlayerID: "p1", System: fmt.Sprintf("s%04d", i),
			Line: 14.5, LineSource: "draftkings", Points: 15, Confidence: 0.5, Edge: 0.5, Pick: predict.Pass})
	}
	return res
}

// resultJSON returns a result's wire form with the predictions array
// replaced by elems, repeated n times.
func resultJSON(elem string, n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"format":1,"date":"2025-01-05","player_id":"p1","predictions":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(elem)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func TestDecodeResult_Bounds(t *testing.T) {
	full, err := predict.EncodeResult(resultOf(predict.MaxPredictions))
	if err != nil {
		t.Fatalf("EncodeResult of %d predictions: %v", predict.MaxPredictions, err)
	}
	if res, err := predict.DecodeResult(full); err != nil || len(res.Predictions) != predict.MaxPredictions {
		t.Fatalf("DecodeResult of %d predictions: got %d, %v", predict.MaxPredictions, len(res.Predictions), err)
	}
	tests := []struct {
		name string
		in   []byte
		want string // in the error
	}{
		{"too many predictions", bytes.Replace(full, []byte(`"predictions":[`),
			[]byte(`"predictions":[{"date":"2025-01-05","player_id":"p1","system":"extra","line":14.5,"line_source":"x","points":1,"confidence":0.5,"pick":"PASS"},`), 1),
			fmt.Sprintf("more than %d predictions", predict.MaxPredictions)},
		{"many empty predictions", resultJSON(`{}`, 300000), fmt.Sprintf("more than %d predictions", predict.MaxPredictions)},
		{"too long", append(resultJSON(`{}`, 0), bytes.Repeat([]byte(" "), predict.MaxResultBytes)...), fmt.Sprintf("more than %d", predict.MaxResultBytes)},
		{"predictions not an array", []byte(`{"format":1,"date":"2025-01-05","player_id":"p1","predictions":{}}`), "predictions is not an array"},
		{"bad prediction", resultJSON(`{"line":"x"}`, 1), "predictions[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := predict.DecodeResult(tt.in)
			if !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeResult = %d predictions, %v; want an error wrapping %v that mentions %q", len(res.Predictions), err, batch.ErrInvalid, tt.want)
			}
		})
	}
}

// What EncodeResult writes DecodeResult reads: EncodeResult holds results
// to the same bounds.
func TestEncodeResult_Bounds(t *testing.T) {
	if _, err := predict.EncodeResult(resultOf(predict.MaxPredictions + 1)); !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), "predictions, more than") {
		t.Errorf("EncodeResult of %d predictions: got %v, want an error wrapping %v", predict.MaxPredictions+1, err, batch.ErrInvalid)
	}
	res := resultOf(1)
	res.DataVersion = strings.Repeat("v", predict.MaxResultBytes)
	if _, err := predict.EncodeResult(res); !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), "bytes encoded") {
		t.Errorf("EncodeResult of a result over %d bytes: got %v, want an error wrapping %v", predict.MaxResultBytes, err, batch.ErrInvalid)
	}
}

// BenchmarkDecodeResult decodes a real result, and a megabyte of empty
// predictions that DecodeResult must refuse cheaply: the coordinator
// decodes every outcome's result.
func BenchmarkDecodeResult(b *testing.B) {
	real, err := os.ReadFile(filepath.Join("testdata", "result.json"))
	if err != nil {
		b.Fatal(err)
	}
	hostile := resultJSON(`{}`, (predict.MaxResultBytes-100)/3)
	for _, bc := range []struct {
		name string
		in   []byte
		ok   bool
	}{{"real", real, true}, {"empty-predictions-1MB", hostile, false}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.in)))
			for b.Loop() {
				if _, err := predict.DecodeResult(bc.in); (err == nil) != bc.ok {
					b.Fatalf("DecodeResult: %v", err)
				}
			}
		})
	}
}

// A result's player, when it names one, plays for one team against
// another; a result naming nobody is valid (workers from before results
// did), and both decode as encoded.
func TestDecodeResult_Player(t *testing.T) {
	res := resultOf(1)
	for _, c := range []struct {
		who *predict.Identity
		ok  bool
	}{
		{nil, true},
		{&predict.Identity{Name: "A B", Team: "BOS", Opponent: "NYK", Home: true}, true},
		{&predict.Identity{Name: "A B", Team: "BOS", Opponent: "BOS"}, false},
		{&predict.Identity{Name: "A B", Team: "", Opponent: "NYK"}, false},
	} {
		res.Player = c.who
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		got, err := predict.DecodeResult(b)
		if (err == nil) != c.ok || c.ok && !reflect.DeepEqual(got.Player, c.who) {
			t.Errorf("DecodeResult of player %+v: %+v, %v; want it back: %v", c.who, got.Player, err, c.ok)
		}
		if _, err := predict.EncodeResult(res); (err == nil) != c.ok {
			t.Errorf("EncodeResult of player %+v: %v, want ok %v", c.who, err, c.ok)
		}
	}
}
