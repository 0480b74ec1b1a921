package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/internal/realdata"
	"tipoff/pipeline"
	"tipoff/predict"
	"tipoff/predict/systems"
	"tipoff/sqlite"
)

// realData returns the shared real NBA data directory (see
// [realdata.Dir]).
func realData(t testing.TB) string { return realdata.Dir(t) }

// realDB is the real data imported once per test binary, for the tests
// that run days of it: each works on its own copy of the file.
var realDB struct {
	once sync.Once
	dir  string
	path string
	took time.Duration
	err  error
}

// realDataDB imports the real data into a database file on its first call
// (as "tipoff import" does) and returns a copy of that file in a temporary
// directory of t's.
func realDataDB(t *testing.T) string {
	t.Helper()
	data := realData(t)
	realDB.once.Do(func() {
		if realDB.dir, realDB.err = os.MkdirTemp("", "tipoff-test-realdb-"); realDB.err != nil {
			return
		}
		realDB.path = filepath.Join(realDB.dir, "real.db")
		start := time.Now()
		var out, errOut bytes.Buffer
		m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
		if err := m.Run(context.Background(), []string{"import", "--db", realDB.path, data}); err != nil {
			realDB.err = fmt.Errorf("tipoff import %s: %v\n%s", data, err, errOut.String())
		}
		realDB.took = time.Since(start)
	})
	if realDB.err != nil {
		t.Fatal(realDB.err)
	}
	t.Logf("real data imported once, in %v", realDB.took.Round(time.Millisecond))
	path := filepath.Join(t.TempDir(), "tipoff.db")
	for _, suffix := range []string{"", "-wal"} {
		src, err := os.ReadFile(realDB.path + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+suffix, src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// realDatasets holds the data sets the tests read from directories, each
// read once: the tests only read them, and reading the real data under the
// race detector takes seconds.
var realDatasets struct {
	sync.Mutex
	m map[string]*predict.Dataset
}

// readDataset returns the data set in dir, read once per test binary.
func readDataset(t testing.TB, dir string) *predict.Dataset {
	t.Helper()
	realDatasets.Lock()
	defer realDatasets.Unlock()
	if ds, ok := realDatasets.m[dir]; ok {
		return ds
	}
	ds, err := dataimport.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if realDatasets.m == nil {
		realDatasets.m = map[string]*predict.Dataset{}
	}
	realDatasets.m[dir] = ds
	return ds
}

// runMain runs the binary's Main in this process and returns its stdout.
func runMain(t testing.TB, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	err := m.Run(t.Context(), args)
	if err != nil {
		t.Logf("tipoff %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), err
}

// checkPublished checks that the date's publication holds, for every item
// of the batch, exactly every system's prediction for every line of its
// request, once, and that the export file lists the same.
func checkPublished(t *testing.T, dbPath, exportDir string, b batch.Batch) {
	t.Helper()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := sqlite.NewStore(db)
	items, err := store.Items(ctx, b.ID, batch.ItemsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != b.Total {
		t.Fatalf("batch has %d items, want its total %d", len(items), b.Total)
	}
	nsys := len(systems.Default())
	want := make(map[string]int) // player -> predictions
	for _, it := range items {
		if it.Outcome != batch.OutcomeSucceeded {
			t.Errorf("item %s: outcome %q (%s), want succeeded", it.ID, it.Outcome, it.Error)
			continue
		}
		req, err := predict.DecodeRequest(it.Request)
		if err != nil {
			t.Fatalf("item %s: %v", it.ID, err)
		}
		want[it.ID] = nsys * len(req.Lines)
	}
	date := predict.MustParseDate(b.Key.Date)
	pub, err := db.Published(ctx, date)
	if err != nil {
		t.Fatal(err)
	}
	if pub.BatchID != b.ID {
		t.Fatalf("published batch %s, want %s", pub.BatchID, b.ID)
	}
	check := func(where string, pub *predict.Publication) {
		got := make(map[string]int)
		seen := make(map[predict.Key]bool)
		for _, pl := range pub.Players {
			for _, p := range pl.Predictions {
				if seen[p.Key()] {
					t.Errorf("%s: prediction %v stored twice", where, p.Key())
				}
				seen[p.Key()] = true
				got[pl.PlayerID]++
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d players, want %d", where, len(got), len(want))
		}
		for id, n := range want {
			if got[id] != n {
				t.Errorf("%s: player %s has %d predictions, want %d", where, id, got[id], n)
			}
		}
	}
	check("published", pub)
	raw, err := os.ReadFile(pipeline.ExportPath(exportDir, date))
	if err != nil {
		t.Fatal(err)
	}
	var exp predict.Publication
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatalf("export: %v", err)
	}
	check("export", &exp)
}

func TestRun_RealDay(t *testing.T) {
	t.Parallel()
	data := realData(t)
	dbPath := realDataDB(t)
	exports := filepath.Join(t.TempDir(), "exports")
	out, err := runMain(t, "run", "--db", dbPath, "--date", "2025-12-25", "--lines", "1,2", "--export-dir", exports, "--workers", "2")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	t.Log(out)
	b := onlyBatch(t, dbPath, "2025-12-25")
	if b.State != batch.Finalized || b.Result != batch.ResultSucceeded {
		t.Fatalf("batch %s: %s %s, want finalized succeeded", b.ID, b.State, b.Result)
	}
	if b.Total == 0 {
		t.Fatal("no players selected for Christmas Day 2025")
	}
	checkPublished(t, dbPath, exports, b)
	checkEvents(t, dbPath, b.ID)

	// The batch holds exactly the players selection picks for the date,
	// each with the base line and its four variants.
	ds := readDataset(t, data)
	date := predict.MustParseDate("2025-12-25")
	want := map[string]bool{}
	for _, c := range predict.SelectPlayers(ds, date, predict.SelectOptions{}) {
		if _, err := predict.BuildRequest(ds, date, c.PlayerID, predict.RequestOptions{}); err == nil {
			want[c.PlayerID] = true
		}
	}
	db, err := sqlite.Open(t.Context(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	items, err := sqlite.NewStore(db).Items(t.Context(), b.ID, batch.ItemsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(want) {
		t.Errorf("batch has %d players, selection gives %d", len(items), len(want))
	}
	for _, it := range items {
		if !want[it.ID] {
			t.Errorf("player %s is in the batch but not selected", it.ID)
		}
		req, err := predict.DecodeRequest(it.Request)
		if err != nil {
			t.Fatal(err)
		}
		if len(req.Lines) != 5 && req.Lines[0].Value >= 2.5 {
			t.Errorf("player %s has %d lines around %v, want 5", it.ID, len(req.Lines), req.Lines[0].Value)
		}
	}

	// Running the same date and label again finds the finalized batch.
	out, err = runMain(t, "run", "--db", dbPath, "--date", "2025-12-25", "--export-dir", exports)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "already finished") {
		t.Errorf("second run did not say the batch had finished:\n%s", out)
	}
	if again := onlyBatch(t, dbPath, "2025-12-25"); again.ID != b.ID {
		t.Fatalf("second run made batch %s, want the existing %s", again.ID, b.ID)
	}
}

// listBatches returns the batches of date in the file.
func listBatches(t *testing.T, dbPath, date string) []batch.Batch {
	t.Helper()
	db, err := sqlite.Open(t.Context(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bs, err := sqlite.NewStore(db).ListBatches(t.Context(), batch.ListOptions{Date: date})
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// onlyBatch returns the one batch of date in the file.
func onlyBatch(t *testing.T, dbPath, date string) batch.Batch {
	t.Helper()
	bs := listBatches(t, dbPath, date)
	if len(bs) != 1 {
		t.Fatalf("%d batches for %s, want 1", len(bs), date)
	}
	return bs[0]
}

// checkEvents checks that exactly one finalized event exists for the batch,
// and that it was relayed to the events topic.
func checkEvents(t *testing.T, dbPath, batchID string) {
	t.Helper()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := sqlite.NewQueue(db, sqlite.QueueConfig{})
	defer q.Close()
	var finalized []batch.Event
	for _, d := range drainTopic(t, q, batch.TopicEvents, 2*time.Second) {
		var ev batch.Event
		if err := json.Unmarshal(d.Body, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.BatchID == batchID && ev.Type == batch.EventFinalized {
			finalized = append(finalized, ev)
		}
	}
	// The outbox holds exactly one finalized event; the relay may publish
	// it more than once, always with the same ID.
	raw, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	if err := raw.QueryRowContext(ctx, "SELECT count(*) FROM events WHERE batch_id = ? AND type = ?", batchID, batch.EventFinalized).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d finalized events in the outbox for %s, want 1", n, batchID)
	}
	if len(finalized) == 0 {
		t.Fatalf("no finalized event relayed for %s", batchID)
	}
	for _, ev := range finalized[1:] {
		if ev.ID != finalized[0].ID {
			t.Fatalf("two different finalized events for %s: %s and %s", batchID, finalized[0].ID, ev.ID)
		}
	}
	t.Logf("finalized event %s relayed %d time(s)", finalized[0].ID, len(finalized))
}

// drainTopic receives and acks every message on topic of q until none
// arrives for quiet (Receive waits for one: a wait that runs out means the
// topic is empty), and returns what it received.
func drainTopic(t *testing.T, q batch.Queue, topic string, quiet time.Duration) []batch.Delivery {
	t.Helper()
	var all []batch.Delivery
	for {
		rctx, cancel := context.WithTimeout(t.Context(), quiet)
		ds, err := q.Receive(rctx, topic, 100)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return all
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ds...)
		if err := q.Ack(t.Context(), ds...); err != nil {
			t.Fatal(err)
		}
	}
}
