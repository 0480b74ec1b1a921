package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"tipoff/batch"
	"tipoff/pipeline"
)

// PushDecoder decodes the body of a Pub/Sub push request into the delivery
// it carries; every error means the body never will decode.
// gcppubsub.DecodePush is one.
type PushDecoder func(r io.Reader) (batch.Delivery, error)

// Middleware wraps a handler, e.g. with the OIDC check of auth.go.
type Middleware func(http.Handler) http.Handler

// Body size limits: a start request is a few options; a push carries one
// request or one outcome with its predictions, a few kilobytes.
const (
	DefaultMaxStartBytes = 64 << 10
	DefaultMaxPushBytes  = 1 << 20
)

// StartFunc returns the batch a start request asks for, creating it (reading
// the input data) when its key has none; created says which. It does not
// dispatch. [pipeline.Starter.Start] is the one both shapes use.
type StartFunc func(ctx context.Context, req pipeline.StartRequest) (b batch.Batch, created bool, err error)

// StartResponse is the body of an answer to POST /start: 202 while the
// batch has work to do, 200 for a batch with no items on purpose (a date
// with no games), which is finalized when it is created.
type StartResponse struct {
	BatchID     string      `json:"batch_id"`
	Created     bool        `json:"created"`
	Key         batch.Key   `json:"key"`
	State       batch.State `json:"state"`
	Total       int         `json:"total"`
	DataVersion string      `json:"data_version,omitempty"`
	TraceID     string      `json:"trace_id,omitempty"`
	// Status is the path of the batch's report in the status API.
	Status string `json:"status"`
	// NoItems says why the batch has nothing to do ("no games scheduled
	// on 2025-12-24"); empty for a batch with items.
	NoItems string `json:"no_items,omitempty"`
}

// SweepResponse is the body of a 200 answer to POST /sweep.
type SweepResponse struct {
	batch.SweepReport
	EventsRelayed int `json:"events_relayed"`
}

// CancelRequest is the body of POST /batches/{id}/cancel; it may be empty.
type CancelRequest struct {
	Reason string `json:"reason,omitempty"`
}

// CancelResponse is the body of a 200 answer to POST /batches/{id}/cancel.
type CancelResponse struct {
	BatchID string       `json:"batch_id"`
	State   batch.State  `json:"state"`
	Result  batch.Result `json:"result"`
	Reason  string       `json:"reason"`
}

// PublishRequest is the body of POST /batches/{id}/publish; it may be
// empty. Unpin publishes the batch without pinning it, so a later run's
// finalize may replace it again per the publication policy.
type PublishRequest struct {
	Unpin bool `json:"unpin,omitempty"`
}

// PublishResponse is the body of a 200 answer to POST /batches/{id}/publish:
// the date's publication as it now stands.
type PublishResponse struct {
	BatchID     string       `json:"batch_id"`
	Date        string       `json:"date"`
	Run         string       `json:"run"`
	Result      batch.Result `json:"result"`
	Pinned      bool         `json:"pinned"`
	Players     int          `json:"players"`
	Predictions int          `json:"predictions"`
	PublishedAt time.Time    `json:"published_at"`
	Export      string       `json:"export,omitempty"`
}

// PublishFunc publishes a finalized batch explicitly, pinned if pin, and
// returns the date's publication; [pipeline.Job.Publish] is the one both
// shapes use.
type PublishFunc func(ctx context.Context, batchID string, pin bool) (pipeline.Published, error)

// CoordinatorConfig configures a [CoordinatorHandler]. Coordinator and
// Start are required.
type CoordinatorConfig struct {
	Coordinator *batch.Coordinator
	Start       StartFunc
	// Publish, when set, mounts POST /batches/{id}/publish.
	Publish PublishFunc
	// DecodePush, when set, mounts the Pub/Sub push endpoints for outcomes
	// and dead letters of requests and outcomes (the cloud shape in push
	// mode).
	DecodePush PushDecoder
	// Guards say who may call each group of routes.
	Guards Guards
	// Status, Metrics and Health, when set, are mounted too: the status
	// API and pages and GET /metrics (operators' reads, behind
	// Guards.Operator), and GET /health (never guarded: probes and uptime
	// checks carry no credential).
	Status  *Status
	Metrics *Metrics
	Health  http.Handler
	// MaxStartBytes and MaxPushBytes bound request bodies; defaults
	// [DefaultMaxStartBytes] and [DefaultMaxPushBytes].
	MaxStartBytes int64
	MaxPushBytes  int64
	// PushTimeout bounds the work on one push (recording what it carries):
	// past it the push is answered 503 and Pub/Sub delivers it again,
	// possibly to another instance, rather than every push waiting on a
	// wedged store call. Zero means no bound beyond the request's own.
	PushTimeout time.Duration
	Log         *slog.Logger
}

// Guards are the route groups of a [CoordinatorHandler], each behind its
// own check of its own callers (an [Auth.Wrap] with the group's accounts,
// or a [RequireToken]); nil leaves a group open: the embedded shape on
// loopback, and tests.
type Guards struct {
	// Start guards POST /start: the scheduler.
	Start Middleware
	// Push guards the Pub/Sub pushes of outcomes and dead letters (of
	// requests and of outcomes).
	Push Middleware
	// Operator guards what people call: the operator verbs (sweep, cancel,
	// ...) and the reads (status pages, the JSON API, /metrics).
	Operator Middleware
}

// CoordinatorHandler is the coordinator's HTTP surface, the same in both
// shapes ("tipoff serve" and "tipoff coordinator"):
//
//	POST /start                 create (or find) a date's batch; 202 with its id at once
//	                            (200 on a date with no games; Content-Type application/json, else 415)
//	POST /batches/{id}/cancel   end a running batch as cancelled
//	POST /batches/{id}/publish  make a finalized batch the date's publication, pinned (when configured)
//	POST /sweep                 one sweep and event relay, for a scheduler tick
//	POST /complete              Pub/Sub push of an outcome (also /push/outcomes)
//	POST /dead-letter           Pub/Sub push of a dead-lettered request (also /push/dead-letters):
//	                            one failed attempt; the item is re-driven until its last
//	POST /push/outcome-dead-letters  Pub/Sub push of a dead-lettered outcome: recorded like any
//	GET  /health, /metrics, /api/..., / and /batches/{id} when configured
//
// Each route belongs to a group of [Guards] with its own callers: /start
// the scheduler's, the pushes Pub/Sub's, and the verbs (sweep, cancel) and
// reads (/metrics, /api/..., the pages) the operators'. GET /health is in
// none: it answers anyone, showing the binary, its dependencies' and its
// data's state, never batch state. The push endpoints exist only with a DecodePush. A push is answered 2xx
// (acked) only once what it carries is durable, or when it never can be (a
// body that does not decode: logged and dropped). Anything transient is
// 500, and Pub/Sub delivers the message again. The work itself (dispatch,
// sweep, relay) is the [batch.Coordinator]'s.
type CoordinatorHandler struct {
	cfg CoordinatorConfig
	log *slog.Logger
	mux *http.ServeMux
}

// NewCoordinatorHandler returns the handler. It panics without a
// coordinator or a start function: a wiring mistake.
func NewCoordinatorHandler(cfg CoordinatorConfig) *CoordinatorHandler {
	if cfg.Coordinator == nil || cfg.Start == nil {
		panic("httpapi: NewCoordinatorHandler needs Coordinator and Start")
	}
	if cfg.MaxStartBytes <= 0 {
		cfg.MaxStartBytes = DefaultMaxStartBytes
	}
	if cfg.MaxPushBytes <= 0 {
		cfg.MaxPushBytes = DefaultMaxPushBytes
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &CoordinatorHandler{cfg: cfg, log: log, mux: http.NewServeMux()}
	h.routes()
	return h
}

// ServeHTTP serves the routes.
func (h *CoordinatorHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *CoordinatorHandler) routes() {
	mux := h.mux
	g := h.cfg.Guards
	start, push, operator := orOpen(g.Start), orOpen(g.Push), orOpen(g.Operator)
	// The routes that change state refuse other sites' pages before
	// anything else; the pushes come from Pub/Sub, never from a browser.
	mux.Handle("POST /start", start(h.sameOrigin(h.jsonContentType(h.serveStart))))
	// Operator verbs: one line each.
	verb := func(f http.HandlerFunc) http.Handler { return operator(h.sameOrigin(f)) }
	mux.Handle("POST /sweep", verb(h.serveSweep))
	mux.Handle("POST /batches/{id}/cancel", verb(h.serveCancel))
	if h.cfg.Publish != nil {
		mux.Handle("POST /batches/{id}/publish", verb(h.servePublish))
	}
	if h.cfg.DecodePush != nil {
		complete, dead := push(http.HandlerFunc(h.serveComplete)), push(http.HandlerFunc(h.serveDeadLetter))
		// deploy/ points the push subscriptions at the /push/... names.
		mux.Handle("POST /complete", complete)
		mux.Handle("POST /push/outcomes", complete)
		mux.Handle("POST /dead-letter", dead)
		mux.Handle("POST /push/dead-letters", dead)
		mux.Handle("POST /push/outcome-dead-letters", push(http.HandlerFunc(h.serveOutcomeDeadLetter)))
	}
	if h.cfg.Status != nil {
		h.cfg.Status.register(mux, operator)
	}
	if h.cfg.Metrics != nil {
		mux.Handle("GET /metrics", operator(h.cfg.Metrics.Handler()))
	}
	if h.cfg.Health != nil {
		mux.Handle("GET /health", h.cfg.Health)
	}
}

// orOpen returns m, or for nil a middleware that lets everything through.
func orOpen(m Middleware) Middleware {
	if m == nil {
		return func(h http.Handler) http.Handler { return h }
	}
	return m
}

// crossOrigin reports whether a browser sent r from another site's page: a
// state-changing request no page of another origin may make.
func crossOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return origin == "null"
	}
	for _, scheme := range []string{"http://", "https://"} {
		if origin == scheme+r.Host {
			return false
		}
	}
	return true
}

// sameOrigin answers 403 to a request a browser sent from another site's
// page, and passes the rest to next.
func (h *CoordinatorHandler) sameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if crossOrigin(r) {
			writeError(w, h.log, r, fmt.Errorf("%w: %s %s from another origin (%s)", errForbidden, r.Method, r.URL.Path, r.Header.Get("Origin")))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// jsonContentType answers 415 to a request whose Content-Type is not JSON
// (application/json, parameters allowed) and passes the rest to next. A
// page of another site can send a form or text/plain without asking the
// browser first, but not JSON.
func (h *CoordinatorHandler) jsonContentType(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ct := r.Header.Get("Content-Type")
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeError(w, h.log, r, fmt.Errorf("%w: %s %s: Content-Type %q, want application/json", errUnsupportedMediaType, r.Method, r.URL.Path, ct))
			return
		}
		next(w, r)
	}
}

func (h *CoordinatorHandler) serveStart(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, h.cfg.MaxStartBytes)
	if !ok {
		return
	}
	req, err := pipeline.DecodeStartRequest(body)
	if err != nil {
		writeError(w, h.log, r, err)
		return
	}
	if v := r.Header.Get("X-CloudScheduler-ScheduleTime"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeError(w, h.log, r, fmt.Errorf("%w: header X-CloudScheduler-ScheduleTime %q is not an RFC 3339 time", batch.ErrInvalid, v))
			return
		}
		req.ScheduleTime = t.UTC()
	}
	req.TraceID = TraceID(r)
	if req.TraceID == "" {
		req.TraceID = batch.NewTraceID()
	}
	ctx := batch.WithTraceID(r.Context(), req.TraceID)
	b, created, err := h.cfg.Start(ctx, req)
	if err != nil {
		writeError(w, h.log, r.WithContext(ctx), err)
		return
	}
	if b.State == batch.Running {
		h.cfg.Coordinator.Dispatch(b.ID)
	}
	trace := b.Meta[batch.AttrTraceID]
	h.log.InfoContext(batch.WithTraceID(ctx, trace), "start", "batch_id", b.ID, "run_date", b.Key.Date, "run", b.Key.Run,
		"created", created, "state", b.State, "items", b.Total, "trace_id", trace)
	code := http.StatusAccepted
	reason, quiet := b.NoItems()
	if quiet {
		// Nothing was accepted for processing: the answer is final, and a
		// scheduler must not count it as a failed job.
		code = http.StatusOK
	}
	w.Header().Set("Location", "/api/batches/"+b.ID)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	logUndelivered(h.log, r, json.NewEncoder(w).Encode(StartResponse{BatchID: b.ID, Created: created, Key: b.Key, State: b.State, Total: b.Total,
		DataVersion: b.Meta["data_version"], TraceID: trace, Status: "/api/batches/" + b.ID, NoItems: reason}))
}

// readOptionalJSON decodes an operator verb's body, which may be empty,
// into v: one JSON object with known fields only. Otherwise it answers 400
// with want (what the body should be) and returns false.
func (h *CoordinatorHandler) readOptionalJSON(w http.ResponseWriter, r *http.Request, v any, want string) bool {
	body, ok := readBody(w, r, h.cfg.MaxStartBytes)
	if !ok {
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || dec.More() {
		writeError(w, h.log, r, fmt.Errorf("%w: %s", batch.ErrInvalid, want))
		return false
	}
	return true
}

func (h *CoordinatorHandler) serveCancel(w http.ResponseWriter, r *http.Request) {
	var req CancelRequest
	if !h.readOptionalJSON(w, r, &req, `cancel request body: want JSON like {"reason":"..."}`) {
		return
	}
	if len(req.Reason) > 500 {
		writeError(w, h.log, r, fmt.Errorf("%w: cancel reason: %d bytes, want at most 500", batch.ErrInvalid, len(req.Reason)))
		return
	}
	if req.Reason == "" {
		req.Reason = "cancelled by an operator"
	}
	id := r.PathValue("id")
	if !batch.PlausibleID(id) {
		writeError(w, h.log, r, fmt.Errorf("cancel %q: %w", id, batch.ErrNotFound))
		return
	}
	b, err := h.cfg.Coordinator.Cancel(r.Context(), id, req.Reason)
	if err != nil {
		writeError(w, h.log, r, err)
		return
	}
	h.log.Info("batch cancelled by request", "batch_id", b.ID, "reason", req.Reason)
	writeAPIJSON(w, r, h.log, CancelResponse{BatchID: b.ID, State: b.State, Result: b.Result, Reason: req.Reason})
}

func (h *CoordinatorHandler) servePublish(w http.ResponseWriter, r *http.Request) {
	var req PublishRequest
	if !h.readOptionalJSON(w, r, &req, `publish request body: want JSON like {"unpin":true}, or none`) {
		return
	}
	id := r.PathValue("id")
	if !batch.PlausibleID(id) {
		writeError(w, h.log, r, fmt.Errorf("publish %q: %w", id, batch.ErrNotFound))
		return
	}
	resp, err := Published(h.cfg.Publish(r.Context(), id, !req.Unpin))
	if err != nil {
		writeError(w, h.log, r, err)
		return
	}
	writeAPIJSON(w, r, h.log, resp)
}

// Published returns the answer of POST /batches/{id}/publish for what an
// explicit publish did, or its error: Published(job.Publish(...)).
func Published(got pipeline.Published, err error) (PublishResponse, error) {
	if err != nil {
		return PublishResponse{}, err
	}
	p := got.Publication
	return PublishResponse{BatchID: p.BatchID, Date: p.Date.String(), Run: p.Run, Result: p.Result, Pinned: p.Pinned,
		Players: len(p.Players), Predictions: p.Count(), PublishedAt: p.PublishedAt, Export: got.Export}, nil
}

func (h *CoordinatorHandler) serveComplete(w http.ResponseWriter, r *http.Request) {
	h.servePush(w, r, "outcome", func(ctx context.Context, d batch.Delivery) error {
		return h.cfg.Coordinator.HandleOutcome(ctx, d.Body)
	})
}

func (h *CoordinatorHandler) serveDeadLetter(w http.ResponseWriter, r *http.Request) {
	h.servePush(w, r, "dead letter", h.cfg.Coordinator.HandleDeadLetter)
}

// serveOutcomeDeadLetter records an outcome that Pub/Sub could not push to
// /push/outcomes in time (a coordinator or store outage longer than its
// deliveries) and moved to the outcomes' dead-letter topic.
func (h *CoordinatorHandler) serveOutcomeDeadLetter(w http.ResponseWriter, r *http.Request) {
	h.servePush(w, r, "dead-lettered outcome", func(ctx context.Context, d batch.Delivery) error {
		return h.cfg.Coordinator.HandleOutcomeDeadLetter(ctx, d.Body)
	})
}

// servePush decodes one Pub/Sub push and hands it to handle within the push
// timeout: 204 when it is handled, else an error status, so that Pub/Sub
// delivers it again.
func (h *CoordinatorHandler) servePush(w http.ResponseWriter, r *http.Request, what string, handle func(context.Context, batch.Delivery) error) {
	d, ctx, ok := readPush(w, r, h.cfg.DecodePush, h.cfg.MaxPushBytes, h.log)
	if !ok {
		return
	}
	ctx, cancel := h.pushContext(ctx)
	defer cancel()
	if err := handle(ctx, d); err != nil {
		h.log.WarnContext(ctx, what+" not recorded; Pub/Sub delivers it again", "batch_id", d.Attributes[batch.AttrBatchID],
			"item_id", d.Attributes[batch.AttrItemID], "trace_id", d.Attributes[batch.AttrTraceID], "err", err)
		pushFailed(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// pushContext bounds the work on one push by PushTimeout.
func (h *CoordinatorHandler) pushContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if h.cfg.PushTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, h.cfg.PushTimeout)
}

// pushFailed answers a push whose message must be delivered again: 503 if
// it ran out of time (this instance is slow: let another take it), 500
// otherwise.
func pushFailed(w http.ResponseWriter, err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		http.Error(w, "timed out", http.StatusServiceUnavailable)
		return
	}
	http.Error(w, "internal error", http.StatusInternalServerError)
}

func (h *CoordinatorHandler) serveSweep(w http.ResponseWriter, r *http.Request) {
	rep, n, err := h.cfg.Coordinator.SweepOnce(r.Context())
	if err != nil {
		writeError(w, h.log, r, fmt.Errorf("sweep: %w", err))
		return
	}
	writeAPIJSON(w, r, h.log, SweepResponse{SweepReport: rep, EventsRelayed: n})
}

// readPush reads and decodes a push request. When it returns false it has
// answered: 413 for a body over the limit (Pub/Sub retries it, then
// dead-letters it), 204 for one that does not decode (acked and logged:
// it never will).
func readPush(w http.ResponseWriter, r *http.Request, decode PushDecoder, limit int64, log *slog.Logger) (batch.Delivery, context.Context, bool) {
	body, ok := readBody(w, r, limit)
	if !ok {
		return batch.Delivery{}, nil, false
	}
	d, err := decode(bytes.NewReader(body))
	if err != nil {
		log.WarnContext(r.Context(), "dropping a push that does not decode", "path", r.URL.Path, "bytes", len(body), "err", err)
		w.WriteHeader(http.StatusNoContent)
		return batch.Delivery{}, nil, false
	}
	trace := d.Attributes[batch.AttrTraceID]
	if trace == "" {
		trace = TraceID(r)
	}
	return d, batch.WithTraceID(r.Context(), trace), true
}

// readBody reads the request body up to limit bytes. Over the limit it
// answers 413 and returns false.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit), http.StatusRequestEntityTooLarge)
		return nil, false
	case err != nil:
		http.Error(w, "request body: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return body, true
}
