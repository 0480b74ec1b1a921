package batch

import (
	"context"
	"fmt"
	"time"
)

// Store keeps batch state durably. Every method is safe for concurrent use by
// many goroutines and, for backends that allow it, many processes. A Store
// must not rely on a process-wide lock: Firestore implements it too.
//
// The invariants every backend keeps, checked by batchtest.RunStoreTests:
//   - a key has at most one batch; the manifest is written with the batch,
//     atomically, and is the expected set of items;
//   - an item's first outcome wins and is stored atomically with its result;
//     counts equal the number of items with each outcome, always;
//   - a batch leaves running only when every item has an outcome (or it is
//     cancelled), and reaches finalized at most once, writing its event in
//     the same atomic step.
type Store interface {
	// CreateBatch creates a batch and all its items, unpublished, in one
	// atomic step, with ID newID, state running, spec.Policy with its
	// defaults applied, and deadline now+Policy.Deadline. If a batch with
	// spec.Key exists it returns that batch and created=false and writes
	// nothing. It returns [ErrInvalid] for an empty newID or a spec that
	// fails [Spec.Validate], and [ErrConflict] if newID already names a
	// batch of another key.
	CreateBatch(ctx context.Context, newID string, spec Spec, now time.Time) (b Batch, created bool, err error)

	// GetBatch returns one batch. [ErrNotFound] if there is none.
	GetBatch(ctx context.Context, id string) (Batch, error)

	// ListBatches returns batches newest first (by creation time, then ID),
	// filtered by opts. [ErrInvalid] for options that fail
	// [ListOptions.Validate].
	ListBatches(ctx context.Context, opts ListOptions) ([]Batch, error)

	// Items returns a batch's items in ID order, filtered by opts.
	// [ErrNotFound] if the batch does not exist, [ErrInvalid] for a negative
	// limit.
	Items(ctx context.Context, batchID string, opts ItemsOptions) ([]Item, error)

	// Progress returns the batch with its counts and up to missingLimit IDs
	// of items without an outcome, in ID order. It is cheap at 100,000
	// items. [ErrNotFound] if the batch does not exist, [ErrInvalid] for a
	// negative limit.
	Progress(ctx context.Context, batchID string, missingLimit int) (Progress, error)

	// Unpublished returns up to limit items of the batch that wait in the
	// dispatch outbox (not published, no outcome), in ID order. Once the
	// batch has left running the outbox is closed and it returns none.
	// [ErrNotFound] if the batch does not exist, [ErrInvalid] for a limit
	// below 1.
	Unpublished(ctx context.Context, batchID string, limit int) ([]Item, error)

	// MarkPublished records that the items were published at time at: each
	// becomes published and its attempt count grows by one. Items that
	// already have an outcome or are already published are left alone. It
	// returns [ErrNotFound], and changes nothing, if the batch or any of the
	// items does not exist.
	MarkPublished(ctx context.Context, batchID string, itemIDs []string, at time.Time) error

	// Redrive puts published items without an outcome back into the
	// dispatch outbox so they are published again; their attempt counts
	// stay. It returns how many items it moved; others are left alone. It
	// returns [ErrFinalized] if the batch is not running and [ErrNotFound],
	// changing nothing, if the batch or any of the items does not exist.
	Redrive(ctx context.Context, batchID string, itemIDs []string) (int, error)

	// RedriveAttempt puts one item back into the dispatch outbox after its
	// request of the given attempt failed without an outcome (the queue
	// dead-lettered it), so that it is published again as a new attempt;
	// its attempt count stays. It moves the item only if it is published,
	// has no outcome and its attempt count is attempt, atomically, and
	// reports whether it did: a second call for the same attempt, or one
	// for an attempt the item has moved past, changes nothing. It returns
	// [ErrFinalized] if the batch is not running, [ErrNotFound] if the
	// batch or the item does not exist and [ErrInvalid] for an attempt
	// below 1.
	RedriveAttempt(ctx context.Context, batchID, itemID string, attempt int) (bool, error)

	// Overdue returns up to limit published items without an outcome that
	// were last published strictly before the given time, in ID order.
	// [ErrNotFound] if the batch does not exist, [ErrInvalid] for a limit
	// below 1.
	Overdue(ctx context.Context, batchID string, before time.Time, limit int) ([]Item, error)

	// RecordOutcome stores one item's outcome and result atomically and
	// updates the batch's counts in the same step. It is durable when it
	// returns. If the item already has an outcome nothing changes and
	// Recorded.Duplicate is true, whatever the batch's state; the error is
	// nil when the outcomes are the same (the first result is kept) and
	// wraps [ErrConflict] when they differ. It returns [ErrInvalid] for a
	// record that fails [OutcomeRecord.Validate], [ErrNotFound] for an
	// unknown batch or item, and [ErrFinalized] when the item has no
	// outcome but the batch is no longer running (cancelled).
	RecordOutcome(ctx context.Context, rec OutcomeRecord) (Recorded, error)

	// AcquireFinalize moves a running batch whose items all have an outcome
	// to finalizing, with a lease held by owner until now+ttl, and counts a
	// finalize attempt: the returned batch's [Batch.LeaseToken] is the
	// fencing token of this acquisition, and every acquire makes the tokens
	// of earlier ones stale. A finalizing batch whose lease has expired (now is
	// at or after its expiry) or is held by owner already is taken over
	// the same way. It returns [ErrPending] if items have no outcome,
	// [ErrConflict] if another owner holds an unexpired lease,
	// [ErrFinalized] if the batch is finalized, [ErrNotFound] if it does not
	// exist and [ErrInvalid] for an empty owner or a ttl below 1ns.
	AcquireFinalize(ctx context.Context, batchID, owner string, now time.Time, ttl time.Duration) (Batch, error)

	// CompleteFinalize moves a finalizing batch whose lease is lease (the
	// token of the acquire, [Batch.LeaseToken]) to finalized with the given
	// result and, in the same atomic step, adds ev to the event outbox. A
	// lease that expired but was not taken over still counts as held. It
	// returns [ErrLeaseLost] (a kind of [ErrConflict]) if lease is not the
	// batch's current lease (a later acquire, by another owner or by the
	// same owner again, took it over, or the batch is still running),
	// [ErrFinalized] if the batch is already finalized, [ErrNotFound] if it
	// does not exist, and [ErrInvalid] for a result other than succeeded,
	// partial or failed, an event that fails [Event.Validate] or a lease of
	// another batch.
	CompleteFinalize(ctx context.Context, lease LeaseToken, result Result, ev Event, now time.Time) (Batch, error)

	// Cancel finalizes a running or finalizing batch with result cancelled
	// and adds ev to the event outbox in the same step. Items keep the
	// outcomes they have; the others keep none. It returns [ErrFinalized]
	// if the batch is already finalized, [ErrNotFound] if it does not exist
	// and [ErrInvalid] for an event that fails [Event.Validate].
	Cancel(ctx context.Context, batchID, reason string, ev Event, now time.Time) (Batch, error)

	// PendingEvents returns up to limit events not yet marked published,
	// oldest first (by creation time, then ID). [ErrInvalid] for a limit
	// below 1.
	PendingEvents(ctx context.Context, limit int) ([]Event, error)

	// MarkEventPublished records that the event was published; marking it
	// again changes nothing. [ErrNotFound] if there is no such event,
	// [ErrInvalid] for a zero time.
	MarkEventPublished(ctx context.Context, eventID string, at time.Time) error

	// Claim takes the named claim for owner until now+ttl, or renews it if
	// owner holds it, as [NextClaim] decides on the stored claim, in one
	// atomic step: of many concurrent claimers of a free claim exactly one
	// gets it. It returns the claim as stored, [ErrConflict] if another
	// owner holds it at now, and [ErrInvalid] for an empty name or owner or
	// a ttl below 1ns. Its holder releases it by renewing it for 1ns.
	Claim(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (Claim, error)
}

// ListOptions filters [Store.ListBatches]. Zero fields do not filter.
type ListOptions struct {
	Date  string // game date, YYYY-MM-DD
	Run   string
	State State
	Limit int // 0 means 100
}

// Validate reports a malformed date, an unknown state or a negative limit,
// wrapping [ErrInvalid].
func (o ListOptions) Validate() error {
	if o.Date != "" {
		if _, err := time.Parse(time.DateOnly, o.Date); err != nil {
			return fmt.Errorf("%w: list batches: date %q is not a YYYY-MM-DD date", ErrInvalid, o.Date)
		}
	}
	if o.Run != "" {
		if err := (Key{Date: "2000-01-01", Run: o.Run}).Validate(); err != nil {
			return fmt.Errorf("%w: list batches: run %q is not a run label (1-64 of a-z 0-9 . _ - starting with a letter or digit)", ErrInvalid, o.Run)
		}
	}
	switch o.State {
	case "", Running, Finalizing, Finalized:
	default:
		return fmt.Errorf("%w: list batches: state %q is not one of running, finalizing, finalized", ErrInvalid, o.State)
	}
	if o.Limit < 0 {
		return fmt.Errorf("%w: list batches: limit %d is negative", ErrInvalid, o.Limit)
	}
	return nil
}

// ItemsOptions filters [Store.Items].
type ItemsOptions struct {
	After       string // only items with ID greater than this (paging)
	Limit       int    // 0 means all
	PendingOnly bool   // only items without an outcome
	// NoRequests leaves every Item.Request nil, for readers of outcomes
	// and results only: requests are most of a batch's bytes.
	NoRequests bool
}

// Validate reports a negative limit, wrapping [ErrInvalid].
func (o ItemsOptions) Validate() error {
	if o.Limit < 0 {
		return fmt.Errorf("%w: items: limit %d is negative", ErrInvalid, o.Limit)
	}
	return nil
}
