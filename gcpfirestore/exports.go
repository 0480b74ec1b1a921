package gcpfirestore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tipoff/batch"
	"tipoff/predict"
)

// The Store is also the cloud shape's [predict.ExportLog], the state of
// each date's export (its last attempt, and since when it has been
// failing), in
//
//	<prefix>_exports/<date>
//
// Recording a failure reads the document and writes it back in one
// transaction, so failures recorded at once (two coordinators retrying)
// are each counted. Failing exports are found by an equality query on a
// field of their own, which needs no composite index.
var _ predict.ExportLog = (*Store)(nil)

// exportDoc is <prefix>_exports/<date>.
type exportDoc struct {
	BatchID string `firestore:"batch_id"`
	Path    string `firestore:"path"`
	Error   string `firestore:"error"`
	// Failing is Error != "", for FailingExports' query.
	Failing      bool  `firestore:"failing"`
	Failures     int64 `firestore:"failures"`
	At           int64 `firestore:"at"`
	FailingSince int64 `firestore:"failing_since"`
}

func (d exportDoc) state(date predict.Date) predict.ExportState {
	return predict.ExportState{Date: date, BatchID: d.BatchID, Path: d.Path, Error: d.Error, Failures: int(d.Failures),
		At: fromNanos(d.At), FailingSince: fromNanos(d.FailingSince)}
}

func (s *Store) exports() *firestore.CollectionRef {
	return s.client.Collection(s.cfg.CollectionPrefix + "_exports")
}

// RecordExport stores the outcome of an attempt to write a date's export.
// See [predict.ExportLog].
func (s *Store) RecordExport(ctx context.Context, st predict.ExportState) (predict.ExportState, error) {
	date := st.Date.String()
	ref := s.exports().Doc(date)
	out := st
	err := s.runTx(ctx, "record export of "+date, func(ctx context.Context, tx *firestore.Transaction) error {
		out.Failures, out.FailingSince = 0, time.Time{}
		if out.Failing() {
			sn, err := tx.Get(ref)
			if err != nil && status.Code(err) != codes.NotFound {
				return err
			}
			var prev exportDoc
			if sn != nil && sn.Exists() {
				if err := sn.DataTo(&prev); err != nil {
					return fmt.Errorf("decode %s: %w", ref.Path, err)
				}
			}
			if prev.Failures > 0 {
				out.Failures, out.FailingSince = int(prev.Failures)+1, fromNanos(prev.FailingSince)
			} else {
				out.Failures, out.FailingSince = 1, out.At
			}
		}
		return tx.Set(ref, exportDoc{BatchID: out.BatchID, Path: out.Path, Error: out.Error, Failing: out.Failing(),
			Failures: int64(out.Failures), At: nanos(out.At), FailingSince: nanos(out.FailingSince)})
	})
	if err != nil {
		return st, fmt.Errorf("record export of %s: %w", date, err)
	}
	return out, nil
}

// ExportState returns the date's export state, [batch.ErrNotFound] if no
// export of it was attempted. See [predict.ExportLog].
func (s *Store) ExportState(ctx context.Context, date predict.Date) (predict.ExportState, error) {
	snaps, err := s.getAll(ctx, "export of "+date.String(), []*firestore.DocumentRef{s.exports().Doc(date.String())})
	if err != nil {
		return predict.ExportState{}, fmt.Errorf("export of %s: %w", date, err)
	}
	if !snaps[0].Exists() {
		return predict.ExportState{}, fmt.Errorf("export of %s: %w", date, batch.ErrNotFound)
	}
	var d exportDoc
	if err := snaps[0].DataTo(&d); err != nil {
		return predict.ExportState{}, fmt.Errorf("decode %s: %w", snaps[0].Ref.Path, err)
	}
	return d.state(date), nil
}

// FailingExports returns the exports whose last attempt failed, oldest
// date first. See [predict.ExportLog].
func (s *Store) FailingExports(ctx context.Context) ([]predict.ExportState, error) {
	docs, err := s.queryAll(ctx, "failing exports", s.exports().Where("failing", "==", true))
	if err != nil {
		return nil, fmt.Errorf("failing exports: %w", err)
	}
	out := make([]predict.ExportState, 0, len(docs))
	for _, sn := range docs {
		date, err := predict.ParseDate(sn.Ref.ID)
		if err != nil {
			return nil, fmt.Errorf("failing exports: %s: %w", sn.Ref.Path, err)
		}
		var d exportDoc
		if err := sn.DataTo(&d); err != nil {
			return nil, fmt.Errorf("decode %s: %w", sn.Ref.Path, err)
		}
		out = append(out, d.state(date))
	}
	slices.SortFunc(out, func(a, b predict.ExportState) int { return int(a.Date - b.Date) })
	return out, nil
}
