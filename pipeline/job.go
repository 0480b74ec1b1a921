package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"tipoff/batch"
	"tipoff/predict"
	"tipoff/predict/systems"
)

// JobConfig configures a [Job]. Zero fields take defaults.
type JobConfig struct {
	// Systems are the prediction systems run on every request; default
	// systems.Default().
	Systems []predict.System
	// Store reads a finalizing batch's items; required for Finalize.
	Store batch.Store
	// Publisher keeps the dates' publications; required for Finalize.
	Publisher predict.Publisher
	// Exporter writes the date's export after publishing (a
	// [DirExporter], or a store's); nil writes none.
	Exporter Exporter
	// Exports records whether each export was written; nil records
	// nothing (a failure is then only logged).
	Exports predict.ExportLog
	// Failpoint, when set, is called at named points of Finalize
	// ("finalize-acquired", "finalize-published", "finalize-exported"), so
	// the crash tests can kill the process exactly there.
	Failpoint func(name string)
	// NowFunc is the clock; default time.Now.
	NowFunc func() time.Time
	Log     *slog.Logger
}

// Job is the prediction job: what a worker does with one request and what
// finalizing a batch publishes.
type Job struct {
	cfg JobConfig
	log *slog.Logger
}

// NewJob returns the job for cfg.
func NewJob(cfg JobConfig) *Job {
	if cfg.Systems == nil {
		cfg.Systems = systems.Default()
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	if cfg.Failpoint == nil {
		cfg.Failpoint = func(string) {}
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Job{cfg: cfg, log: log}
}

// Handle is the worker's work, a [batch.Handler]: decode the request, run
// every system over every line, encode the predictions. The work is
// deterministic, so any failure is permanent: retrying the same request
// cannot help.
func (j *Job) Handle(ctx context.Context, d batch.Delivery) (batch.Outcome, []byte, error) {
	req, err := predict.DecodeRequest(d.Body)
	if err != nil {
		return "", nil, batch.Permanent(err)
	}
	res, err := predict.Run(&req, j.cfg.Systems)
	if err != nil {
		return "", nil, batch.Permanent(err)
	}
	if len(res.Predictions) == 0 {
		return batch.OutcomeSkipped, nil, nil
	}
	body, err := predict.EncodeResult(res)
	if err != nil {
		return "", nil, batch.Permanent(err)
	}
	return batch.OutcomeSucceeded, body, nil
}

// Finalize is the batch's closing work, a [batch.FinalizeFunc]: it
// consolidates the batch's predictions and offers them as the date's
// publication, which they replace only when the publication policy says so
// ([predict.Publisher.Publish]: a worse or older run, or a pinned
// publication, stays), then writes the export file from whatever is
// published. Both steps replace whole sets, so running them again after a
// crash gives the same state.
//
// Both are fenced by the finalize lease b was acquired with
// ([batch.Batch.LeaseToken]): the publisher checks it in the transaction
// that switches the publication, and the export checks it right before the
// file is written and records it in the file. A filesystem write cannot be
// fenced atomically: a finalizer that stalls between that check and the
// rename can still replace the file after its lease was taken over. The
// window is the check-to-rename time of a running process (one file write
// and a rename), unbounded only for a process paused inside it; such a late
// file holds the date's publication as the store held it when that
// finalizer read it, and its "fence" field names the lease it was written
// under. The store's publication stays authoritative, and the next
// finalize of the date rewrites the file. Once the lease is lost
// Finalize stops with an error wrapping [batch.ErrLeaseLost].
func (j *Job) Finalize(ctx context.Context, b batch.Batch) ([]byte, error) {
	j.cfg.Failpoint("finalize-acquired")
	lease := b.LeaseToken()
	b.Result = b.Policy.Decide(b.Total, b.Counts)
	pub, err := j.consolidate(ctx, b)
	if err != nil {
		return nil, err
	}
	pub.Fence = lease
	if err := j.cfg.Publisher.Publish(ctx, pub); err != nil {
		return nil, err
	}
	j.cfg.Failpoint("finalize-published")
	// Export what is published, which is another batch's set when the
	// policy kept it.
	// The publication is the source of truth: an export that cannot be
	// written is recorded as failing and retried (RetryExports), and never
	// holds back the finalize. A lost lease does.
	cur, st, err := j.export(ctx, pub.Date, lease)
	if err != nil {
		return nil, err
	}
	j.cfg.Failpoint("finalize-exported")
	return json.Marshal(FinalizedEvent{Key: b.Key, Result: b.Result, Counts: b.Counts, Total: b.Total,
		Players: len(pub.Players), Predictions: pub.Count(), Export: st.Path, ExportError: st.Error,
		Superseded: cur.BatchID != b.ID, Live: cur.BatchID})
}

// checkLease returns an error wrapping [batch.ErrLeaseLost] unless lease is
// still its batch's current finalize lease.
func (j *Job) checkLease(ctx context.Context, lease batch.LeaseToken) error {
	b, err := j.cfg.Store.GetBatch(ctx, lease.BatchID)
	if err != nil {
		return fmt.Errorf("check finalize lease: %w", err)
	}
	return batch.CheckLease(lease, b.State, b.Lease.Owner, b.FinalizeAttempts)
}

// export reads the date's publication and writes the export file from it
// (none without an export directory), so the file always holds what is
// published, and records the outcome. A finalize passes its lease: the
// export is then written only while the lease is still the batch's current
// one, and records it. A write that fails is recorded, not returned: the
// error is only for a publication that cannot be read or a lost lease.
func (j *Job) export(ctx context.Context, date predict.Date, lease batch.LeaseToken) (*predict.Publication, predict.ExportState, error) {
	cur, err := j.cfg.Publisher.Published(ctx, date)
	if err != nil {
		return nil, predict.ExportState{}, err
	}
	if j.cfg.Exporter == nil {
		return cur, predict.ExportState{}, nil
	}
	if !lease.IsZero() {
		if err := j.checkLease(ctx, lease); err != nil {
			return nil, predict.ExportState{}, fmt.Errorf("export %s: %w", date, err)
		}
	}
	st := predict.ExportState{Date: date, BatchID: cur.BatchID, At: j.cfg.NowFunc()}
	out := *cur // cur may be shared with other readers: the fence goes on a copy
	out.Fence = lease
	loc, err := j.cfg.Exporter.Export(ctx, &out)
	st.Path = loc
	if r, ok := j.cfg.Exporter.(ExportReader); ok && st.Path == "" {
		st.Path = r.ExportLocation(date)
	}
	if err != nil {
		st.Error = err.Error()
	}
	log := j.log.With("run_date", date.String(), "batch_id", cur.BatchID, "path", st.Path)
	if j.cfg.Exports != nil {
		rec, err := j.cfg.Exports.RecordExport(ctx, st)
		if err != nil {
			log.Warn("export state not recorded", "err", err)
		} else {
			st = rec
		}
	}
	switch {
	case st.Error == "":
	case j.cfg.Exports == nil:
		// Nothing records the failure, so nothing retries it: the date's
		// next finalize or publish writes the export again.
		log.Error("export failed; the publication is stored, the export is not retried", "err", st.Error)
	default:
		log.Warn("export failed; the publication is stored and the export is retried", "failures", st.Failures, "err", st.Error)
	}
	return cur, st, nil
}

// Export writes the current publication of date to its export file and
// records the outcome, as Finalize does. It returns the recorded state;
// an error only if the publication cannot be read.
func (j *Job) Export(ctx context.Context, date predict.Date) (predict.ExportState, error) {
	_, st, err := j.export(ctx, date, batch.LeaseToken{})
	return st, err
}

// ExportOf returns the state of date's export, after writing it again if
// its last attempt failed; nil when the job writes no exports or nothing
// records them, or when no export of the date was attempted.
func (j *Job) ExportOf(ctx context.Context, date predict.Date) *predict.ExportState {
	if j.cfg.Exporter == nil || j.cfg.Exports == nil {
		return nil
	}
	st, err := j.cfg.Exports.ExportState(ctx, date)
	if err != nil {
		return nil
	}
	if st.Failing() {
		if again, err := j.Export(ctx, date); err == nil {
			st = again
		}
	}
	return &st
}

// RetryExports writes again every export whose last attempt failed and
// whose backoff has passed (5 s after the first failure, doubling up to
// 10 min), and returns how many are still failing. Run it periodically
// (the coordinator does after each sweep).
func (j *Job) RetryExports(ctx context.Context) (int, error) {
	if j.cfg.Exports == nil || j.cfg.Exporter == nil {
		return 0, nil
	}
	failing, err := j.cfg.Exports.FailingExports(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	now := j.cfg.NowFunc()
	for _, f := range failing {
		if now.Before(f.At.Add(exportBackoff(f.Failures))) {
			n++
			continue
		}
		st, err := j.Export(ctx, f.Date)
		if err != nil {
			return n, fmt.Errorf("retry export of %s: %w", f.Date, err)
		}
		if st.Failing() {
			n++
		} else {
			j.log.Info("export written after failing", "run_date", f.Date.String(), "path", st.Path, "failures", f.Failures)
		}
	}
	return n, nil
}

// consolidate builds b's publication ([predict.Consolidate]) from its
// items' results, and reads their requests too only when a result does not
// say who it is for (one from a worker from before results did): they are
// three quarters of a batch's bytes.
func (j *Job) consolidate(ctx context.Context, b batch.Batch) (*predict.Publication, error) {
	items, err := allItems(ctx, j.cfg.Store, b.ID, true)
	if err != nil {
		return nil, err
	}
	pub, err := predict.Consolidate(b, items, j.cfg.NowFunc())
	if !errors.Is(err, predict.ErrNeedRequests) {
		return pub, err
	}
	if items, err = allItems(ctx, j.cfg.Store, b.ID, false); err != nil {
		return nil, err
	}
	return predict.Consolidate(b, items, j.cfg.NowFunc())
}

// allItems reads every item of a batch, a page at a time, without their
// requests if noRequests.
func allItems(ctx context.Context, store batch.Store, batchID string, noRequests bool) ([]batch.Item, error) {
	const page = 2000
	var items []batch.Item
	after := ""
	for {
		p, err := store.Items(ctx, batchID, batch.ItemsOptions{After: after, Limit: page, NoRequests: noRequests})
		if err != nil {
			return nil, fmt.Errorf("read items of %s: %w", batchID, err)
		}
		items = append(items, p...)
		if len(p) < page {
			return items, nil
		}
		after = p[len(p)-1].ID
	}
}

// FinalizedEvent is the payload of the "batch finalized" event. Like
// every event it is delivered at least once, under a stable event id
// ([batch.Event]): consumers deduplicate on the id.
type FinalizedEvent struct {
	Key         batch.Key    `json:"key"`
	Result      batch.Result `json:"result"`
	Counts      batch.Counts `json:"counts"`
	Total       int          `json:"total"`
	Players     int          `json:"players"`
	Predictions int          `json:"predictions"`
	Export      string       `json:"export,omitempty"`
	// ExportError says why the export could not be written at finalize;
	// it is retried.
	ExportError string `json:"export_error,omitempty"`
	// Superseded is true when the date's publication is not this batch's:
	// the publication policy kept a better or newer run's, or a pinned
	// one. The batch's predictions stay in its items as its own record.
	Superseded bool `json:"superseded,omitempty"`
	// Live names the batch whose predictions are the date's publication.
	Live string `json:"live_batch_id,omitempty"`
}

// ExportPath returns where the export of date goes in dir.
func ExportPath(dir string, date predict.Date) string {
	return filepath.Join(dir, date.String()+".json")
}

// WriteExport writes the publication as JSON to dir/<date>.json through a
// temporary file and a rename, so a reader never sees half a file. It
// returns the file's path.
func WriteExport(dir string, pub *predict.Publication) (string, error) {
	if pub.Players == nil {
		// A publication without players exports "players": [], not null.
		cp := *pub
		cp.Players = []predict.PublishedPlayer{}
		pub = &cp
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	path := ExportPath(dir, pub.Date)
	tmp, err := os.CreateTemp(dir, ".export-*.json")
	if err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	defer os.Remove(tmp.Name())
	enc := json.NewEncoder(tmp)
	enc.SetIndent("", " ")
	if err := enc.Encode(pub); err != nil {
		tmp.Close()
		return "", fmt.Errorf("export %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("export %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("export %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("export %s: %w", path, err)
	}
	return path, nil
}

// exportBackoff is how long a failing export waits after its nth failure
// before it is written again.
func exportBackoff(failures int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < failures && d < 10*time.Minute; i++ {
		d *= 2
	}
	return min(d, 10*time.Minute)
}
