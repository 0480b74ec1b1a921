package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/gcppubsub"
	"tipoff/httpapi"
	"tipoff/predict"
	"tipoff/predict/systems"
)

// predictHandler is the prediction job's work: any failure to decode or
// predict is permanent. A request whose item ID is "transient" fails
// transiently instead.
func predictHandler(ctx context.Context, d batch.Delivery) (batch.Outcome, []byte, error) {
	if d.Attributes[batch.AttrItemID] == "transient" {
		return "", nil, errors.New("model server busy")
	}
	req, err := predict.DecodeRequest(d.Body)
	if err != nil {
		return "", nil, batch.Permanent(err)
	}
	res, err := predict.Run(&req, systems.Default())
	if err != nil {
		return "", nil, batch.Permanent(err)
	}
	body, err := predict.EncodeResult(res)
	if err != nil {
		return "", nil, batch.Permanent(err)
	}
	return batch.OutcomeSucceeded, body, nil
}

// newWorkerServer serves a worker that publishes outcomes to the env's
// queue through sink (nil: batch.PublishOutcomes).
func newWorkerServer(t *testing.T, e *env, sink batch.OutcomeSink, guard httpapi.Middleware) *httptest.Server {
	t.Helper()
	if sink == nil {
		sink = batch.PublishOutcomes(e.queue)
	}
	wk := httpapi.NewWorkerHandler(httpapi.WorkerConfig{Handler: predictHandler, Sink: sink, DecodePush: gcppubsub.DecodePush,
		Auth: guard, Name: "worker-test", MaxPushBytes: 64 << 10, Log: testLogger(t)})
	srv := httptest.NewServer(wk)
	t.Cleanup(srv.Close)
	return srv
}

// requestPush returns the push of player p's request in batch id.
func requestPush(t *testing.T, id string, p player, trace string) []byte {
	t.Helper()
	return pushOf(t, batch.RequestMessage(batch.Item{BatchID: id, ID: p.ID, Request: p.Request}, 1, trace))
}

// expectNone fails if a message of topic arrives within half a second.
func expectNone(t *testing.T, q batch.Queue, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if ds, err := q.Receive(ctx, topic, 10); err == nil {
		t.Fatalf("%d unexpected messages on %s, first %s", len(ds), topic, ds[0].ID)
	}
}

func TestWorker_Predict(t *testing.T) {
	e := newEnv(t)
	srv := newWorkerServer(t, e, nil, nil)
	p := players(t, 1)[0]
	if code, body := post(t, srv.URL+"/predict", requestPush(t, "b1", p, "trace-1")); code != http.StatusNoContent {
		t.Fatalf("push of a request: %d %s, want 204", code, body)
	}
	out := receiveAll(t, e.queue, batch.TopicOutcomes, 1)[0]
	m, err := batch.DecodeOutcome(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	if m.BatchID != "b1" || m.ItemID != p.ID || m.Outcome != batch.OutcomeSucceeded || m.Worker != "worker-test" ||
		m.TraceID != "trace-1" || m.Attempt != 1 {
		t.Fatalf("outcome message: %+v", m)
	}
	var got, want predict.Result
	if json.Unmarshal(m.Result, &got) != nil || json.Unmarshal(p.Result, &want) != nil || len(got.Predictions) == 0 ||
		len(got.Predictions) != len(want.Predictions) {
		t.Fatalf("outcome result has %d predictions, want the %d the systems make", len(got.Predictions), len(want.Predictions))
	}

	// A request that can never be predicted is a failed outcome, acked.
	bad := pushOf(t, batch.RequestMessage(batch.Item{BatchID: "b1", ID: "p2", Request: []byte(`{"format":99}`)}, 2, ""))
	if code, body := post(t, srv.URL+"/predict", bad); code != http.StatusNoContent {
		t.Fatalf("push of a bad request: %d %s, want 204", code, body)
	}
	m, err = batch.DecodeOutcome(receiveAll(t, e.queue, batch.TopicOutcomes, 1)[0].Body)
	if err != nil || m.ItemID != "p2" || m.Outcome != batch.OutcomeFailed || !strings.Contains(m.Error, "permanent") || m.Attempt != 2 {
		t.Fatalf("outcome of a bad request: %+v, %v; want failed with the reason, attempt 2", m, err)
	}

	// Pushes without an item, or that do not decode, are acked; nothing
	// is published for them.
	for i, body := range [][]byte{
		pushOf(t, batch.Message{Body: p.Request}),
		[]byte(`{"message":`),
	} {
		if code, resp := post(t, srv.URL+"/predict", body); code != http.StatusNoContent {
			t.Fatalf("junk push %d: %d %s, want 204", i, code, resp)
		}
	}
	// A transient failure is 500: Pub/Sub delivers the request again.
	tr := pushOf(t, batch.RequestMessage(batch.Item{BatchID: "b1", ID: "transient", Request: p.Request}, 1, ""))
	if code, body := post(t, srv.URL+"/predict", tr); code != http.StatusInternalServerError {
		t.Fatalf("push failing transiently: %d %s, want 500", code, body)
	}
	// Too large for the limit.
	big := pushOf(t, batch.RequestMessage(batch.Item{BatchID: "b1", ID: "big", Request: []byte(`"` + strings.Repeat("x", 70<<10) + `"`)}, 1, ""))
	if code, body := post(t, srv.URL+"/predict", big); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("push over the limit: %d %s, want 413", code, body)
	}
	expectNone(t, e.queue, batch.TopicOutcomes)
}

// The request is acked only after its outcome is published: when the
// publish fails the answer is 500.
func TestWorker_PublishFails(t *testing.T) {
	e := newEnv(t)
	var calls int
	sink := func(ctx context.Context, msgs []batch.OutcomeMessage) error {
		calls += len(msgs)
		return errors.New("pubsub unavailable")
	}
	srv := newWorkerServer(t, e, sink, nil)
	code, body := post(t, srv.URL+"/predict", requestPush(t, "b1", players(t, 1)[0], ""))
	if code != http.StatusInternalServerError || calls != 1 {
		t.Fatalf("push whose outcome cannot be published: %d %s after %d publishes; want 500 after 1", code, body, calls)
	}
}
