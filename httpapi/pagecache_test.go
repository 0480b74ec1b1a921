package httpapi_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/httpapi"
	"tipoff/pipeline"
	"tipoff/predict"
)

// itemCounter counts the Items reads the status pages make.
type itemCounter struct {
	httpapi.StatusStore
	reads atomic.Int64
}

func (c *itemCounter) Items(ctx context.Context, id string, opts batch.ItemsOptions) ([]batch.Item, error) {
	c.reads.Add(1)
	return c.StatusStore.Items(ctx, id, opts)
}

// A finalized batch's page reads its items once; a running batch's page
// reads them on every view, so it shows each new outcome.
func TestStatusPages_FinalizedItemsKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	counter := &itemCounter{StatusStore: e.store}
	e.status = httpapi.NewStatus(httpapi.StatusConfig{Store: counter, Publications: e.db, NowFunc: e.clock, Log: testLogger(t)})
	srv := e.server(t)
	ps := players(t, 4)
	b := e.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{}, t0)
	e.record(t, b.ID, ps[0], batch.OutcomeSucceeded, t0.Add(10*time.Second))
	get(t, srv.URL+"/batches/"+b.ID)
	e.record(t, b.ID, ps[1], batch.OutcomeFailed, t0.Add(11*time.Second))
	before := counter.reads.Load()
	body, _ := get(t, srv.URL+"/batches/"+b.ID)
	if counter.reads.Load() == before || !strings.Contains(body, "2 / 4") {
		t.Fatalf("running batch: %d item reads for a second view, want more than 0, and progress 2 / 4", counter.reads.Load()-before)
	}
	for _, p := range ps[2:] {
		e.record(t, b.ID, p, batch.OutcomeSucceeded, t0.Add(12*time.Second))
	}
	e.finalize(t, b.ID, t0.Add(13*time.Second))
	first, _ := get(t, srv.URL+"/batches/"+b.ID)
	var rep httpapi.BatchReport
	getJSON(t, srv.URL+"/api/batches/"+b.ID, &rep)
	before = counter.reads.Load()
	again, _ := get(t, srv.URL+"/batches/"+b.ID)
	getJSON(t, srv.URL+"/api/batches/"+b.ID, &rep)
	if n := counter.reads.Load() - before; n != 0 {
		t.Errorf("finalized batch: %d item reads for views after the first, want 0", n)
	}
	if first != again {
		t.Errorf("finalized batch: the kept page differs from the first:\n%s\n----\n%s", first, again)
	}
	if len(rep.Failed) != 1 || rep.Failed[0].ID != ps[1].ID {
		t.Errorf("finalized batch API: failed %v, want %s", rep.Failed, ps[1].ID)
	}
}

// The export is decoded once per version of its file: a rewrite is seen.
func TestExportDir_Rewritten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	read := httpapi.ExportDir(dir, nil)
	date := predict.MustParseDate(gameDate)
	if ex, err := read(t.Context(), date); err != nil || ex.Exists {
		t.Fatalf("no file: %+v, %v; want not existing", ex, err)
	}
	pub := &predict.Publication{Date: date, BatchID: "b1", Players: []predict.PublishedPlayer{{PlayerID: "1"}}}
	if _, err := pipeline.WriteExport(dir, pub); err != nil {
		t.Fatal(err)
	}
	if ex, err := read(t.Context(), date); err != nil || ex.BatchID != "b1" || ex.Players != 1 {
		t.Fatalf("first file: %+v, %v; want b1 with 1 player", ex, err)
	}
	pub.BatchID, pub.Players = "b2", append(pub.Players, predict.PublishedPlayer{PlayerID: "2"})
	if _, err := pipeline.WriteExport(dir, pub); err != nil {
		t.Fatal(err)
	}
	if ex, err := read(t.Context(), date); err != nil || ex.BatchID != "b2" || ex.Players != 2 {
		t.Fatalf("rewritten file: %+v, %v; want b2 with 2 players", ex, err)
	}
	// A file that is not a publication is a problem, and one fixed in place
	// (same size, another time) is read again.
	path := pipeline.ExportPath(dir, date)
	good, _ := os.ReadFile(path)
	bad := []byte(strings.Repeat(" ", len(good)))
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if ex, _ := read(t.Context(), date); ex.Problem == "" {
		t.Fatalf("blank file: %+v; want a problem", ex)
	}
	pub.BatchID = "b3"
	fixed, _ := json.Marshal(pub)
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(path)), fixed, 0o644); err != nil {
		t.Fatal(err)
	}
	if ex, _ := read(t.Context(), date); ex.Problem != "" || ex.BatchID != "b3" {
		t.Fatalf("fixed file: %+v; want b3 without a problem", ex)
	}
}
