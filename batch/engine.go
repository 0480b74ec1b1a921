package batch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FinalizeFunc does a batch's closing work once every item has an outcome:
// for the prediction job, consolidate the predictions into the day's
// published set and write the export. It runs while the caller holds the
// finalize lease and may run again if a finalizer dies before completing, so
// it must be idempotent. b is the batch as the acquire left it: every write
// the function makes must be fenced by b.LeaseToken() (checked in the same
// commit where the store allows, right before the write where it does not)
// and it must stop with an error wrapping [ErrLeaseLost] once the token is
// stale. It returns the payload of the finalized event.
type FinalizeFunc func(ctx context.Context, b Batch) (eventPayload []byte, err error)

// EngineConfig configures an [Engine]. Zero fields take defaults.
type EngineConfig struct {
	// Owner names this process in finalize leases; default
	// host:pid:random, since containers of one service often share a host
	// name and a pid. Each Finalize call holds the lease as Owner/N, so two
	// goroutines of one engine never both believe they hold it; the
	// lease's epoch ([LeaseToken]) fences whatever the owner names.
	Owner string
	// LeaseTTL is how long a finalize lease lasts; default
	// [DefaultLeaseTTL]. A finalizer that dies or stalls holding it is taken
	// over after it expires, and its later writes are refused
	// ([ErrLeaseLost]). It must exceed the time a finalize takes.
	LeaseTTL time.Duration
	// DispatchChunk is how many items are published per outbox round;
	// default 500, or 2,000 when the store publishes its outbox to the
	// queue itself ([OutboxPublisher]), where a round is one transaction
	// and bigger rounds share commits.
	DispatchChunk int
	// Finalize is the closing work; nil means none.
	Finalize FinalizeFunc
	// NowFunc is the clock; default time.Now.
	NowFunc func() time.Time
	// NewIDFunc makes batch IDs; default a sortable random ID.
	NewIDFunc func(Key, time.Time) string
	// Observer is told what happens, for metrics; default none.
	Observer Observer
}

// The default outbox rounds (see [EngineConfig.DispatchChunk]).
const (
	defaultDispatchChunk = 500
	defaultInStoreChunk  = 2000
)

// DefaultLeaseTTL is the finalize lease's default length.
const DefaultLeaseTTL = time.Minute

// Engine drives batches through their life on a [Store] and a [Queue]:
// create, dispatch from the outbox, record outcomes, finalize exactly once,
// sweep for overdue items and deadlines, and relay outbox events. It holds no
// batch state of its own, so any number of engines may share a store.
type Engine struct {
	store Store
	queue Queue
	log   *slog.Logger
	cfg   EngineConfig
	// finalizes numbers this engine's Finalize calls for their lease tokens.
	finalizes atomic.Uint64
}

// ProcessName names this process as host:pid, for logs and outcomes. Two
// containers may share it (each its own pid 1): where that matters, as for
// lease owners, add something unique.
func ProcessName() string {
	host, _ := os.Hostname()
	return host + ":" + strconv.Itoa(os.Getpid())
}

// NewEngine returns an engine on store and queue.
func NewEngine(store Store, queue Queue, log *slog.Logger, cfg EngineConfig) *Engine {
	if cfg.Owner == "" {
		var r [4]byte
		_, _ = rand.Read(r[:])
		cfg.Owner = ProcessName() + ":" + hex.EncodeToString(r[:])
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	if cfg.NewIDFunc == nil {
		cfg.NewIDFunc = NewID
	}
	if cfg.Observer == nil {
		cfg.Observer = NopObserver{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{store: store, queue: queue, log: log, cfg: cfg}
}

// Holds reports whether the finalize lease owner is one of this engine's
// Finalize calls.
func (e *Engine) Holds(owner string) bool { return strings.HasPrefix(owner, e.cfg.Owner+"/") }

// NewID returns a batch ID that sorts by creation time: the key's date, the
// creation time in milliseconds and 6 random bytes.
func NewID(k Key, now time.Time) string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s-%x-%s", k.Date, now.UnixMilli(), hex.EncodeToString(r[:]))
}

// Create creates the batch for spec, or returns the existing batch of its
// key with created=false. It does not publish anything: call [Engine.Dispatch].
// A batch with no items on purpose ([MetaNoItems]) has nothing to wait for,
// so Create finalizes it before returning (if that fails, the sweeper
// retries it, and a later Create of the key tries again).
func (e *Engine) Create(ctx context.Context, spec Spec) (b Batch, created bool, err error) {
	if err := spec.Validate(); err != nil {
		return Batch{}, false, err
	}
	now := e.cfg.NowFunc()
	b, created, err = e.store.CreateBatch(ctx, e.cfg.NewIDFunc(spec.Key, now), spec, now)
	if err != nil {
		return Batch{}, false, fmt.Errorf("create batch %s: %w", spec.Key, err)
	}
	if created {
		e.log.Info("batch created", "batch_id", b.ID, "run_date", b.Key.Date, "run", b.Key.Run, "items", b.Total)
	}
	if _, ok := b.NoItems(); ok && b.State == Running {
		b = e.finalizeEmpty(ctx, b)
	}
	return b, created, nil
}

// finalizeEmpty finalizes a batch that has no items on purpose and returns
// it as it is afterwards. A failure leaves it running for the sweeper.
func (e *Engine) finalizeEmpty(ctx context.Context, b Batch) Batch {
	fb, err := e.Finalize(ctx, b.ID)
	switch {
	case err == nil:
		return fb
	case errors.Is(err, ErrFinalized), errors.Is(err, ErrConflict):
		// Another finalizer ended it or holds the lease: show its state.
		if cur, err := e.store.GetBatch(ctx, b.ID); err == nil {
			return cur
		}
	default:
		e.log.Warn("finalize failed; the sweeper retries it", "batch_id", b.ID, "err", err)
	}
	return b
}

// Dispatch publishes every item of the batch that waits in the outbox and
// marks it published, a chunk at a time, and returns how many it published.
// A crash between publish and mark publishes those items again: workers and
// RecordOutcome absorb the duplicates.
func (e *Engine) Dispatch(ctx context.Context, batchID string) (int, error) {
	b, err := e.store.GetBatch(ctx, batchID)
	if err != nil {
		return 0, fmt.Errorf("dispatch %s: %w", batchID, err)
	}
	if b.State != Running {
		return 0, nil
	}
	trace := b.Meta[AttrTraceID]
	if p, ok := e.store.(OutboxPublisher); ok && p.PublishesTo(e.queue) {
		return e.dispatchInStore(ctx, p, batchID, trace)
	}
	chunk := e.cfg.DispatchChunk
	if chunk <= 0 {
		chunk = defaultDispatchChunk
	}
	total := 0
	for {
		items, err := e.store.Unpublished(ctx, batchID, chunk)
		if err != nil {
			return total, fmt.Errorf("dispatch %s: read outbox: %w", batchID, err)
		}
		if len(items) == 0 {
			break
		}
		msgs := make([]Message, len(items))
		ids := make([]string, len(items))
		for i, it := range items {
			msgs[i] = RequestMessage(it, it.Attempts+1, trace)
			ids[i] = it.ID
		}
		if err := e.queue.Publish(ctx, TopicRequests, msgs...); err != nil {
			return total, fmt.Errorf("dispatch %s: publish: %w", batchID, err)
		}
		if err := e.store.MarkPublished(ctx, batchID, ids, e.cfg.NowFunc()); err != nil {
			return total, fmt.Errorf("dispatch %s: mark published: %w", batchID, err)
		}
		total += len(items)
		e.cfg.Observer.Dispatched(len(items))
		if len(items) < chunk {
			break
		}
	}
	if total > 0 {
		e.log.Info("items dispatched", "batch_id", batchID, "items", total, "trace_id", trace)
	}
	return total, nil
}

// dispatchInStore is Dispatch through a store that publishes its outbox
// to the engine's queue itself, a chunk per transaction.
func (e *Engine) dispatchInStore(ctx context.Context, p OutboxPublisher, batchID, trace string) (int, error) {
	chunk := e.cfg.DispatchChunk
	if chunk <= 0 {
		chunk = defaultInStoreChunk
	}
	total := 0
	for {
		n, err := p.PublishOutbox(ctx, e.queue, batchID, chunk, e.cfg.NowFunc(), trace)
		if err != nil {
			return total, fmt.Errorf("dispatch %s: %w", batchID, err)
		}
		total += n
		if n > 0 {
			e.cfg.Observer.Dispatched(n)
		}
		if n < chunk {
			break
		}
	}
	if total > 0 {
		e.log.Info("items dispatched", "batch_id", batchID, "items", total, "trace_id", trace)
	}
	return total, nil
}

// Record stores one outcome and, when it was the batch's last, finalizes the
// batch. The outcome is durable when Record returns nil, whatever happens to
// the finalize (the sweeper retries it). Errors are those of
// [Store.RecordOutcome].
func (e *Engine) Record(ctx context.Context, rec OutcomeRecord) (Recorded, error) {
	if rec.At.IsZero() {
		rec.At = e.cfg.NowFunc()
	}
	start := time.Now()
	r, err := e.store.RecordOutcome(ctx, rec)
	if err != nil {
		return r, fmt.Errorf("record outcome %s/%s: %w", rec.BatchID, rec.ItemID, err)
	}
	e.cfg.Observer.OutcomeRecorded(rec.Outcome, r.Duplicate, time.Since(start))
	if r.Duplicate {
		e.log.Debug("duplicate outcome absorbed", "batch_id", rec.BatchID, "item_id", rec.ItemID, "outcome", rec.Outcome)
	}
	// Only the record that completed the batch finalizes it; a duplicate
	// after completion leaves a missed finalize to the sweeper rather than
	// every late redelivery contending for the lease.
	if r.Remaining == 0 && !r.Duplicate {
		e.finalizeQuietly(ctx, rec.BatchID)
	}
	return r, nil
}

// finalizeQuietly tries to finalize and logs instead of returning errors: the
// caller's own work succeeded, and the sweeper retries a failed finalize.
//
// The finalize does not run on the caller's deadline (a push handler's is
// short, and a finalize cut off mid-way holds the lease until it expires):
// it runs for at most the lease, after which its writes would be refused
// anyway.
func (e *Engine) finalizeQuietly(ctx context.Context, batchID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.LeaseTTL)
	defer cancel()
	_, err := e.Finalize(ctx, batchID)
	switch {
	case err == nil, errors.Is(err, ErrFinalized), errors.Is(err, ErrConflict), errors.Is(err, ErrPending):
	default:
		e.log.Warn("finalize failed; the sweeper retries it", "batch_id", batchID, "err", err)
	}
}

// Finalize finalizes a batch whose items all have outcomes: it takes the
// finalize lease, runs the FinalizeFunc (which fences its writes with the
// batch's [Batch.LeaseToken]), and completes with the result the policy
// gives and the finalized event, atomically, under the same token. Exactly one call per
// batch succeeds. It returns [ErrPending] while items have no outcome,
// [ErrConflict] while another owner holds the lease, [ErrLeaseLost] (a kind
// of ErrConflict, logged as a warning with the owner and the token) if the
// lease was taken over mid-way, and [ErrFinalized] once the batch is
// finalized.
func (e *Engine) Finalize(ctx context.Context, batchID string) (b Batch, err error) {
	defer func() {
		if !errors.Is(err, ErrPending) && !errors.Is(err, ErrFinalized) {
			e.cfg.Observer.FinalizeAttempted(err)
		}
	}()
	owner := e.cfg.Owner + "/" + strconv.FormatUint(e.finalizes.Add(1), 10)
	b, err = e.store.AcquireFinalize(ctx, batchID, owner, e.cfg.NowFunc(), e.cfg.LeaseTTL)
	if err != nil {
		return Batch{}, fmt.Errorf("finalize %s: %w", batchID, err)
	}
	lease := b.LeaseToken()
	log := e.log.With("batch_id", batchID, "trace_id", b.Meta[AttrTraceID])
	log.Info("finalizing", "attempt", b.FinalizeAttempts, "owner", owner)
	lost := func(err error) {
		if errors.Is(err, ErrLeaseLost) {
			log.Warn("finalize lease lost; stopping", "owner", owner, "epoch", lease.Epoch, "err", err)
		}
	}
	var payload []byte
	if e.cfg.Finalize != nil {
		payload, err = e.cfg.Finalize(ctx, b)
		if err != nil {
			lost(err)
			return Batch{}, fmt.Errorf("finalize %s: %w", batchID, err)
		}
	}
	result := b.Policy.Decide(b.Total, b.Counts)
	if payload == nil {
		payload, _ = json.Marshal(struct {
			Key    Key    `json:"key"`
			Result Result `json:"result"`
			Counts Counts `json:"counts"`
			Total  int    `json:"total"`
		}{b.Key, result, b.Counts, b.Total})
	}
	now := e.cfg.NowFunc()
	ev := Event{ID: EventID(batchID, EventFinalized), Type: EventFinalized, BatchID: batchID, Payload: payload, CreatedAt: now}
	b, err = e.store.CompleteFinalize(ctx, lease, result, ev, now)
	if err != nil {
		lost(err)
		return Batch{}, fmt.Errorf("finalize %s: %w", batchID, err)
	}
	log.Info("batch finalized", "result", b.Result, "succeeded", b.Counts.Succeeded, "skipped", b.Counts.Skipped,
		"failed", b.Counts.Failed, "timed_out", b.Counts.TimedOut)
	return b, nil
}

// Cancel ends a batch with result cancelled. [ErrFinalized] if it has ended.
func (e *Engine) Cancel(ctx context.Context, batchID, reason string) (Batch, error) {
	now := e.cfg.NowFunc()
	ev := Event{ID: EventID(batchID, EventCancelled), Type: EventCancelled, BatchID: batchID, CreatedAt: now}
	ev.Payload, _ = json.Marshal(map[string]string{"reason": reason})
	b, err := e.store.Cancel(ctx, batchID, reason, ev, now)
	if err != nil {
		return Batch{}, err // the stores name the batch
	}
	e.log.Info("batch cancelled", "batch_id", batchID, "reason", reason)
	return b, nil
}

// HandleOutcome records the outcome message body. It returns nil when the
// message should be acknowledged: the outcome is durable, was a duplicate,
// arrived after the batch ended, or can never be recorded (malformed, unknown
// batch or item; logged). It returns an error only for transient failures,
// after which the message should be delivered again.
func (e *Engine) HandleOutcome(ctx context.Context, body []byte) error {
	m, err := DecodeOutcome(body)
	if err != nil {
		e.log.Warn("dropping malformed outcome message", "err", err)
		return nil
	}
	return e.RecordMessage(ctx, m)
}

// RecordMessage records a decoded outcome message. Its return value means
// what HandleOutcome's does: nil when the message should be acknowledged.
func (e *Engine) RecordMessage(ctx context.Context, m OutcomeMessage) error {
	rec := m.Record()
	r, err := e.Record(ctx, rec)
	switch {
	case err == nil:
		if !r.Duplicate {
			e.log.Debug("outcome recorded", "batch_id", rec.BatchID, "item_id", rec.ItemID, "outcome", rec.Outcome,
				"attempt", m.Attempt, "worker", m.Worker, "trace_id", m.TraceID)
		}
		return nil
	case errors.Is(err, ErrConflict), errors.Is(err, ErrFinalized):
		e.log.Info("late outcome ignored", "batch_id", rec.BatchID, "item_id", rec.ItemID, "outcome", rec.Outcome, "trace_id", m.TraceID, "err", err)
		return nil
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrNotFound):
		e.log.Warn("dropping outcome that cannot be recorded", "batch_id", rec.BatchID, "item_id", rec.ItemID, "trace_id", m.TraceID, "err", err)
		return nil
	default:
		return err
	}
}

// HandleDeadLetter handles a request message that exhausted its deliveries
// (the queue gave up on it: a worker refused or failed it every time). The
// dead letter is one failed attempt of its item, not a verdict: below the
// batch's [Policy.MaxAttempts] the item goes back to the dispatch outbox
// and is published again as a new attempt by the next dispatch or sweep;
// the dead letter of its last attempt records it as failed. The attempt the
// message carries ([AttrAttempt]) makes this idempotent: a second dead
// letter of the same attempt, or one of an attempt the item has moved past
// (re-driven, or given an outcome by a late success), changes nothing. Its
// return value means what HandleOutcome's does.
func (e *Engine) HandleDeadLetter(ctx context.Context, d Delivery) error {
	_, err := e.handleDeadLetter(ctx, d)
	return err
}

// handleDeadLetter is HandleDeadLetter, also reporting whether it put the
// item back into the outbox.
func (e *Engine) handleDeadLetter(ctx context.Context, d Delivery) (redriven bool, err error) {
	batchID, itemID, attempt, err := RequestOf(d.Message)
	if err == nil && attempt == 0 {
		err = fmt.Errorf("%w: request message %q has no %s attribute", ErrInvalid, d.ID, AttrAttempt)
	}
	if err != nil {
		// The sweeper re-drives the item, if there is one, once it is
		// overdue.
		e.log.Warn("dropping malformed dead letter", "err", err)
		return false, nil
	}
	e.cfg.Observer.DeadLettered()
	log := e.log.With("batch_id", batchID, "item_id", itemID, "attempt", attempt, "trace_id", d.Attributes[AttrTraceID])
	b, err := e.store.GetBatch(ctx, batchID)
	switch {
	case errors.Is(err, ErrNotFound):
		log.Warn("dropping dead letter of an unknown batch")
		return false, nil
	case err != nil:
		return false, fmt.Errorf("dead letter of %s/%s: %w", batchID, itemID, err)
	case b.State != Running:
		return false, nil
	}
	limit := b.Policy.WithDefaults().MaxAttempts
	if attempt < limit {
		moved, err := e.store.RedriveAttempt(ctx, batchID, itemID, attempt)
		switch {
		case err == nil && moved:
			e.cfg.Observer.Redriven(1)
			log.Warn("request dead-lettered; item re-driven", "max_attempts", limit)
			return true, nil
		case err == nil:
			log.Info("dead letter of a past attempt ignored")
			return false, nil
		case errors.Is(err, ErrFinalized), errors.Is(err, ErrNotFound), errors.Is(err, ErrInvalid):
			return false, nil
		default:
			return false, fmt.Errorf("dead letter of %s/%s: %w", batchID, itemID, err)
		}
	}
	rec := OutcomeRecord{BatchID: batchID, ItemID: itemID, Outcome: OutcomeFailed,
		Error: fmt.Sprintf("request of attempt %d of %d dead-lettered: the queue gave up delivering it", attempt, limit)}
	r, err := e.Record(ctx, rec)
	switch {
	case err == nil:
		if !r.Duplicate {
			log.Warn("item failed: request of its last attempt dead-lettered", "max_attempts", limit)
		}
		return false, nil
	case errors.Is(err, ErrConflict), errors.Is(err, ErrFinalized), errors.Is(err, ErrInvalid), errors.Is(err, ErrNotFound):
		return false, nil
	default:
		return false, err
	}
}

// SweepReport says what one sweep did.
type SweepReport struct {
	Batches    int // running or finalizing batches looked at
	Redriven   int // overdue items put back in the outbox
	TimedOut   int // items given the timed_out outcome
	Dispatched int // items published from the outbox
	Finalized  int // batches finalized
}

// Sweep is the clock-driven repair pass; run it periodically. For every
// running batch it: gives overdue items that used all their attempts, and at
// the deadline every item without an outcome, the timed_out outcome;
// re-drives other overdue items; publishes what waits in the outbox; and
// finalizes the batch if every item has an outcome. It also takes over
// finalizing batches whose lease expired. It keeps going past one batch's
// failure and returns the errors joined.
func (e *Engine) Sweep(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	var errs []error
	for _, st := range []State{Running, Finalizing} {
		bs, err := e.store.ListBatches(ctx, ListOptions{State: st, Limit: 1000})
		if err != nil {
			return rep, fmt.Errorf("sweep: list %s batches: %w", st, err)
		}
		for _, b := range bs {
			rep.Batches++
			if err := e.sweepBatch(ctx, b, &rep); err != nil && ctx.Err() == nil {
				errs = append(errs, err)
			}
		}
	}
	return rep, errors.Join(errs...)
}

func (e *Engine) sweepBatch(ctx context.Context, b Batch, rep *SweepReport) error {
	err := e.sweepOne(ctx, b, rep)
	if errors.Is(err, ErrFinalized) {
		// The batch ended (cancelled, or finalized by another engine)
		// while it was being swept: nothing is left to do for it.
		return nil
	}
	return err
}

func (e *Engine) sweepOne(ctx context.Context, b Batch, rep *SweepReport) error {
	now := e.cfg.NowFunc()
	if b.State == Finalizing {
		// The store's rule: a lease has expired once now reaches Expires.
		// A finalize that failed is tried again each time its lease
		// expires, until the batch's deadline.
		if !now.Before(b.Lease.Expires) {
			_, err := e.Finalize(ctx, b.ID)
			switch {
			case err == nil:
				rep.Finalized++
			case errors.Is(err, ErrConflict), errors.Is(err, ErrFinalized), ctx.Err() != nil:
			case !now.Before(b.Deadline):
				return e.giveUpFinalize(ctx, b, err)
			default:
				return err
			}
		}
		return nil
	}
	pol := b.Policy.WithDefaults()
	if !now.Before(b.Deadline) {
		n, err := e.timeOutPending(ctx, b, now)
		rep.TimedOut += n
		if err != nil {
			return err
		}
	} else {
		if err := e.redriveOverdue(ctx, b, pol, now, rep); err != nil {
			return err
		}
		n, err := e.Dispatch(ctx, b.ID)
		rep.Dispatched += n
		if err != nil {
			return err
		}
	}
	p, err := e.store.Progress(ctx, b.ID, 0)
	if err != nil {
		return fmt.Errorf("sweep %s: %w", b.ID, err)
	}
	if p.Remaining == 0 {
		if _, err := e.Finalize(ctx, b.ID); err == nil {
			rep.Finalized++
		} else if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrPending) {
			return err
		}
	}
	return nil
}

// giveUpFinalize ends a batch whose finalize still fails at its deadline,
// as cancelled with the failure as the reason, so that no batch stays
// finalizing for ever and its record says why it ended.
func (e *Engine) giveUpFinalize(ctx context.Context, b Batch, cause error) error {
	reason := fmt.Sprintf("finalize failed %d time(s) until the deadline %s: %v", b.FinalizeAttempts+1, b.Deadline.Format(time.RFC3339), cause)
	if _, err := e.Cancel(ctx, b.ID, reason); err != nil && !errors.Is(err, ErrFinalized) {
		return fmt.Errorf("end batch %s after its finalize failed: %w (finalize: %w)", b.ID, err, cause)
	}
	e.log.Error("batch ended without finalizing: its finalize failed until the deadline", "batch_id", b.ID, "err", cause)
	return nil
}

// sweepPage is how many items one sweep step reads at a time.
const sweepPage = 1000

// timeOutPending gives every item without an outcome the timed_out outcome.
func (e *Engine) timeOutPending(ctx context.Context, b Batch, now time.Time) (int, error) {
	n := 0
	after := ""
	for {
		items, err := e.store.Items(ctx, b.ID, ItemsOptions{PendingOnly: true, After: after, Limit: sweepPage})
		if err != nil {
			return n, fmt.Errorf("sweep %s: %w", b.ID, err)
		}
		k, err := e.timeOutAll(ctx, items, now, func(it Item) string {
			return fmt.Sprintf("no outcome by the batch deadline %s (%d attempts)", b.Deadline.Format(time.RFC3339), it.Attempts)
		})
		n += k
		if err != nil {
			return n, err
		}
		if len(items) < sweepPage {
			return n, nil
		}
		after = items[len(items)-1].ID
	}
}

// timeOutWorkers bounds how many time-outs are recorded at once: enough for
// a store that commits concurrent writes together to share its commits.
const timeOutWorkers = 32

// timeOutAll gives the items the timed_out outcome, several at a time, and
// returns how many it changed. An error wrapping [ErrFinalized] means the
// batch ended meanwhile.
func (e *Engine) timeOutAll(ctx context.Context, items []Item, now time.Time, msg func(Item) string) (int, error) {
	var (
		mu    sync.Mutex
		n     int
		errs  []error
		wg    sync.WaitGroup
		slots = make(chan struct{}, timeOutWorkers)
	)
	for _, it := range items {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			ok, err := e.timeOut(ctx, it, msg(it), now)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				n++
			}
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return n, errs[0]
	}
	return n, nil
}

// timeOut records the timed_out outcome for one item. It reports whether
// it did; another outcome recorded first is not an error.
func (e *Engine) timeOut(ctx context.Context, it Item, msg string, now time.Time) (bool, error) {
	start := time.Now()
	r, err := e.store.RecordOutcome(ctx, OutcomeRecord{BatchID: it.BatchID, ItemID: it.ID, Outcome: OutcomeTimedOut, Error: msg, At: now})
	if err == nil {
		e.cfg.Observer.OutcomeRecorded(OutcomeTimedOut, r.Duplicate, time.Since(start))
	}
	switch {
	case err == nil:
		if !r.Duplicate {
			e.log.Warn("item timed out", "batch_id", it.BatchID, "item_id", it.ID, "attempt", it.Attempts)
		}
		return !r.Duplicate, nil
	case errors.Is(err, ErrConflict):
		return false, nil
	default:
		return false, fmt.Errorf("time out %s/%s: %w", it.BatchID, it.ID, err)
	}
}

// redriveOverdue re-drives published items that have waited longer than the
// item timeout, and times out those that used all their attempts.
func (e *Engine) redriveOverdue(ctx context.Context, b Batch, pol Policy, now time.Time, rep *SweepReport) error {
	for {
		items, err := e.store.Overdue(ctx, b.ID, now.Add(-pol.ItemTimeout), sweepPage)
		if err != nil {
			return fmt.Errorf("sweep %s: %w", b.ID, err)
		}
		var spent []Item
		var again []string
		for _, it := range items {
			if it.Attempts >= pol.MaxAttempts {
				spent = append(spent, it)
			} else {
				again = append(again, it.ID)
			}
		}
		// Each item found here leaves the overdue set (it gets an outcome or
		// goes back to the outbox) unless the batch ended, which stops the
		// loop with ErrFinalized.
		n, err := e.timeOutAll(ctx, spent, now, func(it Item) string {
			return fmt.Sprintf("no outcome within %v after each of %d attempts", pol.ItemTimeout, it.Attempts)
		})
		rep.TimedOut += n
		if err != nil {
			return err
		}
		if len(again) > 0 {
			n, err := e.store.Redrive(ctx, b.ID, again)
			if err != nil {
				return fmt.Errorf("sweep %s: redrive: %w", b.ID, err)
			}
			rep.Redriven += n
			e.cfg.Observer.Redriven(n)
			e.log.Info("overdue items re-driven", "batch_id", b.ID, "items", n)
		}
		if len(items) < sweepPage {
			return nil
		}
	}
}

// RelayEvents publishes outbox events to [TopicEvents] and marks them
// published, returning how many it relayed. Events are at least once: one
// may be published more than once (a crash between publish and mark, or
// two engines relaying the same outbox at once); its ID, the message's ID
// and [AttrEventID] attribute, is stable, and consumers deduplicate on it.
func (e *Engine) RelayEvents(ctx context.Context) (int, error) {
	n := 0
	for {
		evs, err := e.store.PendingEvents(ctx, 100)
		if err != nil {
			return n, fmt.Errorf("relay events: %w", err)
		}
		for _, ev := range evs {
			body, err := json.Marshal(ev)
			if err != nil {
				return n, fmt.Errorf("relay event %s: %w", ev.ID, err)
			}
			msg := Message{ID: ev.ID, Body: body, Attributes: map[string]string{AttrEventID: ev.ID, AttrBatchID: ev.BatchID, "type": ev.Type}}
			if err := e.queue.Publish(ctx, TopicEvents, msg); err != nil {
				return n, fmt.Errorf("relay event %s: %w", ev.ID, err)
			}
			if err := e.store.MarkEventPublished(ctx, ev.ID, e.cfg.NowFunc()); err != nil {
				return n, fmt.Errorf("relay event %s: %w", ev.ID, err)
			}
			n++
			e.log.Info("event relayed", "batch_id", ev.BatchID, "event_id", ev.ID)
		}
		if len(evs) < 100 {
			return n, nil
		}
	}
}
