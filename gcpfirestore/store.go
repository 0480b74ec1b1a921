package gcpfirestore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tipoff/batch"
)

// Config configures [Open]. Zero fields other than ProjectID take defaults.
type Config struct {
	// ProjectID is the Google Cloud project. Required.
	ProjectID string
	// DatabaseID is the Firestore database; default "(default)".
	DatabaseID string
	// CollectionPrefix starts the name of every top-level collection the
	// store uses ("<prefix>_batches", "<prefix>_keys", "<prefix>_events",
	// "<prefix>_claims"), so several stores can share a database; default
	// "tipoff".
	CollectionPrefix string
	// Shards is how many counter documents a new batch gets; default
	// [DefaultShards]. Each batch remembers its own, so changing it only
	// affects batches created afterwards.
	Shards int
	// Retry says how Firestore errors that may go away on their own are
	// retried.
	Retry RetryPolicy
	// ClientOptions are passed to the Firestore client (credentials,
	// endpoint). With FIRESTORE_EMULATOR_HOST set in the environment the
	// client library connects to the emulator instead.
	ClientOptions []option.ClientOption
	// Logger receives warnings about retries and cleanup; default none.
	Logger *slog.Logger
}

// RetryPolicy is capped exponential backoff with full jitter: the wait
// before retry n is uniformly random in [0, min(Max, Initial·2ⁿ)).
type RetryPolicy struct {
	// Attempts is how many times an operation is tried in all; default 12.
	Attempts int
	// Initial is the cap of the first wait; default 10ms.
	Initial time.Duration
	// Max caps every wait; default 2s.
	Max time.Duration
}

// DefaultShards is the number of counter shards per batch chosen by
// measurement on the emulator (see README.md): enough that concurrent
// outcomes rarely write the same counter document, few enough that reading
// all of them after every outcome stays cheap.
const DefaultShards = 16

// maxShards keeps the create transaction (key, batch, shard and gate
// documents) far below Firestore's 500 writes per commit.
const maxShards = 100

func (c Config) withDefaults() Config {
	if c.DatabaseID == "" {
		c.DatabaseID = firestore.DefaultDatabaseID
	}
	if c.CollectionPrefix == "" {
		c.CollectionPrefix = "tipoff"
	}
	if c.Shards == 0 {
		c.Shards = DefaultShards
	}
	if c.Retry.Attempts == 0 {
		c.Retry.Attempts = 12
	}
	if c.Retry.Initial == 0 {
		c.Retry.Initial = 10 * time.Millisecond
	}
	if c.Retry.Max == 0 {
		c.Retry.Max = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate reports every problem with a defaulted config.
func (c Config) validate() error {
	var errs []error
	if c.ProjectID == "" {
		errs = append(errs, errors.New("project id (ProjectID) is empty"))
	}
	if !validCollectionPrefix(c.CollectionPrefix) {
		errs = append(errs, fmt.Errorf("collection prefix (CollectionPrefix) %q must be 1-64 of A-Z a-z 0-9 _ - starting with a letter", c.CollectionPrefix))
	}
	if c.Shards < 1 || c.Shards > maxShards {
		errs = append(errs, fmt.Errorf("shard count (Shards) %d is outside 1-%d", c.Shards, maxShards))
	}
	if c.Retry.Attempts < 1 {
		errs = append(errs, fmt.Errorf("retry attempts (Retry.Attempts) %d is below 1", c.Retry.Attempts))
	}
	if c.Retry.Initial < 0 || c.Retry.Max < c.Retry.Initial {
		errs = append(errs, fmt.Errorf("retry waits (Retry.Initial %v, Retry.Max %v) must satisfy 0 <= Initial <= Max", c.Retry.Initial, c.Retry.Max))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: firestore config: %w", batch.ErrInvalid, errors.Join(errs...))
	}
	return nil
}

func validCollectionPrefix(p string) bool {
	if p == "" || len(p) > 64 {
		return false
	}
	for i, r := range p {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '_' || r == '-'):
		default:
			return false
		}
	}
	return true
}

// Store is the [batch.Store] on Firestore. See the package documentation
// for the documents it keeps and why.
type Store struct {
	client *firestore.Client
	cfg    Config
	log    *slog.Logger

	batches *firestore.CollectionRef
	keys    *firestore.CollectionRef
	events  *firestore.CollectionRef
	claims  *firestore.CollectionRef

	// layouts caches what never changes about a created batch: its
	// manifest ID and shard count. Safe because batches are never deleted
	// or recreated under the same ID.
	layouts sync.Map // batch ID → layout

	// cleanup runs the deletions of unused manifests that CreateBatch
	// leaves to the background; Close waits for them.
	cleanup sync.WaitGroup

	// outcomeTxHook, when set by a test, runs inside RecordOutcome's
	// commit transaction before its writes (after its reads, if it has
	// any): where a recorder that is killed or frozen mid-transaction
	// stops.
	outcomeTxHook func()
	// discardHook, when set by a test, runs before an unused manifest is
	// deleted.
	discardHook func()
	// markHook, when set by a test, runs in MarkPublished between reading
	// a chunk's items and writing them: where outcomes land meanwhile.
	markHook func()
}

var _ batch.Store = (*Store)(nil)

// Open connects to Firestore. It does no reads or writes: Firestore needs
// no schema. Close the store when done.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var (
		client *firestore.Client
		err    error
	)
	if cfg.DatabaseID == firestore.DefaultDatabaseID {
		client, err = firestore.NewClient(ctx, cfg.ProjectID, cfg.ClientOptions...)
	} else {
		client, err = firestore.NewClientWithDatabase(ctx, cfg.ProjectID, cfg.DatabaseID, cfg.ClientOptions...)
	}
	if err != nil {
		return nil, fmt.Errorf("open firestore %s/%s: %w", cfg.ProjectID, cfg.DatabaseID, err)
	}
	p := cfg.CollectionPrefix + "_"
	return &Store{
		client:  client,
		cfg:     cfg,
		log:     cfg.Logger,
		batches: client.Collection(p + "batches"),
		keys:    client.Collection(p + "keys"),
		events:  client.Collection(p + "events"),
		claims:  client.Collection(p + "claims"),
	}, nil
}

// Close waits for background cleanup (at most 10 s) and closes the
// Firestore client.
func (s *Store) Close() error {
	s.cleanup.Wait()
	return s.client.Close()
}

// Client returns the underlying Firestore client, for tests and tools that
// inspect the documents directly.
func (s *Store) Client() *firestore.Client { return s.client }

// layout is where a batch's documents live.
type layout struct {
	manifest string // ID of the manifest the batch was created with
	shards   int
	gates    int // 0 for a batch created before gates
	total    int
}

func (s *Store) batchRef(id string) *firestore.DocumentRef { return s.batches.Doc(id) }

func (s *Store) itemsOf(batchID string, l layout) *firestore.CollectionRef {
	return s.batches.Doc(batchID).Collection("manifests").Doc(l.manifest).Collection("items")
}

func (s *Store) shardRefs(batchID string, n int) []*firestore.DocumentRef {
	refs := make([]*firestore.DocumentRef, n)
	for i := range refs {
		refs[i] = s.batches.Doc(batchID).Collection("shards").Doc(fmt.Sprintf("%03d", i))
	}
	return refs
}

// gateRefs names a batch's n gate documents.
func (s *Store) gateRefs(batchID string, n int) []*firestore.DocumentRef {
	refs := make([]*firestore.DocumentRef, n)
	for i := range refs {
		refs[i] = s.batches.Doc(batchID).Collection("gates").Doc(fmt.Sprintf("%03d", i))
	}
	return refs
}

// validDocID reports whether id can name a Firestore document: not empty,
// at most 512 bytes, no '/', not "." or "..", not of the reserved form
// __name__.
func validDocID(id string) bool {
	return id != "" && len(id) <= 512 && !strings.Contains(id, "/") && id != "." && id != ".." &&
		!(len(id) >= 4 && strings.HasPrefix(id, "__") && strings.HasSuffix(id, "__"))
}

// retry runs op until it succeeds, fails with an error that is not
// transient, runs out of attempts, or ctx ends. op must be safe to run
// again: every caller passes a transaction or an idempotent read.
func (s *Store) retry(ctx context.Context, what string, op func() error) error {
	var err error
	for attempt := 0; ; attempt++ {
		err = op()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return withKind(err)
		}
		if attempt+1 >= s.cfg.Retry.Attempts {
			return withKind(fmt.Errorf("%s: gave up after %d attempts: %w", what, attempt+1, err))
		}
		wait := backoff(s.cfg.Retry, attempt)
		s.log.Debug("firestore retry", "op", what, "attempt", attempt+1, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return withKind(err)
		case <-t.C:
		}
	}
}

// withKind adds the batch error kind that a Firestore error means, once, at
// the boundary: a conditional write that kept losing is a lost
// compare-and-set (ErrConflict), as is AlreadyExists; NotFound is
// ErrNotFound; InvalidArgument (a value Firestore cannot store) is
// ErrInvalid, except for an expired or closed transaction, which says
// nothing about the data and gets no kind, so that callers treat it as
// transient. Errors that already carry a kind, and others, pass unchanged.
func withKind(err error) error {
	if err == nil || hasKind(err) || expiredTx(err) {
		return err
	}
	if errors.Is(err, errStale) {
		return fmt.Errorf("%w: %w", batch.ErrConflict, err)
	}
	switch status.Code(err) {
	case codes.AlreadyExists:
		return fmt.Errorf("%w: %w", batch.ErrConflict, err)
	case codes.NotFound:
		return fmt.Errorf("%w: %w", batch.ErrNotFound, err)
	case codes.InvalidArgument:
		return fmt.Errorf("%w: %w", batch.ErrInvalid, err)
	}
	return err
}

// backoff returns the wait before retry attempt+1: full jitter under a cap
// that doubles from p.Initial up to p.Max.
func backoff(p RetryPolicy, attempt int) time.Duration {
	ceil := p.Initial
	for i := 0; i < attempt && ceil < p.Max; i++ {
		ceil *= 2
	}
	ceil = min(ceil, p.Max)
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil)
}

// hasKind reports whether err already carries one of the batch error kinds.
func hasKind(err error) bool {
	return errors.Is(err, batch.ErrNotFound) || errors.Is(err, batch.ErrConflict) || errors.Is(err, batch.ErrInvalid) ||
		errors.Is(err, batch.ErrFinalized) || errors.Is(err, batch.ErrPending)
}

// errStale marks a conditional write that lost: the document changed after
// it was read. The operation reads again and decides again.
var errStale = errors.New("document changed since it was read")

// stale turns the failed precondition of a conditional write into
// errStale and leaves other errors alone.
func stale(err error) error {
	if status.Code(err) == codes.FailedPrecondition {
		return fmt.Errorf("%w: %v", errStale, err)
	}
	return err
}

// transient reports whether err is a Firestore error that may go away if
// the same operation is tried again, or a lost conditional write. The batch
// error kinds never are.
func transient(err error) bool {
	if errors.Is(err, errStale) {
		return true
	}
	if hasKind(err) {
		return false
	}
	switch status.Code(err) {
	case codes.Aborted, codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return true
	}
	return expiredTx(err)
}

// expiredTx reports whether err is Firestore refusing a transaction that
// it no longer knows: one that outlived its time limit while its caller
// was slow or frozen, or was rolled back. Firestore answers
// INVALID_ARGUMENT "The referenced transaction has expired or is no longer
// valid", the emulator "Transaction is invalid or closed". Nothing the
// transaction would have written was wrong, so the operation reads again
// and decides again, as after Aborted.
func expiredTx(err error) bool {
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) || se.GRPCStatus().Code() != codes.InvalidArgument {
		return false
	}
	msg := strings.ToLower(se.GRPCStatus().Message())
	return strings.Contains(msg, "transaction") &&
		(strings.Contains(msg, "expired") || strings.Contains(msg, "no longer valid") || strings.Contains(msg, "invalid or closed"))
}

// runTx runs f in a Firestore transaction, retried by the store's policy
// (the client library's own retries are turned off so there is one policy).
func (s *Store) runTx(ctx context.Context, what string, f func(context.Context, *firestore.Transaction) error) error {
	return s.retry(ctx, what, func() error { return s.tx(ctx, f) })
}

// tx runs f in one Firestore transaction attempt. A failed precondition of
// one of its writes comes back as errStale.
func (s *Store) tx(ctx context.Context, f func(context.Context, *firestore.Transaction) error) error {
	return stale(s.client.RunTransaction(ctx, f, firestore.MaxAttempts(1)))
}

// getAll reads documents outside a transaction, all at one read time.
func (s *Store) getAll(ctx context.Context, what string, refs []*firestore.DocumentRef) ([]*firestore.DocumentSnapshot, error) {
	var snaps []*firestore.DocumentSnapshot
	err := s.retry(ctx, what, func() error {
		var err error
		snaps, err = s.client.GetAll(ctx, refs)
		return err
	})
	return snaps, err
}

// queryAll runs a query to the end, retried by the store's policy.
func (s *Store) queryAll(ctx context.Context, what string, q firestore.Query) ([]*firestore.DocumentSnapshot, error) {
	var docs []*firestore.DocumentSnapshot
	err := s.retry(ctx, what, func() error {
		var err error
		docs, err = q.Documents(ctx).GetAll()
		return err
	})
	return docs, err
}
