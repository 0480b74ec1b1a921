package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"sync"
	"time"

	"tipoff/pipeline"
	"tipoff/predict"
)

// ExportDir returns an [ExportFunc] that reads the export file of a date in
// dir, where [pipeline.Job.Finalize] writes it. A file is decoded once per
// version: what it holds is kept by path, size and modification time, so a
// page view costs one stat while the file is unchanged.
func ExportDir(dir string) ExportFunc {
	var mu sync.Mutex
	seen := map[string]exportVersion{}
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
		ver := exportVersion{size: st.Size(), mod: st.ModTime()}
		mu.Lock()
		prev, ok := seen[path]
		mu.Unlock()
		if ok && prev.size == ver.size && prev.mod.Equal(ver.mod) {
			return prev.ex, nil
		}
		ver.ex = readExport(path, ver.mod)
		if ver.ex.Problem == "" { // a problem may be a half-visible file: look again next time
			mu.Lock()
			seen[path] = ver
			mu.Unlock()
		}
		return ver.ex, nil
	}
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
