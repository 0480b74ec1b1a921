package predict

import (
	"context"
	"time"
)

// ExportState is the state of a date's export file, the copy of its
// publication written for downstream readers. The publication is the
// source of truth: an export that cannot be written never holds back a
// batch's finalize, it is recorded as failing and written again later.
type ExportState struct {
	Date Date `json:"date"`
	// BatchID is the publication the last attempt wrote, or tried to.
	BatchID string `json:"batch_id"`
	Path    string `json:"path"`
	// Error is why the last attempt failed; empty when it wrote the file.
	Error string `json:"error,omitempty"`
	// Failures counts the attempts that failed since the last success.
	Failures int `json:"failures,omitempty"`
	// At is the time of the last attempt; FailingSince that of the first
	// failed one since the last success (zero when the export is ok).
	At           time.Time `json:"at"`
	FailingSince time.Time `json:"failing_since,omitzero"`
}

// Failing reports whether the last attempt to write the export failed.
func (s ExportState) Failing() bool { return s.Error != "" }

// ExportLog keeps the state of each date's export.
type ExportLog interface {
	// RecordExport stores the outcome of an attempt to write s.Date's
	// export: s with Error empty for a success, else the failure, whose
	// Failures and FailingSince it counts on from the stored state.
	RecordExport(ctx context.Context, s ExportState) (ExportState, error)
	// ExportState returns the date's export state, or an error wrapping
	// [batch.ErrNotFound] if no export of it was attempted.
	ExportState(ctx context.Context, date Date) (ExportState, error)
	// FailingExports returns the states of the exports whose last attempt
	// failed, oldest date first.
	FailingExports(ctx context.Context) ([]ExportState, error)
}
