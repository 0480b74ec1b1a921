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
POST /start (a JSON body, Content-Type application/json) to start a date's
run, POST /batches/{id}/cancel to cancel one, POST /batches/{id}/publish to
publish one.

On loopback (the default) it is open. Anywhere else (:8080, 0.0.0.0, another
IP or a name) it refuses to start unless TIPOFF_TOKEN is set (in the
environment only: flags show in ps) - then every route but /health needs
"Authorization: Bearer $TIPOFF_TOKEN", which "tipoff health/cancel/publish
--coordinator" send - or --insecure-listen-any leaves it open to anyone who
can reach it, with a warning in the log.

With --daily, it starts the day's run at that time of day in the league's time
zone (America/New_York). After a restart it catches up a run missed while it
was down; runs are idempotent by date and label, so a catch-up never makes a
second batch. A date with no games is recorded as such and it waits for the
next day. --workers 0 leaves all the work to separate worker processes.`

func runServe(ctx context.Context, m *Main, args []string) error {
	_, b := newFlagSet(m, "serve", serveUsage)
	b.db()
	b.run()
	b.work()
	b.policy()
	b.log()
	var pc predictConfig
	b.predict(&pc)
	addr := "127.0.0.1:8080"
	b.String(&addr, "addr", "TIPOFF_ADDR", "`address` for the status pages and metrics")
	var sched *pipeline.Daily
	b.Func("daily", "TIPOFF_DAILY", "start the day's run every day at `HH:MM` league time",
		func(s string) error { d, err := pipeline.ParseDaily(s); sched = &d; return err })
	token, insecure := m.Getenv("TIPOFF_TOKEN"), false
	b.Bool(&insecure, "insecure-listen-any", "TIPOFF_INSECURE_LISTEN_ANY", "serve an address other than loopback without TIPOFF_TOKEN: anyone who reaches it may start and cancel runs")
	cfg, err := b.parse(args)
	if err != nil {
		return err
	}
	if token == "" && !insecure && !httpapi.IsLoopback(addr) {
		return fmt.Errorf("serve: --addr %s is not loopback: set TIPOFF_TOKEN to require a bearer token, or pass --insecure-listen-any", addr)
	}
	log := cfg.Logger(m.Stderr, "")
	var guard httpapi.Middleware
	if token != "" {
		guard = httpapi.RequireToken(token, log)
	} else if !httpapi.IsLoopback(addr) {
		log.Warn("INSECURE: serving a non-loopback address without TIPOFF_TOKEN (--insecure-listen-any): anyone who reaches it can start and cancel runs", "addr", addr)
	}
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
	return httpapi.Serve(ctx, addr, app.handler(guard), log, []any{"db", cfg.DB, "workers", cfg.Workers, "daily", sched, "token", token != ""}, loops...)
}
