package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"tipoff/batch"
	"tipoff/gcpstorage"
	"tipoff/httpapi"
	"tipoff/pipeline"
	"tipoff/predict"
	"tipoff/sqlite"
)

// embedded is the embedded shape's wiring: one SQLite file holding the
// data, the batch store, the queue and the published picks, and on it the
// prediction job, the engine, the coordinator runtime and the starter.
// "tipoff run", "serve", "worker" and "demo" each build one.
type embedded struct {
	cfg     Config
	log     *slog.Logger
	db      *sqlite.DB
	store   *sqlite.Store
	queue   *sqlite.Queue
	metrics *httpapi.Metrics
	job     *pipeline.Job
	engine  *batch.Engine
	coord   *batch.Coordinator
	starter *pipeline.Starter
}

// openEmbedded opens the SQLite file named by cfg.DB and wires the shape on
// it. New batches are built from load's data, or from the file's own when
// load is nil: then just the date's rows, with the calibrations the file
// keeps.
func openEmbedded(ctx context.Context, cfg Config, s pipeline.Settings, load pipeline.LoadFunc, log *slog.Logger) (*embedded, error) {
	if gcpstorage.IsURL(cfg.ExportDir) {
		return nil, fmt.Errorf("export-dir %s: the cloud coordinator writes exports to Cloud Storage; this shape writes a directory", cfg.ExportDir)
	}
	db, err := sqlite.Open(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	a := &embedded{cfg: cfg, log: log, db: db, store: sqlite.NewStore(db)}
	a.queue = sqlite.NewQueue(db, sqlite.QueueConfig{Lease: cfg.Lease, MaxDeliveries: cfg.Policy.MaxAttempts + 2})
	a.metrics = httpapi.NewMetrics(httpapi.MetricsConfig{Store: a.store, QueueDepths: a.queue.Depths, Log: log})
	a.job = pipeline.NewJob(pipeline.JobConfig{Store: a.store, Publisher: db, Exporter: pipeline.ExportToDir(cfg.ExportDir), Exports: db, Failpoint: hitFailpoint, Log: log})
	// The engine dispatches through the store, publishing and marking a
	// chunk in one transaction, unless the "published" failpoint needs the
	// two apart.
	var q batch.Queue = a.queue
	if failpoints().Arms("published") {
		q = failQueue{a.queue}
	}
	finalize := func(ctx context.Context, b batch.Batch) ([]byte, error) {
		a.db.CheckpointBackground() // while the finalize reads and consolidates
		return a.job.Finalize(ctx, b)
	}
	a.engine = batch.NewEngine(a.store, q, log, batch.EngineConfig{LeaseTTL: cfg.Finalize, Finalize: finalize, Observer: a.metrics})
	a.coord = batch.NewCoordinator(a.engine, a.queue, log, batch.CoordinatorConfig{SweepEvery: cfg.SweepEvery, PullOutcomes: true, Solo: true,
		AfterSweep: func(ctx context.Context) error { _, err := a.job.RetryExports(ctx); return err }})
	sc := pipeline.StarterConfig{Engine: a.engine, Store: a.store, Load: load, Settings: s, Log: log}
	if load == nil {
		sc.Load, sc.LoadDay, sc.Calibrations = a.loadData, a.db.LoadDay, a.db
	}
	a.starter = pipeline.NewStarter(sc)
	return a, nil
}

// Close closes the queue and the file.
func (a *embedded) Close() error {
	a.queue.Close()
	return a.db.Close()
}

// loadData reads the data set imported into the file.
func (a *embedded) loadData(ctx context.Context) (*predict.Dataset, error) {
	start := time.Now()
	ds, err := a.db.LoadDataset(ctx)
	if err != nil {
		return nil, fmt.Errorf("load data from %s: %w", a.cfg.DB, err)
	}
	if len(ds.Games()) == 0 {
		return nil, fmt.Errorf("%s holds no data: import some with \"tipoff import DIR\" (or \"tipoff import --synthetic\"), or try \"tipoff demo\"", a.cfg.DB)
	}
	a.log.Debug("data loaded", "db", a.cfg.DB, "data_version", ds.Version(), "took", time.Since(start).Round(time.Millisecond).String())
	return ds, nil
}

// worker returns workers that hand their outcomes to sink, or (nil) record
// them straight through the engine, in the transaction that acks their
// requests; the "recorded" failpoint fires after each such commit.
func (a *embedded) worker(name string, sink batch.OutcomeSink) *batch.Worker {
	wc := batch.WorkerConfig{Name: name, Concurrency: a.cfg.Workers, BatchSize: a.cfg.Receive, Observer: a.metrics}
	if sink == nil {
		sink = batch.RecordOutcomes(a.engine)
		if ack := batch.RecordAndAck(a.engine, a.queue); ack != nil {
			wc.Acking = func(ctx context.Context, msgs []batch.OutcomeMessage, ds []batch.Delivery) error {
				err := ack(ctx, msgs, ds)
				if err == nil {
					hitFailpoint("recorded")
				}
				return err
			}
		}
	}
	return batch.NewWorker(a.queue, a.job.Handle, sink, a.log, wc)
}

// statusConfig is what the status API, pages and health read in the
// embedded shape: the file's store, publications, queue and export
// directory.
func (a *embedded) statusConfig(now func() time.Time) httpapi.StatusConfig {
	return httpapi.StatusConfig{Store: a.store, Publications: a.db, DeadLetters: a.queue, QueueDepths: a.queue.Depths,
		Export: httpapi.ExportDir(a.cfg.ExportDir, a.db), NowFunc: now, Log: a.log,
		Reliability: pipeline.Reliability{Load: a.loadData, Published: a.db.Published, Now: now}}
}

// handler is the embedded shape's HTTP surface: the coordinator's routes
// (POST /start, cancel, publish, sweep), the status pages and API, and
// /metrics, behind guard (nil: open, on loopback). It has no pushes.
func (a *embedded) handler(guard httpapi.Middleware) http.Handler {
	return httpapi.NewCoordinatorHandler(httpapi.CoordinatorConfig{Coordinator: a.coord, Start: a.starter.Start, Publish: a.job.Publish,
		Guards: httpapi.Guards{Start: guard, Operator: guard},
		Status: httpapi.NewStatus(a.statusConfig(time.Now)), Metrics: a.metrics, Log: a.log})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
