package gcppubsub_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tipoff/batch"
	"tipoff/gcppubsub"
)

func mustReadFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestDecodePush(t *testing.T) {
	tests := []struct {
		file string
		want batch.Delivery
	}{
		{"emulator.json", batch.Delivery{
			Message: batch.Message{
				ID:   "2026-01-15-daily/luka-doncic/1",
				Body: []byte(`{"player":"luka-doncic"}`),
				Attributes: map[string]string{
					batch.AttrBatchID: "2026-01-15-daily", batch.AttrItemID: "luka-doncic", batch.AttrAttempt: "1",
				},
			},
			Attempt:     1, // the emulator sends no deliveryAttempt
			PublishedAt: time.Date(2026, 11, 28, 13, 44, 42, 600e6, time.UTC),
		}},
		{"production.json", batch.Delivery{
			Message: batch.Message{
				ID:   "2026-01-15-0192f3a1b2c-9f8e7d6c5b4a/1629029/2",
				Body: []byte(`{"player":{"id":"1629029","name":"Luka Dončić"},"lines":[33.5]}`),
				Attributes: map[string]string{
					batch.AttrBatchID: "2026-01-15-0192f3a1b2c-9f8e7d6c5b4a", batch.AttrItemID: "1629029", batch.AttrAttempt: "2",
					batch.AttrTraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
				},
			},
			Attempt:     3,
			PublishedAt: time.Date(2026, 1, 15, 14, 0, 3, 118e6, time.UTC),
		}},
		{"dead-letter.json", batch.Delivery{
			Message: batch.Message{
				ID:   "2026-01-15-daily/203999/1",
				Body: []byte(`{}`),
				Attributes: map[string]string{
					batch.AttrBatchID: "2026-01-15-daily", batch.AttrItemID: "203999", batch.AttrAttempt: "1",
				},
			},
			Attempt:     1,
			PublishedAt: time.Date(2026, 1, 15, 13, 9, 41, 500e6, time.UTC),
		}},
		{"foreign.json", batch.Delivery{
			Message:     batch.Message{ID: "998877", Body: []byte("hello")},
			Attempt:     1,
			PublishedAt: time.Date(2026, 1, 15, 6, 0, 0, 0, time.UTC),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := gcppubsub.DecodePush(bytes.NewReader(mustReadFile(t, filepath.Join("testdata", "push", tt.file))))
			if err != nil {
				t.Fatalf("DecodePush: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("DecodePush (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodePush_Invalid(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string // in the error
	}{
		{"empty", ``, "not a Pub/Sub push envelope"},
		{"not json", `subscription=x`, "not a Pub/Sub push envelope"},
		{"array", `[]`, "not a Pub/Sub push envelope"},
		{"no message", `{"subscription":"projects/p/subscriptions/s"}`, "no message"},
		{"null message", `{"message":null}`, "no message"},
		{"no message id", `{"message":{"data":"e30=","publishTime":"2026-01-15T06:00:00Z"}}`, "no messageId"},
		{"bad base64", `{"message":{"data":"not base64!","messageId":"1","publishTime":"2026-01-15T06:00:00Z"}}`, "not a Pub/Sub push envelope"},
		{"data not a string", `{"message":{"data":7,"messageId":"1","publishTime":"2026-01-15T06:00:00Z"}}`, "not a Pub/Sub push envelope"},
		{"attribute not a string", `{"message":{"attributes":{"a":1},"messageId":"1","publishTime":"2026-01-15T06:00:00Z"}}`, "not a Pub/Sub push envelope"},
		{"no publish time", `{"message":{"messageId":"1"}}`, `publishTime ""`},
		{"bad publish time", `{"message":{"messageId":"1","publishTime":"yesterday"}}`, `publishTime "yesterday"`},
		// RFC 3339 with an offset reaches beyond the years a protobuf
		// Timestamp holds, and beyond what Go formats as RFC 3339.
		{"publish time in year -1", `{"message":{"messageId":"1","publishTime":"0000-01-01T00:00:00+01:00"}}`, `publishTime "0000-01-01T00:00:00+01:00" is outside`},
		{"publish time in year 10000", `{"message":{"messageId":"1","publishTime":"9999-12-31T23:30:00-01:00"}}`, `publishTime "9999-12-31T23:30:00-01:00" is outside`},
		{"negative attempt", `{"message":{"messageId":"1","publishTime":"2026-01-15T06:00:00Z"},"deliveryAttempt":-1}`, "deliveryAttempt -1"},
		{"trailing data", `{"message":{"messageId":"1","publishTime":"2026-01-15T06:00:00Z"}} {}`, "data after the envelope"},
		{"too long", `{"message":{"messageId":"1","publishTime":"2026-01-15T06:00:00Z","data":"` + strings.Repeat("A", gcppubsub.MaxPushBytes) + `"}}`, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := gcppubsub.DecodePush(strings.NewReader(tt.body))
			if !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodePush = %+v, %v; want an error wrapping %v that mentions %q", d, err, batch.ErrInvalid, tt.want)
			}
		})
	}
}

// A reader that fails is bad input too.
func TestDecodePush_ReadError(t *testing.T) {
	_, err := gcppubsub.DecodePush(io.MultiReader(strings.NewReader(`{"message":`), errReader{}))
	if !errors.Is(err, batch.ErrInvalid) {
		t.Fatalf("DecodePush of a failing reader: got %v, want an error wrapping %v", err, batch.ErrInvalid)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestEncodePush_Reserved(t *testing.T) {
	for _, k := range []string{gcppubsub.IDAttribute, "CloudPubSubDeadLetterSourceDeliveryCount"} {
		d := batch.Delivery{Message: batch.Message{ID: "x", Attributes: map[string]string{k: "1"}}}
		if _, err := gcppubsub.EncodePush("projects/p/subscriptions/s", d); !errors.Is(err, batch.ErrInvalid) {
			t.Errorf("EncodePush with attribute %q: got %v, want an error wrapping %v", k, err, batch.ErrInvalid)
		}
	}
	if _, err := gcppubsub.EncodePush("projects/p/subscriptions/s", batch.Delivery{}); !errors.Is(err, batch.ErrInvalid) {
		t.Errorf("EncodePush without an ID: got %v, want an error wrapping %v", err, batch.ErrInvalid)
	}
}

// EncodePush refuses a publish time a push cannot carry, and encodes the
// first and last instants it can so that they decode unchanged.
func TestEncodePush_PublishTimeRange(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(0, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		d := batch.Delivery{Message: batch.Message{ID: "x"}, PublishedAt: at}
		if _, err := gcppubsub.EncodePush("projects/p/subscriptions/s", d); !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), "PublishedAt") {
			t.Errorf("EncodePush with PublishedAt %v: got %v, want an error wrapping %v that names PublishedAt", at, err, batch.ErrInvalid)
		}
	}
	for _, at := range []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	} {
		d := batch.Delivery{Message: batch.Message{ID: "x"}, Attempt: 1, PublishedAt: at}
		b, err := gcppubsub.EncodePush("projects/p/subscriptions/s", d)
		if err != nil {
			t.Fatalf("EncodePush with PublishedAt %v: %v", at, err)
		}
		got, err := gcppubsub.DecodePush(bytes.NewReader(b))
		if err != nil || !got.PublishedAt.Equal(at) {
			t.Fatalf("DecodePush(EncodePush(PublishedAt %v)) = %v, %v; want the same time", at, got.PublishedAt, err)
		}
	}
}

// FuzzDecodePush: DecodePush never panics, every error wraps ErrInvalid,
// and what it decodes survives EncodePush and DecodePush unchanged.
func FuzzDecodePush(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "push", "*.json"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata/push: %v", err)
	}
	for _, s := range seeds {
		f.Add(mustReadFile(f, s))
	}
	f.Add([]byte(`{"message":{"messageId":"1","publishTime":"2026-01-15T06:00:00Z","attributes":{"tipoff_message_id":""}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := gcppubsub.DecodePush(bytes.NewReader(body))
		if err != nil {
			if !errors.Is(err, batch.ErrInvalid) {
				t.Fatalf("DecodePush error %v does not wrap %v", err, batch.ErrInvalid)
			}
			return
		}
		enc, err := gcppubsub.EncodePush("projects/p/subscriptions/s", d)
		if err != nil {
			t.Fatalf("EncodePush of a decoded delivery %+v: %v", d, err)
		}
		again, err := gcppubsub.DecodePush(bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("DecodePush of EncodePush output %s: %v", enc, err)
		}
		if diff := cmp.Diff(d, again); diff != "" {
			t.Fatalf("decode, encode, decode changed the delivery (-first +second):\n%s", diff)
		}
	})
}

// The emulator pushes what the queue publishes, and DecodePush reads it
// back as published; a push answered with an error is pushed again.
func TestSetupPush_Emulator(t *testing.T) {
	got := make(chan []byte, 4)
	var pushes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
		if pushes.Add(1) == 1 {
			http.Error(w, "try again", http.StatusServiceUnavailable) // a nack
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	q := mustOpenEmulator(t, gcppubsub.Config{Lease: emuLease, BackoffMin: emuBackoffMin, BackoffMax: emuBackoffMax})
	if err := q.SetupPush(t.Context(), batch.TopicRequests, gcppubsub.Push{Endpoint: srv.URL + "/push/requests"}); err != nil {
		t.Fatalf("SetupPush: %v", err)
	}
	m := batch.Message{ID: "2026-01-15-daily/luka-doncic/1", Body: []byte(`{"player":"luka-doncic"}`),
		Attributes: map[string]string{batch.AttrBatchID: "2026-01-15-daily", batch.AttrItemID: "luka-doncic", batch.AttrAttempt: "1"}}
	before := time.Now()
	if err := q.Publish(t.Context(), batch.TopicRequests, m); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	for i := 1; i <= 2; i++ {
		var body []byte
		select {
		case body = <-got:
		case <-time.After(30 * time.Second):
			t.Fatalf("push %d did not arrive", i)
		}
		d, err := gcppubsub.DecodePush(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("DecodePush of push %d %s: %v", i, body, err)
		}
		if diff := cmp.Diff(m, d.Message); diff != "" {
			t.Fatalf("push %d (-published +pushed):\n%s", i, diff)
		}
		if d.PublishedAt.Before(before.Add(-time.Minute)) || d.PublishedAt.After(time.Now().Add(time.Minute)) {
			t.Fatalf("push %d: PublishedAt %v, want about %v", i, d.PublishedAt, before)
		}
		t.Logf("push %d: attempt %d after %v", i, d.Attempt, time.Since(before))
	}
}
