package gcpfirestore

import (
	"errors"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"tipoff/batch"
	"tipoff/batch/batchtest"
)

// BenchmarkFinalizeAfterAbandonedOutcome measures how long finalize waits
// after a recorder dies inside RecordOutcome's commit, on the emulator. A
// recorder store stops before its writes are sent (as a killed or frozen
// process would; the commit runs in no transaction, so it holds nothing
// there) and its client is closed without a commit; the coordinator's store then records the same item
// (the redelivery) and finalizes. The metric is the time from closing the
// recorder until CompleteFinalize succeeds. Run with:
//
//	go test -run='^$' -bench=FinalizeAfterAbandonedOutcome -benchtime=1x -count=3 ./gcpfirestore/
func BenchmarkFinalizeAfterAbandonedOutcome(b *testing.B) {
	host := batchtest.RequireEnv(b, "FIRESTORE_EMULATOR_HOST")
	var total time.Duration
	runs := 0
	for b.Loop() {
		project := batchtest.UniqueID(b)
		coord := openBench(b, host, project)
		recorder := openBench(b, host, project)
		if _, _, err := coord.CreateBatch(b.Context(), "b1", testSpec("daily", 2), t0()); err != nil {
			b.Fatal(err)
		}
		rec := func(id string) batch.OutcomeRecord {
			return batch.OutcomeRecord{BatchID: "b1", ItemID: id, Outcome: batch.OutcomeSucceeded, Result: []byte(`{}`), At: t0()}
		}
		if _, err := coord.RecordOutcome(b.Context(), rec("p0000")); err != nil {
			b.Fatal(err)
		}

		inside, release := make(chan struct{}), make(chan struct{})
		recorder.outcomeTxHook = func() {
			close(inside)
			<-release
		}
		done := make(chan error, 1)
		go func() {
			_, err := recorder.RecordOutcome(b.Context(), rec("p0001"))
			done <- err
		}()
		select {
		case <-inside:
		case err := <-done:
			b.Fatalf("recorder finished without reaching its transaction: %v", err)
		}
		start := time.Now()
		if err := recorder.Close(); err != nil {
			b.Fatal(err)
		}
		close(release)
		if err := <-done; err == nil {
			b.Fatal("the abandoned recorder committed after its client was closed")
		}

		if _, err := coord.RecordOutcome(b.Context(), rec("p0001")); err != nil {
			b.Fatalf("redelivered outcome: %v", err)
		}
		tries := 0
		var acquired batch.Batch
		for {
			tries++
			var err error
			acquired, err = coord.AcquireFinalize(b.Context(), "b1", "f1", t0(), time.Hour)
			if err == nil {
				break
			}
			if errors.Is(err, batch.ErrFinalized) || errors.Is(err, batch.ErrPending) || time.Since(start) > 5*time.Minute {
				b.Fatalf("AcquireFinalize after %v: %v", time.Since(start), err)
			}
			b.Logf("AcquireFinalize after %v: %v", time.Since(start).Round(time.Millisecond), err)
		}
		ev := batch.Event{ID: batch.EventID("b1", batch.EventFinalized), Type: batch.EventFinalized, BatchID: "b1", CreatedAt: t0()}
		if _, err := coord.CompleteFinalize(b.Context(), acquired.LeaseToken(), batch.ResultSucceeded, ev, t0()); err != nil {
			b.Fatalf("CompleteFinalize after %v: %v", time.Since(start), err)
		}
		d := time.Since(start)
		b.Logf("finalized %v after the recorder was closed (%d AcquireFinalize calls)", d.Round(time.Millisecond), tries)
		total += d
		runs++
	}
	b.ReportMetric(total.Seconds()/float64(runs), "s/finalize")
}

// openBench opens a store in project, cleared when the benchmark ends.
func openBench(b *testing.B, host, project string) *Store {
	b.Helper()
	s, err := Open(b.Context(), Config{ProjectID: project})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		s.Close()
		clearProject(b, host, project)
	})
	return s
}

func t0() time.Time { return time.Date(2026, 1, 15, 17, 0, 0, 0, time.UTC) }

// A batch created before gates (no gate documents, gates 0) still records
// outcomes and re-drives items, and a cancel still shuts both out: they read
// the batch document in their transaction instead.
func TestStore_Ungated(t *testing.T) {
	s := mustOpenInternal(t)
	if _, _, err := s.CreateBatch(t.Context(), "b1", testSpec("daily", 3), t0()); err != nil {
		t.Fatal(err)
	}
	for _, g := range s.gateRefs("b1", s.cfg.Shards) {
		if _, err := g.Delete(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.batchRef("b1").Update(t.Context(), []firestore.Update{{Path: "gates", Value: firestore.Delete}}); err != nil {
		t.Fatal(err)
	}
	s.layouts.Clear()

	rec := func(id string) batch.OutcomeRecord {
		return batch.OutcomeRecord{BatchID: "b1", ItemID: id, Outcome: batch.OutcomeSucceeded, Result: []byte(`{}`), At: t0()}
	}
	if r, err := s.RecordOutcome(t.Context(), rec("p0000")); err != nil || r.Remaining != 2 {
		t.Fatalf("RecordOutcome in an ungated batch = %+v, %v; want 2 remaining", r, err)
	}
	if err := s.MarkPublished(t.Context(), "b1", []string{"p0002"}, t0()); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Redrive(t.Context(), "b1", []string{"p0002"}); err != nil || n != 1 {
		t.Fatalf("Redrive in an ungated batch = %d, %v; want 1, nil", n, err)
	}
	ev := batch.Event{ID: batch.EventID("b1", batch.EventCancelled), Type: batch.EventCancelled, BatchID: "b1", CreatedAt: t0()}
	cancelled, err := s.Cancel(t.Context(), "b1", "test", ev, t0())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordOutcome(t.Context(), rec("p0001")); !errors.Is(err, batch.ErrFinalized) {
		t.Fatalf("RecordOutcome after the cancel of an ungated batch: got %v, want finalized", err)
	}
	if _, err := s.Redrive(t.Context(), "b1", []string{"p0002"}); !errors.Is(err, batch.ErrFinalized) {
		t.Fatalf("Redrive after the cancel of an ungated batch: got %v, want finalized", err)
	}
	got, err := s.GetBatch(t.Context(), "b1")
	if err != nil {
		t.Fatal(err)
	}
	if cancelled.Counts != (batch.Counts{Succeeded: 1}) || got.Counts != cancelled.Counts {
		t.Fatalf("counts: cancel returned %+v, then %+v; want 1 succeeded both times", cancelled.Counts, got.Counts)
	}
}
