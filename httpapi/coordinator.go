package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"tipoff/batch"
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

// StartRequest is the body of POST /start. Every field is optional.
type StartRequest struct {
	// Date is the game date, YYYY-MM-DD. Empty means the league's date at
	// ScheduleTime, or today.
	Date string `json:"date,omitempty"`
	// Run is the run label; empty means the coordinator's default.
	Run     string       `json:"run,omitempty"`
	Options StartOptions `json:"options,omitzero"`

	// ScheduleTime is the X-CloudScheduler-ScheduleTime header: when the
	// scheduler meant the run to start. A retry of the same tick carries
	// the same time, so it resolves to the same date and finds the batch
	// the first try created.
	ScheduleTime time.Time `json:"-"`
	// TraceID is the request's trace (see [TraceID]), or a new one.
	TraceID string `json:"-"`
}

// StartOptions tune one run; zero fields keep the coordinator's settings.
// They apply only when the run creates its batch: starting an existing key
// returns the batch as it was created.
type StartOptions struct {
	// Lines are line offsets k adding base-k and base+k lines.
	Lines []float64 `json:"lines,omitempty"`
	// Books is the bookmaker preference for the base line.
	Books      []string `json:"books,omitempty"`
	MinGames   int      `json:"min_games,omitempty"`
	MinMinutes float64  `json:"min_minutes,omitempty"`
	// Policy overrides; durations are Go durations ("90s", "2h").
	ItemTimeout Duration `json:"item_timeout,omitzero"`
	MaxAttempts int      `json:"max_attempts,omitempty"`
	Deadline    Duration `json:"deadline,omitzero"`
	MinSuccess  float64  `json:"min_success,omitempty"`
}

// Duration is a time.Duration that is a string ("2m30s") in JSON.
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string such as "90s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string like \"90s\": %v", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: want a duration like \"90s\" or \"2h\"", s)
	}
	*d = Duration(v)
	return nil
}

// Validate reports every problem with r, each naming the field; the error
// wraps [batch.ErrInvalid].
func (r StartRequest) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if r.Date != "" {
		if _, err := time.Parse(time.DateOnly, r.Date); err != nil {
			bad("date %q: want YYYY-MM-DD", r.Date)
		}
	}
	if r.Run != "" {
		if err := (batch.Key{Date: "2000-01-01", Run: r.Run}).Validate(); err != nil {
			bad("run %q: 1-64 of a-z 0-9 . _ - starting with a letter or digit", r.Run)
		}
	}
	o := r.Options
	if len(o.Lines) > 10 {
		bad("options.lines: %d offsets, want at most 10", len(o.Lines))
	}
	for i, k := range o.Lines {
		if !(k > 0 && k < 100) {
			bad("options.lines[%d] = %v: want a number above 0 and below 100", i, k)
		}
	}
	if len(o.Books) > 20 {
		bad("options.books: %d books, want at most 20", len(o.Books))
	}
	for i, b := range o.Books {
		if b == "" || len(b) > 64 || strings.TrimSpace(b) != b {
			bad("options.books[%d] = %q: want a bookmaker name of 1-64 characters", i, b)
		}
	}
	if o.MinGames < 0 || o.MinGames > 10 {
		bad("options.min_games %d: want 0 to 10", o.MinGames)
	}
	if o.MinMinutes < 0 || o.MinMinutes > 48 || math.IsNaN(o.MinMinutes) {
		bad("options.min_minutes %v: want 0 to 48", o.MinMinutes)
	}
	if o.ItemTimeout < 0 {
		bad("options.item_timeout %v: want a positive duration", time.Duration(o.ItemTimeout))
	}
	if o.MaxAttempts < 0 || o.MaxAttempts > 100 {
		bad("options.max_attempts %d: want 1 to 100", o.MaxAttempts)
	}
	if o.Deadline < 0 || time.Duration(o.Deadline) > 48*time.Hour {
		bad("options.deadline %v: want a positive duration up to 48h", time.Duration(o.Deadline))
	}
	if o.MinSuccess < 0 || o.MinSuccess > 1 || math.IsNaN(o.MinSuccess) {
		bad("options.min_success %v: want 0 to 1", o.MinSuccess)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: start request: %w", batch.ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// StartFunc creates the batch a start request asks for (reading the input
// data afresh) or, when its key has a batch, returns that one with
// created=false. It does not dispatch. Errors wrapping [batch.ErrInvalid]
// or [batch.ErrNotFound] (e.g. no games on the date) are the caller's.
type StartFunc func(ctx context.Context, req StartRequest) (b batch.Batch, created bool, err error)

// StartResponse is the body of a 202 answer to POST /start.
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
}

// SweepResponse is the body of a 200 answer to POST /sweep.
type SweepResponse struct {
	batch.SweepReport
	EventsRelayed int `json:"events_relayed"`
}

// CoordinatorConfig configures a [Coordinator]. Engine, Start and
// DecodePush are required.
type CoordinatorConfig struct {
	Engine     *batch.Engine
	Start      StartFunc
	DecodePush PushDecoder
	// Auth guards the endpoints that change state: /start, /sweep and the
	// push endpoints. Nil leaves them open, for loopback tests and
	// development only.
	Auth Middleware
	// Status, Metrics and Health, when set, are mounted as they are in
	// "tipoff serve": the status API and pages, GET /metrics and
	// GET /health. They read state only and are not behind Auth.
	Status  *Status
	Metrics *Metrics
	Health  http.Handler
	// SweepEvery is the period of the sweep and event relay [Coordinator.Run]
	// does; 0 leaves them to POST /sweep.
	SweepEvery time.Duration
	// Dispatch fans a started batch out from its outbox; default
	// Engine.Dispatch, run by [Coordinator.Run]. When another loop sweeps
	// (batch.Coordinator in pull mode), ask it to sweep soon instead, so
	// two dispatchers do not publish the same items at once.
	Dispatch func(ctx context.Context, batchID string)
	// MaxStartBytes and MaxPushBytes bound request bodies; defaults
	// [DefaultMaxStartBytes] and [DefaultMaxPushBytes].
	MaxStartBytes int64
	MaxPushBytes  int64
	Log           *slog.Logger
}

// Coordinator is the cloud coordinator's HTTP service:
//
//	POST /start        create (or find) a date's batch; 202 with its id at once
//	POST /complete     Pub/Sub push of an outcome message (also /push/outcomes)
//	POST /dead-letter  Pub/Sub push of a dead-lettered request: a failed outcome
//	                   (also /push/dead-letters)
//	POST /sweep        one sweep and event relay, for a scheduler tick
//	GET  /health, /metrics, /api/..., / and /batches/{id} when configured
//
// A push is answered 2xx (acked) only once what it carries is durable, or
// when it never can be (a body that does not decode: logged and dropped).
// Anything transient is 500, and Pub/Sub delivers the message again. The
// fan-out of a started batch, the periodic sweep and the event relay run in
// [Coordinator.Run].
type Coordinator struct {
	cfg CoordinatorConfig
	log *slog.Logger
	// kicks carries the IDs of batches to dispatch to Run.
	kicks chan string
	// relayMu serializes sweeps and relays in this process, so one event
	// is not published twice by two of them at once.
	relayMu sync.Mutex
}

// NewCoordinator returns a coordinator service. It panics without an
// engine, a start function or a push decoder: a wiring mistake.
func NewCoordinator(cfg CoordinatorConfig) *Coordinator {
	if cfg.Engine == nil || cfg.Start == nil || cfg.DecodePush == nil {
		panic("httpapi: NewCoordinator needs Engine, Start and DecodePush")
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
	if cfg.Dispatch == nil {
		cfg.Dispatch = func(ctx context.Context, id string) {
			if _, err := cfg.Engine.Dispatch(ctx, id); err != nil && ctx.Err() == nil {
				log.Warn("dispatch incomplete; the sweeper publishes the rest", "batch_id", id, "err", err)
			}
		}
	}
	return &Coordinator{cfg: cfg, log: log, kicks: make(chan string, 64)}
}

// Handler returns the service's routes.
func (c *Coordinator) Handler() http.Handler {
	mux := http.NewServeMux()
	guard := c.cfg.Auth
	if guard == nil {
		guard = func(h http.Handler) http.Handler { return h }
	}
	mux.Handle("POST /start", guard(http.HandlerFunc(c.serveStart)))
	mux.Handle("POST /sweep", guard(http.HandlerFunc(c.serveSweep)))
	complete, dead := guard(http.HandlerFunc(c.serveComplete)), guard(http.HandlerFunc(c.serveDeadLetter))
	// deploy/ points the push subscriptions at the /push/... names.
	mux.Handle("POST /complete", complete)
	mux.Handle("POST /push/outcomes", complete)
	mux.Handle("POST /dead-letter", dead)
	mux.Handle("POST /push/dead-letters", dead)
	if c.cfg.Status != nil {
		c.cfg.Status.Register(mux)
	}
	if c.cfg.Metrics != nil {
		mux.Handle("GET /metrics", c.cfg.Metrics.Handler())
	}
	if c.cfg.Health != nil {
		mux.Handle("GET /health", c.cfg.Health)
	}
	return mux
}

// Run dispatches started batches from their outbox and, every SweepEvery,
// sweeps and relays events, until ctx ends. Work cut short by the end of
// ctx is safe to cut: what was not published stays in the outbox for the
// next sweep.
func (c *Coordinator) Run(ctx context.Context) error {
	var tick <-chan time.Time
	if c.cfg.SweepEvery > 0 {
		t := time.NewTicker(c.cfg.SweepEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case id := <-c.kicks:
			c.cfg.Dispatch(ctx, id)
		case <-tick:
			rep, err := c.SweepOnce(ctx)
			if err != nil && ctx.Err() == nil {
				c.log.Warn("sweep incomplete", "err", err)
			}
			if rep.Redriven+rep.TimedOut+rep.Finalized+rep.EventsRelayed > 0 {
				c.log.Info("sweep", "batches", rep.Batches, "redriven", rep.Redriven, "timed_out", rep.TimedOut,
					"dispatched", rep.Dispatched, "finalized", rep.Finalized, "events", rep.EventsRelayed)
			}
		}
	}
}

// SweepOnce runs one sweep and one event relay. It returns what they did
// and their errors joined.
func (c *Coordinator) SweepOnce(ctx context.Context) (SweepResponse, error) {
	c.relayMu.Lock()
	defer c.relayMu.Unlock()
	rep, err := c.cfg.Engine.Sweep(ctx)
	n, rerr := c.cfg.Engine.RelayEvents(ctx)
	return SweepResponse{SweepReport: rep, EventsRelayed: n}, errors.Join(err, rerr)
}

// kick asks Run to dispatch the batch; if Run is busy with many, the next
// sweep dispatches it instead.
func (c *Coordinator) kick(id string) {
	select {
	case c.kicks <- id:
	default:
		c.log.Info("dispatch left to the sweeper", "batch_id", id)
	}
}

func (c *Coordinator) serveStart(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, c.cfg.MaxStartBytes)
	if !ok {
		return
	}
	var req StartRequest
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			WriteError(w, c.log, r, fmt.Errorf("%w: start request body: want JSON like {\"date\":\"YYYY-MM-DD\",\"run\":\"daily\",\"options\":{...}}: %v", batch.ErrInvalid, err))
			return
		}
		if dec.More() {
			WriteError(w, c.log, r, fmt.Errorf("%w: start request body has data after the JSON object", batch.ErrInvalid))
			return
		}
	}
	if v := r.Header.Get("X-CloudScheduler-ScheduleTime"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			WriteError(w, c.log, r, fmt.Errorf("%w: header X-CloudScheduler-ScheduleTime %q is not an RFC 3339 time", batch.ErrInvalid, v))
			return
		}
		req.ScheduleTime = t.UTC()
	}
	if err := req.Validate(); err != nil {
		WriteError(w, c.log, r, err)
		return
	}
	req.TraceID = TraceID(r)
	if req.TraceID == "" {
		req.TraceID = NewTraceID()
	}
	ctx := WithTraceID(r.Context(), req.TraceID)
	b, created, err := c.cfg.Start(ctx, req)
	if err != nil {
		WriteError(w, c.log, r.WithContext(ctx), err)
		return
	}
	if b.State == batch.Running {
		c.kick(b.ID)
	}
	trace := b.Meta[batch.AttrTraceID]
	c.log.InfoContext(WithTraceID(ctx, trace), "start", "batch_id", b.ID, "run_date", b.Key.Date, "run", b.Key.Run,
		"created", created, "state", b.State, "items", b.Total, "trace_id", trace)
	w.Header().Set("Location", "/api/batches/"+b.ID)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(StartResponse{BatchID: b.ID, Created: created, Key: b.Key, State: b.State, Total: b.Total,
		DataVersion: b.Meta["data_version"], TraceID: trace, Status: "/api/batches/" + b.ID})
}

func (c *Coordinator) serveComplete(w http.ResponseWriter, r *http.Request) {
	d, ctx, ok := c.readPush(w, r)
	if !ok {
		return
	}
	if err := c.cfg.Engine.HandleOutcome(ctx, d.Body); err != nil {
		c.log.WarnContext(ctx, "outcome not recorded; Pub/Sub delivers it again", "batch_id", d.Attributes[batch.AttrBatchID],
			"item_id", d.Attributes[batch.AttrItemID], "trace_id", d.Attributes[batch.AttrTraceID], "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (c *Coordinator) serveDeadLetter(w http.ResponseWriter, r *http.Request) {
	d, ctx, ok := c.readPush(w, r)
	if !ok {
		return
	}
	if err := c.cfg.Engine.HandleDeadLetter(ctx, d); err != nil {
		c.log.WarnContext(ctx, "dead letter not recorded; Pub/Sub delivers it again", "batch_id", d.Attributes[batch.AttrBatchID],
			"item_id", d.Attributes[batch.AttrItemID], "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (c *Coordinator) serveSweep(w http.ResponseWriter, r *http.Request) {
	rep, err := c.SweepOnce(r.Context())
	if err != nil {
		WriteError(w, c.log, r, fmt.Errorf("sweep: %w", err))
		return
	}
	writeAPIJSON(w, rep)
}

// readPush reads and decodes a push request. When it returns false it has
// answered: 413 for a body over the limit (Pub/Sub retries it, then
// dead-letters it), 204 for one that does not decode (acked and logged:
// it never will).
func (c *Coordinator) readPush(w http.ResponseWriter, r *http.Request) (batch.Delivery, context.Context, bool) {
	return readPush(w, r, c.cfg.DecodePush, c.cfg.MaxPushBytes, c.log)
}

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
	return d, WithTraceID(r.Context(), trace), true
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

// WriteError answers with err's kind mapped onto a status code (not found
// 404, invalid 400, conflict and finalized 409, anything else 500) as a JSON
// error; a 500 says only "internal error" and logs the rest.
func WriteError(w http.ResponseWriter, log *slog.Logger, r *http.Request, err error) {
	code := apiErrorStatus(err)
	msg := err.Error()
	if code == http.StatusInternalServerError {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(apiError{Error: msg})
}

// traceKey is the context key of the request's trace ID.
type traceKey struct{}

// WithTraceID returns ctx carrying trace ID id (unchanged for "").
func WithTraceID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, traceKey{}, id)
}

// TraceIDFrom returns the trace ID ctx carries, or "".
func TraceIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(traceKey{}).(string)
	return id
}

// NewTraceID returns a random trace ID in Cloud Trace's form: 32 lower-case
// hex digits.
func NewTraceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
