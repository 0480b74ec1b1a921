package main

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tipoff/batch"
	"tipoff/predict"
)

// tipoff publish makes a finalized batch the date's publication, pinned
// unless --unpin, on the file or through a coordinator; a running batch and
// an unknown one are errors that say so.
func TestPublish(t *testing.T) {
	t.Parallel()
	app, bs := newCancelEnv(t, "ended", "running")
	if _, err := app.engine.Cancel(t.Context(), bs[0].ID, "test"); err != nil {
		t.Fatal(err)
	}
	date := predict.MustParseDate("2025-12-25")
	exports := app.cfg.ExportDir
	out, err := runMain(t, "publish", "--db", app.cfg.DB, "--export-dir", exports, bs[0].ID)
	if err != nil || !strings.Contains(out, "batch "+bs[0].ID+" (run ended, cancelled)") || !strings.Contains(out, ", pinned true") {
		t.Fatalf("publish: %q, %v", out, err)
	}
	if pub, err := app.db.Published(t.Context(), date); err != nil || pub.BatchID != bs[0].ID || !pub.Pinned {
		t.Fatalf("after publish: %+v, %v; want %s pinned", pub, err, bs[0].ID)
	}
	if ex, err := os.ReadFile(filepath.Join(exports, "2025-12-25.json")); err != nil || !strings.Contains(string(ex), `"players": []`) {
		t.Fatalf("export after publish: %v\n%s", err, ex)
	}
	if _, err := runMain(t, "publish", "--db", app.cfg.DB, bs[1].ID); !errors.Is(err, batch.ErrConflict) {
		t.Errorf("publish of a running batch: %v; want %v", err, batch.ErrConflict)
	}
	// tipoff status says which batch is live.
	out, err = runMain(t, "status", "--db", app.cfg.DB, "--date", "2025-12-25")
	if err != nil || !strings.Contains(out, "published: live, pinned by an operator") ||
		!strings.Contains(out, "published: not live; the live picks are batch "+bs[0].ID+" (run ended, cancelled), pinned by an operator") {
		t.Errorf("status after publish: %v\n%s", err, out)
	}

	srv := httptest.NewServer(app.handler(nil))
	t.Cleanup(srv.Close)
	out, err = runMain(t, "publish", "--coordinator", srv.URL, "--unpin", bs[0].ID)
	if err != nil || !strings.Contains(out, ", pinned false") {
		t.Fatalf("publish --unpin through the coordinator: %q, %v", out, err)
	}
	if pub, err := app.db.Published(t.Context(), date); err != nil || pub.Pinned {
		t.Fatalf("after publish --unpin: %+v, %v; want it not pinned", pub, err)
	}
	if ex, err := os.ReadFile(filepath.Join(exports, "2025-12-25.json")); err != nil || strings.Contains(string(ex), `"pinned"`) {
		t.Fatalf("export after publish --unpin through the coordinator: %v\n%s", err, ex)
	}
	if _, err := runMain(t, "publish", "--coordinator", srv.URL, bs[1].ID); !errors.Is(err, batch.ErrConflict) {
		t.Errorf("publish of a running batch through the coordinator: %v; want %v", err, batch.ErrConflict)
	}
	if _, err := runMain(t, "publish", "--coordinator", srv.URL, "2025-12-25-nosuch"); !errors.Is(err, batch.ErrNotFound) {
		t.Errorf("publish of an unknown batch: %v; want %v", err, batch.ErrNotFound)
	}
}
