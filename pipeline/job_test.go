package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/pipeline"
	"tipoff/predict"
	"tipoff/sqlite"
)

// fenceEnv is a batch whose items all have an outcome, on a real SQLite
// store, and the job that finalizes it.
type fenceEnv struct {
	db        *sqlite.DB
	store     *sqlite.Store
	b         batch.Batch
	exportDir string
	t0        time.Time
}

func newFenceEnv(t *testing.T) *fenceEnv {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tipoff.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &fenceEnv{db: db, store: sqlite.NewStore(db), exportDir: t.TempDir(),
		t0: time.Date(2025, 12, 10, 15, 0, 0, 0, time.UTC)}
	spec := batch.Spec{Key: batch.Key{Date: gameDay, Run: "daily"}, Items: []batch.NewItem{{ID: "p1"}, {ID: "p2"}}}
	e.b, _, err = e.store.CreateBatch(t.Context(), "b1", spec, e.t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"p1", "p2"} {
		rec := batch.OutcomeRecord{BatchID: "b1", ItemID: id, Outcome: batch.OutcomeSkipped, At: e.t0}
		if _, err := e.store.RecordOutcome(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// engine returns an engine named owner whose clock reads at, finalizing
// with a job that calls failpoint at its named points.
func (e *fenceEnv) engine(owner string, at time.Time, log *slog.Logger, failpoint func(string)) *batch.Engine {
	job := pipeline.NewJob(pipeline.JobConfig{Store: e.store, Publisher: e.db, Exporter: pipeline.ExportToDir(e.exportDir),
		Failpoint: failpoint, NowFunc: func() time.Time { return at }})
	return batch.NewEngine(e.store, sqlite.NewQueue(e.db, sqlite.QueueConfig{}), log,
		batch.EngineConfig{Owner: owner, LeaseTTL: time.Minute, Finalize: job.Finalize, NowFunc: func() time.Time { return at }})
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A finalizer frozen after acquiring its lease wakes after another took the
// lease over and finished: its publish is refused, it writes no export and
// no event, and it says so in a warning naming the batch, owner and token.
func TestJob_FinalizeFencedAfterTakeover(t *testing.T) {
	t.Parallel()
	e := newFenceEnv(t)
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	heir := e.engine("heir", e.t0.Add(2*time.Minute), nil, nil)
	frozen := e.engine("frozen", e.t0, log, func(name string) {
		if name == "finalize-acquired" {
			// Frozen here past the lease: the heir takes over and finishes.
			if _, err := heir.Finalize(context.Background(), "b1"); err != nil {
				t.Errorf("heir's finalize: %v", err)
			}
		}
	})
	_, err := frozen.Finalize(t.Context(), "b1")
	if !errors.Is(err, batch.ErrLeaseLost) {
		t.Fatalf("the frozen finalizer's Finalize: got %v, want ErrLeaseLost", err)
	}
	export := readExport(t, e.exportDir)
	if export.Fence.Owner != "heir/1" || export.Fence.Epoch != 2 {
		t.Fatalf("export written under %+v, want the heir's lease heir/1#2", export.Fence)
	}
	pub, err := e.db.Published(t.Context(), predict.MustParseDate(gameDay))
	if err != nil || pub.BatchID != "b1" || !pub.PublishedAt.Equal(e.t0.Add(2*time.Minute)) {
		t.Fatalf("publication %+v, %v; want the heir's of b1, published at %v", pub, err, e.t0.Add(2*time.Minute))
	}
	if got, err := e.store.GetBatch(t.Context(), "b1"); err != nil || got.State != batch.Finalized {
		t.Fatalf("batch %+v, %v; want finalized by the heir", got, err)
	}
	evs, err := e.store.PendingEvents(t.Context(), 10)
	if err != nil || len(evs) != 1 {
		t.Fatalf("events %+v, %v; want the heir's one", evs, err)
	}
	wantWarning(t, logs.String(), "frozen/1", `"epoch":1`)
}

// A finalizer whose lease is taken over between publishing and exporting
// writes no export.
func TestJob_ExportFencedAfterTakeover(t *testing.T) {
	t.Parallel()
	e := newFenceEnv(t)
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	frozen := e.engine("frozen", e.t0, log, func(name string) {
		if name == "finalize-published" {
			if _, err := e.store.AcquireFinalize(context.Background(), "b1", "heir", e.t0.Add(2*time.Minute), time.Minute); err != nil {
				t.Errorf("takeover: %v", err)
			}
		}
	})
	_, err := frozen.Finalize(t.Context(), "b1")
	if !errors.Is(err, batch.ErrLeaseLost) {
		t.Fatalf("Finalize after losing the lease before the export: got %v, want ErrLeaseLost", err)
	}
	if _, err := os.Stat(pipeline.ExportPath(e.exportDir, predict.MustParseDate(gameDay))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("export after the lease was lost: stat %v, want none written", err)
	}
	if got, _ := e.store.GetBatch(t.Context(), "b1"); got.State != batch.Finalizing || got.Lease.Owner != "heir" {
		t.Fatalf("batch %s under %s, want finalizing under the heir", got.State, got.Lease.Owner)
	}
	wantWarning(t, logs.String(), "frozen/1", `"epoch":1`)
}

func readExport(t *testing.T, dir string) predict.Publication {
	t.Helper()
	body, err := os.ReadFile(pipeline.ExportPath(dir, predict.MustParseDate(gameDay)))
	if err != nil {
		t.Fatal(err)
	}
	var pub predict.Publication
	if err := json.Unmarshal(body, &pub); err != nil {
		t.Fatal(err)
	}
	return pub
}

// wantWarning fails unless logs hold a "finalize lease lost" warning for
// batch b1 naming owner and holding the token text.
func wantWarning(t *testing.T, logs, owner, token string) {
	t.Helper()
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, `"msg":"finalize lease lost; stopping"`) && strings.Contains(line, `"level":"WARN"`) &&
			strings.Contains(line, `"batch_id":"b1"`) && strings.Contains(line, `"owner":"`+owner+`"`) {
			if !strings.Contains(line, token) {
				t.Fatalf("lease-lost warning %s does not hold %s", line, token)
			}
			return
		}
	}
	t.Fatalf("no lease-lost warning for b1 by %s in:\n%s", owner, logs)
}

func TestJob_ExportFailureDoesNotBlockFinalize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, "tipoff.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// A file where the export directory should be: mkdir fails, even as root.
	blocker := filepath.Join(dir, "exports")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	exportDir := filepath.Join(blocker, "picks")
	now := time.Date(2026, 1, 15, 17, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	store := sqlite.NewStore(db)
	job := pipeline.NewJob(pipeline.JobConfig{Store: store, Publisher: db, Exports: db, Exporter: pipeline.ExportToDir(exportDir), NowFunc: clock})
	eng := batch.NewEngine(store, sqlite.NewQueue(db, sqlite.QueueConfig{}), nil, batch.EngineConfig{Finalize: job.Finalize, NowFunc: clock})
	b, _, err := eng.Create(t.Context(), batch.Spec{Key: batch.Key{Date: "2026-01-15", Run: "daily"},
		Items: []batch.NewItem{{ID: "p1", Request: []byte(`{}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Record(t.Context(), batch.OutcomeRecord{BatchID: b.ID, ItemID: "p1", Outcome: batch.OutcomeSkipped}); err != nil {
		t.Fatal(err)
	}
	got, err := store.GetBatch(t.Context(), b.ID)
	if err != nil || got.State != batch.Finalized || got.Result != batch.ResultSucceeded {
		t.Fatalf("batch after its last outcome: %s/%s, %v; want finalized/succeeded", got.State, got.Result, err)
	}
	date := predict.MustParseDate("2026-01-15")
	if pub, err := db.Published(t.Context(), date); err != nil || pub.BatchID != b.ID {
		t.Fatalf("publication: %v; want batch %s's", err, b.ID)
	}
	st, err := db.ExportState(t.Context(), date)
	if err != nil || !st.Failing() || !strings.Contains(st.Error, "not a directory") || st.Failures != 1 ||
		st.Path != pipeline.ExportPath(exportDir, date) || !st.FailingSince.Equal(now) {
		t.Fatalf("export state %+v, %v; want failing once since %v with the mkdir error and the path", st, err, now)
	}

	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if n, err := job.RetryExports(t.Context()); err != nil || n != 1 {
		t.Fatalf("RetryExports within the backoff = %d, %v; want 1 still failing, not retried", n, err)
	}
	now = now.Add(time.Minute)
	if n, err := job.RetryExports(t.Context()); err != nil || n != 0 {
		t.Fatalf("RetryExports after the backoff = %d, %v; want 0 failing", n, err)
	}
	if st, err := db.ExportState(t.Context(), date); err != nil || st.Failing() || st.Failures != 0 {
		t.Fatalf("export state after the retry %+v, %v; want ok", st, err)
	}
	if _, err := os.Stat(pipeline.ExportPath(exportDir, date)); err != nil {
		t.Fatalf("export file after the retry: %v", err)
	}
}
