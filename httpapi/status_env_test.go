package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/dataimport"
	"tipoff/httpapi"
	"tipoff/internal/logtest"
	"tipoff/predict"
	"tipoff/predict/systems"
	"tipoff/sqlite"
)

// gameDate is a date of the synthetic season with a full slate.
const gameDate = "2026-01-15"

var (
	leagueOnce sync.Once
	leagueDS   *predict.Dataset
	leagueErr  error
)

// league returns the synthetic league, made once per test binary: it is
// deterministic, so every test sees the same players.
func league(tb testing.TB) *predict.Dataset {
	tb.Helper()
	leagueOnce.Do(func() {
		leagueDS, leagueErr = dataimport.Synthetic(1, dataimport.SyntheticOptions{
			From: predict.MustParseDate("2025-10-21"), To: predict.MustParseDate("2026-01-20"),
			PlayedThrough: predict.MustParseDate("2026-01-14")})
	})
	if leagueErr != nil {
		tb.Fatalf("synthetic league: %v", leagueErr)
	}
	return leagueDS
}

// player is one selected player's request and, computed ahead, his result.
type player struct {
	ID      string
	Name    string
	Request []byte
	Result  []byte
}

var (
	playersOnce sync.Once
	playersAll  []player
	playersErr  error
)

// players returns up to n players with a game on gameDate, each with his
// encoded request and the predictions the default systems make for it.
func players(tb testing.TB, n int) []player {
	tb.Helper()
	ds := league(tb)
	playersOnce.Do(func() {
		date := predict.MustParseDate(gameDate)
		sys := systems.Default()
		// A calibration that takes every system at its word where a price
		// exists, so the pages have picks to show.
		cal := &predict.Calibration{}
		for _, s := range sys {
			cal.Systems = append(cal.Systems, predict.SystemCalibration{System: s.Name(), Market: [3]float64{0, 1, 1}, NoMarket: [2]float64{0, 1}, Move: 1, Earned: true})
		}
		for _, c := range predict.SelectPlayers(ds, date, predict.SelectOptions{}) {
			req, err := predict.BuildRequest(ds, date, c.PlayerID, predict.RequestOptions{Calibration: cal})
			if err != nil {
				continue
			}
			body, err := predict.EncodeRequest(req)
			if err != nil {
				playersErr = err
				return
			}
			res, err := predict.Run(&req, sys)
			if err != nil {
				playersErr = err
				return
			}
			out, err := predict.EncodeResult(res)
			if err != nil {
				playersErr = err
				return
			}
			playersAll = append(playersAll, player{ID: c.PlayerID, Name: req.PlayerName, Request: body, Result: out})
		}
	})
	if playersErr != nil {
		tb.Fatalf("players: %v", playersErr)
	}
	if len(playersAll) < n {
		tb.Fatalf("players: the league has %d players on %s, want %d", len(playersAll), gameDate, n)
	}
	return playersAll[:n]
}

// manyPlayers returns n players, repeating the day's slate under new item
// IDs when n exceeds it: enough for pages at any size, though such a batch
// cannot be consolidated.
func manyPlayers(tb testing.TB, n int) []player {
	tb.Helper()
	all := players(tb, 1)[:len(playersAll)]
	out := make([]player, n)
	for i := range out {
		out[i] = all[i%len(all)]
		if i >= len(all) {
			out[i].ID = fmt.Sprintf("%s-%d", out[i].ID, i/len(all))
		}
	}
	return out
}

// env is a status stack on a real SQLite file: store, queue and
// publications, with a clock the test sets.
type env struct {
	db     *sqlite.DB
	store  *sqlite.Store
	queue  *sqlite.Queue
	status *httpapi.Status
	clk    *batchtest.ManualClock
}

// t0 is when test batches are created.
var t0 = time.Date(2026, 1, 15, 14, 0, 0, 0, time.UTC)

func newEnv(tb testing.TB) *env {
	tb.Helper()
	db, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "tipoff.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	e := &env{db: db, store: sqlite.NewStore(db), clk: batchtest.NewManualClock(t0)}
	e.queue = sqlite.NewQueue(db, sqlite.QueueConfig{NowFunc: e.clock})
	tb.Cleanup(func() { e.queue.Close() })
	e.status = httpapi.NewStatus(httpapi.StatusConfig{Store: e.store, Publications: db, DeadLetters: e.queue,
		QueueDepths: e.queue.Depths, NowFunc: e.clock, Log: testLogger(tb)})
	return e
}

// clock is the env's time, for NowFunc fields.
func (e *env) clock() time.Time { return e.clk.Now() }

// create makes a batch of ps for key at time at, and publishes every item
// at at+1s.
func (e *env) create(tb testing.TB, key batch.Key, ps []player, pol batch.Policy, at time.Time) batch.Batch {
	tb.Helper()
	spec := batch.Spec{Key: key, Policy: pol, Meta: map[string]string{batch.AttrTraceID: "trace-" + key.Run, "data_version": "test"}}
	ids := make([]string, len(ps))
	for i, p := range ps {
		spec.Items = append(spec.Items, batch.NewItem{ID: p.ID, Request: p.Request})
		ids[i] = p.ID
	}
	b, created, err := e.store.CreateBatch(tb.Context(), batch.NewID(key, at), spec, at)
	if err != nil || !created {
		tb.Fatalf("create batch %s: created %v, %v", key, created, err)
	}
	if err := e.store.MarkPublished(tb.Context(), b.ID, ids, at.Add(time.Second)); err != nil {
		tb.Fatal(err)
	}
	return b
}

// record records outcome o for player p of batch id at time at.
func (e *env) record(tb testing.TB, id string, p player, o batch.Outcome, at time.Time) {
	tb.Helper()
	rec := batch.OutcomeRecord{BatchID: id, ItemID: p.ID, Outcome: o, At: at}
	switch o {
	case batch.OutcomeSucceeded:
		rec.Result = p.Result
	case batch.OutcomeFailed:
		rec.Error = "permanent: request of " + p.ID + " does not validate"
	case batch.OutcomeTimedOut:
		rec.Error = "no outcome within 2m0s after each of 3 attempts"
	}
	if _, err := e.store.RecordOutcome(tb.Context(), rec); err != nil {
		tb.Fatalf("record %s/%s: %v", id, p.ID, err)
	}
}

// finalize finalizes batch id at time at, publishing its predictions as
// the job does.
func (e *env) finalize(tb testing.TB, id string, at time.Time) batch.Batch {
	tb.Helper()
	eng := batch.NewEngine(e.store, e.queue, testLogger(tb), batch.EngineConfig{
		NowFunc: func() time.Time { return at },
		Finalize: func(ctx context.Context, b batch.Batch) ([]byte, error) {
			items, err := e.store.Items(ctx, b.ID, batch.ItemsOptions{})
			if err != nil {
				return nil, err
			}
			b.Result = b.Policy.Decide(b.Total, b.Counts)
			pub, err := predict.Consolidate(b, items, at)
			if err != nil {
				return nil, err
			}
			return nil, e.db.Publish(ctx, pub)
		},
	})
	b, err := eng.Finalize(tb.Context(), id)
	if err != nil {
		tb.Fatalf("finalize %s: %v", id, err)
	}
	return b
}

// server serves the status handler (API and pages) on loopback.
func (e *env) server(tb testing.TB) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(e.status.Handler())
	tb.Cleanup(srv.Close)
	return srv
}

// getJSON GETs url and decodes a 200 JSON body into v.
func getJSON(tb testing.TB, url string, v any) {
	tb.Helper()
	body, code := get(tb, url)
	if code != http.StatusOK {
		tb.Fatalf("GET %s: status %d, want 200: %s", url, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		tb.Fatalf("GET %s: %v\n%s", url, err, body)
	}
}

func get(tb testing.TB, url string) (string, int) {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b), resp.StatusCode
}

// testLogger logs warnings and errors to the test's output; the lifecycle
// records at Info of every batch the tests run would bury them.
func testLogger(tb testing.TB) *slog.Logger {
	return logtest.NewWithOptions(tb, &slog.HandlerOptions{Level: slog.LevelWarn})
}
