package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/gcppubsub"
	"tipoff/httpapi"
	"tipoff/pipeline"
	"tipoff/predict"
)

const testSubscription = "projects/tipoff-test/subscriptions/push"

// coordEnv is a coordinator service on a real SQLite store and queue.
type coordEnv struct {
	*env
	flaky   *flakyStore
	eng     *batch.Engine
	coord   *batch.Coordinator
	handler *httpapi.CoordinatorHandler
	srv     *httptest.Server
	mu      sync.Mutex
	starts  []pipeline.StartRequest // what reached the start function
	// dispatched receives how many items each dispatch published (a
	// signal dropped when 16 wait unread).
	dispatched chan int
}

// dispatchSignal sends each dispatch's count on c without ever blocking
// the engine.
type dispatchSignal struct {
	batch.NopObserver
	c chan int
}

func (d dispatchSignal) Dispatched(n int) {
	select {
	case d.c <- n:
	default:
	}
}

// flakyStore is the SQLite store with failures switched on at will: every
// write then fails as an unreachable backend would.
type flakyStore struct {
	batch.Store
	down atomic.Bool
	// wedged makes RecordOutcome hang until its context ends, as a store
	// call stuck behind a frozen peer's lock does.
	wedged atomic.Bool
}

var errStoreDown = errors.New("store unreachable")

func (s *flakyStore) RecordOutcome(ctx context.Context, rec batch.OutcomeRecord) (batch.Recorded, error) {
	if s.down.Load() {
		return batch.Recorded{}, errStoreDown
	}
	if s.wedged.Load() {
		<-ctx.Done()
		return batch.Recorded{}, ctx.Err()
	}
	return s.Store.RecordOutcome(ctx, rec)
}

func (s *flakyStore) ListBatches(ctx context.Context, opts batch.ListOptions) ([]batch.Batch, error) {
	if s.down.Load() {
		return nil, errStoreDown
	}
	return s.Store.ListBatches(ctx, opts)
}

// newCoordEnv serves a coordinator whose start function makes a batch of
// the first n synthetic players, with guard as its auth (nil: none), and
// runs its background loop until the test ends.
func newCoordEnv(t *testing.T, n int, guard httpapi.Middleware) *coordEnv {
	t.Helper()
	return newGroupedCoordEnv(t, n, httpapi.Guards{Start: guard, Push: guard, Operator: guard})
}

// newGroupedCoordEnv is newCoordEnv with a guard per route group, and
// /metrics and /health mounted too.
func newGroupedCoordEnv(t *testing.T, n int, guards httpapi.Guards) *coordEnv {
	t.Helper()
	e := newEnv(t)
	ce := &coordEnv{env: e, flaky: &flakyStore{Store: e.store}, dispatched: make(chan int, 16)}
	ce.eng = batch.NewEngine(ce.flaky, e.queue, testLogger(t), batch.EngineConfig{NowFunc: e.clock, Observer: dispatchSignal{c: ce.dispatched}})
	ps := players(t, n)
	start := func(ctx context.Context, req pipeline.StartRequest) (batch.Batch, bool, error) {
		ce.mu.Lock()
		ce.starts = append(ce.starts, req)
		ce.mu.Unlock()
		key := batch.Key{Date: req.Date, Run: req.Run}
		if key.Date == "" {
			key.Date = gameDate
			if !req.ScheduleTime.IsZero() {
				key.Date = req.ScheduleTime.Format(time.DateOnly)
			}
		}
		if key.Run == "" {
			key.Run = "daily"
		}
		spec := batch.Spec{Key: key, Policy: batch.Policy{MaxAttempts: req.Options.MaxAttempts},
			Meta: map[string]string{batch.AttrTraceID: req.TraceID, "data_version": "test-v1"}}
		for _, p := range ps {
			spec.Items = append(spec.Items, batch.NewItem{ID: p.ID, Request: p.Request})
		}
		if key.Date == offDate {
			spec.Items, spec.Meta[batch.MetaNoItems] = nil, "no games scheduled on "+offDate
		}
		return ce.eng.Create(ctx, spec)
	}
	ce.coord = batch.NewCoordinator(ce.eng, e.queue, testLogger(t), batch.CoordinatorConfig{SweepEvery: time.Hour})
	job := pipeline.NewJob(pipeline.JobConfig{Store: e.store, Publisher: e.db, NowFunc: e.clock})
	ce.handler = httpapi.NewCoordinatorHandler(httpapi.CoordinatorConfig{
		Coordinator: ce.coord, Start: start, Publish: job.Publish, DecodePush: gcppubsub.DecodePush, Guards: guards,
		Status: e.status, Metrics: httpapi.NewMetrics(httpapi.MetricsConfig{Store: e.store, Log: testLogger(t)}),
		Health: httpapi.NewHealth(httpapi.HealthConfig{Program: "tipoff", Log: testLogger(t)}), Log: testLogger(t), MaxStartBytes: 4096,
	})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { ce.coord.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	ce.srv = httptest.NewServer(ce.handler)
	t.Cleanup(ce.srv.Close)
	return ce
}

// post POSTs body to url with the headers (name, value pairs) and returns
// the status and body.
func post(t *testing.T, url string, body []byte, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// pushOf returns the body Pub/Sub pushes for a message.
func pushOf(t *testing.T, m batch.Message) []byte {
	t.Helper()
	if m.ID == "" {
		m.ID = "msg-" + batch.NewID(batch.Key{Date: gameDate}, time.Now())
	}
	b, err := gcppubsub.EncodePush(testSubscription, batch.Delivery{Message: m, Attempt: 1, PublishedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// outcomePush returns the push of player p's outcome o in batch id.
func outcomePush(t *testing.T, id string, p player, o batch.Outcome) []byte {
	t.Helper()
	m := batch.OutcomeMessage{BatchID: id, ItemID: p.ID, Outcome: o, Attempt: 1, At: t0.Add(time.Minute)}
	if o == batch.OutcomeSucceeded {
		m.Result = p.Result
	} else {
		m.Error = "worker says no"
	}
	body, err := batch.EncodeOutcome(m)
	if err != nil {
		t.Fatal(err)
	}
	return pushOf(t, batch.Message{ID: id + "/" + p.ID + "/1/outcome", Body: body,
		Attributes: map[string]string{batch.AttrBatchID: id, batch.AttrItemID: p.ID, batch.AttrAttempt: "1"}})
}

// receiveAll receives n messages of topic from the queue within 10 s, and
// fails if more arrive.
func receiveAll(t *testing.T, q batch.Queue, topic string, n int) []batch.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var out []batch.Delivery
	for len(out) < n {
		ds, err := q.Receive(ctx, topic, n)
		if err != nil {
			t.Fatalf("received %d of %d messages of %s: %v", len(out), n, topic, err)
		}
		out = append(out, ds...)
		if err := q.Ack(ctx, ds...); err != nil {
			t.Fatal(err)
		}
	}
	if len(out) != n {
		t.Fatalf("received %d messages of %s, want %d", len(out), topic, n)
	}
	return out
}

// offDate is a date the coordinator's start function has no games on.
const offDate = "2026-01-18"

// A date with no games answers 200 (a scheduler must not count it as a
// failure, nor retry it) with a body saying so, for the first start and a
// retry alike; the batch is finalized when it is created.
func TestCoordinator_StartNoGames(t *testing.T) {
	ce := newCoordEnv(t, 6, nil)
	var first httpapi.StartResponse
	for i := range 2 {
		code, raw := post(t, ce.srv.URL+"/start", []byte(`{"date":"`+offDate+`"}`), "Content-Type", "application/json")
		var resp httpapi.StartResponse
		if err := json.Unmarshal([]byte(raw), &resp); err != nil {
			t.Fatalf("start %d response: %v\n%s", i, err, raw)
		}
		if code != http.StatusOK || resp.NoItems != "no games scheduled on "+offDate || resp.State != batch.Finalized ||
			resp.Total != 0 || resp.Created != (i == 0) {
			t.Fatalf("start %d on %s: %d %s; want 200, finalized, no_items saying no games", i, offDate, code, raw)
		}
		if i == 0 {
			first = resp
		} else if resp.BatchID != first.BatchID {
			t.Fatalf("start again gave batch %s, want %s", resp.BatchID, first.BatchID)
		}
	}
}

func TestCoordinator_Start(t *testing.T) {
	ce := newCoordEnv(t, 6, nil)
	start := func(body string, headers ...string) (int, httpapi.StartResponse, string) {
		t.Helper()
		code, raw := post(t, ce.srv.URL+"/start", []byte(body), append([]string{"Content-Type", "application/json; charset=utf-8"}, headers...)...)
		var resp httpapi.StartResponse
		if code == http.StatusAccepted {
			if err := json.Unmarshal([]byte(raw), &resp); err != nil {
				t.Fatalf("start response: %v\n%s", err, raw)
			}
		}
		return code, resp, raw
	}

	trace := "4bf92f3577b34da6a3ce929d0e0e4736"
	code, first, raw := start(`{"date":"`+gameDate+`","run":"daily","options":{"max_attempts":4,"item_timeout":"90s"}}`,
		"X-Cloud-Trace-Context", trace+"/1;o=1")
	if code != http.StatusAccepted || !first.Created || first.Total != 6 || first.State != batch.Running ||
		first.TraceID != trace || first.DataVersion != "test-v1" || first.Status != "/api/batches/"+first.BatchID {
		t.Fatalf("first start: %d %s; want 202, a created running batch of 6 with trace %s", code, raw, trace)
	}
	// The fan-out runs in the background, from the outbox.
	reqs := receiveAll(t, ce.queue, batch.TopicRequests, 6)
	for _, d := range reqs {
		if d.Attributes[batch.AttrBatchID] != first.BatchID || d.Attributes[batch.AttrTraceID] != trace {
			t.Fatalf("request %s: attributes %v, want batch %s and trace %s", d.ID, d.Attributes, first.BatchID, trace)
		}
	}
	b, err := ce.store.GetBatch(t.Context(), first.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	if b.Policy.MaxAttempts != 4 {
		t.Errorf("options.max_attempts did not reach the batch: policy %+v", b.Policy)
	}
	ce.mu.Lock()
	got := ce.starts[0].Options.ItemTimeout
	ce.mu.Unlock()
	if time.Duration(got) != 90*time.Second {
		t.Errorf("options.item_timeout reached the start function as %v, want 90s", time.Duration(got))
	}

	// The same key again returns the same batch and publishes nothing more.
	code, again, raw := start(`{"date":"` + gameDate + `","run":"daily"}`)
	if code != http.StatusAccepted || again.Created || again.BatchID != first.BatchID {
		t.Fatalf("second start: %d %s; want 202 with batch %s, not created", code, raw, first.BatchID)
	}

	// A scheduler tick retried carries the same schedule time: one batch.
	tick := "2026-01-16T11:00:00Z"
	code, s1, raw := start(`{"run":"scheduled"}`, "X-CloudScheduler-ScheduleTime", tick)
	if code != http.StatusAccepted || !s1.Created || s1.Key.Date != "2026-01-16" {
		t.Fatalf("scheduled start: %d %s; want a created batch for 2026-01-16", code, raw)
	}
	code, s2, raw := start(`{"run":"scheduled"}`, "X-CloudScheduler-ScheduleTime", tick)
	if code != http.StatusAccepted || s2.Created || s2.BatchID != s1.BatchID {
		t.Fatalf("retried scheduled start: %d %s; want batch %s again", code, raw, s1.BatchID)
	}
	// An empty body is a start with every default: here the first key.
	if code, def, raw := start(``); code != http.StatusAccepted || def.BatchID != first.BatchID {
		t.Fatalf("start with an empty body: %d %s; want 202 with batch %s", code, raw, first.BatchID)
	}
	bs, err := ce.store.ListBatches(t.Context(), batch.ListOptions{})
	if err != nil || len(bs) != 2 {
		t.Fatalf("batches after the starts: %d, %v; want 2", len(bs), err)
	}
}

// Bad start requests are refused with what is wrong, and create nothing.
func TestCoordinator_StartInvalid(t *testing.T) {
	ce := newCoordEnv(t, 3, nil)
	tests := []struct {
		name    string
		body    string
		headers []string
		want    int
		mention string
	}{
		{"not JSON", `date=2026-01-15`, nil, http.StatusBadRequest, "start request body"},
		{"unknown field", `{"dat":"2026-01-15"}`, nil, http.StatusBadRequest, `unknown field "dat"`},
		{"two objects", `{"run":"a"}{"run":"b"}`, nil, http.StatusBadRequest, "after the JSON object"},
		{"bad date", `{"date":"2026-02-30"}`, nil, http.StatusBadRequest, `date "2026-02-30"`},
		{"bad run", `{"run":"Daily Run"}`, nil, http.StatusBadRequest, `run "Daily Run"`},
		{"bad duration", `{"options":{"deadline":"soon"}}`, nil, http.StatusBadRequest, `options.deadline "soon"`},
		{"every bad option", `{"options":{"lines":[0,200],"min_success":1.5,"max_attempts":-1}}`, nil, http.StatusBadRequest,
			"options.lines[0] = 0"},
		{"bad schedule time", `{}`, []string{"X-CloudScheduler-ScheduleTime", "tomorrow"}, http.StatusBadRequest, "X-CloudScheduler-ScheduleTime"},
		{"too large", `{"run":"` + strings.Repeat("a", 5000) + `"}`, nil, http.StatusRequestEntityTooLarge, "larger than 4096"},
		// A page of another site can post these without the browser asking
		// first; JSON it cannot.
		{"no content type", `{}`, []string{"Content-Type", ""}, http.StatusUnsupportedMediaType, `Content-Type "", want application/json`},
		{"text/plain", `{}`, []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType, `Content-Type "text/plain", want application/json`},
		{"form", `date=2026-01-15`, []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType, "want application/json"},
		{"json-ish", `{}`, []string{"Content-Type", "application/jsonp"}, http.StatusUnsupportedMediaType, "want application/json"},
		{"malformed", `{}`, []string{"Content-Type", "application/json; charset"}, http.StatusUnsupportedMediaType, "want application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(t, ce.srv.URL+"/start", []byte(tt.body), append([]string{"Content-Type", "application/json"}, tt.headers...)...)
			var e struct{ Error string }
			if json.Unmarshal([]byte(body), &e) == nil {
				body = e.Error
			}
			if code != tt.want || !strings.Contains(body, tt.mention) {
				t.Fatalf("status %d body %q; want %d mentioning %q", code, body, tt.want, tt.mention)
			}
		})
	}
	// Every problem is named at once.
	_, body := post(t, ce.srv.URL+"/start", []byte(`{"options":{"lines":[0,200],"min_success":1.5,"max_attempts":-1}}`), "Content-Type", "application/json")
	for _, w := range []string{"options.lines[0]", "options.lines[1]", "options.min_success", "options.max_attempts"} {
		if !strings.Contains(body, w) {
			t.Errorf("error %q does not name %s", body, w)
		}
	}
	if bs, err := ce.store.ListBatches(t.Context(), batch.ListOptions{}); err != nil || len(bs) != 0 {
		t.Fatalf("refused starts left %d batches, %v", len(bs), err)
	}
	ce.mu.Lock()
	defer ce.mu.Unlock()
	if len(ce.starts) != 0 {
		t.Fatalf("refused starts reached the start function %d times", len(ce.starts))
	}
}

// Outcomes pushed to /complete are recorded before the 2xx; duplicates and
// undecodable pushes are acked without changing anything; the last outcome
// finalizes the batch, and /sweep relays its event.
func TestCoordinator_Complete(t *testing.T) {
	ce := newCoordEnv(t, 4, nil)
	ps := players(t, 4)
	b := ce.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{}, t0)
	url := ce.srv.URL + "/complete"

	if code, body := post(t, url, outcomePush(t, b.ID, ps[0], batch.OutcomeSucceeded)); code != http.StatusNoContent {
		t.Fatalf("push of an outcome: %d %s, want 204", code, body)
	}
	items := map[string]batch.Item{}
	all, err := ce.store.Items(t.Context(), b.ID, batch.ItemsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range all {
		items[x.ID] = x
	}
	if got := items[ps[0].ID]; got.Outcome != batch.OutcomeSucceeded || !bytes.Equal(got.Result, ps[0].Result) {
		t.Fatalf("item %s after its push: outcome %q, result of %d bytes; want succeeded with its predictions", ps[0].ID, got.Outcome, len(got.Result))
	}

	// A duplicate, even with a different outcome, is acked and changes nothing.
	for _, o := range []batch.Outcome{batch.OutcomeSucceeded, batch.OutcomeFailed} {
		if code, body := post(t, url, outcomePush(t, b.ID, ps[0], o)); code != http.StatusNoContent {
			t.Fatalf("duplicate push (%s): %d %s, want 204", o, code, body)
		}
	}
	// Pushes that never will decode are acked (and logged), not retried.
	junk := [][]byte{
		[]byte(`not json`),
		[]byte(`{"message":{"data":"!!!","messageId":"1","publishTime":"2026-01-15T14:00:00Z"}}`),
		pushOf(t, batch.Message{Body: []byte(`{"batch_id":"` + b.ID + `"}`)}),                                       // no item, no outcome
		outcomePush(t, "no-such-batch", ps[1], batch.OutcomeSucceeded),                                              // unknown batch
		pushOf(t, batch.Message{Body: []byte(`{"batch_id":"` + b.ID + `","item_id":"nobody","outcome":"failed"}`)}), // unknown item
	}
	for i, body := range junk {
		if code, resp := post(t, url, body); code != http.StatusNoContent {
			t.Fatalf("junk push %d: %d %s, want 204", i, code, resp)
		}
	}
	cur, err := ce.store.GetBatch(t.Context(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Counts != (batch.Counts{Succeeded: 1}) {
		t.Fatalf("counts after duplicates and junk: %+v, want one success", cur.Counts)
	}

	// The rest finalize the batch; a sweep relays the finalized event once.
	for _, p := range ps[1:] {
		if code, body := post(t, url, outcomePush(t, b.ID, p, batch.OutcomeSucceeded)); code != http.StatusNoContent {
			t.Fatalf("push of %s: %d %s", p.ID, code, body)
		}
	}
	if cur, _ = ce.store.GetBatch(t.Context(), b.ID); cur.State != batch.Finalized || cur.Result != batch.ResultSucceeded {
		t.Fatalf("after every outcome: %s %s, want finalized succeeded", cur.State, cur.Result)
	}
	code, body := post(t, ce.srv.URL+"/sweep", nil)
	var sw httpapi.SweepResponse
	if code != http.StatusOK || json.Unmarshal([]byte(body), &sw) != nil || sw.EventsRelayed != 1 {
		t.Fatalf("sweep: %d %s; want 200 relaying one event", code, body)
	}
	evs := receiveAll(t, ce.queue, batch.TopicEvents, 1)
	if evs[0].ID != batch.EventID(b.ID, batch.EventFinalized) {
		t.Fatalf("event %s, want the batch's finalized event", evs[0].ID)
	}
	if code, body = post(t, ce.srv.URL+"/sweep", nil); code != http.StatusOK || !strings.Contains(body, `"events_relayed": 0`) {
		t.Fatalf("second sweep: %d %s; want 200 relaying nothing", code, body)
	}
}

// A push is answered 2xx only when its outcome is durable: when the store
// fails, the answer is 500 and Pub/Sub delivers it again.
func TestCoordinator_CompleteStoreDown(t *testing.T) {
	ce := newCoordEnv(t, 2, nil)
	ps := players(t, 2)
	b := ce.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{}, t0)
	ce.flaky.down.Store(true)
	push := outcomePush(t, b.ID, ps[0], batch.OutcomeSucceeded)
	code, body := post(t, ce.srv.URL+"/complete", push)
	if code != http.StatusInternalServerError || strings.TrimSpace(body) != "internal error" {
		t.Fatalf("push with the store down: %d %q; want 500 \"internal error\"", code, body)
	}
	// Delivered again once the store is back, it is recorded.
	ce.flaky.down.Store(false)
	if code, body := post(t, ce.srv.URL+"/complete", push); code != http.StatusNoContent {
		t.Fatalf("push after the store came back: %d %s, want 204", code, body)
	}
	if cur, err := ce.store.GetBatch(t.Context(), b.ID); err != nil || cur.Counts.Succeeded != 1 {
		t.Fatalf("counts after the redelivery: %+v, %v; want one success", cur.Counts, err)
	}
}

// A push whose recording is wedged is answered 503 once PushTimeout has
// passed, so Pub/Sub delivers it again (to another instance) instead of
// waiting on this one; delivered again once the store answers, it is
// recorded.
func TestCoordinator_CompletePushTimeout(t *testing.T) {
	ce := newCoordEnv(t, 2, nil)
	ps := players(t, 2)
	b := ce.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{}, t0)
	h := httpapi.NewCoordinatorHandler(httpapi.CoordinatorConfig{Coordinator: ce.coord, DecodePush: gcppubsub.DecodePush,
		Start: func(context.Context, pipeline.StartRequest) (batch.Batch, bool, error) {
			return batch.Batch{}, false, errors.New("no starts here")
		},
		PushTimeout: 50 * time.Millisecond, Log: testLogger(t)})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	push := outcomePush(t, b.ID, ps[0], batch.OutcomeSucceeded)
	ce.flaky.wedged.Store(true)
	if code, body := post(t, srv.URL+"/complete", push); code != http.StatusServiceUnavailable {
		t.Fatalf("push with the store wedged: %d %q; want 503", code, body)
	}
	ce.flaky.wedged.Store(false)
	if code, body := post(t, srv.URL+"/complete", push); code != http.StatusNoContent {
		t.Fatalf("push after the store came back: %d %s, want 204", code, body)
	}
	if cur, err := ce.store.GetBatch(t.Context(), b.ID); err != nil || cur.Counts.Succeeded != 1 {
		t.Fatalf("counts after the redelivery: %+v, %v; want one success", cur.Counts, err)
	}
}

// A dead-lettered request pushed to /dead-letter is one failed attempt:
// the item is published again until its last attempt's dead letter fails
// it; a duplicate push of a dead letter consumes nothing.
func TestCoordinator_DeadLetter(t *testing.T) {
	ce := newCoordEnv(t, 2, nil)
	ps := players(t, 2)
	b := ce.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{MaxAttempts: 2}, t0)
	item := batch.Item{BatchID: b.ID, ID: ps[1].ID, Request: ps[1].Request}
	deadLetter := func(attempt int) {
		t.Helper()
		body, err := gcppubsub.EncodePush(testSubscription, batch.Delivery{Message: batch.RequestMessage(item, attempt, "trace-x"), Attempt: 5, PublishedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second is a duplicate
			if code, body := post(t, ce.srv.URL+"/dead-letter", body); code != http.StatusNoContent {
				t.Fatalf("dead-letter push of attempt %d: %d %s, want 204", attempt, code, body)
			}
		}
	}
	itemOf := func() batch.Item {
		t.Helper()
		all, err := ce.store.Items(t.Context(), b.ID, batch.ItemsOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range all {
			if it.ID == item.ID {
				return it
			}
		}
		t.Fatalf("item %s missing", item.ID)
		return batch.Item{}
	}
	if err := ce.store.MarkPublished(t.Context(), b.ID, []string{item.ID}, t0); err != nil {
		t.Fatal(err)
	}
	deadLetter(1)
	// The item goes back to the outbox, and the coordinator dispatches it
	// again at once: attempt 2. Each dispatch signals; some may be of
	// others (the first sweep, racing the batch's creation above).
	for timeout := time.After(10 * time.Second); ; {
		select {
		case <-ce.dispatched:
		case <-timeout:
			it := itemOf()
			t.Fatalf("after attempt 1's dead letter: published %v after %d attempts 10 s on; want it re-driven and dispatched again, attempt 2", it.Published, it.Attempts)
		}
		if it := itemOf(); it.Published && it.Attempts == 2 {
			if it.Outcome != batch.OutcomeNone {
				t.Fatalf("after attempt 1's dead letter: outcome %q, want none", it.Outcome)
			}
			break
		}
	}
	deadLetter(2)
	if it := itemOf(); it.Outcome != batch.OutcomeFailed || !strings.Contains(it.Error, "request of attempt 2 of 2 dead-lettered") {
		t.Fatalf("after the last attempt's dead letter: outcome %q error %q, want failed naming the attempt", it.Outcome, it.Error)
	}
}

// An outcome that Pub/Sub dead-lettered (the coordinator did not take it
// in time) and then pushed to /push/outcome-dead-letters is recorded like
// any outcome; a repeat is a duplicate, and one the item already has an
// outcome for changes nothing.
func TestCoordinator_OutcomeDeadLetter(t *testing.T) {
	ce := newCoordEnv(t, 2, nil)
	ps := players(t, 2)
	b := ce.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{}, t0)
	for range 2 {
		if code, body := post(t, ce.srv.URL+"/push/outcome-dead-letters", outcomePush(t, b.ID, ps[0], batch.OutcomeSucceeded)); code != http.StatusNoContent {
			t.Fatalf("outcome dead-letter push: %d %s, want 204", code, body)
		}
	}
	if code, body := post(t, ce.srv.URL+"/push/outcome-dead-letters", outcomePush(t, b.ID, ps[0], batch.OutcomeFailed)); code != http.StatusNoContent {
		t.Fatalf("conflicting outcome dead-letter push: %d %s, want 204", code, body)
	}
	cur, err := ce.store.GetBatch(t.Context(), b.ID)
	if err != nil || cur.Counts != (batch.Counts{Succeeded: 1}) {
		t.Fatalf("counts after the dead-lettered outcome: %+v, %v; want 1 succeeded", cur.Counts, err)
	}
}

func TestCoordinator_ReadsAndMethods(t *testing.T) {
	ce := newCoordEnv(t, 2, nil)
	b := ce.create(t, batch.Key{Date: gameDate, Run: "daily"}, players(t, 2), batch.Policy{}, t0)
	var rep httpapi.BatchReport
	getJSON(t, ce.srv.URL+"/api/batches/"+b.ID, &rep)
	if rep.Batch.ID != b.ID || len(rep.Missing) != 2 {
		t.Fatalf("status API through the coordinator: %+v", rep.Batch)
	}
	if _, code := get(t, ce.srv.URL+"/start"); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /start: %d, want 405", code)
	}
}

// The sweep endpoint reports a store failure as 500, hiding the cause.
func TestCoordinator_SweepFails(t *testing.T) {
	ce := newCoordEnv(t, 2, nil)
	ce.flaky.down.Store(true)
	code, body := post(t, ce.srv.URL+"/sweep", nil)
	if code != http.StatusInternalServerError || !strings.Contains(body, `"internal error"`) {
		t.Fatalf("sweep with the store down: %d %s", code, body)
	}
}

// Every operator route refuses a request a browser sends from another
// site's page, and does nothing for it.
func TestCoordinator_OtherOrigin(t *testing.T) {
	ce := newCoordEnv(t, 2, nil)
	ps := players(t, 2)
	b := ce.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{}, t0)
	for _, path := range []string{"/start", "/sweep", "/batches/" + b.ID + "/cancel", "/batches/" + b.ID + "/publish"} {
		for _, h := range [][]string{{"Origin", "http://evil.example"}, {"Sec-Fetch-Site", "cross-site"},
			{"Origin", "http://evil.example", "Content-Type", "application/json"}, {"Origin", "http://evil.example", "Content-Type", "text/plain"}} {
			if code, body := post(t, ce.srv.URL+path, []byte(`{}`), h...); code != http.StatusForbidden {
				t.Errorf("POST %s with %s: %d %s, want 403", path, h[0], code, body)
			}
		}
	}
	if code, body := post(t, ce.srv.URL+"/sweep", nil, "Origin", ce.srv.URL); code != http.StatusOK {
		t.Errorf("POST /sweep from the service's own origin: %d %s, want 200", code, body)
	}
	if cur, err := ce.store.GetBatch(t.Context(), b.ID); err != nil || cur.State != batch.Running {
		t.Errorf("refused requests changed the batch: %s, %v", cur.State, err)
	}
	if bs, err := ce.store.ListBatches(t.Context(), batch.ListOptions{}); err != nil || len(bs) != 1 {
		t.Errorf("refused starts created batches: %d, %v", len(bs), err)
	}
}

// POST /batches/{id}/publish makes a finalized batch the date's
// publication, pinned unless the body says unpin; a batch that has not
// finalized is 409, an unknown one 404, a body that is not the request 400.
func TestCoordinator_Publish(t *testing.T) {
	t.Parallel()
	ce := newCoordEnv(t, 2, nil)
	ps := players(t, 2)
	running := ce.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{}, t0)
	ended := ce.create(t, batch.Key{Date: gameDate, Run: "ended"}, ps, batch.Policy{}, t0.Add(time.Minute))
	if _, err := ce.eng.Cancel(t.Context(), ended.ID, "test"); err != nil {
		t.Fatal(err)
	}
	client := &httpapi.Client{BaseURL: ce.srv.URL}
	if _, err := client.Publish(t.Context(), running.ID, false); !errors.Is(err, batch.ErrConflict) {
		t.Fatalf("publish a running batch: got %v, want ErrConflict (409)", err)
	}
	if _, err := client.Publish(t.Context(), gameDate+"-nope", false); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("publish an unknown batch: got %v, want ErrNotFound (404)", err)
	}
	if code, body := post(t, ce.srv.URL+"/batches/"+ended.ID+"/publish", []byte(`{"pin":false}`)); code != http.StatusBadRequest {
		t.Fatalf("publish with an unknown field: %d %s, want 400", code, body)
	}
	if _, err := ce.db.Published(t.Context(), predict.MustParseDate(gameDate)); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("refused publishes published: %v", err)
	}
	got, err := client.Publish(t.Context(), ended.ID, false)
	if err != nil || got.BatchID != ended.ID || !got.Pinned || got.Result != batch.ResultCancelled || got.Date != gameDate {
		t.Fatalf("publish the cancelled batch: %+v, %v; want it pinned", got, err)
	}
	if code, body := post(t, ce.srv.URL+"/batches/"+ended.ID+"/publish", nil); code != http.StatusOK {
		t.Fatalf("publish with no body: %d %s, want 200", code, body)
	}
	if got, err = client.Publish(t.Context(), ended.ID, true); err != nil || got.Pinned {
		t.Fatalf("publish unpinned: %+v, %v; want it not pinned", got, err)
	}
	pub, err := ce.db.Published(t.Context(), predict.MustParseDate(gameDate))
	if err != nil || pub.BatchID != ended.ID || pub.Pinned {
		t.Fatalf("the date's publication: %+v, %v; want %s, not pinned", pub, err, ended.ID)
	}
}
