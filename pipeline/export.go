package pipeline

import (
	"context"
	"io"
	"os"
	"time"

	"tipoff/predict"
)

// Exporter writes a date's export: the publication as JSON where
// downstream readers look for it. Export replaces the date's export whole,
// so a reader sees the old one or the new, never a mix, and returns where
// it is (a path or a URL).
type Exporter interface {
	Export(ctx context.Context, pub *predict.Publication) (location string, err error)
}

// ExportReader reads the exports an [Exporter] writes, for the status
// pages and health.
type ExportReader interface {
	// ExportLocation names where the export of date is, or would be.
	ExportLocation(date predict.Date) string
	// OpenExport opens the export of date and says when it was written.
	// It returns an error wrapping [io/fs.ErrNotExist] if there is none.
	OpenExport(ctx context.Context, date predict.Date) (io.ReadCloser, time.Time, error)
}

// DirExporter keeps each date's export in a directory, as <date>.json,
// written through a temporary file and a rename ([WriteExport]).
type DirExporter struct {
	Dir string
}

// ExportToDir returns a [DirExporter] writing to dir, or nil (no export)
// if dir is empty.
func ExportToDir(dir string) Exporter {
	if dir == "" {
		return nil
	}
	return DirExporter{Dir: dir}
}

var (
	_ Exporter     = DirExporter{}
	_ ExportReader = DirExporter{}
)

// Export writes pub to the directory.
func (d DirExporter) Export(_ context.Context, pub *predict.Publication) (string, error) {
	return WriteExport(d.Dir, pub)
}

// ExportLocation returns the export's path.
func (d DirExporter) ExportLocation(date predict.Date) string { return ExportPath(d.Dir, date) }

// OpenExport opens the export's file.
func (d DirExporter) OpenExport(_ context.Context, date predict.Date) (io.ReadCloser, time.Time, error) {
	f, err := os.Open(ExportPath(d.Dir, date))
	if err != nil {
		return nil, time.Time{}, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, time.Time{}, err
	}
	return f, st.ModTime().UTC(), nil
}
