package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/pipeline"
	"tipoff/predict"
)

// The run's report says what happened to the batch, its publication and
// its export, and its exit status tells a batch that failed (1) from one
// whose picks are published but whose export is failing (2).
func TestRunSummary_Report(t *testing.T) {
	t.Parallel()
	done := batch.Batch{ID: "b1", Key: batch.Key{Date: "2026-01-15", Run: "daily"}, State: batch.Finalized, Result: batch.ResultSucceeded,
		Total: 2, Counts: batch.Counts{Succeeded: 2}, FinalizedAt: time.Now()}
	with := func(edit func(*batch.Batch)) batch.Batch {
		b := done
		edit(&b)
		return b
	}
	ours := func(context.Context, predict.Date) (*predict.Publication, error) {
		return &predict.Publication{BatchID: "b1", Players: []predict.PublishedPlayer{{PlayerID: "p1"}, {PlayerID: "p2"}}}, nil
	}
	theirs := func(context.Context, predict.Date) (*predict.Publication, error) {
		return &predict.Publication{BatchID: "b0", Run: "early", Result: batch.ResultSucceeded}, nil
	}
	none := func(context.Context, predict.Date) (*predict.Publication, error) { return nil, batch.ErrNotFound }
	broken := func(context.Context, predict.Date) (*predict.Publication, error) {
		return nil, errors.New("disk I/O error")
	}
	okExport := &predict.ExportState{Path: "exports/2026-01-15.json"}
	failing := &predict.ExportState{Path: "exports/2026-01-15.json", Error: "read-only file system", Failures: 3, FailingSince: time.Now()}
	tests := []struct {
		name      string
		b         batch.Batch
		published func(context.Context, predict.Date) (*predict.Publication, error)
		ex        *predict.ExportState
		wantCode  int
		wantOut   []string
		wantErr   string
	}{
		{"succeeded and published", done, ours, okExport, 0,
			[]string{"batch b1 (2026-01-15/daily): finalized, succeeded", "players 2: succeeded 2", "published 0 predictions for 2 players (batch b1)", "export: exports/2026-01-15.json"}, ""},
		{"policy kept the live picks", with(func(b *batch.Batch) { b.Result = batch.ResultPartial }), theirs, nil, 0,
			[]string{"not published (the publication policy kept the live picks): batch b0 (run early, succeeded)"}, ""},
		{"failed", with(func(b *batch.Batch) { b.Result = batch.ResultFailed }), none, nil, 1,
			[]string{"nothing published for the date"}, "batch b1 finished failed"},
		{"cancelled", with(func(b *batch.Batch) { b.Result, b.CancelReason = batch.ResultCancelled, "bad lines" }), none, nil, 1,
			nil, "batch b1 ended cancelled: bad lines"},
		{"export failing", done, ours, failing, 2,
			[]string{"export to exports/2026-01-15.json FAILED (3 time(s) since", "read-only file system"}, "but its export exports/2026-01-15.json failed: read-only file system"},
		{"publication unreadable", done, broken, nil, 1, nil, "disk I/O error"},
		{"no games", batch.Batch{ID: "b2", Key: done.Key, State: batch.Finalized, Result: batch.ResultSucceeded,
			Meta: map[string]string{batch.MetaNoItems: "no games scheduled on 2026-01-15"}}, broken, nil, 0,
			[]string{"no games scheduled on 2026-01-15: nothing to predict (batch b2 records it)"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			s := &pipeline.RunSummary{Batch: tt.b, Took: time.Second}
			code, err := s.Report(t.Context(), &out, tt.published, tt.ex)
			if code != tt.wantCode || (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Report() = %d, %v; want %d, an error containing %q", code, err, tt.wantCode, tt.wantErr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// A resumed batch that had finished before the run started says so, and
// how to start a new run, instead of a rate.
func TestRunSummary_ReportResumedFinished(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 15, 23, 0, 0, 0, time.UTC)
	s := &pipeline.RunSummary{Batch: batch.Batch{ID: "b1", Key: batch.Key{Date: "2026-01-15", Run: "daily"}, State: batch.Finalized,
		Result: batch.ResultSucceeded, Total: 1, FinalizedAt: at}, Resumed: true, Took: time.Millisecond}
	var out bytes.Buffer
	none := func(context.Context, predict.Date) (*predict.Publication, error) {
		return nil, fmt.Errorf("%w", batch.ErrNotFound)
	}
	if code, err := s.Report(t.Context(), &out, none, nil); code != 0 || err != nil {
		t.Fatalf("Report() = %d, %v; want 0, nil", code, err)
	}
	if want := "this batch had already finished at " + at.Format(time.RFC3339); !strings.Contains(out.String(), want) || strings.Contains(out.String(), "players/s") {
		t.Fatalf("report %q; want %q and no rate", out.String(), want)
	}
}
