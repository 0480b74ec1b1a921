package httpapi

import (
	"log/slog"
	"net/http"
	"time"

	"tipoff/batch"
)

// WorkerConfig configures a [WorkerHandler]. Handler, Sink and DecodePush are
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

// WorkerHandler is the cloud worker's HTTP surface: POST /predict takes a
// Pub/Sub push of one prediction request, has a [batch.Worker] handle it
// and publish the outcome through its sink, and answers 2xx only after the
// publish succeeded. A request the handler cannot ever handle (a permanent
// error) gets a failed outcome and is acked like a success; a transient
// failure, of the handler or of the publish, is 500, and Pub/Sub delivers
// the request again. The classification is [batch.Worker]'s, the same as in
// pull mode.
type WorkerHandler struct {
	cfg WorkerConfig
	log *slog.Logger
	w   *batch.Worker
	mux *http.ServeMux
}

// NewWorkerHandler returns the handler. It panics without a handler, a sink
// or a push decoder: a wiring mistake.
func NewWorkerHandler(cfg WorkerConfig) *WorkerHandler {
	if cfg.Handler == nil || cfg.Sink == nil || cfg.DecodePush == nil {
		panic("httpapi: NewWorkerHandler needs Handler, Sink and DecodePush")
	}
	if cfg.MaxPushBytes <= 0 {
		cfg.MaxPushBytes = DefaultMaxPushBytes
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var obs batch.Observer
	if cfg.Metrics != nil {
		obs = cfg.Metrics
	}
	h := &WorkerHandler{cfg: cfg, log: log, mux: http.NewServeMux(),
		w: batch.NewWorker(nil, cfg.Handler, cfg.Sink, log, batch.WorkerConfig{Name: cfg.Name, ItemTimeout: cfg.ItemTimeout, Observer: obs})}
	var predict http.Handler = http.HandlerFunc(h.servePredict)
	if cfg.Auth != nil {
		predict = cfg.Auth(predict)
	}
	h.mux.Handle("POST /predict", predict)
	h.mux.Handle("POST /push/requests", predict) // the name deploy/ pushes to
	if cfg.Metrics != nil {
		h.mux.Handle("GET /metrics", cfg.Metrics.Handler())
	}
	if cfg.Health != nil {
		h.mux.Handle("GET /health", cfg.Health)
	}
	return h
}

// ServeHTTP serves POST /predict (also /push/requests), and GET /health and
// GET /metrics when configured.
func (h *WorkerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *WorkerHandler) servePredict(w http.ResponseWriter, r *http.Request) {
	d, ctx, ok := readPush(w, r, h.cfg.DecodePush, h.cfg.MaxPushBytes, h.log)
	if !ok {
		return
	}
	if !h.w.HandleDelivery(ctx, d) {
		// batch.Worker has logged why.
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
