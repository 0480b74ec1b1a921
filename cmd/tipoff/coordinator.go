package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/gcppubsub"
	"tipoff/httpapi"
	"tipoff/predict"
	"tipoff/sqlite"
)

const coordinatorUsage = `Usage: tipoff coordinator --project P --data PATH [--addr :PORT] [--pull] [flags]

Runs the cloud shape's coordinator as an HTTP service (Cloud Run): batch state
in Firestore, work over Pub/Sub.

  POST /start        start a date's run: body {"date":"YYYY-MM-DD","run":"daily",
                     "options":{...}}, every field optional; answers 202 with the
                     batch id at once and fans the requests out in the
                     background. Idempotent: the same date and run label, or a
                     retry of the same Cloud Scheduler tick
                     (X-CloudScheduler-ScheduleTime, which picks the date when the
                     body has none), returns the existing batch.
  POST /complete     Pub/Sub push of outcomes (prediction-outcomes); also
                     served as /push/outcomes
  POST /dead-letter  Pub/Sub push of dead-lettered requests: the player fails;
                     also served as /push/dead-letters
  POST /sweep        one sweep and event relay (a scheduler tick)
  GET  /health       program, version, commit, store/queue reachability, data
  GET  /api/batches, /api/batches/{id}, /, /batches/{id}, /metrics

The input data is read from --data afresh for each run: a directory of CSV
files in the documented columns, or a SQLite file made by "tipoff import"
(copied to a temporary file first, so a read-only or network mount works).
Each batch records the data version it used (meta data_version).

Pushes and /start must carry a Google-signed OIDC token for one of
--auth-audiences from one of --auth-emails: 401 without a valid token, 403
for another caller. With --pull the coordinator receives outcomes and dead
letters from pull subscriptions instead. It sweeps and relays the
batch-events outbox every --sweep-every, and stops within 10 s of SIGTERM
without losing an acknowledged message.`

func runCoordinator(ctx context.Context, m *Main, args []string) error {
	fs, b := newFlagSet(m, "coordinator", coordinatorUsage)
	b.run()
	b.policy()
	b.log()
	var pc predictConfig
	b.predict(&pc)
	cc := b.cloud()
	cfg := b.cfg
	cfg.ExportDir = ""
	b.env.duration("TIPOFF_LEASE", &cfg.Lease)
	b.env.duration("TIPOFF_SWEEP_EVERY", &cfg.SweepEvery)
	b.env.str("TIPOFF_EXPORT_DIR", &cfg.ExportDir)
	fs.DurationVar(&cfg.Lease, "lease", cfg.Lease, "with --pull: how long a received outcome stays leased before redelivery (TIPOFF_LEASE)")
	fs.DurationVar(&cfg.SweepEvery, "sweep-every", cfg.SweepEvery, "period of the sweep (re-drive, deadlines, finalize) and of the event relay (TIPOFF_SWEEP_EVERY)")
	fs.StringVar(&cfg.ExportDir, "export-dir", cfg.ExportDir, "also write the day's picks to `directory`/<date>.json; default none (TIPOFF_EXPORT_DIR)")
	dataPath := ""
	b.env.str("TIPOFF_DATA_DIR", &dataPath)
	b.env.str("TIPOFF_DATA", &dataPath)
	fs.StringVar(&dataPath, "data", dataPath, "input data: a CSV `directory` or a SQLite file, read afresh for each run (TIPOFF_DATA or TIPOFF_DATA_DIR)")
	conf, err := b.parse(args)
	if err != nil {
		return err
	}
	var errs []error
	if err := cc.validate(); err != nil {
		errs = append(errs, err)
	}
	if dataPath == "" {
		errs = append(errs, errors.New("data: empty: name the data directory or SQLite file"))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if len(errs) > 0 {
		return fmt.Errorf("coordinator: %w", errors.Join(errs...))
	}
	log := cloudLogger(conf, m, cc.Project).With("role", "coordinator")

	store, err := cc.openStore(ctx, log)
	if err != nil {
		return err
	}
	defer store.Close()
	queue, err := cc.openQueue(ctx, conf, batch.TopicRequests, batch.TopicOutcomes, batch.TopicEvents)
	if err != nil {
		return err
	}
	defer queue.Close()
	topics, err := newTopicCheck(ctx, cc.Project, batch.TopicRequests)
	if err != nil {
		return err
	}
	defer topics.Close()
	guard, err := cc.auth(ctx, httpapi.DefaultMaxPushBytes, log)
	if err != nil {
		return err
	}

	metrics := httpapi.NewMetrics(httpapi.MetricsConfig{Store: store, Log: log})
	j := pc.newJob(store, store, conf.ExportDir, log)
	eng := batch.NewEngine(store, queue, log, batch.EngineConfig{LeaseTTL: time.Minute, Finalize: j.finalize, Observer: metrics})
	data := &dataSource{path: dataPath, log: log}
	co := &cloudCoordinator{cfg: conf, pc: pc, store: store, eng: eng, data: data, log: log}
	version, commit := Version()
	health := httpapi.NewHealth(httpapi.HealthConfig{Program: "tipoff", Version: version, Commit: commit, Role: "coordinator",
		Checks: []httpapi.HealthCheck{
			{Name: "store", Check: func(ctx context.Context) error {
				_, err := store.ListBatches(ctx, batch.ListOptions{Limit: 1})
				return err
			}},
			{Name: "queue", Check: topics.check},
		},
		Data: data.info, Log: log})
	svcCfg := httpapi.CoordinatorConfig{Engine: eng, Start: co.start, DecodePush: gcppubsub.DecodePush,
		Auth: guard, Status: httpapi.NewStatus(httpapi.StatusConfig{Store: store, Publications: store, Log: log}),
		Metrics: metrics, Health: health, SweepEvery: conf.SweepEvery, Log: log}
	loops := []func(context.Context){
		// Load the data once at start, so /health shows its version and a
		// bad path shows before the first run.
		func(ctx context.Context) { data.load(ctx) },
	}
	if cc.Pull {
		// batch.Coordinator consumes outcomes and dead letters, sweeps and
		// relays; a started batch is dispatched by its next sweep.
		pull := batch.NewCoordinator(eng, queue, log, batch.CoordinatorConfig{SweepEvery: conf.SweepEvery})
		loops = append(loops, func(ctx context.Context) { pull.Run(ctx) })
		svcCfg.SweepEvery = 0
		svcCfg.Dispatch = func(context.Context, string) { pull.SweepSoon() }
	}
	svc := httpapi.NewCoordinator(svcCfg)
	loops = append(loops, func(ctx context.Context) { svc.Run(ctx) })
	return serve(ctx, cc.Addr, svc.Handler(), log,
		[]any{"project", cc.Project, "data", dataPath, "pull", cc.Pull, "auth", !cc.NoAuth, "version", version, "commit", commit},
		loops...)
}

// cloudCoordinator creates batches for /start from the data as it is now.
type cloudCoordinator struct {
	cfg   Config
	pc    predictConfig
	store batch.Store
	eng   *batch.Engine
	data  *dataSource
	log   *slog.Logger
}

// start is the coordinator's [httpapi.StartFunc]: it resolves the key (the
// league's date of the schedule time, or of now, when the request names no
// date), returns the key's batch if it exists, and otherwise reads the data
// afresh and creates the batch with the request's options.
func (co *cloudCoordinator) start(ctx context.Context, req httpapi.StartRequest) (batch.Batch, bool, error) {
	key := batch.Key{Date: req.Date, Run: req.Run}
	if key.Date == "" {
		at := req.ScheduleTime
		if at.IsZero() {
			at = time.Now()
		}
		key.Date = LeagueToday(at)
	}
	if key.Run == "" {
		key.Run = co.cfg.Run
	}
	// A retry finds its batch without reading the data again. The run is
	// matched here, not in the query: Firestore has an index for the date
	// alone, and a date has a handful of batches.
	bs, err := co.store.ListBatches(ctx, batch.ListOptions{Date: key.Date, Limit: 1000})
	if err != nil {
		return batch.Batch{}, false, err
	}
	for _, b := range bs {
		if b.Key == key {
			return b, false, nil
		}
	}
	ds, err := co.data.load(ctx)
	if err != nil {
		return batch.Batch{}, false, err
	}
	pc, pol := co.pc, co.cfg.Policy
	o := req.Options
	if len(o.Lines) > 0 {
		pc.Offsets = o.Lines
	}
	if len(o.Books) > 0 {
		pc.Books = o.Books
	}
	if o.MinGames > 0 {
		pc.MinGames = o.MinGames
	}
	if o.MinMinutes > 0 {
		pc.MinMinutes = o.MinMinutes
	}
	if o.ItemTimeout > 0 {
		pol.ItemTimeout = time.Duration(o.ItemTimeout)
	}
	if o.MaxAttempts > 0 {
		pol.MaxAttempts = o.MaxAttempts
	}
	if o.Deadline > 0 {
		pol.Deadline = time.Duration(o.Deadline)
	}
	if o.MinSuccess > 0 {
		pol.MinSuccessRatio = o.MinSuccess
	}
	j := pc.newJob(co.store, nil, "", co.log)
	meta := map[string]string{batch.AttrTraceID: req.TraceID, "data_path": co.data.path}
	if !req.ScheduleTime.IsZero() {
		meta["schedule_time"] = req.ScheduleTime.Format(time.RFC3339)
	}
	spec, err := j.spec(ds, key, pol, meta)
	if err != nil {
		return batch.Batch{}, false, err
	}
	if len(spec.Items) == 0 {
		return batch.Batch{}, false, fmt.Errorf("%w: no players to predict on %s in the data at %s (version %s): no games that day, or nobody qualifies",
			batch.ErrNotFound, key.Date, co.data.path, ds.Version())
	}
	return co.eng.Create(ctx, spec)
}

// dataSource reads the coordinator's input data, afresh on every load, and
// remembers what the last load found for /health.
type dataSource struct {
	path string
	log  *slog.Logger
	// loads serializes loads: two runs starting at once read once each,
	// but never hold two copies of a SQLite file at the same time.
	loads sync.Mutex
	mu    sync.Mutex
	last  httpapi.DataInfo
}

// load reads the data set at the path: a CSV directory, or a SQLite file.
func (d *dataSource) load(ctx context.Context) (*predict.Dataset, error) {
	d.loads.Lock()
	defer d.loads.Unlock()
	start := time.Now()
	ds, err := d.read(ctx)
	info := httpapi.DataInfo{Path: d.path, LoadedAt: time.Now().UTC()}
	if err != nil {
		err = fmt.Errorf("load data from %s: %w", d.path, err)
		info.Problem = err.Error()
		d.log.Error("data cannot be loaded", "path", d.path, "err", err)
	} else {
		info.Version = ds.Version()
		d.log.Info("data loaded", "path", d.path, "data_version", info.Version, "games", len(ds.Games()), "took", time.Since(start).Round(time.Millisecond).String())
	}
	d.mu.Lock()
	d.last = info
	d.mu.Unlock()
	return ds, err
}

func (d *dataSource) read(ctx context.Context) (*predict.Dataset, error) {
	st, err := os.Stat(d.path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return dataimport.ReadDir(d.path)
	}
	// A SQLite file is opened from a private copy: the mount may be read
	// only or not support SQLite's locking, and opening it may write.
	tmp, err := os.MkdirTemp("", "tipoff-data-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	local := filepath.Join(tmp, "data.db")
	if err := copyFile(d.path, local); err != nil {
		return nil, err
	}
	db, err := sqlite.Open(ctx, local)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return db.LoadDataset(ctx)
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// info is what the last load found; before any, just the path.
func (d *dataSource) info() httpapi.DataInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last.Path == "" {
		return httpapi.DataInfo{Path: d.path}
	}
	return d.last
}
