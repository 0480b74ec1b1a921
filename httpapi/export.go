package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"

	"tipoff/pipeline"
	"tipoff/predict"
)

// ExportDir returns an [ExportFunc] that reads the export file of a date in
// dir, where [pipeline.Job.Finalize] writes it with a [pipeline.DirExporter].
func ExportDir(dir string) ExportFunc {
	return ExportFrom(pipeline.DirExporter{Dir: dir})
}

// ExportFrom returns an [ExportFunc] that reads a date's export through r:
// a directory's file, or a store's object.
func ExportFrom(r pipeline.ExportReader) ExportFunc {
	return func(ctx context.Context, date predict.Date) (Export, error) {
		ex := Export{Path: r.ExportLocation(date)}
		rc, mod, err := r.OpenExport(ctx, date)
		if errors.Is(err, fs.ErrNotExist) {
			return ex, nil
		}
		if err != nil {
			return ex, err
		}
		defer rc.Close()
		ex.Exists, ex.ModTime = true, mod
		var pub predict.Publication
		if err := json.NewDecoder(rc).Decode(&pub); err != nil {
			ex.Problem = "not a publication: " + err.Error()
			return ex, nil
		}
		ex.BatchID, ex.PublishedAt, ex.Players, ex.Predictions = pub.BatchID, pub.PublishedAt, len(pub.Players), pub.Count()
		return ex, nil
	}
}
