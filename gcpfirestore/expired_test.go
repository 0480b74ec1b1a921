package gcpfirestore_test

import (
	"context"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/gcpfirestore"
)

// expireNextCommit is a client interceptor that, once armed, ends the
// transaction of the next Commit on the server (a Rollback of the same
// transaction) before sending the Commit, as Firestore does to a
// transaction that outlived its time limit while its caller was frozen. It
// also counts the calls by method, and the Commits without a transaction.
type expireNextCommit struct {
	armed atomic.Bool
	mu    sync.Mutex
	errs  []error // what the emulator answered each expired commit
	calls map[string]int
	plain int // Commits outside a transaction
}

func (e *expireNextCommit) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	commit, ok := req.(*firestorepb.CommitRequest)
	e.mu.Lock()
	if e.calls == nil {
		e.calls = map[string]int{}
	}
	e.calls[method[strings.LastIndex(method, "/")+1:]]++
	if ok && len(commit.Transaction) == 0 {
		e.plain++
	}
	e.mu.Unlock()
	if !ok || !strings.HasSuffix(method, "/Commit") || len(commit.Transaction) == 0 || !e.armed.CompareAndSwap(true, false) {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	rb := &firestorepb.RollbackRequest{Database: commit.Database, Transaction: commit.Transaction}
	if err := cc.Invoke(ctx, "/google.firestore.v1.Firestore/Rollback", rb, &emptypb.Empty{}); err != nil {
		return err
	}
	err := invoker(ctx, method, req, reply, cc, opts...)
	e.mu.Lock()
	e.errs = append(e.errs, err)
	e.mu.Unlock()
	return err
}

// stream counts the streaming calls (BatchGetDocuments, RunQuery, ...).
func (e *expireNextCommit) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	e.mu.Lock()
	if e.calls == nil {
		e.calls = map[string]int{}
	}
	e.calls[method[strings.LastIndex(method, "/")+1:]]++
	e.mu.Unlock()
	return streamer(ctx, desc, cc, method, opts...)
}

// reset forgets the calls counted so far.
func (e *expireNextCommit) reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls, e.plain = nil, 0
}

// interceptedStore returns a store whose calls go through exp.
func interceptedStore(t *testing.T, exp *expireNextCommit) batch.Store {
	t.Helper()
	// With FIRESTORE_EMULATOR_HOST set the client library dials its own
	// connection and ignores dial options, so this test brings one.
	conn, err := grpc.NewClient(batchtest.RequireEnv(t, "FIRESTORE_EMULATOR_HOST"),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithChainUnaryInterceptor(exp.intercept), grpc.WithChainStreamInterceptor(exp.stream))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return mustOpen(t, batchtest.UniqueID(t), gcpfirestore.Config{ClientOptions: []option.ClientOption{option.WithGRPCConn(conn)}})
}

// A write whose transaction has expired by its commit is retried, not
// refused as invalid input: here marking an event published.
func TestStore_ExpiredTransaction(t *testing.T) {
	exp := &expireNextCommit{}
	s := interceptedStore(t, exp)
	if _, _, err := s.CreateBatch(t.Context(), "b1", spec("daily", 2, 10), t0); err != nil {
		t.Fatal(err)
	}
	ev := batch.Event{ID: batch.EventID("b1", batch.EventCancelled), Type: batch.EventCancelled, BatchID: "b1", CreatedAt: t0}
	if _, err := s.Cancel(t.Context(), "b1", "test", ev, t0); err != nil {
		t.Fatal(err)
	}
	exp.armed.Store(true)
	err := s.MarkEventPublished(t.Context(), ev.ID, t0)
	exp.mu.Lock()
	errs := exp.errs
	exp.mu.Unlock()
	if len(errs) != 1 || status.Code(errs[0]) != codes.InvalidArgument {
		t.Fatalf("the expired commit was answered %v, want one InvalidArgument", errs)
	}
	t.Logf("the emulator answered the expired commit: %v", errs[0])
	if err != nil {
		t.Fatalf("MarkEventPublished after an expired transaction: %v", err)
	}
	if evs, err := s.PendingEvents(t.Context(), 10); err != nil || len(evs) != 0 {
		t.Fatalf("pending events after the retry: %v, %v; want none", evs, err)
	}
}

// An outcome is recorded with one read and one Commit outside a
// transaction, then one read of the counts: no BeginTransaction round trip,
// and no transaction that could expire under a frozen recorder.
func TestStore_RecordOutcomeRoundTrips(t *testing.T) {
	exp := &expireNextCommit{}
	s := interceptedStore(t, exp)
	if _, _, err := s.CreateBatch(t.Context(), "b1", spec("daily", 2, 10), t0); err != nil {
		t.Fatal(err)
	}
	mustGet(t, s, "b1") // the batch's layout is cached from here on
	exp.reset()
	rec := batch.OutcomeRecord{BatchID: "b1", ItemID: "p00001", Outcome: batch.OutcomeSucceeded, Result: []byte(`{"points":21.5}`), At: t0}
	r, err := s.RecordOutcome(t.Context(), rec)
	if err != nil || r.Duplicate || r.Remaining != 1 {
		t.Fatalf("RecordOutcome = %+v, %v; want recorded with 1 remaining", r, err)
	}
	exp.mu.Lock()
	calls, plain := exp.calls, exp.plain
	exp.mu.Unlock()
	if want := map[string]int{"BatchGetDocuments": 2, "Commit": 1}; !maps.Equal(calls, want) || plain != 1 {
		t.Fatalf("calls %v (%d commits outside a transaction); want %v, the commit outside one", calls, plain, want)
	}
	items, err := s.Items(t.Context(), "b1", batch.ItemsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if items[1].Outcome != batch.OutcomeSucceeded || string(items[1].Result) != string(rec.Result) {
		t.Fatalf("item p00001 = outcome %q, result %s; want succeeded with its result", items[1].Outcome, items[1].Result)
	}
	if got := mustGet(t, s, "b1").Counts; got != (batch.Counts{Succeeded: 1}) {
		t.Fatalf("counts %+v, want 1 succeeded", got)
	}
}
