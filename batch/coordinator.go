package batch

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// CoordinatorConfig configures a [Coordinator]. Zero fields take defaults.
type CoordinatorConfig struct {
	// SweepEvery is the period of the sweep and the event relay; default 5 s.
	SweepEvery time.Duration
	// BatchSize is how many outcome messages are received at a time;
	// default 256. They are recorded concurrently, so the store can commit
	// them together.
	BatchSize int
	// Consumers is how many outcome receive loops run; default 2.
	Consumers int
}

// Coordinator is the only writer of batch state at run time: it records the
// outcomes workers publish, records dead-lettered requests as failed, and on
// a clock sweeps and relays outbox events. Run it next to an [Engine].
type Coordinator struct {
	e   *Engine
	q   Queue
	log *slog.Logger
	cfg CoordinatorConfig
	// sweepNow asks the sweeper to run at once.
	sweepNow chan struct{}
}

// NewCoordinator returns a coordinator for engine e consuming from q.
func NewCoordinator(e *Engine, q Queue, log *slog.Logger, cfg CoordinatorConfig) *Coordinator {
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = 5 * time.Second
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 256
	}
	if cfg.Consumers <= 0 {
		cfg.Consumers = 2
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Coordinator{e: e, q: q, log: log, cfg: cfg, sweepNow: make(chan struct{}, 1)}
}

// Run consumes outcomes and dead letters and sweeps periodically until ctx
// ends; then it returns nil.
func (c *Coordinator) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range c.cfg.Consumers {
		wg.Go(func() { c.consume(ctx, TopicOutcomes, c.e.HandleOutcome) })
	}
	wg.Go(func() { c.consumeDeadLetters(ctx) })
	wg.Go(func() { c.sweepLoop(ctx) })
	wg.Wait()
	return nil
}

// SweepSoon asks the sweeper to run now rather than at its next tick.
func (c *Coordinator) SweepSoon() {
	select {
	case c.sweepNow <- struct{}{}:
	default:
	}
}

func (c *Coordinator) sweepLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.SweepEvery)
	defer t.Stop()
	for {
		c.SweepOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.sweepNow:
		}
	}
}

// SweepOnce runs one sweep and one event relay, logging what they did.
func (c *Coordinator) SweepOnce(ctx context.Context) {
	rep, err := c.e.Sweep(ctx)
	if err != nil && ctx.Err() == nil {
		c.log.Warn("sweep incomplete", "err", err)
	}
	if rep.Redriven+rep.TimedOut+rep.Finalized > 0 {
		c.log.Info("sweep", "batches", rep.Batches, "redriven", rep.Redriven, "timed_out", rep.TimedOut,
			"dispatched", rep.Dispatched, "finalized", rep.Finalized)
	}
	if _, err := c.e.RelayEvents(ctx); err != nil && ctx.Err() == nil {
		c.log.Warn("event relay incomplete", "err", err)
	}
}

// consume receives messages of topic and hands each body to handle,
// concurrently; it acks those handled (nil) and nacks the rest.
func (c *Coordinator) consume(ctx context.Context, topic string, handle func(context.Context, []byte) error) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		ds, err := c.q.Receive(ctx, topic, c.cfg.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("receive failed; retrying", "topic", topic, "err", err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		c.HandleDeliveries(context.WithoutCancel(ctx), ds, func(ctx context.Context, d Delivery) error {
			return handle(ctx, d.Body)
		})
	}
}

func (c *Coordinator) consumeDeadLetters(ctx context.Context) {
	for ctx.Err() == nil {
		ds, err := c.q.Receive(ctx, DeadLetterTopic(TopicRequests), c.cfg.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("receive dead letters failed; retrying", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		c.HandleDeliveries(context.WithoutCancel(ctx), ds, c.e.HandleDeadLetter)
	}
}

// HandleDeliveries runs handle on each delivery concurrently, then acks the
// ones that returned nil and nacks the others.
func (c *Coordinator) HandleDeliveries(ctx context.Context, ds []Delivery, handle func(context.Context, Delivery) error) {
	errs := make([]error, len(ds))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() { errs[i] = handle(ctx, d) })
	}
	wg.Wait()
	var ack, nack []Delivery
	for i, d := range ds {
		if errs[i] == nil {
			ack = append(ack, d)
		} else {
			c.log.Warn("message not handled; will be redelivered", "batch_id", d.Attributes[AttrBatchID],
				"item_id", d.Attributes[AttrItemID], "trace_id", d.Attributes[AttrTraceID], "err", errs[i])
			nack = append(nack, d)
		}
	}
	if len(ack) > 0 {
		if err := c.q.Ack(ctx, ack...); err != nil && !errors.Is(err, ErrConflict) {
			c.log.Warn("ack failed; messages will be redelivered and absorbed as duplicates", "err", err)
		}
	}
	if len(nack) > 0 {
		if err := c.q.Nack(ctx, nack...); err != nil {
			c.log.Warn("nack failed; messages come back after their lease", "err", err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
