package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tipoff/batch"
	"tipoff/predict"
)

// StatusStore is the part of [batch.Store] the status API, the status pages
// and the health check read. Every batch.Store satisfies it.
type StatusStore interface {
	GetBatch(ctx context.Context, id string) (batch.Batch, error)
	ListBatches(ctx context.Context, opts batch.ListOptions) ([]batch.Batch, error)
	Items(ctx context.Context, batchID string, opts batch.ItemsOptions) ([]batch.Item, error)
	Progress(ctx context.Context, batchID string, missingLimit int) (batch.Progress, error)
	Unpublished(ctx context.Context, batchID string, limit int) ([]batch.Item, error)
	Overdue(ctx context.Context, batchID string, before time.Time, limit int) ([]batch.Item, error)
}

// Publications reads a date's published predictions; every
// [predict.Publisher] satisfies it.
type Publications interface {
	Published(ctx context.Context, date predict.Date) (*predict.Publication, error)
}

// DeadLetterCounter counts the messages waiting in the dead-letter topic of a
// topic ([batch.DeadLetterTopic]). The embedded SQLite queue satisfies it.
type DeadLetterCounter interface {
	DeadLetters(ctx context.Context, topic string) (int, error)
}

// QueueDepthFunc returns the depth of every topic that holds messages,
// dead-letter topics included.
type QueueDepthFunc func(ctx context.Context) ([]batch.TopicDepth, error)

// Export describes the export file of a date's picks as the process that
// wrote it sees it.
type Export struct {
	Path    string    `json:"path"`
	Exists  bool      `json:"exists"`
	ModTime time.Time `json:"mod_time,omitzero"`
	// BatchID and PublishedAt are read from the file: the publication it
	// holds.
	BatchID     string    `json:"batch_id,omitempty"`
	PublishedAt time.Time `json:"published_at,omitzero"`
	Players     int       `json:"players"`
	Predictions int       `json:"predictions"`
	// Problem says why the file could not be read, if it exists but does
	// not decode.
	Problem string `json:"problem,omitempty"`
	// Failing says why the last attempt to write the file failed; empty
	// when it succeeded or nothing records it. Failures counts the failed
	// attempts since FailingSince; the export is retried.
	Failing      string    `json:"failing,omitempty"`
	Failures     int       `json:"failures,omitempty"`
	FailingSince time.Time `json:"failing_since,omitzero"`
}

// ExportFunc describes the export of date's picks.
type ExportFunc func(ctx context.Context, date predict.Date) (Export, error)

// BatchTopics are the topics whose dead letters the status reports.
var BatchTopics = []string{batch.TopicRequests, batch.TopicOutcomes, batch.TopicEvents}

// BatchSummary is a batch with its progress worked out, as
// GET /api/batches lists it.
type BatchSummary struct {
	batch.Batch
	Done      int     `json:"done"`
	Remaining int     `json:"remaining"`
	Percent   float64 `json:"percent"`
}

// Summarize returns b's summary.
func Summarize(b batch.Batch) BatchSummary {
	s := BatchSummary{Batch: b, Done: b.Counts.Done(), Remaining: b.Remaining(), Percent: 100}
	if b.Total > 0 {
		s.Percent = 100 * float64(s.Done) / float64(b.Total)
	}
	return s
}

// BatchList is the body of GET /api/batches: newest first.
type BatchList struct {
	Batches []BatchSummary `json:"batches"`
}

// ItemProblem is a player whose item failed or timed out, with the reason.
type ItemProblem struct {
	ID          string        `json:"id"`
	Outcome     batch.Outcome `json:"outcome"`
	Error       string        `json:"error"`
	Attempts    int           `json:"attempts"`
	CompletedAt time.Time     `json:"completed_at,omitzero"`
}

// Stuck reasons.
const (
	// StuckOverdue: published, and no outcome within the item timeout.
	StuckOverdue = "overdue"
	// StuckUndispatched: still in the dispatch outbox an item timeout
	// after the batch was created.
	StuckUndispatched = "undispatched"
)

// StuckItem is a player without an outcome who has waited longer than the
// batch's item timeout. The sweeper re-drives such items each sweep, so one
// that stays stuck means the sweeper (the coordinator) is not running.
type StuckItem struct {
	ID          string    `json:"id"`
	Reason      string    `json:"reason"` // StuckOverdue or StuckUndispatched
	Attempts    int       `json:"attempts"`
	Since       time.Time `json:"since"` // last published, or created
	WaitSeconds float64   `json:"wait_seconds"`
}

// FinalizeReport is where a batch's finalize stands.
type FinalizeReport struct {
	Attempts     int       `json:"attempts"`
	LeaseOwner   string    `json:"lease_owner,omitempty"`
	LeaseExpires time.Time `json:"lease_expires,omitzero"`
	// LeaseExpired is true for a finalizing batch whose lease ran out: its
	// finalizer died and the sweeper has not taken over yet.
	LeaseExpired bool      `json:"lease_expired,omitempty"`
	FinalizedAt  time.Time `json:"finalized_at,omitzero"`
}

// PublicationReport summarizes the published predictions of a batch's date:
// the live picks, which are another batch's when the publication policy
// kept a better or newer run's, or an operator pinned one.
type PublicationReport struct {
	Date        string       `json:"date"`
	BatchID     string       `json:"batch_id"`
	Run         string       `json:"run"`
	Result      batch.Result `json:"result"`
	BatchAt     time.Time    `json:"batch_created_at"`
	PublishedAt time.Time    `json:"published_at"`
	Players     int          `json:"players"`
	Predictions int          `json:"predictions"`
	// Pinned is true when an operator published the batch explicitly:
	// no batch's finalize replaces it.
	Pinned bool `json:"pinned,omitempty"`
	// ThisBatch is true when the publication is the reported batch's own.
	ThisBatch bool `json:"this_batch"`
}

// BatchReport is the body of GET /api/batches/{id}: everything an operator
// asks about one batch.
type BatchReport struct {
	Batch    BatchSummary   `json:"batch"`
	TraceID  string         `json:"trace_id,omitempty"`
	Missing  []string       `json:"missing"` // players without an outcome, up to the limit, in ID order
	Failed   []ItemProblem  `json:"failed"`  // failed and timed-out players with the reason, up to the limit
	Stuck    []StuckItem    `json:"stuck"`
	Finalize FinalizeReport `json:"finalize"`
	// Publication is the date's current publication; nil when there is
	// none, or when PublicationChecked is false (no source of them).
	Publication        *PublicationReport `json:"publication,omitempty"`
	PublicationChecked bool               `json:"publication_checked"`
	// Export is the date's export file; nil when not known here.
	Export    *Export   `json:"export,omitempty"`
	CheckedAt time.Time `json:"checked_at"`
}

// QueueReport is the body of GET /api/queue.
type QueueReport struct {
	// DeadLetters counts, per topic in [BatchTopics], the messages in its
	// dead-letter topic; nil when the queue cannot tell.
	DeadLetters map[string]int `json:"dead_letters"`
	// Topics is the depth of every topic; nil when the queue cannot tell.
	Topics    []batch.TopicDepth `json:"topics"`
	CheckedAt time.Time          `json:"checked_at"`
}

// StatusConfig is what a [Status] reads. Store is required; every other
// source is optional, and what it would tell is reported as unknown.
type StatusConfig struct {
	Store        StatusStore
	Publications Publications
	DeadLetters  DeadLetterCounter
	QueueDepths  QueueDepthFunc
	Export       ExportFunc
	// Reliability grades the published predictions for the reliability
	// page; nil leaves the page saying it has no graded results.
	Reliability ReliabilitySource
	// PickSystem is the prediction system whose picks the pages show;
	// default "ensemble".
	PickSystem string
	// ListLimit bounds what one listing returns; default 50.
	ListLimit int
	// ReportLimit bounds each list in a BatchReport (missing, failed,
	// stuck); default 500.
	ReportLimit int
	// NowFunc is the clock; default time.Now.
	NowFunc func() time.Time
	// Log receives errors the handlers hide from clients.
	Log *slog.Logger
}

// Status answers operators' questions about batches from the system's own
// state: the JSON API (GET /api/...), the status pages, and the health
// command all read through it, so they cannot disagree.
type Status struct {
	cfg   StatusConfig
	log   *slog.Logger
	views viewCache
}

// NewStatus returns a Status on cfg's sources.
func NewStatus(cfg StatusConfig) *Status {
	if cfg.Store == nil {
		panic("httpapi: NewStatus without a store")
	}
	if cfg.PickSystem == "" {
		cfg.PickSystem = "ensemble"
	}
	if cfg.ListLimit <= 0 {
		cfg.ListLimit = 50
	}
	if cfg.ReportLimit <= 0 {
		cfg.ReportLimit = 500
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Status{cfg: cfg, log: log}
}

// ListBatches returns batches newest first, filtered by opts. A zero limit
// means the configured ListLimit. Errors are the store's ([batch.ErrInvalid]
// for bad options).
func (s *Status) ListBatches(ctx context.Context, opts batch.ListOptions) (BatchList, error) {
	if opts.Limit == 0 {
		opts.Limit = s.cfg.ListLimit
	}
	bs, err := s.cfg.Store.ListBatches(ctx, opts)
	if err != nil {
		return BatchList{}, err
	}
	out := BatchList{Batches: make([]BatchSummary, len(bs))}
	for i, b := range bs {
		out.Batches[i] = Summarize(b)
	}
	return out, nil
}

// Batch returns the report of one batch. [batch.ErrNotFound] if there is
// none.
func (s *Status) Batch(ctx context.Context, id string) (BatchReport, error) {
	r, _, err := s.report(ctx, id, true)
	return r, err
}

// report builds a batch's report and returns the publication it
// summarizes; withFailed=false leaves Failed empty for
// a caller that reads every item anyway.
func (s *Status) report(ctx context.Context, id string, withFailed bool) (BatchReport, *predict.Publication, error) {
	if !batch.PlausibleID(id) {
		return BatchReport{}, nil, fmt.Errorf("batch %q: %w", id, batch.ErrNotFound)
	}
	now := s.cfg.NowFunc()
	p, err := s.cfg.Store.Progress(ctx, id, s.cfg.ReportLimit)
	if err != nil {
		return BatchReport{}, nil, err
	}
	b := p.Batch
	r := BatchReport{Batch: Summarize(b), TraceID: b.Meta[batch.AttrTraceID], Missing: p.Missing, CheckedAt: now,
		Failed: []ItemProblem{}, Stuck: []StuckItem{}}
	if r.Missing == nil {
		r.Missing = []string{}
	}
	r.Finalize = FinalizeReport{Attempts: b.FinalizeAttempts, LeaseOwner: b.Lease.Owner, LeaseExpires: b.Lease.Expires,
		FinalizedAt: b.FinalizedAt}
	if b.State == batch.Finalizing && !b.Lease.Expires.IsZero() && !now.Before(b.Lease.Expires) {
		r.Finalize.LeaseExpired = true
	}
	switch {
	case !withFailed || b.Counts.Failed+b.Counts.TimedOut == 0:
	case b.State == batch.Finalized:
		v, err := s.itemView(ctx, b, "") // kept: a finalized batch's failures never change
		if err != nil {
			return BatchReport{}, nil, err
		}
		r.Failed = v.Failed
	default:
		if r.Failed, err = s.problems(ctx, b); err != nil {
			return BatchReport{}, nil, err
		}
	}
	if b.State == batch.Running {
		if r.Stuck, err = s.stuck(ctx, b, now); err != nil {
			return BatchReport{}, nil, err
		}
	}
	pub, err := s.published(ctx, b.Key.Date)
	if err != nil {
		return BatchReport{}, nil, err
	}
	r.Publication = summarizePublication(pub, b.ID)
	r.PublicationChecked = s.cfg.Publications != nil
	if s.cfg.Export != nil {
		date, err := predict.ParseDate(b.Key.Date)
		if err != nil {
			return BatchReport{}, nil, fmt.Errorf("batch %s: %w", b.ID, err)
		}
		ex, err := s.cfg.Export(ctx, date)
		if err != nil {
			return BatchReport{}, nil, fmt.Errorf("export of %s: %w", b.Key.Date, err)
		}
		r.Export = &ex
	}
	return r, pub, nil
}

// problems returns the batch's failed and timed-out items, up to the limit.
func (s *Status) problems(ctx context.Context, b batch.Batch) ([]ItemProblem, error) {
	out := []ItemProblem{}
	want := min(b.Counts.Failed+b.Counts.TimedOut, s.cfg.ReportLimit)
	after := ""
	for len(out) < want {
		items, err := s.cfg.Store.Items(ctx, b.ID, batch.ItemsOptions{After: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		out = append(out, problemsOf(items, want-len(out))...)
		if len(items) < 1000 {
			break
		}
		after = items[len(items)-1].ID
	}
	return out, nil
}

// problemsOf returns up to limit of the items that failed or timed out.
func problemsOf(items []batch.Item, limit int) []ItemProblem {
	out := []ItemProblem{}
	for _, it := range items {
		if len(out) == limit {
			break
		}
		if it.Outcome == batch.OutcomeFailed || it.Outcome == batch.OutcomeTimedOut {
			out = append(out, ItemProblem{ID: it.ID, Outcome: it.Outcome, Error: it.Error, Attempts: it.Attempts, CompletedAt: it.CompletedAt})
		}
	}
	return out
}

// stuck returns the running batch's items that have waited for an outcome
// longer than its item timeout: published ones past it, and ones still in
// the outbox an item timeout after the batch was created.
func (s *Status) stuck(ctx context.Context, b batch.Batch, now time.Time) ([]StuckItem, error) {
	timeout := b.Policy.WithDefaults().ItemTimeout
	out := []StuckItem{}
	over, err := s.cfg.Store.Overdue(ctx, b.ID, now.Add(-timeout), s.cfg.ReportLimit)
	if err != nil {
		return nil, err
	}
	for _, it := range over {
		out = append(out, StuckItem{ID: it.ID, Reason: StuckOverdue, Attempts: it.Attempts, Since: it.PublishedAt,
			WaitSeconds: now.Sub(it.PublishedAt).Seconds()})
	}
	if now.Sub(b.CreatedAt) > timeout && len(out) < s.cfg.ReportLimit {
		waiting, err := s.cfg.Store.Unpublished(ctx, b.ID, s.cfg.ReportLimit-len(out))
		if err != nil {
			return nil, err
		}
		for _, it := range waiting {
			since := it.CreatedAt
			if since.IsZero() {
				since = b.CreatedAt
			}
			out = append(out, StuckItem{ID: it.ID, Reason: StuckUndispatched, Attempts: it.Attempts, Since: since,
				WaitSeconds: now.Sub(since).Seconds()})
		}
	}
	return out, nil
}

// summarizePublication summarizes a date's publication for the page of
// batch thisBatch; nil for none.
func summarizePublication(pub *predict.Publication, thisBatch string) *PublicationReport {
	if pub == nil {
		return nil
	}
	return &PublicationReport{Date: pub.Date.String(), BatchID: pub.BatchID, Run: pub.Run, Result: pub.Result,
		BatchAt: pub.BatchAt, PublishedAt: pub.PublishedAt, Players: len(pub.Players), Predictions: pub.Count(),
		Pinned: pub.Pinned, ThisBatch: pub.BatchID == thisBatch}
}

// published returns the date's publication; nil without error when there is
// none or no source of them.
func (s *Status) published(ctx context.Context, date string) (*predict.Publication, error) {
	if s.cfg.Publications == nil {
		return nil, nil
	}
	d, err := predict.ParseDate(date)
	if err != nil {
		return nil, fmt.Errorf("%w: date %q: %v", batch.ErrInvalid, date, err)
	}
	pub, err := s.cfg.Publications.Published(ctx, d)
	if errors.Is(err, batch.ErrNotFound) {
		return nil, nil
	}
	return pub, err
}

// Queue reports dead letters and topic depths, as far as the queue can
// tell.
func (s *Status) Queue(ctx context.Context) (QueueReport, error) {
	r := QueueReport{CheckedAt: s.cfg.NowFunc()}
	if s.cfg.DeadLetters != nil {
		r.DeadLetters = make(map[string]int, len(BatchTopics))
		for _, t := range BatchTopics {
			n, err := s.cfg.DeadLetters.DeadLetters(ctx, t)
			if err != nil {
				return QueueReport{}, err
			}
			r.DeadLetters[t] = n
		}
	}
	if s.cfg.QueueDepths != nil {
		ds, err := s.cfg.QueueDepths(ctx)
		if err != nil {
			return QueueReport{}, err
		}
		r.Topics = ds
		if r.Topics == nil {
			r.Topics = []batch.TopicDepth{}
		}
	}
	return r, nil
}

// Register adds the JSON API and the status pages to mux:
//
//	GET /api/batches?date=D&run=R&state=S&limit=N  BatchList
//	GET /api/batches/{id}                          BatchReport
//	GET /api/queue                                 QueueReport
//	GET /                                          recent batches (HTML)
//	GET /batches/{id}                              one batch (HTML)
//	GET /reliability                               stated P(over) against outcomes (HTML)
func (s *Status) Register(mux *http.ServeMux) { s.register(mux, orOpen(nil)) }

// register adds the routes to mux, each behind guard.
func (s *Status) register(mux *http.ServeMux, guard Middleware) {
	mux.Handle("GET /api/batches", guard(http.HandlerFunc(s.serveList)))
	mux.Handle("GET /api/batches/{id}", guard(http.HandlerFunc(s.serveBatch)))
	mux.Handle("GET /api/queue", guard(http.HandlerFunc(s.serveQueue)))
	mux.Handle("GET /{$}", guard(http.HandlerFunc(s.serveIndex)))
	mux.Handle("GET /batches/{id}", guard(http.HandlerFunc(s.serveBatchPage)))
	mux.Handle("GET /reliability", guard(http.HandlerFunc(s.serveReliability)))
}

// Handler returns a handler serving what [Status.Register] adds.
func (s *Status) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

func (s *Status) serveList(w http.ResponseWriter, r *http.Request) {
	opts, err := listOptions(r)
	if err != nil {
		writeError(w, s.log, r, err)
		return
	}
	l, err := s.ListBatches(r.Context(), opts)
	if err != nil {
		writeError(w, s.log, r, err)
		return
	}
	writeAPIJSON(w, r, s.log, l)
}

// listOptions reads the filters of GET /api/batches.
func listOptions(r *http.Request) (batch.ListOptions, error) {
	q := r.URL.Query()
	opts := batch.ListOptions{Date: q.Get("date"), Run: q.Get("run"), State: batch.State(q.Get("state"))}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return opts, fmt.Errorf("%w: query parameter limit=%q: want a whole number from 1 to 1000", batch.ErrInvalid, v)
		}
		opts.Limit = n
	}
	if err := opts.Validate(); err != nil {
		return opts, err
	}
	return opts, nil
}

func (s *Status) serveBatch(w http.ResponseWriter, r *http.Request) {
	rep, err := s.Batch(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, s.log, r, err)
		return
	}
	writeAPIJSON(w, r, s.log, rep)
}

func (s *Status) serveQueue(w http.ResponseWriter, r *http.Request) {
	rep, err := s.Queue(r.Context())
	if err != nil {
		writeError(w, s.log, r, err)
		return
	}
	writeAPIJSON(w, r, s.log, rep)
}

// TraceID returns the trace ID a request carries, to tag the batch it
// starts (batch Meta "trace_id") and so every message and outcome of it: the
// trace ID of a W3C traceparent header, else of Cloud Run's
// X-Cloud-Trace-Context, else of an X-Request-Id that is one: 32 lower-case
// hex digits, not all zeros, the one form of trace ID the system uses
// ([batch.NewTraceID], Cloud Trace). It returns "" when none is present and
// well-formed.
func TraceID(r *http.Request) string {
	if tp := r.Header.Get("Traceparent"); tp != "" {
		// version-traceid-parentid-flags
		if parts := strings.Split(tp, "-"); len(parts) >= 4 && isTraceHex(parts[1]) {
			return parts[1]
		}
	}
	if cx := r.Header.Get("X-Cloud-Trace-Context"); cx != "" {
		id, _, _ := strings.Cut(cx, "/")
		if isTraceHex(id) {
			return id
		}
	}
	if id := r.Header.Get("X-Request-Id"); isTraceHex(id) {
		return id
	}
	return ""
}

// isTraceHex reports whether s is a 32-digit lower-case hex trace ID that is
// not all zeros.
func isTraceHex(s string) bool {
	if len(s) != 32 || strings.Trim(s, "0") == "" {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func writeAPIJSON(w http.ResponseWriter, r *http.Request, log *slog.Logger, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	logUndelivered(log, r, enc.Encode(v))
}
