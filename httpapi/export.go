package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"

	"tipoff/pipeline"
	"tipoff/predict"
)

// ExportDir returns an [ExportFunc] that reads the export file of a date in
// dir, where [pipeline.Job.Finalize] writes it.
func ExportDir(dir string) ExportFunc {
	return func(ctx context.Context, date predict.Date) (Export, error) {
		path := pipeline.ExportPath(dir, date)
		ex := Export{Path: path}
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
