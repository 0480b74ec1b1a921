package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"

	"tipoff/batch"
	"tipoff/pipeline"
	"tipoff/predict"
)

// ExportDir returns an [ExportFunc] that reads the export file of a date in
// dir, where [pipeline.Job.Finalize] writes it, and, when states is not
// nil, whether the last attempt to write it failed.
func ExportDir(dir string, states predict.ExportLog) ExportFunc {
	return func(ctx context.Context, date predict.Date) (Export, error) {
		path := pipeline.ExportPath(dir, date)
		ex := Export{Path: path}
		if states != nil {
			s, err := states.ExportState(ctx, date)
			switch {
			case errors.Is(err, batch.ErrNotFound):
			case err != nil:
				return ex, err
			case s.Failing():
				ex.Failing, ex.Failures, ex.FailingSince = s.Error, s.Failures, s.FailingSince
			}
		}
		st, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return ex, nil
		}
		if err != nil {
			// The directory may be what the export is failing on.
			ex.Problem = err.Error()
			return ex, nil
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
