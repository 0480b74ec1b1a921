package batch_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"tipoff/batch"
)

// outcomeSeeds returns the outcome messages in testdata/outcomes.
func outcomeSeeds(tb testing.TB) map[string][]byte {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "outcomes", "*.json"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no seeds in testdata/outcomes: %v", err)
	}
	seeds := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		seeds[filepath.Base(p)] = b
	}
	return seeds
}

func TestDecodeOutcome(t *testing.T) {
	t.Parallel()
	seeds := outcomeSeeds(t)
	m, err := batch.DecodeOutcome(seeds["succeeded.json"])
	if err != nil {
		t.Fatal(err)
	}
	if m.BatchID != "2026-01-15-19bc1a2f000-a1b2c3d4e5f6" || m.ItemID != "1628983" || m.Outcome != batch.OutcomeSucceeded ||
		m.Attempt != 1 || m.Worker != "worker-7" || m.TraceID != "trace-2026-01-15" || m.At.UnixMicro()%1e6 != 123456 {
		t.Fatalf("decoded %+v", m)
	}
	if !json.Valid(m.Result) || !bytes.Contains(m.Result, []byte(`"pick":"OVER"`)) {
		t.Fatalf("result %s is not the message's predictions", m.Result)
	}
	if rec := m.Record(); rec.BatchID != m.BatchID || rec.ItemID != m.ItemID || !bytes.Equal(rec.Result, m.Result) || !rec.At.Equal(m.At) {
		t.Fatalf("Record() = %+v does not carry the message", rec)
	}

	tests := []struct {
		name   string
		body   string
		wantIn string
	}{
		{"seed with an unknown outcome", string(seeds["bad_outcome.json"]), `"done"`},
		{"not JSON", `outcome: succeeded`, "outcome message"},
		{"truncated", `{"batch_id":"b1","item_id":"p1","outc`, "outcome message"},
		{"array", `[1,2]`, "outcome message"},
		{"no batch", `{"item_id":"p1","outcome":"failed"}`, "names no batch"},
		{"no item", `{"batch_id":"b1","outcome":"failed"}`, "names no item"},
		{"no outcome", `{"batch_id":"b1","item_id":"p1"}`, `outcome "" for b1/p1`},
		{"bad time", `{"batch_id":"b1","item_id":"p1","outcome":"failed","at":"yesterday"}`, "outcome message"},
		{"wrong type", `{"batch_id":7,"item_id":"p1","outcome":"failed"}`, "outcome message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := batch.DecodeOutcome([]byte(tt.body))
			if !errors.Is(err, batch.ErrInvalid) || !batch.IsPermanent(err) {
				t.Fatalf("got %v, want an error wrapping ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Fatalf("error %q does not name %s", err, tt.wantIn)
			}
		})
	}
}

func TestEncodeOutcome_Invalid(t *testing.T) {
	t.Parallel()
	ok := batch.OutcomeMessage{BatchID: "b1", ItemID: "p1", Outcome: batch.OutcomeSucceeded, Result: json.RawMessage(`{"a":1}`)}
	if _, err := batch.EncodeOutcome(ok); err != nil {
		t.Fatal(err)
	}
	bad := ok
	bad.Result = json.RawMessage(`{"a":`)
	if _, err := batch.EncodeOutcome(bad); !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), "b1/p1") {
		t.Fatalf("encode with a result that is not JSON: got %v, want ErrInvalid naming b1/p1", err)
	}
	bad = ok
	bad.Outcome = "ok"
	if _, err := batch.EncodeOutcome(bad); !errors.Is(err, batch.ErrInvalid) {
		t.Fatalf("encode with an unknown outcome: got %v, want ErrInvalid", err)
	}
}

// FuzzDecodeOutcome checks that DecodeOutcome never panics, rejects only
// with ErrInvalid, and that what it accepts survives encode→decode: the
// same message (the result compared as the JSON value it is, since encoding
// compacts it), and an encoding that no longer changes.
//
//	go test -run='^$' -fuzz=FuzzDecodeOutcome -fuzztime=60s ./batch
func FuzzDecodeOutcome(f *testing.F) {
	for _, b := range outcomeSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m1, err := batch.DecodeOutcome(body)
		if err != nil {
			if !errors.Is(err, batch.ErrInvalid) {
				t.Fatalf("DecodeOutcome error %v does not wrap ErrInvalid", err)
			}
			return
		}
		e1, err := batch.EncodeOutcome(m1)
		if err != nil {
			t.Fatalf("a decoded message does not encode: %v\nmessage %+v", err, m1)
		}
		m2, err := batch.DecodeOutcome(e1)
		if err != nil {
			t.Fatalf("an encoded message does not decode: %v\n%s", err, e1)
		}
		if !sameOutcome(m1, m2) {
			t.Fatalf("round trip changed the message:\nfirst  %+v\nsecond %+v\nwire %s", m1, m2, e1)
		}
		e2, err := batch.EncodeOutcome(m2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e1, e2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", e1, e2)
		}
	})
}

// sameOutcome compares two messages field by field (any field added to
// OutcomeMessage is included): times by instant, results by their JSON
// value, compact, as encoding writes it.
func sameOutcome(a, b batch.OutcomeMessage) bool {
	if !a.At.Equal(b.At) {
		return false
	}
	a.At = b.At
	a.Result, b.Result = compactJSON(a.Result), compactJSON(b.Result)
	return reflect.DeepEqual(a, b)
}

func compactJSON(raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return nil
	}
	b, err := json.Marshal(raw) // compacts and escapes as encoding does
	if err != nil {
		return append([]byte("invalid:"), raw...)
	}
	return b
}
