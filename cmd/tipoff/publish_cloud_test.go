package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/dataimport"
	"tipoff/httpapi"
	"tipoff/predict"
	"tipoff/sqlite"
)

// The finding in the cloud shape: a run that succeeded, then a second run
// of the date started through the coordinator's /start while the workers
// are down, which times out whole. The coordinator (Firestore store,
// Pub/Sub queue, in pull mode, on the emulators) keeps the first run's
// picks live; its API says the second is not; health through the
// coordinator names the live picks and fails the date; and an operator's
// publish through the coordinator switches and pins.
func TestCloud_FailedRunKeepsPublication(t *testing.T) {
	t.Parallel()
	batchtest.RequireEnv(t, "FIRESTORE_EMULATOR_HOST")
	batchtest.RequireEnv(t, "PUBSUB_EMULATOR_HOST")
	cl, srv, date := cloudOnLeague(t, 4, t.TempDir())
	ctx, stop := context.WithCancel(t.Context())
	t.Cleanup(stop)
	client := &httpapi.Client{BaseURL: srv.URL}

	// runDay starts run through POST /start and waits for its batch to
	// finalize, with a worker pulling requests unless the workers are down.
	runDay := func(run, options string, workers bool) batch.Batch {
		t.Helper()
		wctx, wstop := context.WithCancel(ctx)
		var ww sync.WaitGroup
		defer func() { wstop(); ww.Wait() }()
		if workers {
			w := batch.NewWorker(cl.queue, cl.job.Handle, batch.PublishOutcomes(cl.queue), discardLogger(), batch.WorkerConfig{Name: "w", Concurrency: 2})
			ww.Go(func() { w.Run(wctx) })
		}
		code, body := postWith(t, srv.URL+"/start", "", []byte(fmt.Sprintf(`{"date":%q,"run":%q%s}`, date, run, options)), map[string]string{"Content-Type": "application/json"})
		var started httpapi.StartResponse
		if code != 202 || json.Unmarshal([]byte(body), &started) != nil {
			t.Fatalf("start %s: %d %s", run, code, body)
		}
		for {
			rep, err := client.Batch(t.Context(), started.BatchID)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Batch.State == batch.Finalized {
				return rep.Batch.Batch
			}
			select {
			case <-t.Context().Done():
				t.Fatalf("batch %s not finalized: %d of %d done", started.BatchID, rep.Batch.Done, rep.Batch.Total)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	good := runDay("daily", "", true)
	if good.Result != batch.ResultSucceeded {
		t.Fatalf("first run: %s %+v, want succeeded", good.Result, good.Counts)
	}
	before, err := cl.store.Published(t.Context(), date)
	if err != nil || before.BatchID != good.ID || before.Count() == 0 {
		t.Fatalf("after the first run: %+v, %v", before, err)
	}
	bad := runDay("second", `,"options":{"deadline":"1ms"}`, false)
	if bad.Result != batch.ResultFailed || bad.Counts.TimedOut != bad.Total {
		t.Fatalf("second run: %s %+v, want failed, every player timed out", bad.Result, bad.Counts)
	}
	live, err := cl.store.Published(t.Context(), date)
	if err != nil || live.BatchID != good.ID || live.Count() != before.Count() {
		t.Fatalf("after the failed run: live %s with %d predictions, %v; want %s with %d", live.BatchID, live.Count(), err, good.ID, before.Count())
	}
	rep, err := client.Batch(t.Context(), bad.ID)
	if err != nil || rep.Publication == nil || rep.Publication.ThisBatch || rep.Publication.BatchID != good.ID {
		t.Fatalf("report of the failed run: publication %+v, %v; want %s's", rep.Publication, err, good.ID)
	}

	// Health through the coordinator, asked about the good run, fails the
	// date for its newer failed run and names the live picks.
	out, err := runMain(t, "health", "--coordinator", srv.URL, "--date", date.String(), "--run", "daily", "--json")
	var h struct {
		Status string                     `json:"status"`
		Live   *httpapi.PublicationReport `json:"live"`
		Checks []struct{ Name, Level string }
	}
	if json.Unmarshal([]byte(out), &h) != nil || h.Status != "unhealthy" || h.Live == nil || h.Live.BatchID != good.ID {
		t.Fatalf("health --run daily: %v\n%s", err, out)
	}
	if !strings.Contains(out, `"name": "newer_runs",`+"\n"+`      "level": "fail"`) {
		t.Errorf("health --run daily: want a failed newer_runs check:\n%s", out)
	}

	// An operator publishes the failed run through the coordinator: it is
	// live and pinned, and the coordinator's export follows.
	if _, err := client.Publish(t.Context(), bad.ID, false); err != nil {
		t.Fatal(err)
	}
	if live, err := cl.store.Published(t.Context(), date); err != nil || live.BatchID != bad.ID || !live.Pinned || live.Players == nil {
		t.Fatalf("after publishing %s: %+v, %v", bad.ID, live, err)
	}
	if _, err := client.Publish(t.Context(), good.ID, true); err != nil {
		t.Fatal(err)
	}
	if live, err := cl.store.Published(t.Context(), date); err != nil || live.BatchID != good.ID || live.Pinned {
		t.Fatalf("after publishing %s unpinned: %+v, %v", good.ID, live, err)
	}
	if _, err := client.Publish(t.Context(), "2025-12-01-nosuch", false); !errors.Is(err, batch.ErrNotFound) {
		t.Errorf("publish of an unknown batch: %v, want ErrNotFound", err)
	}
}

// leagueFile writes league to a SQLite data file in a temporary directory
// of t's and returns its path.
func leagueFile(t *testing.T, league *predict.Dataset) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data.db")
	data, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	if err := data.ImportDataset(t.Context(), league); err != nil {
		t.Fatal(err)
	}
	return path
}

// cloudOnLeague runs the cloud shape in this process on a synthetic league
// of four teams (seed) read from a SQLite data file: pulling, without auth,
// exporting to exportDir, served over HTTP, its coordinator running until
// the test ends. It returns the shape, its server and the league's busiest
// day from December 1.
func cloudOnLeague(t *testing.T, seed int64, exportDir string) (*cloud, *httptest.Server, predict.Date) {
	t.Helper()
	league, err := dataimport.Synthetic(seed, dataimport.SyntheticOptions{From: predict.MustParseDate("2025-10-21"),
		To: predict.MustParseDate("2025-12-31"), Teams: 4})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.SweepEvery, cfg.Lease, cfg.ExportDir = 50*time.Millisecond, 10*time.Second, exportDir
	pc := predictConfig{Books: predict.DefaultBooks, MinGames: 3, MinMinutes: 12}
	cc := &cloudConfig{Project: batchtest.UniqueID(t), FirestorePrefix: "tipoff", PubsubSetup: true, GuardConfig: httpapi.GuardConfig{NoAuth: true}, Pull: true}
	cl, err := openCloud(t.Context(), cfg, cc, pc.settings(cfg), leagueFile(t, league), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	srv := httptest.NewServer(cl.handler(httpapi.Guards{}))
	t.Cleanup(srv.Close)
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() })
	wg.Go(func() { cl.coord.Run(ctx) })
	return cl, srv, league.BusiestDate(predict.MustParseDate("2025-12-01"), 0)
}
