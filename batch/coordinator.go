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
	// ClaimTTL is how long the work claim ([ClaimWork]) lasts between
	// renewals; default 6 × SweepEvery. The coordinator renews it before
	// every sweep and dispatch; one that dies or freezes holding it is
	// taken over by another after ClaimTTL.
	ClaimTTL time.Duration
	// Solo skips the work claim: one process drives the store (the
	// embedded shape), so a process restarted after a crash resumes at
	// once instead of waiting ClaimTTL for its dead predecessor's claim.
	// Two solo coordinators on one store both dispatch and sweep, which
	// is safe (requests are idempotent) but repeats work.
	Solo bool
	// PullOutcomes makes the coordinator receive outcomes, dead-lettered
	// requests and dead-lettered outcomes from the queue: the embedded
	// shape, and the cloud shape in pull mode. Leave it false when they
	// arrive as pushes that an HTTP handler passes to
	// [Coordinator.HandleOutcome], [Coordinator.HandleDeadLetter] and
	// [Coordinator.HandleOutcomeDeadLetter].
	PullOutcomes bool
	// BatchSize is how many outcome messages are received at a time;
	// default 256. They are recorded concurrently, so the store can commit
	// them together.
	BatchSize int
	// Consumers is how many outcome receive loops run; default 2.
	Consumers int
	// AfterSweep, when set, runs after every sweep and event relay: repair
	// work of the job that finalized batches leave behind (for the
	// prediction job, retrying failed exports). Its error is logged.
	AfterSweep func(ctx context.Context) error
}

// Coordinator is the run-time side of an [Engine], the same in every shape:
// it dispatches started batches from their outbox, records the outcomes
// (dead-lettered ones too) it receives or is handed, re-drives the items
// whose requests were dead-lettered until their attempts run out, sweeps
// on a clock and relays outbox events. Dispatch, sweep and relay run in
// one goroutine of [Coordinator.Run], so they never publish the same items
// at once; a sweep
// asked for by [Coordinator.SweepOnce] takes the same lock.
//
// Several coordinators may share a store (the cloud shape scales out):
// every one records the outcomes it is handed, but only the holder of the
// store's work claim ([ClaimWork]) dispatches, sweeps and relays; the
// others stand by and renew nothing, and the first of them to try after
// the holder stopped renewing takes over. So the instances do not send the
// same requests or relay the same events, and a dead or frozen holder
// delays that work by at most ClaimTTL.
type Coordinator struct {
	e   *Engine
	q   Queue
	log *slog.Logger
	cfg CoordinatorConfig
	// sweepNow asks the sweep loop to sweep at once; kicks carries the IDs
	// of batches for it to dispatch.
	sweepNow chan struct{}
	kicks    chan string
	// sweepMu serializes sweeps, dispatches and relays in this process.
	sweepMu sync.Mutex
	// stuck is why receiving fails for want of disk space, if it does;
	// writeStuck why dispatching or sweeping does.
	stuck, writeStuck stuckErr
	// holding is whether the last claim of the work succeeded; guarded by
	// sweepMu.
	holding bool
}

// NewCoordinator returns a coordinator for engine e on queue q.
func NewCoordinator(e *Engine, q Queue, log *slog.Logger, cfg CoordinatorConfig) *Coordinator {
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = 5 * time.Second
	}
	if cfg.ClaimTTL <= 0 {
		cfg.ClaimTTL = 6 * cfg.SweepEvery
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
	return &Coordinator{e: e, q: q, log: log, cfg: cfg, sweepNow: make(chan struct{}, 1), kicks: make(chan string, 64)}
}

// Engine returns the engine the coordinator runs.
func (c *Coordinator) Engine() *Engine { return c.e }

// Stuck returns the error that keeps the coordinator from receiving, or
// from dispatching and sweeping, wrapping [ErrNoSpace], while it lasts; nil
// otherwise.
func (c *Coordinator) Stuck() error { return errors.Join(c.stuck.get(), c.writeStuck.get()) }

// noteWrite records whether a sweep or dispatch failed for want of disk
// space; any other outcome clears it.
func (c *Coordinator) noteWrite(err error) {
	if errors.Is(err, ErrNoSpace) {
		c.writeStuck.set(err)
	} else if err == nil {
		c.writeStuck.set(nil)
	}
}

// Run dispatches, sweeps, relays and (with PullOutcomes) receives until ctx
// ends; then it returns nil. Work cut short by the end of ctx is safe to
// cut: what was not published stays in the outbox for the next sweep, and
// what was not recorded is delivered again.
func (c *Coordinator) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if c.cfg.PullOutcomes {
		for range c.cfg.Consumers {
			wg.Go(func() {
				receiveLoop(ctx, c.q, TopicOutcomes, c.cfg.BatchSize, c.log, &c.stuck, false, func(ctx context.Context, ds []Delivery) {
					c.HandleDeliveries(ctx, ds, func(ctx context.Context, d Delivery) error { return c.e.HandleOutcome(ctx, d.Body) })
				})
			})
		}
		wg.Go(func() {
			receiveLoop(ctx, c.q, DeadLetterTopic(TopicRequests), c.cfg.BatchSize, c.log, &c.stuck, false, func(ctx context.Context, ds []Delivery) {
				c.HandleDeliveries(ctx, ds, c.HandleDeadLetter)
			})
		})
		wg.Go(func() {
			receiveLoop(ctx, c.q, DeadLetterTopic(TopicOutcomes), c.cfg.BatchSize, c.log, &c.stuck, false, func(ctx context.Context, ds []Delivery) {
				c.HandleDeliveries(ctx, ds, func(ctx context.Context, d Delivery) error { return c.HandleOutcomeDeadLetter(ctx, d.Body) })
			})
		})
	}
	wg.Go(func() { c.sweepLoop(ctx) })
	wg.Wait()
	c.release(ctx)
	return nil
}

// Dispatch asks Run to publish the batch's waiting requests now. If Run is
// busy with many, or another coordinator holds the work claim, the next
// sweep (this one's or the holder's) dispatches them instead.
func (c *Coordinator) Dispatch(batchID string) {
	select {
	case c.kicks <- batchID:
	default:
		c.log.Info("dispatch left to the sweeper", "batch_id", batchID)
		c.SweepSoon()
	}
}

// SweepSoon asks Run to sweep now rather than at its next tick.
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
		c.Tick(ctx)
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case id := <-c.kicks:
				c.dispatch(ctx, id)
			case <-t.C:
				break wait
			case <-c.sweepNow:
				break wait
			}
		}
	}
}

// Tick does what Run does at each tick of its clock: it takes or renews the
// work claim and, if this coordinator holds it, runs one sweep, renews the
// claim again and, if it still holds it, relays events and runs the
// AfterSweep work, and logs what they did. It reports whether this
// coordinator held the claim.
func (c *Coordinator) Tick(ctx context.Context) bool {
	c.sweepMu.Lock()
	defer c.sweepMu.Unlock()
	if !c.claim(ctx) {
		return false
	}
	rep, n, err := c.sweepOnce(ctx, func() bool { return c.claim(ctx) })
	c.noteWrite(err)
	if err != nil && ctx.Err() == nil {
		c.log.Warn("sweep incomplete", "err", err)
	}
	if c.cfg.AfterSweep != nil && c.holding {
		if err := c.cfg.AfterSweep(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("after-sweep work incomplete", "err", err)
		}
	}
	if rep.Redriven+rep.TimedOut+rep.Finalized+n > 0 {
		c.log.Info("sweep", "batches", rep.Batches, "redriven", rep.Redriven, "timed_out", rep.TimedOut,
			"dispatched", rep.Dispatched, "finalized", rep.Finalized, "events", n)
	}
	return true
}

func (c *Coordinator) dispatch(ctx context.Context, batchID string) {
	c.sweepMu.Lock()
	defer c.sweepMu.Unlock()
	if !c.claim(ctx) {
		c.log.Debug("dispatch left to the holder of the work claim", "batch_id", batchID)
		return
	}
	_, err := c.e.Dispatch(ctx, batchID)
	c.noteWrite(err)
	if err != nil && ctx.Err() == nil {
		c.log.Warn("dispatch incomplete; the sweeper publishes the rest", "batch_id", batchID, "err", err)
	}
}

// claim takes or renews the work claim and reports whether this
// coordinator holds it, logging when that changes. The caller holds
// sweepMu.
func (c *Coordinator) claim(ctx context.Context) bool {
	if c.cfg.Solo {
		c.holding = true
		return true
	}
	cl, err := c.e.store.Claim(ctx, ClaimWork, c.e.cfg.Owner, c.e.cfg.NowFunc(), c.cfg.ClaimTTL)
	was := c.holding
	c.holding = err == nil
	switch {
	case err == nil && !was:
		c.log.Info("work claimed: dispatching, sweeping and relaying here", "owner", cl.Owner, "epoch", cl.Epoch)
	case errors.Is(err, ErrConflict):
		if was {
			c.log.Warn("work claim taken over: standing by", "err", err)
		}
	case err != nil && ctx.Err() == nil:
		c.log.Warn("work claim not renewed: standing by", "err", err)
	}
	if errors.Is(err, ErrNoSpace) {
		// A store that cannot write the claim cannot dispatch or sweep
		// either: say so as they would.
		c.noteWrite(err)
	}
	return c.holding
}

// release gives up the work claim, if this coordinator holds it, so that
// another takes it over at once rather than after its TTL: a claim renewed
// for 1ns expires immediately.
func (c *Coordinator) release(ctx context.Context) {
	c.sweepMu.Lock()
	defer c.sweepMu.Unlock()
	if !c.holding || c.cfg.Solo {
		c.holding = false
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := c.e.store.Claim(ctx, ClaimWork, c.e.cfg.Owner, c.e.cfg.NowFunc(), time.Nanosecond); err != nil {
		c.log.Warn("work claim not released; another coordinator takes it over when it expires", "err", err)
	}
	c.holding = false
}

// SweepOnce runs one sweep and one event relay, whether or not this
// coordinator holds the work claim (an operator asked for it). It returns
// what the sweep did, how many events were relayed, and their errors
// joined.
func (c *Coordinator) SweepOnce(ctx context.Context) (SweepReport, int, error) {
	c.sweepMu.Lock()
	defer c.sweepMu.Unlock()
	return c.sweepOnce(ctx, func() bool { return true })
}

// sweepOnce sweeps, then relays events if stillHeld says so: a sweep can
// take long (or its process freeze), and a coordinator that lost the work
// claim meanwhile must not relay what the new holder relays.
func (c *Coordinator) sweepOnce(ctx context.Context, stillHeld func() bool) (SweepReport, int, error) {
	rep, err := c.e.Sweep(ctx)
	if !stillHeld() {
		return rep, 0, err
	}
	n, rerr := c.e.RelayEvents(ctx)
	return rep, n, errors.Join(err, rerr)
}

// HandleOutcome records a pushed outcome message body; see
// [Engine.HandleOutcome].
func (c *Coordinator) HandleOutcome(ctx context.Context, body []byte) error {
	return c.e.HandleOutcome(ctx, body)
}

// HandleDeadLetter handles a dead-lettered request, pulled or pushed, as
// one failed attempt of its item (see [Engine.HandleDeadLetter]) and, when
// that put the item back into the outbox, asks Run to dispatch it now.
func (c *Coordinator) HandleDeadLetter(ctx context.Context, d Delivery) error {
	redriven, err := c.e.handleDeadLetter(ctx, d)
	if redriven {
		c.Dispatch(d.Attributes[AttrBatchID])
	}
	return err
}

// HandleOutcomeDeadLetter records an outcome message that the queue could
// not deliver to an outcome consumer in time (a coordinator or store outage
// longer than its deliveries): it is an outcome like any other, recorded
// if its item has none yet. Its return value means what
// [Engine.HandleOutcome]'s does.
func (c *Coordinator) HandleOutcomeDeadLetter(ctx context.Context, body []byte) error {
	c.e.cfg.Observer.DeadLettered()
	return c.e.HandleOutcome(ctx, body)
}

// Cancel ends a running batch with result cancelled and relays its event
// soon; see [Engine.Cancel].
func (c *Coordinator) Cancel(ctx context.Context, batchID, reason string) (Batch, error) {
	b, err := c.e.Cancel(ctx, batchID, reason)
	if err == nil {
		c.SweepSoon()
	}
	return b, err
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
