package main

import (
	"context"
	"errors"
	"fmt"

	"tipoff/httpapi"
)

const coordinatorUsage = `Usage: tipoff coordinator --project P --data PATH [--addr :PORT] [--pull] [flags]

Runs the cloud shape's coordinator as an HTTP service (Cloud Run): batch state
in Firestore, work over Pub/Sub.

  POST /start        start a date's run: body {"date":"YYYY-MM-DD","run":"daily",
                     "options":{...}}, every field optional, sent as
                     Content-Type application/json (else 415); answers 202 with the
                     batch id at once and fans the requests out in the
                     background. Idempotent: the same date and run label, or a
                     retry of the same Cloud Scheduler tick
                     (X-CloudScheduler-ScheduleTime, which picks the date when the
                     body has none), returns the existing batch. A date with
                     no games answers 200 with "no_items": "no games scheduled
                     on DATE", recorded as a finished batch.
  POST /complete     Pub/Sub push of outcomes (prediction-outcomes); also
                     served as /push/outcomes
  POST /dead-letter  Pub/Sub push of dead-lettered requests: one failed attempt;
                     the player is re-driven until --max-attempts, then fails;
                     also served as /push/dead-letters
  POST /push/outcome-dead-letters
                     Pub/Sub push of dead-lettered outcomes: recorded like any
  POST /sweep        one sweep and event relay (a scheduler tick)
  POST /batches/{id}/cancel
                     end a running batch now as cancelled (body
                     {"reason":"..."}, optional); "tipoff cancel" calls it
  POST /batches/{id}/publish
                     make a finalized batch the date's publication, pinned
                     (body {"unpin":true} optional); "tipoff publish" calls it
  GET  /health       program, version, commit, store/queue reachability, data
  GET  /api/batches, /api/batches/{id}, /, /batches/{id}, /metrics

The input data is read from --data: a CSV directory in the documented
columns or gs://BUCKET/PREFIX ("tipoff data push"; the version CURRENT names)
is read whole when a new batch finds its version (file sizes and times, object
generations) changed, and kept meanwhile; a SQLite file made by "tipoff import"
through a private copy made again when the file changes (a read-only or network
mount works), a new batch reading just its date's rows. Each batch records its
data version (meta data_version). --export-dir gs://BUCKET/PREFIX writes each
date's export as the object PREFIX/<date>.json in one write that a stale writer
cannot use to replace a newer export.

Every route but /health must carry a Google-signed OIDC token for one of
--auth-audiences from an account of the route's group: /start the
--start-invokers (the scheduler), the pushes the --push-invokers (Pub/Sub's
push account), the reads (/, /batches/{id}, /api/..., /metrics) and the
operator verbs (/sweep, cancel, publish) the --operators; a group given no
accounts takes --auth-emails. 401 without a valid token, 403 for another
group's caller. GET /health answers anyone (probes carry no token). With
--pull the coordinator receives outcomes and dead letters from pull
subscriptions instead. It sweeps and relays the batch-events outbox every
--sweep-every, and stops within 10 s of SIGTERM without losing an acknowledged
message.`

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
	b.Duration(&cfg.PushWait, "push-timeout", "TIPOFF_PUSH_TIMEOUT", "a push not recorded within this is answered 503, so Pub/Sub delivers it again, elsewhere")
	b.Duration(&cfg.Lease, "lease", "TIPOFF_LEASE", "with --pull: how long a received outcome stays leased before redelivery")
	b.Duration(&cfg.SweepEvery, "sweep-every", "TIPOFF_SWEEP_EVERY", "period of the sweep (re-drive, deadlines, finalize) and of the event relay")
	b.String(&cfg.ExportDir, "export-dir", "TIPOFF_EXPORT_DIR", "also write the day's picks to `dir`/<date>.json: a directory, or gs://bucket/prefix; default none")
	dataPath := ""
	b.env.String("TIPOFF_DATA_DIR", &dataPath)
	b.env.String("TIPOFF_DATA", &dataPath)
	fs.StringVar(&dataPath, "data", dataPath, "input data, read for a new batch when its version changed: a CSV `directory`, a SQLite file, or gs://bucket/prefix (\"tipoff data push\") (TIPOFF_DATA or TIPOFF_DATA_DIR)")
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
	log := conf.Logger(m.Stderr, cc.Project).With("role", "coordinator")
	c, err := openCloud(ctx, conf, cc, pc.settings(conf), dataPath, log)
	if err != nil {
		return err
	}
	defer c.Close()
	guards, err := cc.Guards(ctx, httpapi.DefaultMaxPushBytes, log)
	if err != nil {
		return err
	}
	return c.run(ctx, guards)
}
