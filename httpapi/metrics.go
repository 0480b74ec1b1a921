package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tipoff/batch"
)

// MetricsConfig says where [Metrics] reads the gauges it reports at scrape
// time. Both sources are optional.
type MetricsConfig struct {
	// Store gives the batches by state and result, and the items still
	// without an outcome in running batches.
	Store StatusStore
	// QueueDepths gives the messages per topic and state.
	QueueDepths QueueDepthFunc
	// GaugeFinalized bounds how many finalized batches (newest first) the
	// batch gauge counts, so a scrape reads a bounded number of rows or
	// documents however long the history; default 100. Running and
	// finalizing batches are always all counted.
	GaugeFinalized int
	// NowFunc is the clock the deadline gauge compares with; default
	// time.Now.
	NowFunc func() time.Time
	// Log receives scrape-time read errors.
	Log *slog.Logger
}

// Metrics is the process's Prometheus metrics, on a registry of its own. It
// is a [batch.Observer]: give it to the engine, the coordinator and the
// workers, and it counts what they do. Gauges are read from the store and
// the queue when /metrics is scraped, so they tell the state, not what this
// process happened to see.
type Metrics struct {
	cfg MetricsConfig
	log *slog.Logger
	reg *prometheus.Registry

	outcomes     *prometheus.CounterVec
	duplicates   *prometheus.CounterVec
	dispatched   prometheus.Counter
	redriven     prometheus.Counter
	deadLetters  prometheus.Counter
	redeliveries prometheus.Counter
	finalizes    *prometheus.CounterVec
	recordTime   prometheus.Histogram

	// scrape serializes scrapes: each resets and refills the gauges.
	scrape     sync.Mutex
	batches    *prometheus.GaugeVec
	remaining  prometheus.Gauge
	overdue    prometheus.Gauge
	queue      *prometheus.GaugeVec
	readErrors *prometheus.CounterVec
}

var _ batch.Observer = (*Metrics)(nil)

// Finalize attempt results, the label of tipoff_finalize_attempts_total.
const (
	FinalizeOK       = "finalized"
	FinalizeConflict = "conflict" // another finalizer held the lease, or took it over
	FinalizeError    = "error"
)

// NewMetrics returns metrics registered on a new registry, with the Go
// runtime and process collectors.
func NewMetrics(cfg MetricsConfig) *Metrics {
	if cfg.GaugeFinalized <= 0 {
		cfg.GaugeFinalized = 100
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	m.outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tipoff_outcomes_recorded_total",
		Help: "Item outcomes recorded for the first time, by outcome.",
	}, []string{"outcome"})
	m.duplicates = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tipoff_outcomes_duplicate_total",
		Help: "Outcomes that arrived for an item that already had one and were absorbed, by the outcome that arrived.",
	}, []string{"outcome"})
	m.dispatched = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tipoff_items_dispatched_total",
		Help: "Items published from the dispatch outbox to workers. Two dispatchers racing may both publish an item; the queue and the store absorb the copy.",
	})
	m.redriven = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tipoff_items_redriven_total",
		Help: "Items put back in the dispatch outbox: overdue ones by the sweeper, and those whose request was dead-lettered (one failed attempt).",
	})
	m.deadLetters = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tipoff_dead_letters_total",
		Help: "Dead letters the coordinator took: requests that used all their deliveries (one failed attempt each) and outcomes it recorded from their dead-letter topic.",
	})
	m.redeliveries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tipoff_redeliveries_total",
		Help: "Requests a worker received for at least the second time.",
	})
	m.finalizes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tipoff_finalize_attempts_total",
		Help: "Finalize attempts by result: finalized, conflict (lease held or lost) or error.",
	}, []string{"result"})
	m.recordTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tipoff_record_outcome_seconds",
		Help:    "Time the store took to record one outcome durably.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	})
	m.batches = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tipoff_batches",
		Help: "Batches by state and result (result empty until finalized): every running and finalizing batch, and the newest finalized ones (100 by default); read from the store at scrape time.",
	}, []string{"state", "result"})
	m.overdue = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tipoff_batches_past_deadline",
		Help: "Running or finalizing batches whose deadline has passed: each should have been finalized by now (an alert condition).",
	})
	m.remaining = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tipoff_items_remaining",
		Help: "Items without an outcome in running and finalizing batches, read from the store at scrape time.",
	})
	m.queue = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tipoff_queue_messages",
		Help: "Unacknowledged messages per topic and state (ready, leased, delayed), read from the queue at scrape time.",
	}, []string{"topic", "state"})
	m.readErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tipoff_metrics_read_errors_total",
		Help: "Scrapes whose gauges could not be read, by source (store or queue).",
	}, []string{"source"})
	for _, o := range []batch.Outcome{batch.OutcomeSucceeded, batch.OutcomeSkipped, batch.OutcomeFailed, batch.OutcomeTimedOut} {
		m.outcomes.WithLabelValues(string(o))
		m.duplicates.WithLabelValues(string(o))
	}
	for _, r := range []string{FinalizeOK, FinalizeConflict, FinalizeError} {
		m.finalizes.WithLabelValues(r)
	}
	m.reg.MustRegister(m.outcomes, m.duplicates, m.dispatched, m.redriven, m.deadLetters, m.redeliveries,
		m.finalizes, m.recordTime, m.readErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.Store != nil {
		m.reg.MustRegister(m.batches, m.remaining, m.overdue)
	}
	if cfg.QueueDepths != nil {
		m.reg.MustRegister(m.queue)
	}
	return m
}

// Registry returns the registry the metrics are on, to add more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// OutcomeRecorded implements [batch.Observer].
func (m *Metrics) OutcomeRecorded(o batch.Outcome, duplicate bool, took time.Duration) {
	if duplicate {
		m.duplicates.WithLabelValues(string(o)).Inc()
	} else {
		m.outcomes.WithLabelValues(string(o)).Inc()
	}
	m.recordTime.Observe(took.Seconds())
}

// Dispatched implements [batch.Observer].
func (m *Metrics) Dispatched(n int) { m.dispatched.Add(float64(n)) }

// Redriven implements [batch.Observer].
func (m *Metrics) Redriven(n int) { m.redriven.Add(float64(n)) }

// DeadLettered implements [batch.Observer].
func (m *Metrics) DeadLettered() { m.deadLetters.Inc() }

// Redelivered implements [batch.Observer].
func (m *Metrics) Redelivered() { m.redeliveries.Inc() }

// FinalizeAttempted implements [batch.Observer].
func (m *Metrics) FinalizeAttempted(err error) {
	switch {
	case err == nil:
		m.finalizes.WithLabelValues(FinalizeOK).Inc()
	case errors.Is(err, batch.ErrConflict):
		m.finalizes.WithLabelValues(FinalizeConflict).Inc()
	default:
		m.finalizes.WithLabelValues(FinalizeError).Inc()
	}
}

// Handler serves the metrics in the Prometheus exposition formats, reading
// the gauges from the store and the queue first, within the request's
// context. A source that cannot be read leaves its gauges out of that scrape
// and counts tipoff_metrics_read_errors_total.
func (m *Metrics) Handler() http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{m.log}})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.scrape.Lock()
		defer m.scrape.Unlock()
		m.readGauges(r.Context())
		h.ServeHTTP(w, r)
	})
}

// readGauges refills the state gauges.
func (m *Metrics) readGauges(ctx context.Context) {
	if m.cfg.Store != nil {
		m.batches.Reset()
		m.remaining.Set(0)
		m.overdue.Set(0)
		if err := m.readBatches(ctx); err != nil {
			m.readErrors.WithLabelValues("store").Inc()
			m.log.Warn("metrics: read batches", "err", err)
		}
	}
	if m.cfg.QueueDepths != nil {
		m.queue.Reset()
		ds, err := m.cfg.QueueDepths(ctx)
		if err != nil {
			m.readErrors.WithLabelValues("queue").Inc()
			m.log.Warn("metrics: read queue depth", "err", err)
			return
		}
		for _, d := range ds {
			m.queue.WithLabelValues(d.Topic, "ready").Set(float64(d.Ready))
			m.queue.WithLabelValues(d.Topic, "leased").Set(float64(d.Leased))
			m.queue.WithLabelValues(d.Topic, "delayed").Set(float64(d.Delayed))
		}
	}
}

func (m *Metrics) readBatches(ctx context.Context) error {
	now := time.Now()
	if m.cfg.NowFunc != nil {
		now = m.cfg.NowFunc()
	}
	for _, st := range []batch.State{batch.Running, batch.Finalizing, batch.Finalized} {
		limit := 1000
		if st == batch.Finalized {
			limit = m.cfg.GaugeFinalized
		}
		bs, err := m.cfg.Store.ListBatches(ctx, batch.ListOptions{State: st, Limit: limit})
		if err != nil {
			return err
		}
		if st != batch.Finalized {
			// Every active state appears, so a dashboard sees 0 rather
			// than no series.
			m.batches.WithLabelValues(string(st), "")
		}
		for _, b := range bs {
			m.batches.WithLabelValues(string(b.State), string(b.Result)).Inc()
			if b.State != batch.Finalized {
				m.remaining.Add(float64(b.Remaining()))
				if !b.Deadline.IsZero() && now.After(b.Deadline) {
					m.overdue.Inc()
				}
			}
		}
	}
	return nil
}

// slogPrinter lets promhttp log through slog.
type slogPrinter struct{ log *slog.Logger }

// A scraper that went away is routine (INFO); anything else is a WARN.
func (p slogPrinter) Println(v ...any) {
	for _, x := range v {
		if err, ok := x.(error); ok && brokenConn(err) {
			p.log.Info("metrics: serve: the scraper went away", "err", fmt.Sprint(v...))
			return
		}
	}
	p.log.Warn("metrics: serve", "err", fmt.Sprint(v...))
}
