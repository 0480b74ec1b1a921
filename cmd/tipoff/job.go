package main

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
)

// job is the prediction job on the batch engine: what goes in a batch for a
// date, what a worker does with one request, and what finalizing publishes.
// It is the same in the embedded and cloud shapes; only the stores differ.
type job struct {
	systems   []predict.System
	sel       predict.SelectOptions
	req       predict.RequestOptions
	store     batch.Store
	publisher predict.Publisher
	exportDir string // "" writes no export file
	log       *slog.Logger
	now       func() time.Time
}

// spec builds the batch for key from ds: one item per selected player,
// whose request carries everything a worker needs. Players whose request
// cannot be built (no played game before the date) are left out and logged.
func (j *job) spec(ds *predict.Dataset, key batch.Key, pol batch.Policy, meta map[string]string) (batch.Spec, error) {
	date, err := predict.ParseDate(key.Date)
	if err != nil {
		return batch.Spec{}, fmt.Errorf("%w: %v", batch.ErrInvalid, err)
	}
	m := map[string]string{"data_version": ds.Version()}
	for k, v := range meta {
		m[k] = v
	}
	spec := batch.Spec{Key: key, Policy: pol, Meta: m}
	for _, c := range predict.SelectPlayers(ds, date, j.sel) {
		req, err := predict.BuildRequest(ds, date, c.PlayerID, j.req)
		if errors.Is(err, batch.ErrNotFound) {
			j.log.Info("player left out", "run_date", key.Date, "item_id", c.PlayerID, "err", err)
			continue
		}
		if err != nil {
			return batch.Spec{}, fmt.Errorf("build request for %s (%s) on %s: %w", c.Name, c.PlayerID, key.Date, err)
		}
		body, err := predict.EncodeRequest(req)
		if err != nil {
			return batch.Spec{}, fmt.Errorf("encode request for %s on %s: %w", c.PlayerID, key.Date, err)
		}
		spec.Items = append(spec.Items, batch.NewItem{ID: c.PlayerID, Request: body})
	}
	return spec, nil
}

// handle is the worker's work: decode the request, run every system over
// every line, encode the predictions. The work is deterministic, so any
// failure is permanent: retrying the same request cannot help.
func (j *job) handle(ctx context.Context, d batch.Delivery) (batch.Outcome, []byte, error) {
	req, err := predict.DecodeRequest(d.Body)
	if err != nil {
		return "", nil, batch.Permanent(err)
	}
	res, err := predict.Run(&req, j.systems)
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

// finalize consolidates the batch's predictions into the date's publication
// and writes the export file. Both steps replace whole sets, so running
// them again after a crash gives the same state.
func (j *job) finalize(ctx context.Context, b batch.Batch) ([]byte, error) {
	failpoint("finalize-acquired")
	b.Result = b.Policy.Decide(b.Total, b.Counts)
	var items []batch.Item
	after := ""
	for {
		page, err := j.store.Items(ctx, b.ID, batch.ItemsOptions{After: after, Limit: 2000})
		if err != nil {
			return nil, fmt.Errorf("read items: %w", err)
		}
		items = append(items, page...)
		if len(page) < 2000 {
			break
		}
		after = page[len(page)-1].ID
	}
	pub, err := predict.Consolidate(b, items, j.now())
	if err != nil {
		return nil, err
	}
	if err := j.publisher.Publish(ctx, pub); err != nil {
		return nil, err
	}
	failpoint("finalize-published")
	// Export what is published, which is a newer run's set if one exists.
	cur, err := j.publisher.Published(ctx, pub.Date)
	if err != nil {
		return nil, err
	}
	path := ""
	if j.exportDir != "" {
		path, err = writeExport(j.exportDir, cur)
		if err != nil {
			return nil, err
		}
	}
	failpoint("finalize-exported")
	return json.Marshal(finalizedEvent{Key: b.Key, Result: b.Result, Counts: b.Counts, Total: b.Total,
		Players: len(pub.Players), Predictions: pub.Count(), Export: path, Superseded: cur.BatchID != b.ID})
}

// finalizedEvent is the payload of the "batch finalized" event.
type finalizedEvent struct {
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

// exportPath returns where the export of date goes in dir.
func exportPath(dir string, date predict.Date) string {
	return filepath.Join(dir, date.String()+".json")
}

// writeExport writes the publication as JSON to dir/<date>.json through a
// temporary file and a rename, so a reader never sees half a file.
func writeExport(dir string, pub *predict.Publication) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	path := exportPath(dir, pub.Date)
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
