package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"tipoff/batch"
	"tipoff/httpapi"
)

const serveUsage = `Usage: tipoff serve [--addr HOST:PORT] [--daily HH:MM] [--workers N] [--db FILE]

Runs the embedded coordinator as a long-lived process: records the outcomes
that workers (in this process, and any "tipoff worker" processes on the same
SQLite file) report, re-drives overdue players, enforces deadlines, finalizes
each batch exactly once and relays its event, and serves the status pages and
metrics on --addr (loopback by default).

With --daily, it starts the day's run at that time of day in the league's time
zone (America/New_York). After a restart it catches up a run missed while it
was down; runs are idempotent by date and label, so a catch-up never makes a
second batch. --workers 0 leaves all the work to separate worker processes.`

func runServe(ctx context.Context, m *Main, args []string) error {
	fs, b := newFlagSet(m, "serve", serveUsage)
	b.db()
	b.run()
	b.work()
	b.policy()
	b.log()
	var pc predictConfig
	b.predict(&pc)
	addr := "127.0.0.1:8080"
	b.env.str("TIPOFF_ADDR", &addr)
	fs.StringVar(&addr, "addr", addr, "`address` for the status pages and metrics (TIPOFF_ADDR)")
	dailyAt := ""
	b.env.str("TIPOFF_DAILY", &dailyAt)
	fs.StringVar(&dailyAt, "daily", dailyAt, "start the day's run every day at `HH:MM` league time (TIPOFF_DAILY)")
	cfg, err := b.parse(args)
	if err != nil {
		return err
	}
	var sched *daily
	if dailyAt != "" {
		d, err := parseDaily(dailyAt)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		sched = &d
	}
	log := cfg.Logger(m.Stderr)
	app, err := openEmbedded(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer app.Close()
	j := pc.newJob(app.store, app.db, cfg.ExportDir, log)
	eng := app.engine(j.finalize)
	coord := batch.NewCoordinator(eng, app.queue, log, batch.CoordinatorConfig{SweepEvery: cfg.SweepEvery})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	srv := &http.Server{Handler: app.routes(eng, j), ReadHeaderTimeout: 10 * time.Second}
	log.Info("serving", "addr", ln.Addr().String(), "db", cfg.DB, "workers", cfg.Workers, "daily", dailyAt)

	var wg sync.WaitGroup
	wg.Go(func() { coord.Run(ctx) })
	if cfg.Workers > 0 {
		w := batch.NewWorker(app.queue, j.handle, batch.RecordOutcomes(eng), log, batch.WorkerConfig{Name: "serve", Concurrency: cfg.Workers, BatchSize: cfg.Receive, Observer: app.metrics})
		wg.Go(func() { w.Run(ctx) })
	}
	if sched != nil {
		wg.Go(func() { app.daily(ctx, *sched, eng, j, log) })
	}
	wg.Go(func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	})
	err = srv.Serve(ln)
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// startRun creates the batch for key from the data in the file as it is now
// (or finds the existing one) and dispatches what waits in its outbox.
// The new batch carries trace in its meta, and so in every request and
// outcome of it; an existing batch keeps the trace it was created with.
func (a *embedded) startRun(ctx context.Context, eng *batch.Engine, j *job, key batch.Key, trace string) (batch.Batch, bool, error) {
	ds, err := a.db.LoadDataset(ctx)
	if err != nil {
		return batch.Batch{}, false, fmt.Errorf("load data: %w", err)
	}
	spec, err := j.spec(ds, key, a.cfg.Policy, map[string]string{batch.AttrTraceID: trace})
	if err != nil {
		return batch.Batch{}, false, err
	}
	b, created, err := eng.Create(ctx, spec)
	if err != nil {
		return batch.Batch{}, false, err
	}
	if _, err := eng.Dispatch(ctx, b.ID); err != nil {
		return b, created, err
	}
	return b, created, nil
}

// daily starts the day's run at the scheduled time, catching up a run that
// is due but missing when it starts.
func (a *embedded) daily(ctx context.Context, d daily, eng *batch.Engine, j *job, log *slog.Logger) {
	for {
		if date := d.due(time.Now()); date != "" {
			key := batch.Key{Date: date, Run: a.cfg.Run}
			b, created, err := a.startRun(ctx, eng, j, key, newTraceID())
			switch {
			case err != nil && ctx.Err() == nil:
				log.Error("scheduled run failed to start; retrying in a minute", "run_date", date, "err", err)
				select {
				case <-time.After(time.Minute):
					continue
				case <-ctx.Done():
					return
				}
			case created:
				log.Info("scheduled run started", "batch_id", b.ID, "run_date", date, "items", b.Total, "trace_id", b.Meta[batch.AttrTraceID])
			case err == nil:
				log.Info("scheduled run already exists", "batch_id", b.ID, "run_date", date, "state", b.State)
			}
		}
		next := d.next(time.Now())
		log.Info("next scheduled run", "at", next.Format(time.RFC3339))
		select {
		case <-time.After(time.Until(next)):
		case <-ctx.Done():
			return
		}
	}
}

// routes is the embedded server's HTTP surface: the status pages and JSON
// API (httpapi.Status, the same handler the cloud coordinator mounts),
// metrics, and POST /start. It listens on loopback by default and has no
// auth.
func (a *embedded) routes(eng *batch.Engine, j *job) http.Handler {
	mux := http.NewServeMux()
	httpapi.NewStatus(a.statusConfig(time.Now)).Register(mux)
	mux.Handle("GET /metrics", a.metrics.Handler())
	mux.HandleFunc("POST /start", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Date string `json:"date"`
			Run  string `json:"run"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
			http.Error(w, "body: want JSON {\"date\":\"YYYY-MM-DD\",\"run\":\"label\"}: "+err.Error(), http.StatusBadRequest)
			return
		}
		if body.Date == "" {
			body.Date = LeagueToday(time.Now())
		}
		if body.Run == "" {
			body.Run = a.cfg.Run
		}
		trace := httpapi.TraceID(r)
		if trace == "" {
			trace = newTraceID()
		}
		b, created, err := a.startRun(r.Context(), eng, j, batch.Key{Date: body.Date, Run: body.Run}, trace)
		if err != nil {
			a.log.Warn("start failed", "run_date", body.Date, "run", body.Run, "trace_id", trace, "err", err)
			httpapi.WriteError(w, a.log, r, err)
			return
		}
		a.log.Info("run started by request", "batch_id", b.ID, "run_date", body.Date, "created", created, "trace_id", b.Meta[batch.AttrTraceID])
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(b)
	})
	return mux
}
