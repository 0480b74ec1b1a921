package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/gcpfirestore"
	"tipoff/gcppubsub"
	"tipoff/gcpstorage"
	"tipoff/httpapi"
	"tipoff/pipeline"
	"tipoff/predict"
	"tipoff/sqlite"
)

// cloud is the cloud shape's coordinator wiring: batch state and
// publications in Firestore, work over Pub/Sub, input data read from a path
// for a new batch when its version changed, and on them the prediction job,
// the engine, the coordinator runtime and the starter.
type cloud struct {
	cfg   Config
	cc    *cloudConfig
	log   *slog.Logger
	store *gcpfirestore.Store
	queue *gcppubsub.Queue
	gcs   *gcpstorage.Client // when the data or the exports are in Cloud Storage
	// exporter writes the day's export (nil: none); export reads it back.
	exporter pipeline.Exporter
	export   httpapi.ExportFunc
	data     *pipeline.DataSource
	file     *sqlite.DataFile // the data, when it is a SQLite file here
	metrics  *httpapi.Metrics
	job      *pipeline.Job
	engine   *batch.Engine
	coord    *batch.Coordinator
	starter  *pipeline.Starter
}

// openCloud connects to Firestore and Pub/Sub (their emulators when
// FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST are set) and wires the
// coordinator on them. Outcomes arrive by push unless cc.Pull.
func openCloud(ctx context.Context, cfg Config, cc *cloudConfig, s pipeline.Settings, dataPath string, log *slog.Logger) (*cloud, error) {
	store, err := cc.openStore(ctx, log)
	if err != nil {
		return nil, err
	}
	queue, err := cc.openQueue(ctx, cfg, batch.TopicRequests, batch.TopicOutcomes, batch.TopicEvents)
	if err != nil {
		store.Close()
		return nil, err
	}
	c := &cloud{cfg: cfg, cc: cc, log: log, store: store, queue: queue}
	if err := c.openFiles(ctx, dataPath); err != nil {
		c.Close()
		return nil, err
	}
	c.metrics = httpapi.NewMetrics(httpapi.MetricsConfig{Store: store, Log: log})
	c.job = pipeline.NewJob(pipeline.JobConfig{Store: store, Publisher: store, Exporter: c.exporter, Exports: store, Log: log})
	c.engine = batch.NewEngine(store, queue, log, batch.EngineConfig{LeaseTTL: cfg.Finalize, Finalize: c.job.Finalize, Observer: c.metrics})
	c.coord = batch.NewCoordinator(c.engine, queue, log, batch.CoordinatorConfig{SweepEvery: cfg.SweepEvery, PullOutcomes: cc.Pull,
		AfterSweep: func(ctx context.Context) error { _, err := c.job.RetryExports(ctx); return err }})
	sc := pipeline.StarterConfig{Engine: c.engine, Store: store, Load: c.data.Load, Calibrations: c.data, Settings: s, Meta: map[string]string{"data_path": dataPath}, Log: log}
	if c.file != nil { // a new batch reads just its date's rows, with the fits the file keeps
		sc.LoadDay, sc.Calibrations = c.data.DayLoader(c.file.LoadDay), c.file
	}
	c.starter = pipeline.NewStarter(sc)
	return c, nil
}

// openFiles wires where the input data is read from and the exports go: a
// CSV directory or gs:// data (through Cloud Storage's API), kept whole while
// its version holds, or a SQLite file made by "tipoff import", kept copied.
func (c *cloud) openFiles(ctx context.Context, dataPath string) (err error) {
	read, version, dir := func(_ context.Context, path string) (*predict.Dataset, error) { return dataimport.ReadDir(path) }, dataimport.StatVersion, c.cfg.ExportDir
	var states predict.ExportLog // the store records each export's state
	if c.store != nil {
		states = c.store
	}
	if gcpstorage.IsURL(dataPath) || gcpstorage.IsURL(dir) {
		if c.gcs, err = gcpstorage.NewClient(ctx); err != nil {
			return fmt.Errorf("cloud storage: %w", err)
		}
	}
	if gcpstorage.IsURL(dataPath) {
		read, version = gcpstorage.ReadFunc(c.gcs), gcpstorage.VersionFunc(c.gcs)
	} else if fi, err := os.Stat(dataPath); err != nil || !fi.IsDir() {
		c.file = sqlite.NewDataFile(dataPath)
		read = func(ctx context.Context, _ string) (*predict.Dataset, error) { return c.file.Load(ctx) }
	}
	c.data = pipeline.NewDataSource(pipeline.DataSourceConfig{Path: dataPath, Read: read, Version: version, Keep: c.file == nil, Log: c.log})
	if gcpstorage.IsURL(dir) {
		e, err := gcpstorage.NewExporter(c.gcs, dir, c.log)
		c.exporter, c.export = e, httpapi.ExportFrom(e, states)
		return err
	} else if dir != "" {
		c.exporter, c.export = pipeline.DirExporter{Dir: dir}, httpapi.ExportDir(dir, states)
	}
	return nil
}

// Close closes the queue, the data file and the store.
func (c *cloud) Close() error {
	c.queue.Close()
	if c.file != nil {
		c.file.Close()
	}
	return c.store.Close()
}

// handler is the coordinator's HTTP surface: the coordinator's routes
// behind their groups' guards (none: open), the pushes unless it pulls,
// status pages and API, /metrics and /health.
func (c *cloud) handler(g httpapi.Guards) http.Handler {
	version, commit := Version()
	health := httpapi.NewHealth(httpapi.HealthConfig{Program: "tipoff", Version: version, Commit: commit, Role: "coordinator",
		Checks: []httpapi.HealthCheck{{Name: "store", Check: func(ctx context.Context) error {
			_, err := c.store.ListBatches(ctx, batch.ListOptions{Limit: 1})
			return err
		}}},
		Data: c.data.Info, Log: c.log})
	cfg := httpapi.CoordinatorConfig{Coordinator: c.coord, Start: c.starter.Start, Publish: c.job.Publish, Guards: g, PushTimeout: c.cfg.PushWait,
		Status: httpapi.NewStatus(httpapi.StatusConfig{Store: c.store, Publications: c.store, Export: c.export, Log: c.log,
			Reliability: pipeline.Reliability{Load: c.data.Load, Published: c.store.Published}}),
		Metrics: c.metrics, Health: health, Log: c.log}
	if !c.cc.Pull {
		cfg.DecodePush = gcppubsub.DecodePush
	}
	return httpapi.NewCoordinatorHandler(cfg)
}

// run serves the coordinator on cc.Addr until ctx ends, with its runtime
// and a first check of the data's version, which reads no data (so /health
// shows it and a bad path shows before the first run), in the background.
func (c *cloud) run(ctx context.Context, g httpapi.Guards) error {
	version, commit := Version()
	loops, err := httpapi.MetricsLoops(c.cc.MetricsAddr, c.cc.MetricsAnyHost, c.metrics, c.log)
	if err != nil {
		return err
	}
	return httpapi.Serve(ctx, c.cc.Addr, c.handler(g), c.log,
		[]any{"project", c.cc.Project, "data", c.data.Path(), "pull", c.cc.Pull, "auth", !c.cc.NoAuth, "version", version, "commit", commit},
		append(loops, func(ctx context.Context) { c.data.Check(ctx) }, func(ctx context.Context) { c.coord.Run(ctx) })...)
}
