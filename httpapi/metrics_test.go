package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"tipoff/batch"
	"tipoff/httpapi"
	"tipoff/predict"
	"tipoff/predict/systems"
	"tipoff/sqlite"
)

// A whole batch runs through the engine, a worker and the coordinator with
// the metrics as their observer: one player's request is bad (failed), one
// fails once and is redelivered, one never succeeds and is dead-lettered
// on each of its 3 attempts (re-driven after the first two), and two
// duplicate outcomes arrive after the end. The scraped counters
// match the store's counts and what was injected.
func TestMetrics_MatchOutcomes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ps := players(t, 20)
	q := sqlite.NewQueue(e.db, sqlite.QueueConfig{MaxDeliveries: 2, BackoffMin: 10 * time.Millisecond,
		BackoffMax: 20 * time.Millisecond, PollInterval: 10 * time.Millisecond})
	t.Cleanup(func() { q.Close() })
	m := httpapi.NewMetrics(httpapi.MetricsConfig{Store: e.store, QueueDepths: q.Depths, Log: testLogger(t)})
	log := testLogger(t)
	fin := &finalizeSignal{Observer: m, done: make(chan struct{})}
	eng := batch.NewEngine(e.store, q, log, batch.EngineConfig{Observer: fin,
		Finalize: func(ctx context.Context, b batch.Batch) ([]byte, error) {
			items, err := e.store.Items(ctx, b.ID, batch.ItemsOptions{})
			if err != nil {
				return nil, err
			}
			b.Result = b.Policy.Decide(b.Total, b.Counts)
			pub, err := predict.Consolidate(b, items, time.Now())
			if err != nil {
				return nil, err
			}
			return nil, e.db.Publish(ctx, pub)
		}})

	bad, flaky, doomed := ps[3].ID, ps[7].ID, ps[11].ID
	var mu sync.Mutex
	seen := map[string]int{}
	sys := systems.Default()
	handle := func(ctx context.Context, d batch.Delivery) (batch.Outcome, []byte, error) {
		id := d.Attributes[batch.AttrItemID]
		mu.Lock()
		seen[id]++
		n := seen[id]
		mu.Unlock()
		switch {
		case id == bad:
			return "", nil, batch.Permanent(errors.New("request does not validate"))
		case id == doomed, id == flaky && n == 1:
			return "", nil, errors.New("model server unavailable")
		}
		req, err := predict.DecodeRequest(d.Body)
		if err != nil {
			return "", nil, batch.Permanent(err)
		}
		res, err := predict.Run(&req, sys)
		if err != nil {
			return "", nil, batch.Permanent(err)
		}
		body, err := predict.EncodeResult(res)
		return batch.OutcomeSucceeded, body, err
	}

	spec := batch.Spec{Key: batch.Key{Date: gameDate, Run: "metrics"}, Policy: batch.Policy{MinSuccessRatio: 0.8}}
	for _, p := range ps {
		spec.Items = append(spec.Items, batch.NewItem{ID: p.ID, Request: p.Request})
	}
	b, _, err := eng.Create(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	// Dispatch before the sweeper starts: two dispatchers racing may both
	// publish an item (the queue drops the copy), which the counter shows.
	if _, err := eng.Dispatch(t.Context(), b.ID); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	coord := batch.NewCoordinator(eng, q, log, batch.CoordinatorConfig{SweepEvery: 50 * time.Millisecond, PullOutcomes: true})
	wg.Go(func() { coord.Run(ctx) })
	w := batch.NewWorker(q, handle, batch.RecordOutcomes(eng), log, batch.WorkerConfig{Concurrency: 2, Observer: m})
	wg.Go(func() { w.Run(ctx) })
	defer func() { stop(); wg.Wait() }()

	select {
	case <-fin.done:
	case <-time.After(30 * time.Second):
		b, err := e.store.GetBatch(t.Context(), b.ID)
		t.Fatalf("batch not finalized after 30 s: %+v, %v", b, err)
	}
	stop()
	wg.Wait()
	if b, err = e.store.GetBatch(t.Context(), b.ID); err != nil {
		t.Fatal(err)
	}
	if b.State != batch.Finalized {
		t.Fatalf("batch state after the finalize signal: got %s, want %s", b.State, batch.Finalized)
	}
	// Two late copies of outcomes already recorded.
	for _, p := range ps[:2] {
		body, err := batch.EncodeOutcome(batch.OutcomeMessage{BatchID: b.ID, ItemID: p.ID, Outcome: batch.OutcomeSucceeded, Result: p.Result, At: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if err := eng.HandleOutcome(t.Context(), body); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := eng.RelayEvents(t.Context()); err != nil {
		t.Fatal(err)
	}
	if want := (batch.Counts{Succeeded: 18, Failed: 2}); b.Counts != want || b.Result != batch.ResultPartial {
		t.Fatalf("batch: got %+v %s, want %+v partial", b.Counts, b.Result, want)
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	fams := scrape(t, srv.URL)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"tipoff_outcomes_recorded_total", map[string]string{"outcome": "succeeded"}, float64(b.Counts.Succeeded)},
		{"tipoff_outcomes_recorded_total", map[string]string{"outcome": "failed"}, float64(b.Counts.Failed)},
		{"tipoff_outcomes_recorded_total", map[string]string{"outcome": "skipped"}, float64(b.Counts.Skipped)},
		{"tipoff_outcomes_recorded_total", map[string]string{"outcome": "timed_out"}, float64(b.Counts.TimedOut)},
		{"tipoff_outcomes_duplicate_total", map[string]string{"outcome": "succeeded"}, 2},
		{"tipoff_items_dispatched_total", nil, float64(b.Total + 2)}, // doomed's attempts 2 and 3
		{"tipoff_items_redriven_total", nil, 2},
		{"tipoff_redeliveries_total", nil, 4}, // flaky's second delivery and one of each doomed attempt
		{"tipoff_dead_letters_total", nil, 3}, // one per attempt of doomed
		{"tipoff_finalize_attempts_total", map[string]string{"result": "finalized"}, 1},
		{"tipoff_finalize_attempts_total", map[string]string{"result": "error"}, 0},
		{"tipoff_batches", map[string]string{"state": "finalized", "result": "partial"}, 1},
		{"tipoff_batches", map[string]string{"state": "running", "result": ""}, 0},
		{"tipoff_items_remaining", nil, 0},
		// The finalized event waits for downstream consumers; nothing else is left.
		{"tipoff_queue_messages", map[string]string{"topic": batch.TopicEvents, "state": "ready"}, 1},
	}
	for _, c := range checks {
		if got, ok := metricValue(fams, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v: got %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if got := len(fams["tipoff_queue_messages"].GetMetric()); got != 3 {
		t.Errorf("queue gauge: got %d series, want 3 (the events topic's ready, leased, delayed)", got)
	}
	h, ok := fams["tipoff_record_outcome_seconds"]
	if !ok || h.GetMetric()[0].GetHistogram().GetSampleCount() != uint64(b.Total+2) {
		t.Errorf("record-outcome latency histogram: got %v, want %d samples (every outcome and duplicate)", h, b.Total+2)
	}
}

// A running batch's remaining items and the batch itself show in the
// gauges, read from the store at scrape time.
func TestMetrics_Gauges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ps := players(t, 5)
	b := e.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{}, t0)
	e.record(t, b.ID, ps[0], batch.OutcomeSucceeded, t0)
	m := httpapi.NewMetrics(httpapi.MetricsConfig{Store: e.store, NowFunc: e.clock})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	fams := scrape(t, srv.URL)
	if got, ok := metricValue(fams, "tipoff_batches_past_deadline", nil); !ok || got != 0 {
		t.Errorf("batches past their deadline before it: got %v (present %v), want 0", got, ok)
	}
	e.clk.Set(b.Deadline.Add(time.Second))
	fams = scrape(t, srv.URL)
	if got, _ := metricValue(fams, "tipoff_batches_past_deadline", nil); got != 1 {
		t.Errorf("batches past their deadline after it: got %v, want 1", got)
	}
	if got, _ := metricValue(fams, "tipoff_batches", map[string]string{"state": "running", "result": ""}); got != 1 {
		t.Errorf("running batches: got %v, want 1", got)
	}
	if got, _ := metricValue(fams, "tipoff_items_remaining", nil); got != 4 {
		t.Errorf("remaining items: got %v, want 4", got)
	}
	e.record(t, b.ID, ps[1], batch.OutcomeSkipped, t0)
	fams = scrape(t, srv.URL)
	if got, _ := metricValue(fams, "tipoff_items_remaining", nil); got != 3 {
		t.Errorf("remaining items after one more outcome: got %v, want 3", got)
	}
	if _, ok := fams["tipoff_queue_messages"]; ok {
		t.Error("queue gauge present without a queue source")
	}

	// Finalized batches are counted up to the bound, newest first; active
	// ones always.
	for i := range 3 {
		at := t0.Add(time.Duration(i+1) * time.Hour)
		old := e.create(t, batch.Key{Date: gameDate, Run: fmt.Sprintf("r%d", i)}, ps[:1], batch.Policy{}, at)
		e.record(t, old.ID, ps[0], batch.OutcomeSucceeded, at)
		e.finalize(t, old.ID, at)
	}
	bounded := httptest.NewServer(httpapi.NewMetrics(httpapi.MetricsConfig{Store: e.store, GaugeFinalized: 2}).Handler())
	defer bounded.Close()
	fams = scrape(t, bounded.URL)
	if got, _ := metricValue(fams, "tipoff_batches", map[string]string{"state": "finalized", "result": "succeeded"}); got != 2 {
		t.Errorf("finalized batches with GaugeFinalized 2: got %v, want 2", got)
	}
	if got, _ := metricValue(fams, "tipoff_batches", map[string]string{"state": "running", "result": ""}); got != 1 {
		t.Errorf("running batches: got %v, want 1", got)
	}
}

// finalizeSignal passes everything on to its Observer and closes done when
// a finalize has succeeded: the engine reports that only after the batch
// is durably finalized.
type finalizeSignal struct {
	batch.Observer
	once sync.Once
	done chan struct{}
}

func (f *finalizeSignal) FinalizeAttempted(err error) {
	f.Observer.FinalizeAttempted(err)
	if err == nil {
		f.once.Do(func() { close(f.done) })
	}
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	body, code := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// metricValue returns the value of the counter or gauge name whose labels
// equal labels.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
				continue next
			}
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue(), true
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}
