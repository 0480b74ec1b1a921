package main

import (
	"context"
	"fmt"

	"tipoff/httpapi"
	"tipoff/pipeline"
)

const serveUsage = `Usage: tipoff serve [--addr HOST:PORT] [--daily HH:MM] [--workers N] [--db FILE]

Runs the embedded coordinator as a long-lived process: records the outcomes
that workers (in this process, and any "tipoff worker" processes on the same
SQLite file) report, re-drives overdue players, enforces deadlines, finalizes
each batch exactly once and relays its event, and serves on --addr (loopback
by default) the status pages and API, /metrics, and the coordinator's
routes, the same as the cloud coordinator's (see "tipoff help coordinator"):
POST /start to start a date's run, POST /batches/{id}/cancel to cancel one.
It has no authentication: keep it on loopback.

With --daily, it starts the day's run at that time of day in the league's time
zone (America/New_York). After a restart it catches up a run missed while it
was down; runs are idempotent by date and label, so a catch-up never makes a
second batch. A date with no games is recorded as such and it waits for the
next day. --workers 0 leaves all the work to separate worker processes.`

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
	b.env.String("TIPOFF_ADDR", &addr)
	fs.StringVar(&addr, "addr", addr, "`address` for the status pages and metrics (TIPOFF_ADDR)")
	dailyAt := ""
	b.env.String("TIPOFF_DAILY", &dailyAt)
	fs.StringVar(&dailyAt, "daily", dailyAt, "start the day's run every day at `HH:MM` league time (TIPOFF_DAILY)")
	cfg, err := b.parse(args)
	if err != nil {
		return err
	}
	var sched *pipeline.Daily
	if dailyAt != "" {
		d, err := pipeline.ParseDaily(dailyAt)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		sched = &d
	}
	log := cfg.Logger(m.Stderr, "")
	app, err := openEmbedded(ctx, cfg, pc.settings(cfg), nil, log)
	if err != nil {
		return err
	}
	defer app.Close()
	loops := []func(context.Context){func(ctx context.Context) { app.coord.Run(ctx) }}
	if cfg.Workers > 0 {
		w := app.worker("serve", nil)
		loops = append(loops, func(ctx context.Context) { w.Run(ctx) })
	}
	if sched != nil {
		loops = append(loops, func(ctx context.Context) {
			pipeline.RunDaily(ctx, pipeline.DailyConfig{At: *sched, Start: app.starter.Start, Dispatch: app.coord.Dispatch, Log: log})
		})
	}
	return httpapi.Serve(ctx, addr, app.handler(), log, []any{"db", cfg.DB, "workers", cfg.Workers, "daily", dailyAt}, loops...)
}
