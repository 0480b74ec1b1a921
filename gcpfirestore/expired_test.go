package gcpfirestore_test

import (
	"context"
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
// transaction that outlived its time limit while its caller was frozen.
type expireNextCommit struct {
	armed atomic.Bool
	mu    sync.Mutex
	errs  []error // what the emulator answered each expired commit
}

func (e *expireNextCommit) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	commit, ok := req.(*firestorepb.CommitRequest)
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

// An outcome whose commit finds its transaction expired is recorded by a
// retry, not refused as invalid input.
func TestStore_RecordOutcomeExpiredTransaction(t *testing.T) {
	exp := &expireNextCommit{}
	// With FIRESTORE_EMULATOR_HOST set the client library dials its own
	// connection and ignores dial options, so this test brings one.
	conn, err := grpc.NewClient(batchtest.RequireEnv(t, "FIRESTORE_EMULATOR_HOST"),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithChainUnaryInterceptor(exp.intercept))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := mustOpen(t, batchtest.UniqueID(t), gcpfirestore.Config{ClientOptions: []option.ClientOption{option.WithGRPCConn(conn)}})
	if _, _, err := s.CreateBatch(t.Context(), "b1", spec("daily", 2, 10), t0); err != nil {
		t.Fatal(err)
	}
	exp.armed.Store(true)
	rec := batch.OutcomeRecord{BatchID: "b1", ItemID: "p00001", Outcome: batch.OutcomeSucceeded, Result: []byte(`{"points":21.5}`), At: t0}
	r, err := s.RecordOutcome(t.Context(), rec)
	exp.mu.Lock()
	errs := exp.errs
	exp.mu.Unlock()
	if len(errs) != 1 || status.Code(errs[0]) != codes.InvalidArgument {
		t.Fatalf("the expired commit was answered %v, want one InvalidArgument", errs)
	}
	t.Logf("the emulator answered the expired commit: %v", errs[0])
	if err != nil || r.Duplicate || r.Remaining != 1 {
		t.Fatalf("RecordOutcome after an expired transaction = %+v, %v; want recorded with 1 remaining", r, err)
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
