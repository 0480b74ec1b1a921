package main

import (
	"context"
	"fmt"

	"tipoff/batch"
)

const workerUsage = `Usage: tipoff worker [--db FILE] [--workers N]
       tipoff worker --cloud --project P [--addr :PORT] [--pull] [--auth-audiences A --auth-emails E]

Runs prediction workers as their own process next to "tipoff serve" on the
same SQLite file: takes requests from the file's queue, predicts, and
publishes each outcome back through the queue for the coordinator to record.
A request is acknowledged only once its outcome is durably queued, so killing
a worker loses nothing: its leased requests are delivered again. Stops on
SIGINT or SIGTERM after finishing what it holds.

With --cloud it is the cloud shape's worker instead (Cloud Run): an HTTP
service on --addr taking Pub/Sub pushes of requests on POST /predict (also
served as /push/requests), each
with a Google-signed OIDC token (401 without, 403 for another caller). It
publishes the outcome to prediction-outcomes and answers 2xx only after the
publish succeeded. With --pull it pulls requests with --workers loops
instead. GET /health and GET /metrics as for the coordinator. The --db,
--lease (push), --sweep-every and --export-dir flags do not apply to it.`

func runWorker(ctx context.Context, m *Main, args []string) error {
	fs, b := newFlagSet(m, "worker", workerUsage)
	b.db()
	b.work()
	b.log()
	var pc predictConfig
	b.predict(&pc)
	// deploy/ runs "tipoff worker" with TIPOFF_QUEUE=pubsub.
	cloud := b.env.Get("TIPOFF_QUEUE") == "pubsub"
	b.env.Bool("TIPOFF_CLOUD", &cloud)
	fs.BoolVar(&cloud, "cloud", cloud, "run the cloud shape's worker: Pub/Sub and HTTP, no SQLite file (TIPOFF_CLOUD, or TIPOFF_QUEUE=pubsub)")
	cc := b.cloud()
	cfg, err := b.parse(args)
	if err != nil {
		return err
	}
	if cloud {
		if fs.NArg() > 0 {
			return fmt.Errorf("worker: unexpected arguments %q", fs.Args())
		}
		return runCloudWorker(ctx, m, cfg, cc, pc)
	}
	if cfg.Workers < 1 {
		return fmt.Errorf("%s: workers %d: want at least 1", fs.Name(), cfg.Workers)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("worker: unexpected arguments %q", fs.Args())
	}
	log := cfg.Logger(m.Stderr, "")
	name := batch.ProcessName()
	app, err := openEmbedded(ctx, cfg, pc.settings(cfg), nil, log.With("worker", name))
	if err != nil {
		return err
	}
	defer app.Close()
	w := app.worker(name, batch.PublishOutcomes(app.queue))
	log.Info("worker started", "db", cfg.DB, "workers", cfg.Workers)
	err = w.Run(ctx)
	log.Info("worker stopped")
	return err
}
