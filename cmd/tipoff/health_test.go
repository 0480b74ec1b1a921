package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/health"
	"tipoff/httpapi"
	"tipoff/pipeline"
	"tipoff/predict"
)

// healthEnv is a SQLite file and export directory in which a test prepares
// the state that "tipoff health" then checks.
type healthEnv struct {
	db, exports string
	app         *embedded
}

func newHealthEnv(t *testing.T) *healthEnv {
	t.Helper()
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.DB, cfg.ExportDir = filepath.Join(dir, "tipoff.db"), filepath.Join(dir, "exports")
	app, err := openEmbedded(t.Context(), cfg, pipeline.Settings{}, nil, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return &healthEnv{db: cfg.DB, exports: cfg.ExportDir, app: app}
}

// today is the league date the tests' batches are for: time-relative
// checks (deadlines, item timeouts) run against the real clock.
func today() string { return pipeline.LeagueToday(time.Now()) }

// create makes a batch of n players (p01, p02, …) created at created and
// published at published.
func (e *healthEnv) create(t *testing.T, run string, n int, pol batch.Policy, created, published time.Time) batch.Batch {
	t.Helper()
	spec := batch.Spec{Key: batch.Key{Date: today(), Run: run}, Policy: pol, Meta: map[string]string{batch.AttrTraceID: "trace-" + run}}
	var ids []string
	for i := range n {
		id := fmt.Sprintf("p%02d", i+1)
		spec.Items = append(spec.Items, batch.NewItem{ID: id, Request: []byte(`{}`)})
		ids = append(ids, id)
	}
	b, _, err := e.app.store.CreateBatch(t.Context(), batch.NewID(spec.Key, created), spec, created)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.app.store.MarkPublished(t.Context(), b.ID, ids, published); err != nil {
		t.Fatal(err)
	}
	return b
}

// record gives players from..to-1 of batch id outcome o.
func (e *healthEnv) record(t *testing.T, id string, from, to int, o batch.Outcome) {
	t.Helper()
	for i := from; i < to; i++ {
		rec := batch.OutcomeRecord{BatchID: id, ItemID: fmt.Sprintf("p%02d", i+1), Outcome: o, At: time.Now()}
		if o == batch.OutcomeFailed {
			rec.Error = fmt.Sprintf("permanent: player p%02d has no game on the date", i+1)
		}
		if _, err := e.app.store.RecordOutcome(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
}

// finalize finalizes batch id; with publish, its finalize step publishes
// one prediction per succeeded player and writes the export, as the job's
// does.
func (e *healthEnv) finalize(t *testing.T, id string, publish bool) batch.Batch {
	t.Helper()
	eng := batch.NewEngine(e.app.store, e.app.queue, nil, batch.EngineConfig{Finalize: func(ctx context.Context, b batch.Batch) ([]byte, error) {
		if !publish {
			return nil, nil
		}
		_, err := e.publish(t, b)
		return nil, err
	}})
	b, err := eng.Finalize(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publish publishes b's predictions and writes the export file.
func (e *healthEnv) publish(t *testing.T, b batch.Batch) (*predict.Publication, error) {
	t.Helper()
	date := predict.MustParseDate(b.Key.Date)
	pub := &predict.Publication{Date: date, BatchID: b.ID, Run: b.Key.Run, Result: b.Policy.Decide(b.Total, b.Counts),
		BatchAt: b.CreatedAt, PublishedAt: time.Now().UTC()}
	items, err := e.app.store.Items(t.Context(), b.ID, batch.ItemsOptions{})
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if it.Outcome == batch.OutcomeSucceeded {
			pub.Players = append(pub.Players, predict.PublishedPlayer{PlayerID: it.ID, Name: "Player " + it.ID, Team: "AAA", Opponent: "BBB",
				Predictions: []predict.Prediction{{Date: date, PlayerID: it.ID, System: "ensemble", Line: 20.5, Points: 22, Confidence: 0.6, Edge: 1.5, Pick: predict.Over}}})
		}
	}
	if err := e.app.db.Publish(t.Context(), pub); err != nil {
		return nil, err
	}
	cur, err := e.app.db.Published(t.Context(), date)
	if err != nil {
		return nil, err
	}
	_, err = pipeline.WriteExport(e.exports, cur)
	return cur, err
}

// health runs "tipoff health --json" on the file with args and returns the
// report and exit code.
func (e *healthEnv) health(t *testing.T, args ...string) (health.Report, int) {
	t.Helper()
	return runHealthJSON(t, append([]string{"--db", e.db, "--export-dir", e.exports}, args...)...)
}

func runHealthJSON(t *testing.T, args ...string) (health.Report, int) {
	t.Helper()
	out, err := runMain(t, append([]string{"health", "--json"}, args...)...)
	code := 0
	var ec exitCodeError
	switch {
	case errors.As(err, &ec):
		code = ec.code
	case err != nil:
		t.Fatalf("health %v: %v", args, err)
	}
	var r health.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("health %v: output is not the JSON report: %v\n%s", args, err, out)
	}
	if r.ExitCode != code {
		t.Errorf("health %v: report says exit code %d, command exited %d", args, r.ExitCode, code)
	}
	return r, code
}

// checkOf returns the named check of r, or one of level "absent".
func checkOf(r health.Report, name string) health.Check {
	if c, ok := r.Find(name); ok {
		return c
	}
	return health.Check{Name: name, Level: "absent"}
}

// want checks the exit code, status and the levels of the named checks.
func wantHealth(t *testing.T, r health.Report, code int, status health.Status, levels map[string]health.Level) {
	t.Helper()
	if r.Status != status || r.ExitCode != code {
		t.Errorf("got %s (exit %d), want %s (exit %d); checks:\n%s", r.Status, r.ExitCode, status, code, describe(r))
	}
	for name, lv := range levels {
		if c := checkOf(r, name); c.Level != lv {
			t.Errorf("check %s: got %s %q, want %s", name, c.Level, c.Message, lv)
		}
	}
}

func describe(r health.Report) string {
	var b bytes.Buffer
	health.WriteText(&b, &r, false)
	return b.String()
}

func TestHealth_Healthy(t *testing.T) {
	t.Parallel()
	e := newHealthEnv(t)
	b := e.create(t, "daily", 10, batch.Policy{}, time.Now().Add(-time.Minute), time.Now().Add(-time.Minute))
	e.record(t, b.ID, 0, 10, batch.OutcomeSucceeded)
	e.finalize(t, b.ID, true)

	r, _ := e.health(t, "--date", today())
	wantHealth(t, r, 0, health.Healthy, map[string]health.Level{"store": health.OK, "run": health.OK, "state": health.OK, "failed": health.OK,
		"missing": health.OK, "stuck": health.Skip, "finalize": health.OK, "published": health.OK, "export": health.OK, "dead_letters": health.OK})
	if r.Batch == nil || r.Batch.Batch.ID != b.ID || r.Batch.Publication == nil || r.Batch.Publication.Players != 10 {
		t.Errorf("report's batch: got %+v, want %s with 10 published players", r.Batch, b.ID)
	}

	// A dead letter anywhere degrades it.
	dl := batch.DeadLetterTopic(batch.TopicOutcomes)
	if err := e.app.queue.Publish(t.Context(), dl, batch.Message{ID: "x", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	r, _ = e.health(t, "--date", today())
	wantHealth(t, r, 2, health.Degraded, map[string]health.Level{"dead_letters": health.Warn})
	if c := checkOf(r, "dead_letters"); !slices.Contains(c.Items, dl+": 1") {
		t.Errorf("dead letters: got %v, want %s: 1", c.Items, dl)
	}
}

// The export file and publication are checked against the batch: missing
// or stale is unhealthy.
func TestHealth_PublishedAndExport(t *testing.T) {
	t.Parallel()
	e := newHealthEnv(t)
	b := e.create(t, "daily", 4, batch.Policy{}, time.Now().Add(-time.Minute), time.Now().Add(-time.Minute))
	e.record(t, b.ID, 0, 4, batch.OutcomeSucceeded)
	e.finalize(t, b.ID, true)
	path := pipeline.ExportPath(e.exports, predict.MustParseDate(today()))
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	r, _ := e.health(t, "--date", today())
	wantHealth(t, r, 1, health.Unhealthy, map[string]health.Level{"published": health.OK, "export": health.Fail})

	// An export of another publication (an earlier run's) is stale.
	var old predict.Publication
	if err := json.Unmarshal(good, &old); err != nil {
		t.Fatal(err)
	}
	old.BatchID, old.PublishedAt = "2020-01-01-older", old.PublishedAt.Add(-time.Hour)
	if _, err := pipeline.WriteExport(e.exports, &old); err != nil {
		t.Fatal(err)
	}
	r, _ = e.health(t, "--date", today())
	wantHealth(t, r, 1, health.Unhealthy, map[string]health.Level{"export": health.Fail})
	if c := checkOf(r, "export"); !strings.Contains(c.Message, "stale") || !strings.Contains(c.Message, "2020-01-01-older") {
		t.Errorf("stale export: got %q, want it named stale with the batch it holds", c.Message)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, _ = e.health(t, "--date", today())
	wantHealth(t, r, 1, health.Unhealthy, map[string]health.Level{"export": health.Fail})

	// A finalized batch whose finalize published nothing.
	e2 := newHealthEnv(t)
	b2 := e2.create(t, "daily", 2, batch.Policy{}, time.Now().Add(-time.Minute), time.Now().Add(-time.Minute))
	e2.record(t, b2.ID, 0, 2, batch.OutcomeSucceeded)
	e2.finalize(t, b2.ID, false)
	r, _ = e2.health(t, "--date", today())
	wantHealth(t, r, 1, health.Unhealthy, map[string]health.Level{"state": health.OK, "published": health.Fail})
}

func TestHealth_Running(t *testing.T) {
	t.Parallel()
	e := newHealthEnv(t)
	b := e.create(t, "daily", 10, batch.Policy{ItemTimeout: 5 * time.Minute}, time.Now().Add(-time.Minute), time.Now().Add(-time.Minute))
	e.record(t, b.ID, 0, 6, batch.OutcomeSucceeded)
	r, _ := e.health(t, "--date", today())
	wantHealth(t, r, 0, health.Healthy, map[string]health.Level{"state": health.OK, "stuck": health.OK, "missing": health.OK,
		"finalize": health.OK, "published": health.Skip, "export": health.Skip})
	if c := checkOf(r, "missing"); !cmp.Equal(c.Items, []string{"p07", "p08", "p09", "p10"}) {
		t.Errorf("missing: got %v, want p07..p10", c.Items)
	}
	if c := checkOf(r, "state"); !strings.Contains(c.Message, "6/10") {
		t.Errorf("state: got %q, want the progress 6/10", c.Message)
	}
}

func TestHealth_Stuck(t *testing.T) {
	t.Parallel()
	e := newHealthEnv(t)
	b := e.create(t, "daily", 5, batch.Policy{ItemTimeout: 2 * time.Minute}, time.Now().Add(-10*time.Minute), time.Now().Add(-9*time.Minute))
	e.record(t, b.ID, 0, 3, batch.OutcomeSucceeded)
	r, _ := e.health(t, "--date", today())
	wantHealth(t, r, 2, health.Degraded, map[string]health.Level{"state": health.OK, "stuck": health.Warn})
	c := checkOf(r, "stuck")
	if len(c.Items) != 2 || !strings.HasPrefix(c.Items[0], "p04: overdue, 1 attempt(s), waiting 9m") || !strings.HasPrefix(c.Items[1], "p05:") {
		t.Errorf("stuck: got %q, want p04 and p05 overdue for about 9m", c.Items)
	}

	// Still running past the deadline: the sweeper is not running at all.
	e2 := newHealthEnv(t)
	late := e2.create(t, "daily", 3, batch.Policy{Deadline: time.Hour}, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour))
	e2.record(t, late.ID, 0, 1, batch.OutcomeSucceeded)
	r, _ = e2.health(t, "--date", today())
	wantHealth(t, r, 1, health.Unhealthy, map[string]health.Level{"state": health.Fail, "stuck": health.Warn})

	// Every item has an outcome, but nobody finalized.
	e3 := newHealthEnv(t)
	done := e3.create(t, "daily", 2, batch.Policy{}, time.Now().Add(-time.Minute), time.Now().Add(-time.Minute))
	e3.record(t, done.ID, 0, 2, batch.OutcomeSucceeded)
	r, _ = e3.health(t, "--date", today())
	wantHealth(t, r, 2, health.Degraded, map[string]health.Level{"finalize": health.Warn})
}

func TestHealth_Partial(t *testing.T) {
	t.Parallel()
	e := newHealthEnv(t)
	b := e.create(t, "daily", 10, batch.Policy{}, time.Now().Add(-time.Minute), time.Now().Add(-time.Minute))
	e.record(t, b.ID, 0, 9, batch.OutcomeSucceeded)
	e.record(t, b.ID, 9, 10, batch.OutcomeFailed)
	if fin := e.finalize(t, b.ID, true); fin.Result != batch.ResultPartial {
		t.Fatalf("result %s, want partial", fin.Result)
	}
	r, _ := e.health(t, "--date", today())
	wantHealth(t, r, 2, health.Degraded, map[string]health.Level{"state": health.Warn, "failed": health.Warn, "published": health.OK, "export": health.OK})
	if c := checkOf(r, "failed"); len(c.Items) != 1 || c.Items[0] != "p10: failed after 1 attempt(s): permanent: player p10 has no game on the date" {
		t.Errorf("failed: got %q, want p10 with its reason", c.Items)
	}

	// Too many failures: failed is unhealthy.
	e2 := newHealthEnv(t)
	b2 := e2.create(t, "daily", 4, batch.Policy{}, time.Now().Add(-time.Minute), time.Now().Add(-time.Minute))
	e2.record(t, b2.ID, 0, 2, batch.OutcomeSucceeded)
	e2.record(t, b2.ID, 2, 4, batch.OutcomeFailed)
	e2.finalize(t, b2.ID, true)
	r, _ = e2.health(t, "--date", today())
	wantHealth(t, r, 1, health.Unhealthy, map[string]health.Level{"state": health.Fail, "published": health.OK})
}

func TestHealth_MissingRun(t *testing.T) {
	t.Parallel()
	e := newHealthEnv(t)
	now := time.Now()
	yesterday, tomorrow := pipeline.LeagueToday(now.Add(-24*time.Hour)), pipeline.LeagueToday(now.Add(24*time.Hour))
	r, _ := e.health(t, "--date", yesterday)
	wantHealth(t, r, 1, health.Unhealthy, map[string]health.Level{"run": health.Fail})
	r, _ = e.health(t, "--date", yesterday, "--daily", "00:00")
	wantHealth(t, r, 1, health.Unhealthy, map[string]health.Level{"run": health.Fail})
	if c := checkOf(r, "run"); !strings.Contains(c.Message, "overdue") {
		t.Errorf("run: got %q, want it called overdue", c.Message)
	}
	r, _ = e.health(t, "--date", tomorrow, "--daily", "23:59")
	wantHealth(t, r, 0, health.Healthy, map[string]health.Level{"run": health.OK})
	if c := checkOf(r, "run"); !strings.Contains(c.Message, "due at") {
		t.Errorf("run: got %q, want when it is due", c.Message)
	}

	// Another label's batch of the date does not count for --run daily.
	b := e.create(t, "manual", 1, batch.Policy{}, now, now)
	r, _ = e.health(t, "--date", today(), "--run", "daily")
	wantHealth(t, r, 1, health.Unhealthy, map[string]health.Level{"run": health.Fail})
	r, _ = e.health(t, "--date", today())
	if r.Batch == nil || r.Batch.Batch.ID != b.ID {
		t.Errorf("without --run: got %+v, want the date's newest batch %s", r.Batch, b.ID)
	}
}

// A file that does not exist is unhealthy and is not created.
func TestHealth_NoFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "missing.db")
	r, code := runHealthJSON(t, "--db", path, "--date", today())
	wantHealth(t, r, 1, health.Unhealthy, map[string]health.Level{"store": health.Fail})
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("health created %s: %v", path, err)
	}
}

// A file that is not yet a tipoff database is unhealthy and left as it
// was: health opens it read-only, so it never migrates or writes it.
func TestHealth_NotWritten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r, code := runHealthJSON(t, "--db", path, "--date", today())
	wantHealth(t, r, 1, health.Unhealthy, map[string]health.Level{"store": health.Fail})
	if code != 1 || !strings.Contains(r.Checks[0].Message, path) {
		t.Errorf("exit %d, store check %q; want 1 and a message naming %s", code, r.Checks[0].Message, path)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("health wrote %s: %v", path, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("health left %d files beside the database, want none", len(entries)-1)
	}
}

// Through a coordinator's API the checks say the same as from the file;
// an unreachable coordinator is unhealthy.
func TestHealth_Coordinator(t *testing.T) {
	t.Parallel()
	e := newHealthEnv(t)
	b := e.create(t, "daily", 10, batch.Policy{}, time.Now().Add(-time.Minute), time.Now().Add(-time.Minute))
	e.record(t, b.ID, 0, 9, batch.OutcomeSucceeded)
	e.record(t, b.ID, 9, 10, batch.OutcomeFailed)
	e.finalize(t, b.ID, true)
	srv := httptest.NewServer(httpapi.NewStatus(e.app.statusConfig(time.Now)).Handler())
	defer srv.Close()

	fromDB, _ := e.health(t, "--date", today())
	fromAPI, code := runHealthJSON(t, "--coordinator", srv.URL, "--date", today())
	if code != 2 {
		t.Errorf("exit %d, want 2 (partial)", code)
	}
	if c := checkOf(fromAPI, "coordinator"); c.Level != health.OK {
		t.Errorf("coordinator check: got %+v, want ok", c)
	}
	// Both list the same checks after their source line.
	if diff := cmp.Diff(fromDB.Checks[1:], fromAPI.Checks[1:]); diff != "" {
		t.Errorf("checks (-db +coordinator):\n%s", diff)
	}

	srv.Close()
	r, _ := runHealthJSON(t, "--coordinator", srv.URL, "--date", today())
	wantHealth(t, r, 1, health.Unhealthy, map[string]health.Level{"coordinator": health.Fail})
}

func TestHealth_BadFlags(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "tipoff.db")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--db", db, "--date", "2026-02-30"}, `"2026-02-30"`},
		{[]string{"--db", db, "--daily", "25:00"}, `"25:00"`},
		{[]string{"--db", db, "--coordinator", "http://127.0.0.1:1"}, "not both"},
		{[]string{"--coordinator", "127.0.0.1:8080"}, `"127.0.0.1:8080"`},
		{[]string{"--db", db, "--grace", "-1m"}, "grace"},
		{[]string{"--db", db, "extra"}, `"extra"`},
	}
	for _, tt := range tests {
		_, err := runMain(t, append([]string{"health"}, tt.args...)...)
		var ec exitCodeError
		if err == nil || errors.As(err, &ec) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("health %v: got %v, want an error naming %s", tt.args, err, tt.want)
		}
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bad flags created %s", db)
	}
}

// Text output: a verdict and a line per check; colour only when asked.
func TestHealth_Text(t *testing.T) {
	t.Parallel()
	e := newHealthEnv(t)
	b := e.create(t, "daily", 3, batch.Policy{}, time.Now().Add(-time.Minute), time.Now().Add(-time.Minute))
	e.record(t, b.ID, 0, 2, batch.OutcomeSucceeded)
	e.record(t, b.ID, 2, 3, batch.OutcomeFailed)
	out, err := runMain(t, "health", "--db", e.db, "--export-dir", e.exports, "--date", today())
	var ec exitCodeError
	if !errors.As(err, &ec) || ec.code != 2 {
		t.Fatalf("got %v, want exit 2", err)
	}
	for _, want := range []string{": DEGRADED\n", "  WARN failed ", "       - p03: failed after 1 attempt(s): permanent: player p03"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colour codes in output to a non-terminal:\n%q", out)
	}
	var r health.Report
	r.Status = health.Unhealthy
	r.Add("run", health.Fail, "no batch")
	var buf bytes.Buffer
	health.WriteText(&buf, &r, true)
	if !strings.Contains(buf.String(), "\x1b[31mFAIL\x1b[0m") {
		t.Errorf("coloured output: got %q, want FAIL in red", buf.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The serve routes end to end: POST /start with a traceparent starts a
// synthetic day's batch; the health command, through the coordinator's API,
// waits for it and finds it healthy; /metrics counts its outcomes; and the
// trace ID runs from the request through every request message to every
// recorded outcome, in logs that name the batch and item of each line.
func TestServe_Observability(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.DB, cfg.ExportDir, cfg.LogLevel, cfg.LogFormat = filepath.Join(dir, "tipoff.db"), filepath.Join(dir, "exports"), "debug", "json"
	cfg.SweepEvery = 50 * time.Millisecond
	var logs syncBuffer
	log := cfg.Logger(&logs, "")
	// A small league keeps the test quick under -race.
	league, err := dataimport.Synthetic(1, dataimport.SyntheticOptions{From: predict.MustParseDate("2025-10-21"),
		To: predict.MustParseDate("2025-11-30"), PlayedThrough: predict.MustParseDate("2025-11-24"), Teams: 8})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Workers = 2
	pc := predictConfig{Books: predict.DefaultBooks, MinGames: 3, MinMinutes: 12}
	app, err := openEmbedded(t.Context(), cfg, pc.settings(cfg), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if err := app.db.ImportDataset(t.Context(), league); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Go(func() { app.coord.Run(ctx) })
	w := app.worker("serve", nil)
	wg.Go(func() { w.Run(ctx) })
	srv := httptest.NewServer(app.handler(nil))
	defer srv.Close()

	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/start", strings.NewReader(`{"date":"2025-11-25","run":"daily"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Traceparent", "00-"+trace+"-00f067aa0ba902b7-01")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var b httpapi.StartResponse
	err = json.NewDecoder(resp.Body).Decode(&b)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted || b.TraceID != trace || !b.Created {
		t.Fatalf("POST /start: %d, %v, %+v; want 202 and a new batch with trace %s", resp.StatusCode, err, b, trace)
	}

	var r health.Report
	for deadline := time.Now().Add(60 * time.Second); ; {
		r, _ = runHealthJSON(t, "--coordinator", srv.URL, "--date", "2025-11-25")
		if r.Batch != nil && r.Batch.Batch.State == batch.Finalized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch not finalized within 60 s:\n%s", describe(r))
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	wg.Wait()
	// The coordinator's API does not know the export directory of the
	// file's shape, and this one serves it: every check passes.
	wantHealth(t, r, 0, health.Healthy, map[string]health.Level{"coordinator": health.OK, "state": health.OK, "published": health.OK, "export": health.OK})
	fin := r.Batch.Batch

	body, code := getText(t, srv.URL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, want := range []string{
		fmt.Sprintf("tipoff_outcomes_recorded_total{outcome=\"succeeded\"} %d\n", fin.Counts.Succeeded),
		fmt.Sprintf("tipoff_outcomes_recorded_total{outcome=\"skipped\"} %d\n", fin.Counts.Skipped),
		"tipoff_finalize_attempts_total{result=\"finalized\"} 1\n",
		"tipoff_batches{result=\"succeeded\",state=\"finalized\"} 1\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// POST /start dispatches while the sweeper may too: an item can be
	// published twice (the queue drops the copy), never less than once.
	var dispatched int
	if _, err := fmt.Sscanf(body[strings.Index(body, "\ntipoff_items_dispatched_total ")+1:], "tipoff_items_dispatched_total %d", &dispatched); err != nil || dispatched < fin.Total {
		t.Errorf("tipoff_items_dispatched_total: got %d (%v), want at least %d", dispatched, err, fin.Total)
	}

	// Logs: JSON lines; every line naming an item names its batch; every
	// recorded outcome and handled request carries the trace.
	recorded, handled := map[string]bool{}, 0
	for line := range strings.Lines(logs.String()) {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if _, ok := l["item_id"]; ok && l["batch_id"] == nil && l["message"] != "player left out" {
			t.Errorf("log line names an item but no batch: %s", line)
		}
		switch l["message"] {
		case "outcome recorded":
			if l["trace_id"] != trace || l["batch_id"] != fin.ID {
				t.Errorf("outcome line without the batch and trace: %s", line)
			}
			recorded[fmt.Sprint(l["item_id"])] = true
		case "request handled":
			handled++
			if l["trace_id"] != trace {
				t.Errorf("worker line without the trace: %s", line)
			}
		case "batch created", "items dispatched", "finalizing", "batch finalized", "start":
			if l["batch_id"] != fin.ID || l["trace_id"] != trace && l["message"] != "batch created" {
				t.Errorf("batch line without the batch and trace: %s", line)
			}
		}
	}
	if len(recorded) != fin.Total || handled < fin.Total {
		t.Errorf("logs: %d items with a recorded outcome, %d handled requests; want every one of the %d", len(recorded), handled, fin.Total)
	}
}

func getText(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp.StatusCode
}
