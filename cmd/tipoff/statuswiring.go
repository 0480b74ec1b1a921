package main

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"time"

	"tipoff/httpapi"
	"tipoff/predict"
	"tipoff/sqlite"
)

// statusConfig is what the status API, pages and health read in the
// embedded shape: the file's store, publications, queue and export
// directory.
func (a *embedded) statusConfig(now func() time.Time) httpapi.StatusConfig {
	return httpapi.StatusConfig{Store: a.store, Publications: a.db, DeadLetters: a.queue, QueueDepths: queueDepths(a.queue),
		Export: exportInfo(a.cfg.ExportDir), NowFunc: now, Log: a.log}
}

// queueDepths reads the SQLite queue's depth of every topic.
func queueDepths(q *sqlite.Queue) httpapi.QueueDepthFunc {
	return func(ctx context.Context) ([]httpapi.TopicDepth, error) {
		ds, err := q.Depths(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]httpapi.TopicDepth, len(ds))
		for i, d := range ds {
			out[i] = httpapi.TopicDepth{Topic: d.Topic, Ready: d.Ready, Leased: d.Leased, Delayed: d.Delayed}
		}
		return out, nil
	}
}

// exportInfo returns an [httpapi.ExportFunc] that reads the export file of a
// date in dir.
func exportInfo(dir string) httpapi.ExportFunc {
	return func(ctx context.Context, date predict.Date) (httpapi.Export, error) {
		path := exportPath(dir, date)
		ex := httpapi.Export{Path: path}
		st, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return ex, nil
		}
		if err != nil {
			return ex, err
		}
		ex.Exists, ex.ModTime = true, st.ModTime().UTC()
		f, err := os.Open(path)
		if err != nil {
			ex.Problem = err.Error()
			return ex, nil
		}
		defer f.Close()
		var pub predict.Publication
		if err := json.NewDecoder(f).Decode(&pub); err != nil {
			ex.Problem = "not a publication: " + err.Error()
			return ex, nil
		}
		ex.BatchID, ex.PublishedAt, ex.Players, ex.Predictions = pub.BatchID, pub.PublishedAt, len(pub.Players), pub.Count()
		return ex, nil
	}
}
