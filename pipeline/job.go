package pipeline

import (
	"context"
	"encoding/json"
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
// consolidates the batch's predictions into the date's publication and
// writes the export file. Both steps replace whole sets, so running them
// again after a crash gives the same state.
func (j *Job) Finalize(ctx context.Context, b batch.Batch) ([]byte, error) {
	j.cfg.Failpoint("finalize-acquired")
	b.Result = b.Policy.Decide(b.Total, b.Counts)
	items, err := allItems(ctx, j.cfg.Store, b.ID)
	if err != nil {
		return nil, err
	}
	pub, err := predict.Consolidate(b, items, j.cfg.NowFunc())
	if err != nil {
		return nil, err
	}
	if err := j.cfg.Publisher.Publish(ctx, pub); err != nil {
		return nil, err
	}
	j.cfg.Failpoint("finalize-published")
	// Export what is published, which is a newer run's set if one exists.
	cur, err := j.cfg.Publisher.Published(ctx, pub.Date)
	if err != nil {
		return nil, err
	}
	path := ""
	if j.cfg.Exporter != nil {
		path, err = j.cfg.Exporter.Export(ctx, cur)
		if err != nil {
			return nil, err
		}
	}
	j.cfg.Failpoint("finalize-exported")
	return json.Marshal(FinalizedEvent{Key: b.Key, Result: b.Result, Counts: b.Counts, Total: b.Total,
		Players: len(pub.Players), Predictions: pub.Count(), Export: path, Superseded: cur.BatchID != b.ID})
}

// allItems reads every item of a batch, a page at a time.
func allItems(ctx context.Context, store batch.Store, batchID string) ([]batch.Item, error) {
	const page = 2000
	var items []batch.Item
	after := ""
	for {
		p, err := store.Items(ctx, batchID, batch.ItemsOptions{After: after, Limit: page})
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

// FinalizedEvent is the payload of the "batch finalized" event.
type FinalizedEvent struct {
	Key         batch.Key    `json:"key"`
	Result      batch.Result `json:"result"`
	Counts      batch.Counts `json:"counts"`
	Total       int          `json:"total"`
	Players     int          `json:"players"`
	Predictions int          `json:"predictions"`
	Export      string       `json:"export,omitempty"`
	// Superseded is true when a newer run's publication for the date was
	// kept instead of this batch's.
	Superseded bool `json:"superseded,omitempty"`
}

// ExportPath returns where the export of date goes in dir.
func ExportPath(dir string, date predict.Date) string {
	return filepath.Join(dir, date.String()+".json")
}

// WriteExport writes the publication as JSON to dir/<date>.json through a
// temporary file and a rename, so a reader never sees half a file. It
// returns the file's path.
func WriteExport(dir string, pub *predict.Publication) (string, error) {
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
