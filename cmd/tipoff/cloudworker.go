package main

import (
	"context"
	"errors"
	"fmt"

	"tipoff/batch"
	"tipoff/gcppubsub"
	"tipoff/httpapi"
	"tipoff/pipeline"
)

// runCloudWorker is "tipoff worker --cloud": the cloud shape's worker, an
// HTTP service taking Pub/Sub pushes of requests on POST /predict (or, with
// --pull, pulling them), publishing each outcome to prediction-outcomes
// before acknowledging its request.
func runCloudWorker(ctx context.Context, m *Main, cfg Config, cc *cloudConfig, pc predictConfig) error {
	var errs []error
	if err := cc.validate(); err != nil {
		errs = append(errs, err)
	}
	if cc.Pull && cfg.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers %d: want at least 1 with --pull", cfg.Workers))
	}
	if len(errs) > 0 {
		return fmt.Errorf("worker: %w", errors.Join(errs...))
	}
	name := batch.ProcessName()
	log := cfg.Logger(m.Stderr, cc.Project).With("role", "worker", "worker", name)

	queue, err := cc.openQueue(ctx, cfg, batch.TopicRequests, batch.TopicOutcomes)
	if err != nil {
		return err
	}
	defer queue.Close()
	guards, err := cc.Guards(ctx, httpapi.DefaultMaxPushBytes, log)
	if err != nil {
		return err
	}
	// Workers need no store: everything a prediction needs is in the
	// request, and the outcome travels back in a message.
	j := pipeline.NewJob(pipeline.JobConfig{Log: log})
	metrics := httpapi.NewMetrics(httpapi.MetricsConfig{Log: log})
	version, commit := Version()
	health := httpapi.NewHealth(httpapi.HealthConfig{Program: "tipoff", Version: version, Commit: commit, Role: "worker", Log: log})
	sink := batch.PublishOutcomes(queue)
	h := httpapi.NewWorkerHandler(httpapi.WorkerConfig{Handler: j.Handle, Sink: sink, DecodePush: gcppubsub.DecodePush,
		Auth: guards.Push, Metrics: metrics, Health: health, Name: name, Log: log})
	loops, err := httpapi.MetricsLoops(cc.MetricsAddr, cc.MetricsAnyHost, metrics, log)
	if err != nil {
		return err
	}
	if cc.Pull {
		w := batch.NewWorker(queue, j.Handle, sink, log, batch.WorkerConfig{Name: name, Concurrency: cfg.Workers, BatchSize: cfg.Receive, Observer: metrics})
		loops = append(loops, func(ctx context.Context) { w.Run(ctx) })
	}
	return httpapi.Serve(ctx, cc.Addr, h, log,
		[]any{"project", cc.Project, "pull", cc.Pull, "auth", !cc.NoAuth, "version", version, "commit", commit}, loops...)
}
