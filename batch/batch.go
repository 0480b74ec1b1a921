package batch

import (
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"
)

// Key identifies a batch by what it is for: the game date it predicts and a
// run label. Creating a batch whose key exists returns the existing batch.
type Key struct {
	Date string `json:"date"` // game date, YYYY-MM-DD in the league's time zone
	Run  string `json:"run"`  // run label, e.g. "daily"; lower-case letters, digits, '-', '_' and '.'
}

var runLabel = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Validate reports whether k names a real calendar date and a well-formed run
// label. The error wraps [ErrInvalid].
func (k Key) Validate() error {
	if _, err := time.Parse(time.DateOnly, k.Date); err != nil {
		return fmt.Errorf("%w: batch date %q is not a YYYY-MM-DD date", ErrInvalid, k.Date)
	}
	if !runLabel.MatchString(k.Run) {
		return fmt.Errorf("%w: run label %q must be 1-64 of a-z 0-9 . _ - starting with a letter or digit", ErrInvalid, k.Run)
	}
	return nil
}

// String returns "date/run".
func (k Key) String() string { return k.Date + "/" + k.Run }

// State is where a batch is in its life: running → finalizing → finalized.
type State string

// Batch states.
const (
	Running    State = "running"    // items are being dispatched and their outcomes recorded
	Finalizing State = "finalizing" // every item is terminal; one owner holds the finalize lease
	Finalized  State = "finalized"  // terminal: the result is fixed and the event is in the outbox
)

// Result is how a finalized batch ended.
type Result string

// Batch results. A running or finalizing batch has no result ("").
const (
	ResultSucceeded Result = "succeeded" // every item succeeded or was skipped
	ResultPartial   Result = "partial"   // some items failed or timed out, but no more than the policy allows
	ResultFailed    Result = "failed"    // too few items succeeded
	ResultCancelled Result = "cancelled" // an operator cancelled the batch
)

// Outcome is the terminal state of one item. An item without an outcome has
// the zero value.
type Outcome string

// Item outcomes.
const (
	OutcomeNone      Outcome = ""
	OutcomeSucceeded Outcome = "succeeded"
	OutcomeSkipped   Outcome = "skipped" // nothing to predict (e.g. no line); counts as success
	OutcomeFailed    Outcome = "failed"
	OutcomeTimedOut  Outcome = "timed_out"
)

// Valid reports whether o is one of the terminal outcomes.
func (o Outcome) Valid() bool {
	switch o {
	case OutcomeSucceeded, OutcomeSkipped, OutcomeFailed, OutcomeTimedOut:
		return true
	}
	return false
}

// Counts holds how many items of a batch have each outcome.
type Counts struct {
	Succeeded int `json:"succeeded"`
	Skipped   int `json:"skipped"`
	Failed    int `json:"failed"`
	TimedOut  int `json:"timed_out"`
}

// Done returns how many items have an outcome.
func (c Counts) Done() int { return c.Succeeded + c.Skipped + c.Failed + c.TimedOut }

// Add returns c with one more item of outcome o.
func (c Counts) Add(o Outcome) Counts {
	switch o {
	case OutcomeSucceeded:
		c.Succeeded++
	case OutcomeSkipped:
		c.Skipped++
	case OutcomeFailed:
		c.Failed++
	case OutcomeTimedOut:
		c.TimedOut++
	}
	return c
}

// Policy says how long items and the batch may take and what result a batch
// with failures gets. The zero value of each field means its default.
type Policy struct {
	// ItemTimeout is how long a published item may go without an outcome
	// before the sweeper re-drives it.
	ItemTimeout time.Duration `json:"item_timeout"`
	// MaxAttempts is how many times an item is published before it is given
	// up: as timed out when its last attempt goes without an outcome for
	// the item timeout, as failed when its last request is dead-lettered
	// (a dead letter of an earlier attempt re-drives it).
	MaxAttempts int `json:"max_attempts"`
	// Deadline is how long after creation the batch must end; items without
	// an outcome then become timed out.
	Deadline time.Duration `json:"deadline"`
	// MinSuccessRatio is the share of items that must succeed or be skipped
	// for a batch with failures to be partial rather than failed.
	MinSuccessRatio float64 `json:"min_success_ratio"`
}

// Policy defaults.
const (
	DefaultItemTimeout     = 2 * time.Minute
	DefaultMaxAttempts     = 3
	DefaultDeadline        = 2 * time.Hour
	DefaultMinSuccessRatio = 0.9
)

// WithDefaults returns p with every zero field set to its default.
func (p Policy) WithDefaults() Policy {
	if p.ItemTimeout == 0 {
		p.ItemTimeout = DefaultItemTimeout
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.Deadline == 0 {
		p.Deadline = DefaultDeadline
	}
	if p.MinSuccessRatio == 0 {
		p.MinSuccessRatio = DefaultMinSuccessRatio
	}
	return p
}

// Validate reports the first out-of-range field, wrapping [ErrInvalid].
func (p Policy) Validate() error {
	switch {
	case p.ItemTimeout < 0:
		return fmt.Errorf("%w: item timeout %v is negative", ErrInvalid, p.ItemTimeout)
	case p.MaxAttempts < 0:
		return fmt.Errorf("%w: max attempts %d is negative", ErrInvalid, p.MaxAttempts)
	case p.Deadline < 0:
		return fmt.Errorf("%w: deadline %v is negative", ErrInvalid, p.Deadline)
	case p.MinSuccessRatio < 0 || p.MinSuccessRatio > 1:
		return fmt.Errorf("%w: min success ratio %v is outside [0,1]", ErrInvalid, p.MinSuccessRatio)
	}
	return nil
}

// Decide returns the result of a batch of total items whose outcomes are c:
// succeeded when nothing failed or timed out, partial when the share of
// succeeded and skipped items reaches the policy's minimum, failed otherwise.
func (p Policy) Decide(total int, c Counts) Result {
	ok := c.Succeeded + c.Skipped
	if ok >= total {
		return ResultSucceeded
	}
	// Compare the share, not ok with ratio×total: 0.07×100 rounds to just
	// above 7 in floating point, while 7/100 rounds to the same float64 as
	// the literal 0.07, so a batch exactly at its minimum is partial.
	if float64(ok)/float64(total) >= p.WithDefaults().MinSuccessRatio {
		return ResultPartial
	}
	return ResultFailed
}

// Lease is the finalize lease: while it has not expired, only Owner may
// finish finalizing the batch.
type Lease struct {
	Owner   string    `json:"owner,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

// Batch is one run of the prediction job for a key.
type Batch struct {
	ID     string `json:"id"`
	Key    Key    `json:"key"`
	State  State  `json:"state"`
	Result Result `json:"result,omitempty"`
	// Total is the number of items in the manifest; it never changes.
	Total  int    `json:"total"`
	Counts Counts `json:"counts"`
	Policy Policy `json:"policy"`
	// Meta is free-form metadata given at creation (data version, trace id).
	Meta map[string]string `json:"meta,omitempty"`

	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Deadline    time.Time `json:"deadline"`
	FinalizedAt time.Time `json:"finalized_at,omitzero"`

	Lease            Lease  `json:"lease,omitzero"`
	FinalizeAttempts int    `json:"finalize_attempts"`
	CancelReason     string `json:"cancel_reason,omitempty"`
}

// Remaining returns how many items have no outcome yet.
func (b Batch) Remaining() int { return b.Total - b.Counts.Done() }

// Item is one unit of work in a batch: one player's prediction request.
type Item struct {
	BatchID string `json:"batch_id"`
	ID      string `json:"id"`
	// Request is the payload published to workers.
	Request []byte `json:"request,omitempty"`
	// Published is false while the item waits in the dispatch outbox.
	Published bool `json:"published"`
	// Attempts counts how many times the item was published.
	Attempts int     `json:"attempts"`
	Outcome  Outcome `json:"outcome,omitempty"`
	// Result is the payload recorded with the outcome (the predictions).
	Result []byte `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`

	CreatedAt   time.Time `json:"created_at"`
	PublishedAt time.Time `json:"published_at,omitzero"`
	CompletedAt time.Time `json:"completed_at,omitzero"`
}

// NewItem is an entry of a batch's manifest.
type NewItem struct {
	ID      string
	Request []byte
}

// Spec describes a batch to create.
type Spec struct {
	Key    Key
	Items  []NewItem
	Policy Policy
	Meta   map[string]string
}

// MetaNoItems is the meta key of a batch that has no items on purpose; its
// value says why ("no games scheduled on 2025-12-24"). Such a batch is the
// durable record that its key had nothing to do: [Engine.Create] finalizes
// it at once, and it ends succeeded. Without this key an empty manifest is
// refused, so a missing schedule or roster is never taken for a quiet day.
const MetaNoItems = "no_items"

// NoItems returns why the batch has no items on purpose, and whether it is
// such a batch.
func (b Batch) NoItems() (reason string, ok bool) {
	reason = b.Meta[MetaNoItems]
	return reason, reason != "" && b.Total == 0
}

var itemID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// Validate reports the first problem with s: a bad key or policy, an empty
// manifest without a [MetaNoItems] reason (or such a reason beside items),
// an item ID that is empty, malformed or repeated. The error wraps
// [ErrInvalid].
func (s Spec) Validate() error {
	if err := s.Key.Validate(); err != nil {
		return err
	}
	if err := s.Policy.Validate(); err != nil {
		return err
	}
	// An empty manifest finalizes as succeeded with nothing in it, which
	// would hide a missing schedule or roster: the caller must say why.
	switch reason := s.Meta[MetaNoItems]; {
	case len(s.Items) == 0 && reason == "":
		return fmt.Errorf("%w: batch %s has no items and no meta %s saying why", ErrInvalid, s.Key, MetaNoItems)
	case len(s.Items) > 0 && reason != "":
		return fmt.Errorf("%w: batch %s has %d items but meta %s %q says it has none", ErrInvalid, s.Key, len(s.Items), MetaNoItems, reason)
	}
	seen := make(map[string]struct{}, len(s.Items))
	for i, it := range s.Items {
		if !itemID.MatchString(it.ID) {
			return fmt.Errorf("%w: item %d: id %q must be 1-128 of A-Z a-z 0-9 . _ : - starting with a letter or digit", ErrInvalid, i, it.ID)
		}
		if _, dup := seen[it.ID]; dup {
			return fmt.Errorf("%w: item %d: id %q appears twice in the manifest", ErrInvalid, i, it.ID)
		}
		seen[it.ID] = struct{}{}
	}
	return nil
}

// OutcomeRecord is one item's terminal outcome as reported by a worker or the
// sweeper.
type OutcomeRecord struct {
	BatchID string
	ItemID  string
	Outcome Outcome
	Result  []byte
	Error   string
	At      time.Time
}

// Validate reports a record that names no batch or item or has no terminal
// outcome, wrapping [ErrInvalid].
func (r OutcomeRecord) Validate() error {
	switch {
	case r.BatchID == "":
		return fmt.Errorf("%w: outcome names no batch", ErrInvalid)
	case r.ItemID == "":
		return fmt.Errorf("%w: outcome for batch %s names no item", ErrInvalid, r.BatchID)
	case !r.Outcome.Valid():
		return fmt.Errorf("%w: outcome %q for %s/%s is not one of succeeded, skipped, failed, timed_out", ErrInvalid, r.Outcome, r.BatchID, r.ItemID)
	}
	return nil
}

// Recorded says what RecordOutcome did.
type Recorded struct {
	// Duplicate is true when the item already had an outcome; nothing was
	// changed.
	Duplicate bool
	// Existing is the outcome the item already had when Duplicate is true.
	Existing Outcome
	// Remaining is how many items of the batch had no outcome right after
	// the call.
	Remaining int
}

// Progress is a cheap summary of a batch: counts, and the first items that
// still have no outcome.
type Progress struct {
	Batch     Batch    `json:"batch"`
	Remaining int      `json:"remaining"`
	Missing   []string `json:"missing"` // up to the requested limit, in item ID order
}

// Event is an entry of the event outbox, published to [TopicEvents] at
// least once by a relay ([Engine.RelayEvents]). Delivery is at least once
// whatever runs the relay: a relay that dies between publishing an event
// and marking it published publishes it again, two coordinator instances
// may both relay it, and the transport redelivers what a consumer did not
// ack. Its ID is stable (the [AttrEventID] attribute and the body's "id",
// [EventID] of the batch and type), so consumers deduplicate on it.
type Event struct {
	ID          string    `json:"id"`
	Type        string    `json:"type"`
	BatchID     string    `json:"batch_id"`
	Payload     []byte    `json:"payload,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	PublishedAt time.Time `json:"published_at,omitzero"`
}

// Validate reports an event without an ID or type, or that belongs to
// another batch than batchID, wrapping [ErrInvalid].
func (ev Event) Validate(batchID string) error {
	switch {
	case ev.ID == "":
		return fmt.Errorf("%w: event for batch %s has no id", ErrInvalid, batchID)
	case ev.Type == "":
		return fmt.Errorf("%w: event %s has no type", ErrInvalid, ev.ID)
	case ev.BatchID != batchID:
		return fmt.Errorf("%w: event %s names batch %q, not %s", ErrInvalid, ev.ID, ev.BatchID, batchID)
	}
	return nil
}

// Event types.
const (
	EventFinalized = "batch.finalized"
	EventCancelled = "batch.cancelled"
)

// EventID returns the stable ID of the event of type typ for a batch.
func EventID(batchID, typ string) string { return batchID + "/" + typ }

// PlausibleID reports whether id could name a batch: 1-200 bytes of valid
// UTF-8 without control characters or slashes. Callers answer an id that
// cannot as not found without asking a store, some of which fail on it
// (Firestore refuses invalid UTF-8 in a document name).
func PlausibleID(id string) bool {
	if id == "" || len(id) > 200 || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || r == '/' {
			return false
		}
	}
	return true
}

// LeaseToken is a fencing token: it names one acquisition of a batch's
// finalize lease. Epoch is the batch's FinalizeAttempts right after that
// acquisition; every acquire, by any owner, including the holder renewing,
// increments it, so a token is current only while no later acquire has
// happened. Every side effect of a finalize (the publication, the export,
// the finalized event) is written under its token and refused once the
// token is stale, so a finalizer that stalled past its lease and woke after
// another took over cannot overwrite the newer finalizer's work.
type LeaseToken struct {
	BatchID string `json:"batch_id"`
	Owner   string `json:"owner"`
	Epoch   int    `json:"epoch"`
}

// IsZero reports whether t names no lease.
func (t LeaseToken) IsZero() bool { return t == LeaseToken{} }

// String returns "owner#epoch".
func (t LeaseToken) String() string { return fmt.Sprintf("%s#%d", t.Owner, t.Epoch) }

// LeaseToken returns the token of b's current finalize lease. It names a
// lease only while b is finalizing.
func (b Batch) LeaseToken() LeaseToken {
	return LeaseToken{BatchID: b.ID, Owner: b.Lease.Owner, Epoch: b.FinalizeAttempts}
}

// CheckLease reports whether t is the current lease of a batch found in
// state st with lease owner owner and finalize attempts epoch: nil if the
// batch is finalizing under exactly t (a lease that expired but was not
// taken over still counts as held), an error wrapping [ErrLeaseLost] naming
// what changed otherwise. Stores call it inside the transaction of a fenced
// write, on the batch as that transaction reads it.
func CheckLease(t LeaseToken, st State, owner string, epoch int) error {
	switch {
	case st != Finalizing:
		return fmt.Errorf("%w: batch %s is %s; lease %s is no longer held", ErrLeaseLost, t.BatchID, st, t)
	case owner != t.Owner || epoch != t.Epoch:
		return fmt.Errorf("%w: batch %s: lease %s was taken over by %s#%d", ErrLeaseLost, t.BatchID, t, owner, epoch)
	}
	return nil
}
