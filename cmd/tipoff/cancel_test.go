package main

import (
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"tipoff/batch"
	"tipoff/pipeline"
)

// newCancelEnv opens an embedded shape on a new file with one running
// batch per label.
func newCancelEnv(t *testing.T, labels ...string) (*embedded, []batch.Batch) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DB, cfg.ExportDir = filepath.Join(t.TempDir(), "tipoff.db"), t.TempDir()
	app, err := openEmbedded(t.Context(), cfg, pipeline.Settings{}, nil, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	var bs []batch.Batch
	for _, l := range labels {
		b, _, err := app.engine.Create(t.Context(), batch.Spec{Key: batch.Key{Date: "2025-12-25", Run: l},
			Items: []batch.NewItem{{ID: "p1", Request: []byte(`{}`)}, {ID: "p2", Request: []byte(`{}`)}}})
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	return app, bs
}

// tipoff cancel ends a running batch in the file as cancelled, with its
// event; a second cancel and an unknown id are errors that say so.
func TestCancel_DB(t *testing.T) {
	t.Parallel()
	app, bs := newCancelEnv(t, "daily")
	out, err := runMain(t, "cancel", "--db", app.cfg.DB, "--reason", "bad data", bs[0].ID)
	if err != nil || !strings.Contains(out, "finalized, cancelled") {
		t.Fatalf("cancel: %q, %v", out, err)
	}
	got, err := app.store.GetBatch(t.Context(), bs[0].ID)
	if err != nil || got.State != batch.Finalized || got.Result != batch.ResultCancelled {
		t.Fatalf("after cancel: %s %s, %v; want finalized cancelled", got.State, got.Result, err)
	}
	evs, err := app.store.PendingEvents(t.Context(), 10)
	if err != nil || len(evs) != 0 {
		t.Errorf("cancelled event not relayed: %d pending, %v", len(evs), err)
	}
	if _, err := runMain(t, "cancel", "--db", app.cfg.DB, bs[0].ID); !errors.Is(err, batch.ErrFinalized) {
		t.Errorf("second cancel: %v; want %v", err, batch.ErrFinalized)
	}
	if _, err := runMain(t, "cancel", "--db", app.cfg.DB, "2025-12-25-nosuch"); !errors.Is(err, batch.ErrNotFound) {
		t.Errorf("cancel of an unknown batch: %v; want %v", err, batch.ErrNotFound)
	}
	if _, err := runMain(t, "cancel", "--db", filepath.Join(t.TempDir(), "typo.db"), bs[0].ID); err == nil {
		t.Error("cancel on a missing file succeeded")
	}
}

// Through a coordinator, tipoff cancel calls POST /batches/{id}/cancel and
// maps its answers back to the same errors.
func TestCancel_Coordinator(t *testing.T) {
	t.Parallel()
	app, bs := newCancelEnv(t, "daily")
	srv := httptest.NewServer(app.handler(nil))
	t.Cleanup(srv.Close)
	out, err := runMain(t, "cancel", "--coordinator", srv.URL, bs[0].ID)
	if err != nil || !strings.Contains(out, "finalized, cancelled") {
		t.Fatalf("cancel: %q, %v", out, err)
	}
	if got, err := app.store.GetBatch(t.Context(), bs[0].ID); err != nil || got.Result != batch.ResultCancelled {
		t.Fatalf("after cancel: %s, %v", got.Result, err)
	}
	if _, err := runMain(t, "cancel", "--coordinator", srv.URL, bs[0].ID); !errors.Is(err, batch.ErrConflict) {
		t.Errorf("second cancel: %v; want %v", err, batch.ErrConflict)
	}
	if _, err := runMain(t, "cancel", "--coordinator", srv.URL, "nosuch"); !errors.Is(err, batch.ErrNotFound) {
		t.Errorf("cancel of an unknown batch: %v; want %v", err, batch.ErrNotFound)
	}
}
