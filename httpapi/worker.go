package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"tipoff/batch"
)

// WorkerConfig configures a [Worker]. Handler, Sink and DecodePush are
// required.
type WorkerConfig struct {
	// Handler turns a request into the item's outcome (the prediction
	// job's handle).
	Handler batch.Handler
	// Sink makes outcomes durable: batch.PublishOutcomes on the queue, so
	// the coordinator records them.
	Sink       batch.OutcomeSink
	DecodePush PushDecoder
	// Auth guards POST /predict; nil leaves it open (tests, development).
	Auth Middleware
	// Metrics, when set, counts redeliveries and is served at GET /metrics;
	// Health is served at GET /health.
	Metrics *Metrics
	Health  http.Handler
	// Name identifies the worker in outcomes and logs; default "worker".
	Name string
	// ItemTimeout bounds one request's handling; default 30 s.
	ItemTimeout time.Duration
	// MaxPushBytes bounds the request body; default [DefaultMaxPushBytes].
	MaxPushBytes int64
	Log          *slog.Logger
}

// Worker is the cloud worker's HTTP service: POST /predict takes a Pub/Sub
// push of one prediction request, runs the handler, publishes the outcome
// through the sink, and answers 2xx only after the publish succeeded. A
// request the handler cannot ever handle (a permanent error) gets a failed
// outcome and is acked like a success; a transient failure, of the handler
// or of the publish, is 500, and Pub/Sub delivers the request again. The
// classification is [batch.Worker]'s, the same as in pull mode.
type Worker struct {
	cfg WorkerConfig
	log *slog.Logger
}

// NewWorker returns a worker service. It panics without a handler, a sink
// or a push decoder: a wiring mistake.
func NewWorker(cfg WorkerConfig) *Worker {
	if cfg.Handler == nil || cfg.Sink == nil || cfg.DecodePush == nil {
		panic("httpapi: NewWorker needs Handler, Sink and DecodePush")
	}
	if cfg.Name == "" {
		cfg.Name = "worker"
	}
	if cfg.ItemTimeout <= 0 {
		cfg.ItemTimeout = 30 * time.Second
	}
	if cfg.MaxPushBytes <= 0 {
		cfg.MaxPushBytes = DefaultMaxPushBytes
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg, log: log}
}

// Handler returns the service's routes: POST /predict (also
// /push/requests), and GET /health and
// GET /metrics when configured.
func (wk *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	var h http.Handler = http.HandlerFunc(wk.servePredict)
	if wk.cfg.Auth != nil {
		h = wk.cfg.Auth(h)
	}
	mux.Handle("POST /predict", h)
	mux.Handle("POST /push/requests", h) // the name deploy/ pushes to
	if wk.cfg.Metrics != nil {
		mux.Handle("GET /metrics", wk.cfg.Metrics.Handler())
	}
	if wk.cfg.Health != nil {
		mux.Handle("GET /health", wk.cfg.Health)
	}
	return mux
}

func (wk *Worker) servePredict(w http.ResponseWriter, r *http.Request) {
	d, ctx, ok := readPush(w, r, wk.cfg.DecodePush, wk.cfg.MaxPushBytes, wk.log)
	if !ok {
		return
	}
	// The push is settled through its HTTP answer: batch.Worker acks or
	// nacks it through pushSettle as it would a pulled delivery.
	var obs batch.Observer
	if wk.cfg.Metrics != nil {
		obs = wk.cfg.Metrics
	}
	st := &pushSettle{}
	bw := batch.NewWorker(st, wk.cfg.Handler, wk.cfg.Sink, wk.log,
		batch.WorkerConfig{Name: wk.cfg.Name, Concurrency: 1, ItemTimeout: wk.cfg.ItemTimeout, Observer: obs})
	bw.HandleBatch(ctx, []batch.Delivery{d})
	if st.result() != settledAck {
		// batch.Worker has logged why.
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// settled is what became of a pushed delivery.
type settled int

const (
	settledNone settled = iota
	settledAck
	settledNack
)

// pushSettle is the [batch.Queue] a pushed delivery is settled through:
// Ack and Nack only note the verdict, which becomes the HTTP answer. It
// cannot publish or receive.
type pushSettle struct {
	mu sync.Mutex
	v  settled
}

var errPushOnly = errors.New("httpapi: a pushed delivery's queue only settles it")

func (p *pushSettle) Publish(context.Context, string, ...batch.Message) error { return errPushOnly }
func (p *pushSettle) Receive(context.Context, string, int) ([]batch.Delivery, error) {
	return nil, errPushOnly
}

func (p *pushSettle) Ack(_ context.Context, ds ...batch.Delivery) error {
	p.set(settledAck, len(ds))
	return nil
}

func (p *pushSettle) Nack(_ context.Context, ds ...batch.Delivery) error {
	p.set(settledNack, len(ds))
	return nil
}

// set records a verdict; a nack wins over an ack.
func (p *pushSettle) set(v settled, n int) {
	if n == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.v != settledNack {
		p.v = v
	}
}

func (p *pushSettle) result() settled {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.v
}
