package pipeline_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/pipeline"
	"tipoff/predict"
	"tipoff/sqlite"
)

// starterEnv is a starter on a real SQLite store whose loads of a small
// synthetic league are counted.
type starterEnv struct {
	store   *sqlite.Store
	starter *pipeline.Starter
	league  *predict.Dataset
	loads   atomic.Int32
}

func newStarterEnv(t *testing.T, now time.Time) *starterEnv {
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
	e := &starterEnv{store: sqlite.NewStore(db), league: league}
	eng := batch.NewEngine(e.store, sqlite.NewQueue(db, sqlite.QueueConfig{}), nil, batch.EngineConfig{})
	e.starter = pipeline.NewStarter(pipeline.StarterConfig{Engine: eng, Store: e.store,
		Load: func(context.Context) (*predict.Dataset, error) {
			e.loads.Add(1)
			return league, nil
		},
		Settings: pipeline.Settings{Run: "daily", Policy: batch.Policy{}.WithDefaults(),
			Select: predict.SelectOptions{MinGames: 3, MinMinutes: 12}, Request: predict.RequestOptions{Books: predict.DefaultBooks}},
		Meta:    map[string]string{"data_path": "synthetic"},
		NowFunc: func() time.Time { return now }})
	return e
}

// gameDay is a date of the synthetic season with games.
const gameDay = "2025-12-10"

// A new key creates its batch from the data, with the request's options
// and trace; the same key again returns that batch without loading data,
// whatever options it carries.
func TestStarter_ExistingKeyLoadsNothing(t *testing.T) {
	t.Parallel()
	e := newStarterEnv(t, time.Now())
	req := pipeline.StartRequest{Date: gameDay, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Options: pipeline.Options{MaxAttempts: 7, Lines: []float64{1}}}
	b, created, err := e.starter.Start(t.Context(), req)
	if err != nil || !created {
		t.Fatalf("first start: created %v, %v", created, err)
	}
	if b.Key != (batch.Key{Date: gameDay, Run: "daily"}) || b.Total == 0 || b.Policy.MaxAttempts != 7 {
		t.Fatalf("first start made %+v; want key %s/daily, players, max attempts 7", b, gameDay)
	}
	if b.Meta[batch.AttrTraceID] != req.TraceID || b.Meta["data_path"] != "synthetic" || b.Meta["data_version"] == "" {
		t.Errorf("batch meta %v: want the trace, data path and data version", b.Meta)
	}
	again, created, err := e.starter.Start(t.Context(), pipeline.StartRequest{Date: gameDay, Options: pipeline.Options{MaxAttempts: 2}})
	if err != nil || created || again.ID != b.ID || again.Policy.MaxAttempts != 7 {
		t.Fatalf("second start: %s created %v max attempts %d, %v; want batch %s as created", again.ID, created, again.Policy.MaxAttempts, err, b.ID)
	}
	if n := e.loads.Load(); n != 1 {
		t.Errorf("data loaded %d times, want once", n)
	}
}

// Concurrent starts of one key create one batch and load the data once.
func TestStarter_ConcurrentStartsOneKey(t *testing.T) {
	t.Parallel()
	e := newStarterEnv(t, time.Now())
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Go(func() {
			b, _, err := e.starter.Start(t.Context(), pipeline.StartRequest{Date: gameDay})
			ids[i], errs[i] = b.ID, err
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("start %d: %s, %v; want batch %s", i, ids[i], errs[i], ids[0])
		}
	}
	if n := e.loads.Load(); n != 1 {
		t.Errorf("data loaded %d times for one key, want once", n)
	}
}

// Without a date the key is the league's date of the schedule time, else
// of now; without a run label, the configured one.
func TestStarter_Key(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 12, 11, 3, 0, 0, 0, time.UTC) // 22:00 on the 10th in New York
	e := newStarterEnv(t, now)
	tests := []struct {
		req  pipeline.StartRequest
		want batch.Key
	}{
		{pipeline.StartRequest{}, batch.Key{Date: "2025-12-10", Run: "daily"}},
		{pipeline.StartRequest{ScheduleTime: time.Date(2025, 12, 12, 12, 0, 0, 0, time.UTC)}, batch.Key{Date: "2025-12-12", Run: "daily"}},
		{pipeline.StartRequest{Date: "2025-12-01", Run: "late"}, batch.Key{Date: "2025-12-01", Run: "late"}},
	}
	for _, tt := range tests {
		if got := e.starter.Key(tt.req); got != tt.want {
			t.Errorf("Key(%+v) = %v, want %v", tt.req, got, tt.want)
		}
	}
}

// offDay returns the first date of ds's schedule without games.
func offDay(t *testing.T, ds *predict.Dataset) string {
	t.Helper()
	games := ds.Games()
	for d := games[0].Date; d <= games[len(games)-1].Date; d = d.AddDays(1) {
		if len(ds.GamesOn(d)) == 0 {
			return d.String()
		}
	}
	t.Fatal("the synthetic schedule has no day without games")
	return ""
}

// A date inside the schedule without games gets a batch with no items,
// finalized as succeeded at once and saying why; starting it again
// returns that batch without reading the data.
func TestStarter_NoGames(t *testing.T) {
	t.Parallel()
	e := newStarterEnv(t, time.Now())
	day := offDay(t, e.league)
	b, created, err := e.starter.Start(t.Context(), pipeline.StartRequest{Date: day})
	if err != nil || !created {
		t.Fatalf("start on the off day %s = created %v, %v; want created", day, created, err)
	}
	if b.State != batch.Finalized || b.Result != batch.ResultSucceeded || b.Total != 0 {
		t.Fatalf("off-day batch is %s/%s with %d items; want finalized/succeeded with 0", b.State, b.Result, b.Total)
	}
	if reason, ok := b.NoItems(); !ok || reason != "no games scheduled on "+day {
		t.Fatalf("NoItems() = %q, %v; want \"no games scheduled on %s\"", reason, ok, day)
	}
	again, created, err := e.starter.Start(t.Context(), pipeline.StartRequest{Date: day})
	if err != nil || created || again.ID != b.ID {
		t.Fatalf("second start = %s created %v, %v; want %s, not created", again.ID, created, err, b.ID)
	}
	if n := e.loads.Load(); n != 1 {
		t.Fatalf("data loaded %d times, want 1", n)
	}
}

// A date outside the data's schedule is not found, naming the date and
// the schedule's span; a bad request is invalid; neither creates anything.
func TestStarter_Refused(t *testing.T) {
	t.Parallel()
	e := newStarterEnv(t, time.Now())
	_, _, err := e.starter.Start(t.Context(), pipeline.StartRequest{Date: "2025-07-04"})
	if !errors.Is(err, batch.ErrNotFound) || !strings.Contains(err.Error(), "no schedule for 2025-07-04") ||
		!strings.Contains(err.Error(), "games from 2025-10-21 to ") {
		t.Errorf("start on a day outside the schedule: %v; want not found naming the date and the schedule's span", err)
	}
	_, _, err = e.starter.Start(t.Context(), pipeline.StartRequest{Date: "2025-13-01", Options: pipeline.Options{MinGames: -1}})
	if !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), "date") || !strings.Contains(err.Error(), "min_games") {
		t.Errorf("bad request: %v; want invalid naming date and min_games", err)
	}
	if bs, err := e.store.ListBatches(t.Context(), batch.ListOptions{}); err != nil || len(bs) != 0 {
		t.Errorf("refused starts left %d batches, %v", len(bs), err)
	}
}

func TestStartRequest_Validate(t *testing.T) {
	ok := pipeline.StartRequest{Date: "2026-01-15", Run: "daily", Options: pipeline.Options{Lines: []float64{1, 2},
		Books: []string{"draftkings"}, MinGames: 3, MinMinutes: 12, ItemTimeout: pipeline.Duration(time.Minute), MaxAttempts: 3,
		Deadline: pipeline.Duration(time.Hour), MinSuccess: 0.9}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", ok, err)
	}
	if err := (pipeline.StartRequest{}).Validate(); err != nil {
		t.Fatalf("empty request: %v", err)
	}
	bad := ok
	bad.Options.Books = []string{" spaced "}
	if err := bad.Validate(); !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), "options.books[0]") {
		t.Fatalf("Validate with a bad book = %v; want ErrInvalid naming options.books[0]", err)
	}
}

// A start body decodes with every problem named once, by its field.
func TestDecodeStartRequest(t *testing.T) {
	t.Parallel()
	req, err := pipeline.DecodeStartRequest([]byte(`{"date":"2025-12-01","run":"late","options":{"deadline":"90m","item_timeout":"30s","lines":[2]}}`))
	if err != nil || req.Date != "2025-12-01" || req.Run != "late" || time.Duration(req.Options.Deadline) != 90*time.Minute ||
		time.Duration(req.Options.ItemTimeout) != 30*time.Second || len(req.Options.Lines) != 1 {
		t.Fatalf("good body: %+v, %v", req, err)
	}
	if req, err := pipeline.DecodeStartRequest([]byte(" \n")); err != nil || req.Date != "" {
		t.Fatalf("empty body: %+v, %v; want an empty request", req, err)
	}
	tests := []struct {
		body string
		want []string
	}{
		{`{"options":{"deadline":"forever","min_games":-1}}`, []string{"options.deadline \"forever\"", "options.min_games -1"}},
		{`{"date":"2025-02-30"}`, []string{`date "2025-02-30"`}},
		{`{"dates":"2025-12-01"}`, []string{`unknown field "dates"`}},
		{`{} []`, []string{"after the JSON object"}},
		{`{"options":{"min_games":"three"}}`, []string{"min_games"}},
	}
	for _, tt := range tests {
		_, err := pipeline.DecodeStartRequest([]byte(tt.body))
		if !errors.Is(err, batch.ErrInvalid) {
			t.Errorf("%s: %v; want an error wrapping %v", tt.body, err, batch.ErrInvalid)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v; want it to name %q", tt.body, err, w)
			}
		}
		if n := strings.Count(err.Error(), "invalid:"); n != 1 {
			t.Errorf("%s: %q says invalid %d times", tt.body, err, n)
		}
	}
}

// A bookmaker the data has no line of is refused, naming it and the books
// the data has, instead of every player falling back to an estimated line.
func TestStarter_UnknownBook(t *testing.T) {
	t.Parallel()
	e := newStarterEnv(t, time.Now())
	_, _, err := e.starter.Start(t.Context(), pipeline.StartRequest{Date: gameDay, Options: pipeline.Options{Books: []string{"nosuchbook"}}})
	if !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), "nosuchbook") || !strings.Contains(err.Error(), "draftkings") {
		t.Fatalf("start with an unknown book: %v; want invalid naming it and the books the data has", err)
	}
	if bs, err := e.store.ListBatches(t.Context(), batch.ListOptions{}); err != nil || len(bs) != 0 {
		t.Errorf("refused start left %d batches, %v", len(bs), err)
	}
}
