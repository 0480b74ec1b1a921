package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/pipeline"
	"tipoff/predict"
	"tipoff/sqlite"
)

// dayEnv is the embedded shape of "tipoff run" on a SQLite file: a job
// publishing to the file and exporting to a directory, an engine, a
// coordinator that pulls outcomes and sweeps often, and a starter on a
// small synthetic league.
type dayEnv struct {
	db      *sqlite.DB
	store   *sqlite.Store
	queue   *sqlite.Queue
	job     *pipeline.Job
	engine  *batch.Engine
	coord   *batch.Coordinator
	starter *pipeline.Starter
	exports string
}

func newDayEnv(t *testing.T) *dayEnv {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tipoff.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	league, err := dataimport.Synthetic(2, dataimport.SyntheticOptions{From: predict.MustParseDate("2025-10-21"),
		To: predict.MustParseDate("2025-12-31"), Teams: 6})
	if err != nil {
		t.Fatal(err)
	}
	e := &dayEnv{db: db, store: sqlite.NewStore(db), queue: sqlite.NewQueue(db, sqlite.QueueConfig{}), exports: t.TempDir()}
	t.Cleanup(func() { e.queue.Close() })
	e.job = pipeline.NewJob(pipeline.JobConfig{Store: e.store, Publisher: db, Exporter: pipeline.ExportToDir(e.exports)})
	e.engine = batch.NewEngine(e.store, e.queue, nil, batch.EngineConfig{Finalize: e.job.Finalize})
	e.coord = batch.NewCoordinator(e.engine, e.queue, nil, batch.CoordinatorConfig{SweepEvery: 10 * time.Millisecond, PullOutcomes: true})
	e.starter = pipeline.NewStarter(pipeline.StarterConfig{Engine: e.engine, Store: e.store,
		Load: func(context.Context) (*predict.Dataset, error) { return league, nil },
		Settings: pipeline.Settings{Run: "daily", Policy: batch.Policy{}.WithDefaults(),
			Select: predict.SelectOptions{MinGames: 3, MinMinutes: 12}, Request: predict.RequestOptions{Books: predict.DefaultBooks}}})
	return e
}

// run starts req's batch and runs it to its end in this process, with
// workers that predict, or, when down, that hold every request until the
// run ends (so nothing gets an outcome before the deadline).
func (e *dayEnv) run(t *testing.T, req pipeline.StartRequest, down bool) batch.Batch {
	t.Helper()
	b, _, err := e.starter.Start(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	h := e.job.Handle
	if down {
		h = func(ctx context.Context, _ batch.Delivery) (batch.Outcome, []byte, error) {
			<-ctx.Done()
			return "", nil, ctx.Err()
		}
	}
	w := batch.NewWorker(e.queue, h, batch.RecordOutcomes(e.engine), nil, batch.WorkerConfig{Concurrency: 2})
	got, err := pipeline.RunToEnd(t.Context(), e.coord, w, e.store, b.ID, func(batch.Batch) {})
	if got.State != batch.Finalized {
		t.Fatalf("run %s: %v", req.Run, err)
	}
	return got
}

// export reads the date's export file: its raw bytes and what it says.
func (e *dayEnv) export(t *testing.T, date string) ([]byte, predict.Publication) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e.exports, date+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var pub predict.Publication
	if err := json.Unmarshal(raw, &pub); err != nil {
		t.Fatalf("export %s: %v", date, err)
	}
	return raw, pub
}

// The finding: "tipoff run --date D" and then "tipoff run --date D --run
// second --deadline 1ms" (or serve with its workers down) made the failed
// second batch the date's publication, exported with "players": null. The
// failed run now keeps its own record and the good picks stay live, in the
// store and in the export.
func TestJob_FailedRunKeepsGoodPublication(t *testing.T) {
	t.Parallel()
	e := newDayEnv(t)
	ctx := t.Context()
	date := predict.MustParseDate(gameDay)
	good := e.run(t, pipeline.StartRequest{Date: gameDay}, false)
	if good.Result != batch.ResultSucceeded {
		t.Fatalf("first run: %s, want succeeded", good.Result)
	}
	before, err := e.db.Published(ctx, date)
	if err != nil || before.BatchID != good.ID || before.Count() == 0 {
		t.Fatalf("after the first run: %+v, %v; want batch %s with predictions", before, err, good.ID)
	}

	bad := e.run(t, pipeline.StartRequest{Date: gameDay, Run: "second", Options: pipeline.Options{Deadline: pipeline.Duration(time.Millisecond)}}, true)
	if bad.Result != batch.ResultFailed || bad.Counts.TimedOut != bad.Total {
		t.Fatalf("second run: %s with counts %+v, want failed with every player timed out", bad.Result, bad.Counts)
	}
	live, err := e.db.Published(ctx, date)
	if err != nil || live.BatchID != good.ID || live.Count() != before.Count() || live.Result != batch.ResultSucceeded {
		t.Fatalf("after the failed run: live %s (%s, %d predictions), %v; want %s (succeeded, %d)",
			live.BatchID, live.Result, live.Count(), err, good.ID, before.Count())
	}
	_, ex := e.export(t, gameDay)
	if ex.BatchID != good.ID || ex.Count() != before.Count() {
		t.Fatalf("export after the failed run: batch %s with %d predictions, want %s with %d", ex.BatchID, ex.Count(), good.ID, before.Count())
	}
	// The failed run's own record stays: its batch and every item's outcome.
	items, err := e.store.Items(ctx, bad.ID, batch.ItemsOptions{})
	if err != nil || len(items) != bad.Total {
		t.Fatalf("items of the failed run: %d, %v; want %d", len(items), err, bad.Total)
	}
}

// An operator publishes a chosen finalized batch whatever its result; the
// export follows it and an empty publication exports "players": [].
// Publishing a batch that has not finalized is a conflict.
func TestJob_Publish(t *testing.T) {
	t.Parallel()
	e := newDayEnv(t)
	ctx := t.Context()
	date := predict.MustParseDate(gameDay)
	good := e.run(t, pipeline.StartRequest{Date: gameDay}, false)
	bad := e.run(t, pipeline.StartRequest{Date: gameDay, Run: "second", Options: pipeline.Options{Deadline: pipeline.Duration(time.Millisecond)}}, true)

	got, err := e.job.Publish(ctx, bad.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.Publication.BatchID != bad.ID || !got.Publication.Pinned || got.Export != filepath.Join(e.exports, gameDay+".json") {
		t.Fatalf("Publish(%s) = %s pinned %v export %q; want it pinned, exported", bad.ID, got.Publication.BatchID, got.Publication.Pinned, got.Export)
	}
	raw, ex := e.export(t, gameDay)
	if ex.BatchID != bad.ID || !ex.Pinned || !bytes.Contains(raw, []byte(`"players": []`)) {
		t.Fatalf("export after publishing the empty batch: batch %s pinned %v:\n%s\nwant %s, pinned, with \"players\": []", ex.BatchID, ex.Pinned, raw, bad.ID)
	}
	// The pin holds against a later, better run finalizing.
	third := e.run(t, pipeline.StartRequest{Date: gameDay, Run: "third"}, false)
	if live, err := e.db.Published(ctx, date); err != nil || live.BatchID != bad.ID {
		t.Fatalf("after run %s finalized: live %s, %v; want the pinned %s", third.ID, live.BatchID, err, bad.ID)
	}
	if _, ex := e.export(t, gameDay); ex.BatchID != bad.ID {
		t.Fatalf("export after a run finalized under a pin: batch %s, want %s", ex.BatchID, bad.ID)
	}
	// Publishing again, unpinned, hands the date back to the policy.
	if got, err = e.job.Publish(ctx, good.ID, false); err != nil || got.Publication.BatchID != good.ID || got.Publication.Pinned {
		t.Fatalf("Publish(%s, unpinned) = %+v, %v", good.ID, got.Publication, err)
	}
	if _, ex := e.export(t, gameDay); ex.BatchID != good.ID || ex.Count() == 0 {
		t.Fatalf("export after publishing %s: batch %s with %d predictions", good.ID, ex.BatchID, ex.Count())
	}

	running, _, err := e.starter.Start(ctx, pipeline.StartRequest{Date: gameDay, Run: "running"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.job.Publish(ctx, running.ID, true); !errors.Is(err, batch.ErrConflict) {
		t.Fatalf("Publish of a running batch: got %v, want ErrConflict", err)
	}
	if _, err := e.job.Publish(ctx, "2025-12-10-nope", true); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("Publish of an unknown batch: got %v, want ErrNotFound", err)
	}
	if live, _ := e.db.Published(ctx, date); live.BatchID != good.ID {
		t.Fatalf("refused publishes changed the publication to %s", live.BatchID)
	}
}

// itemReads counts a store's reads of items, with and without requests.
type itemReads struct {
	batch.Store
	full, bare atomic.Int64
}

func (c *itemReads) Items(ctx context.Context, id string, opts batch.ItemsOptions) ([]batch.Item, error) {
	if opts.NoRequests {
		c.bare.Add(1)
	} else {
		c.full.Add(1)
	}
	return c.Store.Items(ctx, id, opts)
}

// A batch's publication is built from its results, each naming its player,
// without reading the requests; results from workers that did not name
// the player (before results did) are published with the names, teams and
// sides their requests give, read then.
func TestJob_FinalizeNamesPlayersWithoutRequests(t *testing.T) {
	t.Parallel()
	for _, named := range []bool{true, false} {
		e := newDayEnv(t)
		ctx := t.Context()
		reads := &itemReads{Store: e.store}
		job := pipeline.NewJob(pipeline.JobConfig{Store: reads, Publisher: e.db, Exporter: pipeline.ExportToDir(e.exports)})
		engine := batch.NewEngine(e.store, e.queue, nil, batch.EngineConfig{Finalize: job.Finalize})
		coord := batch.NewCoordinator(engine, e.queue, nil, batch.CoordinatorConfig{SweepEvery: 10 * time.Millisecond, PullOutcomes: true})
		b, _, err := e.starter.Start(ctx, pipeline.StartRequest{Date: gameDay})
		if err != nil {
			t.Fatal(err)
		}
		handle := func(ctx context.Context, d batch.Delivery) (batch.Outcome, []byte, error) {
			o, res, err := job.Handle(ctx, d)
			if err != nil || named || o != batch.OutcomeSucceeded {
				return o, res, err
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(res, &m); err != nil || m["player"] == nil {
				t.Errorf("result of message %s: %v, or no player in %.100s", d.ID, err, res)
			}
			delete(m, "player")
			res, err = json.Marshal(m)
			return o, res, err
		}
		w := batch.NewWorker(e.queue, handle, batch.RecordOutcomes(engine), nil, batch.WorkerConfig{Concurrency: 2})
		// A finalize that cannot consolidate is retried until the batch's
		// deadline: bounded here.
		runCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
		got, err := pipeline.RunToEnd(runCtx, coord, w, e.store, b.ID, func(batch.Batch) {})
		cancel()
		if got.Result != batch.ResultSucceeded {
			t.Fatalf("named %v: run ended %s/%s: %v", named, got.State, got.Result, err)
		}
		// One read of the items without their requests; then, for results
		// naming nobody, one with them.
		full, bare := reads.full.Load(), reads.bare.Load()
		if wantFull := map[bool]int64{true: 0, false: 1}[named]; bare != 1 || full != wantFull {
			t.Fatalf("named %v: the finalize read the items %d times without their requests and %d with, want 1 and %d", named, bare, full, wantFull)
		}
		pub, err := e.db.Published(ctx, predict.MustParseDate(gameDay))
		if err != nil {
			t.Fatal(err)
		}
		items, err := e.store.Items(ctx, b.ID, batch.ItemsOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(pub.Players) != len(items) || len(items) == 0 {
			t.Fatalf("named %v: %d players published for %d items", named, len(pub.Players), len(items))
		}
		for i, it := range items {
			req, err := predict.DecodeRequest(it.Request)
			if err != nil {
				t.Fatal(err)
			}
			want := predict.PublishedPlayer{PlayerID: req.PlayerID, Name: req.PlayerName, Team: req.Team, Opponent: req.Opponent, Home: req.Home}
			got := pub.Players[i]
			got.Predictions = nil
			if req.PlayerName == "" || !reflect.DeepEqual(got, want) {
				t.Fatalf("named %v: published %+v, want the request's %+v", named, got, want)
			}
		}
	}
}
