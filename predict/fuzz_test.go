package predict_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tipoff/batch"
	"tipoff/predict"
	"tipoff/predict/systems"
)

var update = flag.Bool("update", false, "rewrite testdata files")

// TestTestdata checks the fuzz seeds in testdata are what the current code
// builds (go test -update rewrites them).
func TestTestdata(t *testing.T) {
	t.Parallel()
	ds := tinyDataset(t)
	req, err := predict.BuildRequest(ds, jan5, "p1", predict.RequestOptions{Offsets: []float64{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	reqJSON, err := predict.EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	res, err := predict.Run(&req, systems.Default())
	if err != nil {
		t.Fatal(err)
	}
	resJSON, err := predict.EncodeResult(res)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{"request.json": reqJSON, "result.json": resJSON} {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go test -update ./predict", path)
		}
	}
}

func seed(f *testing.F, name string) {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("{}"))
	f.Add(bytes.Replace(b, []byte(`"format":1`), []byte(`"format":2`), 1))
}

// FuzzDecodeRequest: decoding never panics, and whatever decodes encodes
// and decodes back to the same request, and runs through every system.
func FuzzDecodeRequest(f *testing.F) {
	seed(f, "request.json")
	sys := systems.Default()
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := predict.DecodeRequest(b)
		if err != nil {
			return
		}
		out, err := predict.EncodeRequest(r)
		if err != nil {
			t.Fatalf("decoded request does not encode: %v", err)
		}
		r2, err := predict.DecodeRequest(out)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if d := cmp.Diff(r, r2); d != "" {
			t.Fatalf("round trip changed the request (-first +second):\n%s", d)
		}
		res, err := predict.Run(&r, sys)
		if err != nil {
			t.Fatalf("a valid request failed to run: %v", err)
		}
		if err := res.Validate(); err != nil {
			t.Fatalf("result of a valid request is invalid: %v", err)
		}
	})
}

// FuzzDecodeResult: decoding never panics, every error wraps ErrInvalid,
// and what decodes encodes and decodes back to the same result.
//
// The seeds are the first two predictions of testdata/result.json rather
// than all fifteen: the fuzzer minimizes every new input it finds, in time
// that grows with the square of its length, and on 5 KB inputs that left no
// time for fuzzing (tens of executions in 30 s). Two predictions still
// reach every branch, including the duplicate-key check.
func FuzzDecodeResult(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "result.json"))
	if err != nil {
		f.Fatal(err)
	}
	full, err := predict.DecodeResult(b)
	if err != nil {
		f.Fatalf("testdata/result.json: %v", err)
	}
	short := full
	short.Predictions = full.Predictions[:2]
	b, err = predict.EncodeResult(short)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("{}"))
	f.Add(bytes.Replace(b, []byte(`"format":1`), []byte(`"format":2`), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := predict.DecodeResult(b)
		if err != nil {
			if !errors.Is(err, batch.ErrInvalid) {
				t.Fatalf("DecodeResult error %v does not wrap %v", err, batch.ErrInvalid)
			}
			return
		}
		out, err := predict.EncodeResult(r)
		if err != nil {
			t.Fatalf("decoded result does not encode: %v", err)
		}
		r2, err := predict.DecodeResult(out)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", out, err)
		}
		// reflect.DeepEqual first: cmp.Equal costs more than the decoding
		// on every execution, and only a failure needs its diff.
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the result (-first +second):\n%s", cmp.Diff(r, r2))
		}
	})
}
