package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"sync"
	"time"

	"tipoff/batch"
	"tipoff/pipeline"
	"tipoff/predict"
)

// ExportDir returns an [ExportFunc] that reads the export file of a date in
// dir, where [pipeline.Job.Finalize] writes it, and, when states is not
// nil, whether the last attempt to write it failed. A file is decoded once
// per version: what it holds is kept by path, size and modification time,
// so a page view costs one stat (and one state read) while the file is
// unchanged.
func ExportDir(dir string, states predict.ExportLog) ExportFunc {
	var mu sync.Mutex
	seen := map[string]exportVersion{}
	return func(ctx context.Context, date predict.Date) (Export, error) {
		path := pipeline.ExportPath(dir, date)
		withState, err := exportStateOf(ctx, states, date)
		if err != nil {
			return Export{Path: path}, err
		}
		st, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return withState(Export{Path: path}), nil
		}
		if err != nil {
			// The directory may be what the export is failing on.
			return withState(Export{Path: path, Problem: err.Error()}), nil
		}
		ver := exportVersion{size: st.Size(), mod: st.ModTime()}
		mu.Lock()
		prev, ok := seen[path]
		mu.Unlock()
		if ok && prev.size == ver.size && prev.mod.Equal(ver.mod) {
			return withState(prev.ex), nil
		}
		ver.ex = readExport(path, ver.mod)
		if ver.ex.Problem == "" { // a problem may be a half-visible file: look again next time
			mu.Lock()
			seen[path] = ver
			mu.Unlock()
		}
		return withState(ver.ex), nil
	}
}

// exportStateOf reads whether the last attempt to write date's export
// failed (nothing when states is nil or no attempt was recorded) and
// returns a function that adds it to an [Export].
func exportStateOf(ctx context.Context, states predict.ExportLog, date predict.Date) (func(Export) Export, error) {
	var failing Export
	if states != nil {
		s, err := states.ExportState(ctx, date)
		switch {
		case errors.Is(err, batch.ErrNotFound):
		case err != nil:
			return nil, err
		case s.Failing():
			failing.Failing, failing.Failures, failing.FailingSince = s.Error, s.Failures, s.FailingSince
		}
	}
	return func(ex Export) Export {
		ex.Failing, ex.Failures, ex.FailingSince = failing.Failing, failing.Failures, failing.FailingSince
		return ex
	}, nil
}

// exportVersion is one version of an export file and what it held.
type exportVersion struct {
	size int64
	mod  time.Time
	ex   Export
}

// readExport decodes the export file at path, last modified at mod.
func readExport(path string, mod time.Time) Export {
	ex := Export{Path: path, Exists: true, ModTime: mod.UTC()}
	f, err := os.Open(path)
	if err != nil {
		ex.Problem = err.Error()
		return ex
	}
	defer f.Close()
	var pub predict.Publication
	if err := json.NewDecoder(f).Decode(&pub); err != nil {
		ex.Problem = "not a publication: " + err.Error()
		return ex
	}
	ex.BatchID, ex.PublishedAt, ex.Players, ex.Predictions = pub.BatchID, pub.PublishedAt, len(pub.Players), pub.Count()
	return ex
}

// ExportFrom returns an [ExportFunc] that reads a date's export through r
// (a store's object; see [ExportDir] for a directory) and, when states is
// not nil, whether the last attempt to write it failed.
func ExportFrom(r pipeline.ExportReader, states predict.ExportLog) ExportFunc {
	return func(ctx context.Context, date predict.Date) (Export, error) {
		ex := Export{Path: r.ExportLocation(date)}
		withState, err := exportStateOf(ctx, states, date)
		if err != nil {
			return ex, err
		}
		rc, mod, err := r.OpenExport(ctx, date)
		if errors.Is(err, fs.ErrNotExist) {
			return withState(ex), nil
		}
		if err != nil {
			if withState(ex).Failing != "" {
				// The bucket may be what the export is failing on.
				ex.Problem = err.Error()
				return withState(ex), nil
			}
			return ex, err
		}
		defer rc.Close()
		ex.Exists, ex.ModTime = true, mod
		var pub predict.Publication
		if err := json.NewDecoder(rc).Decode(&pub); err != nil {
			ex.Problem = "not a publication: " + err.Error()
			return withState(ex), nil
		}
		ex.BatchID, ex.PublishedAt, ex.Players, ex.Predictions = pub.BatchID, pub.PublishedAt, len(pub.Players), pub.Count()
		return withState(ex), nil
	}
}
