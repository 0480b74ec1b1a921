package main

import (
	"context"
	"log/slog"

	"tipoff/batch"
	"tipoff/httpapi"
	"tipoff/sqlite"
)

// embedded is the embedded shape's wiring: one SQLite file holding the
// data, the batch store, the queue and the published picks.
type embedded struct {
	cfg   Config
	log   *slog.Logger
	db    *sqlite.DB
	store *sqlite.Store
	queue *sqlite.Queue
	// metrics observes the engine, coordinator and workers of this process
	// and reads its gauges from the file; serve exposes it at /metrics.
	metrics *httpapi.Metrics
}

// openEmbedded opens the SQLite file named by cfg.DB.
func openEmbedded(ctx context.Context, cfg Config, log *slog.Logger) (*embedded, error) {
	db, err := sqlite.Open(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	q := sqlite.NewQueue(db, sqlite.QueueConfig{Lease: cfg.Lease, MaxDeliveries: cfg.Policy.MaxAttempts + 2})
	store := sqlite.NewStore(db)
	m := httpapi.NewMetrics(httpapi.MetricsConfig{Store: store, QueueDepths: queueDepths(q), Log: log})
	return &embedded{cfg: cfg, log: log, db: db, store: store, queue: q, metrics: m}, nil
}

// Close closes the queue and the file.
func (a *embedded) Close() error {
	a.queue.Close()
	return a.db.Close()
}

// engine returns an engine on the file whose finalize step is fin.
func (a *embedded) engine(fin batch.FinalizeFunc) *batch.Engine {
	return batch.NewEngine(a.store, failQueue{a.queue}, a.log, batch.EngineConfig{LeaseTTL: a.cfg.Lease, Finalize: fin, Observer: a.metrics})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
