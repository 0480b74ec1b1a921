package gcpfirestore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tipoff/batch"
	"tipoff/batch/batchtest"
)

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	_, err := Open(t.Context(), Config{CollectionPrefix: "tip/off", Shards: 1000, Retry: RetryPolicy{Attempts: -1}})
	if !errors.Is(err, batch.ErrInvalid) {
		t.Fatalf("Open with a bad config: got %v, want an error wrapping %v", err, batch.ErrInvalid)
	}
	// Every problem is reported, each naming its field and value.
	for _, want := range []string{"ProjectID", `CollectionPrefix) "tip/off"`, "Shards) 1000", "Retry.Attempts) -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{Attempts: 10, Initial: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	for attempt, ceil := range []time.Duration{10, 20, 40, 80, 80, 80} {
		ceil *= time.Millisecond
		for range 200 {
			if d := backoff(p, attempt); d < 0 || d >= ceil {
				t.Fatalf("backoff(attempt %d) = %v, want in [0, %v)", attempt, d, ceil)
			}
		}
	}
	if d := backoff(RetryPolicy{}, 3); d != 0 {
		t.Fatalf("backoff with no waits = %v, want 0", d)
	}
}

func TestTransient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Aborted, "contention"), true},
		{status.Error(codes.Unavailable, "down"), true},
		{status.Error(codes.DeadlineExceeded, "slow"), true},
		{status.Error(codes.ResourceExhausted, "quota"), true},
		{fmt.Errorf("commit: %w", status.Error(codes.Unavailable, "down")), true},
		{stale(status.Error(codes.FailedPrecondition, "update time")), true},
		{status.Error(codes.FailedPrecondition, "needs an index"), false},
		{status.Error(codes.InvalidArgument, "too big"), false},
		{status.Error(codes.InvalidArgument, "The referenced transaction has expired or is no longer valid"), true},
		{status.Error(codes.InvalidArgument, "Transaction is invalid or closed"), true},
		{fmt.Errorf("record outcome b1/p1: %w", status.Error(codes.InvalidArgument, "Transaction is invalid or closed")), true},
		{status.Error(codes.InvalidArgument, "Property result contains an invalid nested entity"), false},
		{fmt.Errorf("transaction expired: %w", status.Error(codes.InvalidArgument, "too big")), false},
		{status.Error(codes.FailedPrecondition, "transaction has expired"), false},
		{status.Error(codes.PermissionDenied, "no"), false},
		{fmt.Errorf("%w: lost: %w", batch.ErrConflict, status.Error(codes.Aborted, "x")), false},
		{batch.ErrNotFound, false},
		{errors.New("plain"), false},
	}
	for _, tt := range tests {
		if got := transient(tt.err); got != tt.want {
			t.Errorf("transient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// retryStore is a store with only what retry needs.
func retryStore(attempts int) *Store {
	cfg := Config{ProjectID: "p", Retry: RetryPolicy{Attempts: attempts, Initial: time.Microsecond, Max: time.Microsecond}}.withDefaults()
	return &Store{cfg: cfg, log: cfg.Logger}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	t.Run("UntilSuccess", func(t *testing.T) {
		t.Parallel()
		calls := 0
		err := retryStore(5).retry(t.Context(), "op", func() error {
			calls++
			if calls < 3 {
				return status.Error(codes.Unavailable, "down")
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Fatalf("retry = %v after %d calls, want nil after 3", err, calls)
		}
	})
	t.Run("GivesUp", func(t *testing.T) {
		t.Parallel()
		calls := 0
		err := retryStore(4).retry(t.Context(), "op", func() error {
			calls++
			return status.Error(codes.Aborted, "contention")
		})
		if calls != 4 || status.Code(err) != codes.Aborted || !strings.Contains(err.Error(), "4 attempts") {
			t.Fatalf("retry = %v after %d calls, want the Aborted error after 4 attempts", err, calls)
		}
	})
	t.Run("LostCompareAndSet", func(t *testing.T) {
		t.Parallel()
		err := retryStore(3).retry(t.Context(), "op", func() error {
			return stale(status.Error(codes.FailedPrecondition, "update time does not match"))
		})
		if !errors.Is(err, batch.ErrConflict) {
			t.Fatalf("retry of a conditional write that keeps losing = %v, want a conflict", err)
		}
	})
	t.Run("ExpiredTransaction", func(t *testing.T) {
		calls := 0
		err := retryStore(5).retry(t.Context(), "op", func() error {
			calls++
			if calls == 1 {
				return status.Error(codes.InvalidArgument, "The referenced transaction has expired or is no longer valid")
			}
			return nil
		})
		if err != nil || calls != 2 {
			t.Fatalf("retry = %v after %d calls, want nil after 2", err, calls)
		}
	})
	t.Run("ExpiredTransactionGivesUp", func(t *testing.T) {
		err := retryStore(3).retry(t.Context(), "op", func() error {
			return status.Error(codes.InvalidArgument, "Transaction is invalid or closed")
		})
		if err == nil || errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), "3 attempts") {
			t.Fatalf("retry of a transaction that keeps expiring = %v, want an error of no kind after 3 attempts", err)
		}
	})
	t.Run("Permanent", func(t *testing.T) {
		t.Parallel()
		calls := 0
		err := retryStore(5).retry(t.Context(), "op", func() error {
			calls++
			return fmt.Errorf("%w: taken", batch.ErrConflict)
		})
		if calls != 1 || !errors.Is(err, batch.ErrConflict) {
			t.Fatalf("retry = %v after %d calls, want the conflict after 1", err, calls)
		}
	})
	t.Run("ContextDone", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		calls := 0
		err := retryStore(100).retry(ctx, "op", func() error {
			calls++
			cancel()
			return status.Error(codes.Unavailable, "down")
		})
		if calls != 1 || err == nil {
			t.Fatalf("retry = %v after %d calls, want an error after 1", err, calls)
		}
	})
}

func TestWithKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want error
	}{
		{status.Error(codes.AlreadyExists, "exists"), batch.ErrConflict},
		{status.Error(codes.NotFound, "gone"), batch.ErrNotFound},
		{status.Error(codes.InvalidArgument, "too big"), batch.ErrInvalid},
		{fmt.Errorf("commit: %w", status.Error(codes.NotFound, "gone")), batch.ErrNotFound},
		{fmt.Errorf("%w: already", batch.ErrFinalized), batch.ErrFinalized},
	}
	for _, tt := range tests {
		got := withKind(tt.err)
		if !errors.Is(got, tt.want) || !errors.Is(got, tt.err) {
			t.Errorf("withKind(%v) = %v, want it to wrap %v and keep the cause", tt.err, got, tt.want)
		}
	}
	for _, err := range []error{status.Error(codes.PermissionDenied, "no"), status.Error(codes.Internal, "bug"),
		status.Error(codes.InvalidArgument, "The referenced transaction has expired or is no longer valid"),
		status.Error(codes.InvalidArgument, "Transaction is invalid or closed")} {
		if got := withKind(err); hasKind(got) {
			t.Errorf("withKind(%v) = %v, want no batch kind", err, got)
		}
	}
}

func TestChunks(t *testing.T) {
	t.Parallel()
	big := make([]byte, 1<<20)
	var items []batch.NewItem
	for i := range 1000 {
		it := batch.NewItem{ID: fmt.Sprintf("i%04d", i)}
		if i >= 900 {
			it.Request = big
		}
		items = append(items, it)
	}
	var got []string
	for _, ch := range chunks(items) {
		n := 0
		for _, it := range ch {
			n += len(it.Request)
		}
		if len(ch) == 0 || len(ch) > chunkItems || (n > chunkBytes && len(ch) > 1) {
			t.Fatalf("chunk of %d items and %d bytes breaks the limits (%d items, %d bytes)", len(ch), n, chunkItems, chunkBytes)
		}
		for _, it := range ch {
			got = append(got, it.ID)
		}
	}
	if len(got) != len(items) || got[0] != "i0000" || got[999] != "i0999" {
		t.Fatalf("chunks lost or reordered items: %d of %d", len(got), len(items))
	}
}

func mustOpenInternal(t *testing.T) *Store {
	t.Helper()
	batchtest.RequireEnv(t, "FIRESTORE_EMULATOR_HOST")
	s, err := Open(t.Context(), Config{ProjectID: batchtest.UniqueID(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		clearProject(t, os.Getenv("FIRESTORE_EMULATOR_HOST"), s.cfg.ProjectID)
	})
	return s
}

// ClearProject is for the black-box tests.
var ClearProject = clearProject

// clearProject deletes every document of a project from the emulator,
// through its reset endpoint: the emulator keeps everything in memory.
func clearProject(tb testing.TB, host, project string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/emulator/v1/projects/%s/databases/(default)/documents", host, project)
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, url, nil)
	if err != nil {
		tb.Errorf("clear emulator project %s: %v", project, err)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Errorf("clear emulator project %s: %v", project, err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Errorf("clear emulator project %s: %s", project, resp.Status)
	}
}

func testSpec(run string, n int) batch.Spec {
	sp := batch.Spec{Key: batch.Key{Date: "2026-01-15", Run: run}}
	for i := range n {
		sp.Items = append(sp.Items, batch.NewItem{ID: fmt.Sprintf("p%04d", i), Request: []byte(`{"n":` + fmt.Sprint(i) + `}`)})
	}
	return sp
}

// A create that died after writing its manifest leaves nothing a reader can
// see, and the next create of the key, even under the same batch ID, starts
// afresh with its own manifest.
func TestCreateBatch_AfterCrash(t *testing.T) {
	t.Parallel()
	s := mustOpenInternal(t)
	ctx := t.Context()
	now := time.Date(2026, 1, 15, 17, 0, 0, 0, time.UTC)
	crashed := testSpec("daily", 700) // more than one chunk
	if err := s.writeManifest(ctx, "b1", newToken(), crashed.Items, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetBatch(ctx, "b1"); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("GetBatch of a half-created batch: got %v, want not found", err)
	}
	if bs, err := s.ListBatches(ctx, batch.ListOptions{}); err != nil || len(bs) != 0 {
		t.Fatalf("ListBatches after a crashed create = %d batches, %v; want none", len(bs), err)
	}
	b, created, err := s.CreateBatch(ctx, "b1", testSpec("daily", 5), now.Add(time.Minute))
	if err != nil || !created || b.Total != 5 {
		t.Fatalf("CreateBatch after a crash = total %d, created %v, %v; want 5, true, nil", b.Total, created, err)
	}
	items, err := s.Items(ctx, "b1", batch.ItemsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 5 {
		t.Fatalf("batch has %d items, want only the 5 of its own manifest", len(items))
	}
}

// A create that loses the race for its key (it passed the check for an
// existing batch before the winner committed) returns the winner's batch
// without waiting for its own manifest to be deleted, and deletes it in the
// background.
func TestCreateBatch_LoserDiscardsManifest(t *testing.T) {
	t.Parallel()
	s := mustOpenInternal(t)
	ctx := t.Context()
	now := time.Date(2026, 1, 15, 17, 0, 0, 0, time.UTC)
	won, created, err := s.CreateBatch(ctx, "b1", testSpec("daily", 30), now)
	if err != nil || !created {
		t.Fatalf("first create = %v, %v", created, err)
	}
	release := make(chan struct{})
	s.discardHook = func() { <-release }
	got, created, err := s.create(ctx, "b2", testSpec("daily", 40), now.Add(time.Second))
	// The deletion is still held by the hook: the loser answered first.
	close(release)
	if err != nil || created || got.ID != won.ID || got.Total != 30 {
		t.Fatalf("losing create = %s with %d items, created %v, %v; want %s with 30, false, nil", got.ID, got.Total, created, err, won.ID)
	}
	s.cleanup.Wait()
	docs, err := s.client.CollectionGroup("items").Documents(ctx).GetAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 30 {
		t.Fatalf("%d item documents after a lost race, want the winner's 30", len(docs))
	}
	if _, err := s.GetBatch(ctx, "b2"); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("GetBatch of the loser's ID: got %v, want not found", err)
	}
}

// Outcomes that land on some items between MarkPublished's read and its
// writes (their requests were published, and the workers were quick) do
// not keep the other items from being marked: one that lands on every try
// would fail every try of one atomic commit, and the dispatch with it.
func TestMarkPublished_OutcomesMeanwhile(t *testing.T) {
	t.Parallel()
	s := mustOpenInternal(t)
	ctx := t.Context()
	now := time.Date(2026, 1, 15, 17, 0, 0, 0, time.UTC)
	const n = 20
	if _, _, err := s.CreateBatch(ctx, "b1", testSpec("daily", n), now); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("p%04d", i))
	}
	// Each try of the write, an outcome lands on another item.
	next := 0
	s.markHook = func() {
		if next == n {
			return
		}
		if _, err := s.RecordOutcome(ctx, batch.OutcomeRecord{BatchID: "b1", ItemID: ids[next], Outcome: batch.OutcomeSucceeded,
			Result: []byte(`{}`), At: now}); err != nil {
			t.Error(err)
		}
		next++
	}
	if err := s.MarkPublished(ctx, "b1", ids, now); err != nil {
		t.Fatalf("MarkPublished with outcomes landing meanwhile: %v", err)
	}
	items, err := s.Items(ctx, "b1", batch.ItemsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		outcome := it.Outcome != ""
		if outcome && it.ID != ids[0] && !it.Published {
			t.Errorf("item %s got its outcome after it was marked, but is not published", it.ID)
		}
		if !outcome && (!it.Published || it.Attempts != 1) {
			t.Errorf("item %s: published %v, attempts %d; want published, attempt 1", it.ID, it.Published, it.Attempts)
		}
	}
	if it := items[0]; it.ID != ids[0] || it.Outcome == "" || it.Published || it.Attempts != 0 {
		t.Errorf("item %s, whose outcome landed before its write: %+v; want its outcome, not published, no attempt", ids[0], it)
	}
}
