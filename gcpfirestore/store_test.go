package gcpfirestore_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/gcpfirestore"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	batchtest.RequireEnv(t, "FIRESTORE_EMULATOR_HOST")
	batchtest.RunStoreTests(t, func(t *testing.T) batch.Store {
		return mustOpen(t, batchtest.UniqueID(t), gcpfirestore.Config{})
	})
}

func BenchmarkStore(b *testing.B) {
	batchtest.RequireEnv(b, "FIRESTORE_EMULATOR_HOST")
	batchtest.RunStoreBenchmarks(b, func(b *testing.B) batch.Store {
		return mustOpen(b, batchtest.UniqueID(b), gcpfirestore.Config{})
	})
}

// mustOpen opens a store on the emulator in its own project, so tests
// never see each other's documents, and deletes the project's documents
// when the test ends (the emulator keeps everything in memory).
func mustOpen(tb testing.TB, project string, cfg gcpfirestore.Config) *gcpfirestore.Store {
	tb.Helper()
	host := batchtest.RequireEnv(tb, "FIRESTORE_EMULATOR_HOST")
	cfg.ProjectID = project
	s, err := gcpfirestore.Open(tb.Context(), cfg)
	if err != nil {
		tb.Fatalf("open store in project %s: %v", project, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
		gcpfirestore.ClearProject(tb, host, project)
	})
	return s
}

var t0 = time.Date(2026, 1, 15, 17, 0, 0, 0, time.UTC)

func spec(run string, n, requestBytes int) batch.Spec {
	sp := batch.Spec{Key: batch.Key{Date: "2026-01-15", Run: run}}
	pad := strings.Repeat("x", requestBytes)
	for i := range n {
		id := fmt.Sprintf("p%05d", i)
		sp.Items = append(sp.Items, batch.NewItem{ID: id, Request: []byte(`{"player":"` + id + `","pad":"` + pad + `"}`)})
	}
	return sp
}

func ids(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("p%05d", i))
	}
	return out
}

// A manifest of many commits (by count and by bytes) arrives whole.
func TestStore_CreateBatchManyChunks(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, batchtest.UniqueID(t), gcpfirestore.Config{})
	sp := spec("daily", 1500, 8<<10) // 12 MB of requests
	b, created, err := s.CreateBatch(t.Context(), "b1", sp, t0)
	if err != nil || !created || b.Total != 1500 {
		t.Fatalf("CreateBatch = total %d, created %v, %v; want 1500, true, nil", b.Total, created, err)
	}
	items, err := s.Items(t.Context(), "b1", batch.ItemsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1500 {
		t.Fatalf("got %d items, want 1500", len(items))
	}
	for i, it := range items {
		if it.ID != sp.Items[i].ID || !bytes.Equal(it.Request, sp.Items[i].Request) {
			t.Fatalf("item %d = %s with %d request bytes, want %s with %d", i, it.ID, len(it.Request), sp.Items[i].ID, len(sp.Items[i].Request))
		}
	}
}

// Metadata keys that Firestore refuses as field names still round-trip.
func TestStore_MetaKeys(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, batchtest.UniqueID(t), gcpfirestore.Config{})
	sp := spec("daily", 2, 10)
	sp.Meta = map[string]string{"": "empty", "__name__": "reserved", "a.b": "dotted", "trace_id": "t-1"}
	if _, _, err := s.CreateBatch(t.Context(), "b1", sp, t0); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "b1").Meta; !maps.Equal(got, sp.Meta) {
		t.Fatalf("meta read back as %v, want %v", got, sp.Meta)
	}
}

// Payloads too large for a Firestore document are refused as bad input,
// naming the item, and change nothing.
func TestStore_TooLarge(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, batchtest.UniqueID(t), gcpfirestore.Config{})
	sp := spec("daily", 3, 10)
	sp.Items[1].Request = bytes.Repeat([]byte("x"), 1<<20)
	_, _, err := s.CreateBatch(t.Context(), "b1", sp, t0)
	if !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), "item 1 (p00001)") {
		t.Fatalf("CreateBatch with a 1 MiB request: got %v, want invalid naming item 1 (p00001)", err)
	}
	if _, err := s.GetBatch(t.Context(), "b1"); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("a refused create left a batch: %v", err)
	}

	sp = spec("daily", 3, 600<<10)
	if _, _, err := s.CreateBatch(t.Context(), "b1", sp, t0); err != nil {
		t.Fatal(err)
	}
	rec := batch.OutcomeRecord{BatchID: "b1", ItemID: "p00002", Outcome: batch.OutcomeSucceeded,
		Result: bytes.Repeat([]byte("r"), 500<<10), At: t0}
	_, err = s.RecordOutcome(t.Context(), rec)
	if !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), "b1/p00002") {
		t.Fatalf("RecordOutcome overflowing the item document: got %v, want invalid naming b1/p00002", err)
	}
	p, err := s.Progress(t.Context(), "b1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if p.Remaining != 3 || p.Batch.Counts != (batch.Counts{}) {
		t.Fatalf("a refused outcome changed the batch: remaining %d, counts %+v", p.Remaining, p.Batch.Counts)
	}
}

// MarkPublished and Redrive of more items than one commit holds still
// change nothing when one item is unknown.
func TestStore_ManyItemsAllOrNothing(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, batchtest.UniqueID(t), gcpfirestore.Config{})
	if _, _, err := s.CreateBatch(t.Context(), "b1", spec("daily", 1200, 10), t0); err != nil {
		t.Fatal(err)
	}
	bad := append(ids(0, 1100), "p99999")
	if err := s.MarkPublished(t.Context(), "b1", bad, t0); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("MarkPublished with an unknown item: got %v, want not found", err)
	}
	if out, err := s.Unpublished(t.Context(), "b1", 2000); err != nil || len(out) != 1200 {
		t.Fatalf("after a refused MarkPublished %d items wait in the outbox (%v), want all 1200", len(out), err)
	}
	if err := s.MarkPublished(t.Context(), "b1", ids(0, 1200), t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Redrive(t.Context(), "b1", bad); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("Redrive with an unknown item: got %v, want not found", err)
	}
	if out, err := s.Unpublished(t.Context(), "b1", 2000); err != nil || len(out) != 0 {
		t.Fatalf("after a refused Redrive %d items wait in the outbox (%v), want none", len(out), err)
	}
	n, err := s.Redrive(t.Context(), "b1", ids(0, 1200))
	if err != nil || n != 1200 {
		t.Fatalf("Redrive of every item = %d, %v; want 1200, nil", n, err)
	}
}

func mustGet(t *testing.T, s batch.Store, id string) batch.Batch {
	t.Helper()
	b, err := s.GetBatch(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
