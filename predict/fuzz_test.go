package predict_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

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

// FuzzDecodeResult: decoding never panics and round-trips.
func FuzzDecodeResult(f *testing.F) {
	seed(f, "result.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := predict.DecodeResult(b)
		if err != nil {
			return
		}
		out, err := predict.EncodeResult(r)
		if err != nil {
			t.Fatalf("decoded result does not encode: %v", err)
		}
		r2, err := predict.DecodeResult(out)
		if err != nil || !cmp.Equal(r, r2) {
			t.Fatalf("round trip: %v, %v", err, cmp.Diff(r, r2))
		}
	})
}
