package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/pipeline"
	"tipoff/predict"
)

// busiestDayApp opens the embedded shape on a new file, its data the whole
// real data set (loaded once, before any timing), for the busiest date of
// the real data, which it returns with release, which drops the data set
// (after the run started, a server holds none). The app is closed with the
// benchmark.
func busiestDayApp(b *testing.B) (app *embedded, cfg Config, date predict.Date, release func()) {
	ds, err := dataimport.ReadDir(realData(b))
	if err != nil {
		b.Fatal(err)
	}
	date = ds.BusiestDate(predict.MustParseDate("2025-10-21"), 0)
	cfg = DefaultConfig()
	cfg.DB = filepath.Join(b.TempDir(), "tipoff.db")
	cfg.ExportDir = filepath.Join(b.TempDir(), "exports")
	cfg.SweepEvery = time.Second
	pc := predictConfig{Offsets: []float64{1, 2}, Books: predict.DefaultBooks, MinGames: 3, MinMinutes: 12}
	app, err = openEmbedded(b.Context(), cfg, pc.settings(cfg), func(context.Context) (*predict.Dataset, error) { return ds, nil }, discardLogger())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { app.Close() })
	return app, cfg, date, func() { ds = nil }
}

// BenchmarkRun_BusiestDay runs the busiest date of the real data (every
// selected player, 5 systems × 5 lines) end to end in one process: build
// the requests, create the batch, dispatch through the durable queue, predict
// in the workers, record every outcome, finalize (publish + export). The
// data set is loaded once, outside the timing.
func BenchmarkRun_BusiestDay(b *testing.B) {
	app, _, date, _ := busiestDayApp(b)
	players := 0
	i := 0
	for b.Loop() {
		req := pipeline.StartRequest{Date: date.String(), Run: fmt.Sprintf("bench-%d", i)}
		i++
		sum, err := app.runDay(b.Context(), req, discard{})
		if err != nil {
			b.Fatal(err)
		}
		if sum.Batch.Result != batch.ResultSucceeded {
			b.Fatalf("batch %s", sum.Batch.Result)
		}
		players = sum.Batch.Total
	}
	b.ReportMetric(float64(players), "players")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/day")
}

// BenchmarkBatchPage_BusiestDay asks for the batch page of the busiest date
// of the real data, finalized with its export file present, from 16
// concurrent clients over HTTP, as "tipoff serve" answers it. It reports
// requests per second and the 99th-percentile latency.
func BenchmarkBatchPage_BusiestDay(b *testing.B) {
	app, cfg, date, release := busiestDayApp(b)
	sum, err := app.runDay(b.Context(), pipeline.StartRequest{Date: date.String()}, discard{})
	if err != nil {
		b.Fatal(err)
	}
	release()
	runtime.GC()
	if _, err := os.Stat(pipeline.ExportPath(cfg.ExportDir, date)); err != nil {
		b.Fatalf("export of %s: %v", date, err)
	}
	srv := httptest.NewServer(app.handler(nil))
	defer srv.Close()
	url := srv.URL + "/batches/" + sum.Batch.ID
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	// The first view of a finalized batch reads its items; the rest are the
	// steady state measured.
	if resp, err := client.Get(url); err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %v", url, err)
	} else {
		resp.Body.Close()
	}
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			start := time.Now()
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Errorf("GET %s: %d, %v", url, resp.StatusCode, err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkRun_NoOp100k burns down a 100,000-item batch whose work does
// nothing, through the durable queue and the batch store, with every
// outcome durable before its request is acked: the machinery's own cost.
// It reports items/s and the process's peak resident memory.
func BenchmarkRun_NoOp100k(b *testing.B) {
	const n = 100_000
	items := make([]batch.NewItem, n)
	for i := range items {
		items[i] = batch.NewItem{ID: fmt.Sprintf("p%06d", i), Request: []byte(`{"noop":true}`)}
	}
	for i := 0; b.Loop(); i++ {
		cfg := DefaultConfig()
		cfg.DB = filepath.Join(b.TempDir(), fmt.Sprintf("noop-%d.db", i))
		app, err := openEmbedded(b.Context(), cfg, pipeline.Settings{}, nil, discardLogger())
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		bt := burnDown(b, app, items)
		took := time.Since(start)
		if bt.Counts.Succeeded != n || bt.Result != batch.ResultSucceeded {
			b.Fatalf("batch ended %s with %+v", bt.Result, bt.Counts)
		}
		b.ReportMetric(float64(n)/took.Seconds(), "items/s")
		app.Close()
	}
	b.ReportMetric(peakRSSMB(), "peak-RSS-MB")
}

// burnDown runs a batch of items with a no-op handler to its end.
func burnDown(b *testing.B, app *embedded, items []batch.NewItem) batch.Batch {
	ctx := b.Context()
	done := make(chan struct{})
	var once sync.Once
	eng := batch.NewEngine(app.store, app.queue, nil, batch.EngineConfig{Finalize: func(ctx context.Context, bt batch.Batch) ([]byte, error) {
		once.Do(func() { close(done) })
		return nil, nil
	}})
	bt, _, err := eng.Create(ctx, batch.Spec{Key: batch.Key{Date: "2025-12-25", Run: "noop"}, Items: items})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	noop := func(context.Context, batch.Delivery) (batch.Outcome, []byte, error) {
		return batch.OutcomeSucceeded, nil, nil
	}
	w := batch.NewWorker(app.queue, noop, batch.RecordOutcomes(eng), nil, batch.WorkerConfig{Concurrency: 4, BatchSize: 256,
		Acking: batch.RecordAndAck(eng, app.queue)})
	wg.Go(func() { w.Run(runCtx) })
	if _, err := eng.Dispatch(ctx, bt.ID); err != nil {
		b.Fatal(err)
	}
	<-done
	stop()
	wg.Wait()
	for {
		cur, err := app.store.GetBatch(ctx, bt.ID)
		if err != nil {
			b.Fatal(err)
		}
		if cur.State == batch.Finalized {
			return cur
		}
		time.Sleep(time.Millisecond)
	}
}

// peakRSSMB returns the process's peak resident set size (VmHWM) in MB.
func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkMain_RunBusiestDay runs "tipoff run --date 2025-12-23" through
// Main on a file the real data was imported into (outside the timing), as
// the binary does from start to exit: open the file, load what the date
// needs, calibrate, run the batch, publish and export. Each iteration is a
// new run label. Profile a first run with
//
//	go test -run '^$' -bench Main_RunBusiestDay -benchtime 1x -cpuprofile cpu.out -memprofile mem.out ./cmd/tipoff
func BenchmarkMain_RunBusiestDay(b *testing.B) {
	dir := b.TempDir()
	db := filepath.Join(dir, "tipoff.db")
	if _, err := runMain(b, "import", "--db", db, realData(b)); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if _, err := runMain(b, "run", "--db", db, "--export-dir", filepath.Join(dir, "exports"), "--date", "2025-12-23", "--run", fmt.Sprintf("bench-%d", i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/run")
}
