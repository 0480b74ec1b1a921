package gcpstorage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	storage "google.golang.org/api/storage/v1"

	"tipoff/batch"
	"tipoff/pipeline"
	"tipoff/predict"
)

// Metadata keys of an export object: which publication it holds, so a
// writer can tell whether it is newer without downloading it.
const (
	metaBatchID     = "batch_id"
	metaPublishedAt = "published_at"
)

// maxExportTries bounds how often Export reads the object again after
// another writer changed it between the read and the write.
const maxExportTries = 5

// Exporter keeps each date's export as the object prefix/<date>.json. A
// single object write is atomic in Cloud Storage, so a reader sees the old
// export or the new one. A stale writer cannot overwrite a newer export:
// Export reads the object's generation and the publication it holds (its
// metadata), writes only if its own publication was published later, and
// writes on condition that the generation is still the one it read
// (DoesNotExist when there was none). If another writer got in between,
// the write is refused (412) and Export decides again from what is there
// now.
type Exporter struct {
	client *Client
	loc    Location
	log    *slog.Logger
	// beforeWrite, when set, runs between the read of the object and the
	// conditional write (tests interleave another writer there).
	beforeWrite func()
}

var (
	_ pipeline.Exporter     = (*Exporter)(nil)
	_ pipeline.ExportReader = (*Exporter)(nil)
)

// NewExporter returns an Exporter writing under url (gs://bucket/prefix)
// with client. It returns an error wrapping [batch.ErrInvalid] if url is not
// a Cloud Storage location.
func NewExporter(client *Client, url string, log *slog.Logger) (*Exporter, error) {
	loc, err := ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("export location: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Exporter{client: client, loc: loc, log: log}, nil
}

func exportName(date predict.Date) string { return date.String() + ".json" }

// ExportLocation returns gs://bucket/prefix/<date>.json.
func (e *Exporter) ExportLocation(date predict.Date) string { return e.loc.URL(exportName(date)) }

// Export writes pub as prefix/<date>.json unless the object already holds
// a publication of that date published at the same time or later, which
// it leaves as it is. Either way it returns the object's URL. It returns an
// error wrapping [batch.ErrConflict] if other writers kept changing the
// object for [maxExportTries] rounds.
func (e *Exporter) Export(ctx context.Context, pub *predict.Publication) (string, error) {
	url := e.ExportLocation(pub.Date)
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetIndent("", " ")
	if err := enc.Encode(pub); err != nil {
		return "", fmt.Errorf("export %s: %w", url, err)
	}
	name := e.loc.Object(exportName(pub.Date))
	for try := 1; ; try++ {
		cond := int64(doesNotExist)
		attrs, err := e.client.attrs(ctx, e.loc.Bucket, name, "generation", "metadata")
		switch {
		case notFound(err):
		case err != nil:
			return "", fmt.Errorf("export %s: %w", url, err)
		default:
			if held, ok := heldPublication(attrs.Metadata); ok && !pub.PublishedAt.After(held.at) {
				if held.batchID != pub.BatchID || !held.at.Equal(pub.PublishedAt) {
					e.log.Info("export kept: it holds a publication published as late or later", "run_date", pub.Date.String(),
						"batch_id", pub.BatchID, "export_batch_id", held.batchID, "export", url)
				}
				return url, nil
			}
			cond = attrs.Generation
		}
		if e.beforeWrite != nil {
			e.beforeWrite()
		}
		obj := &storage.Object{Name: name, ContentType: "application/json", Metadata: map[string]string{
			metaBatchID: pub.BatchID, metaPublishedAt: pub.PublishedAt.UTC().Format(time.RFC3339Nano)}}
		err = e.client.insert(ctx, e.loc.Bucket, obj, bytes.NewReader(body.Bytes()), cond)
		switch {
		case err == nil:
			return url, nil
		case !preconditionFailed(err):
			return "", fmt.Errorf("export %s: %w", url, err)
		case try == maxExportTries:
			return "", fmt.Errorf("export %s: %w: other writers changed it %d times while this one wrote", url, batch.ErrConflict, try)
		}
	}
}

type heldPub struct {
	batchID string
	at      time.Time
}

// heldPublication reads which publication an export object holds from its
// metadata; ok is false for an object without it (written by something
// else), which any publication replaces.
func heldPublication(meta map[string]string) (heldPub, bool) {
	at, err := time.Parse(time.RFC3339Nano, meta[metaPublishedAt])
	if err != nil {
		return heldPub{}, false
	}
	return heldPub{batchID: meta[metaBatchID], at: at}, true
}

// OpenExport opens prefix/<date>.json. It returns an error wrapping
// [fs.ErrNotExist] if there is none.
func (e *Exporter) OpenExport(ctx context.Context, date predict.Date) (io.ReadCloser, time.Time, error) {
	r, err := e.client.open(ctx, e.loc.Bucket, e.loc.Object(exportName(date)), 0)
	if notFound(err) {
		return nil, time.Time{}, fmt.Errorf("%s: %w", e.ExportLocation(date), fs.ErrNotExist)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read %s: %w", e.ExportLocation(date), err)
	}
	return r, r.modTime.UTC(), nil
}
