package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/pipeline"
	"tipoff/predict"
)

// Reliability asks for the publications of the Days dates before today,
// skips dates without one and grades those it found; a store error is
// returned, not hidden.
func TestReliability_Dates(t *testing.T) {
	t.Parallel()
	ds, err := predict.NewDataset(nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var asked []predict.Date
	r := pipeline.Reliability{
		Load: func(context.Context) (*predict.Dataset, error) { return ds, nil },
		Published: func(_ context.Context, d predict.Date) (*predict.Publication, error) {
			asked = append(asked, d)
			if d == predict.MustParseDate("2026-01-18") {
				return &predict.Publication{Date: d}, nil
			}
			return nil, fmt.Errorf("date %s: %w", d, batch.ErrNotFound)
		},
		Days: 3,
		Now:  func() time.Time { return time.Date(2026, 1, 20, 9, 0, 0, 0, time.UTC) },
	}
	rel, err := r.Reliability(t.Context(), "ensemble")
	if err != nil || rel.System != "ensemble" {
		t.Fatalf("reliability %+v, %v", rel, err)
	}
	if len(asked) != 3 || asked[0] != predict.MustParseDate("2026-01-17") || asked[2] != predict.MustParseDate("2026-01-19") {
		t.Errorf("asked for %v, want 2026-01-17..2026-01-19", asked)
	}
	boom := errors.New("store down")
	r.Published = func(context.Context, predict.Date) (*predict.Publication, error) { return nil, boom }
	if _, err := r.Reliability(t.Context(), "ensemble"); !errors.Is(err, boom) {
		t.Errorf("store error: got %v", err)
	}
}
