package predicttest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/predict"
)

// RunExportLogTests is the conformance suite of a [predict.ExportLog]: how
// the state of each date's export is recorded, counted and listed for
// retrying. newLog returns an empty log of its own and registers its
// cleanup; subtests run in parallel, each on its own log.
func RunExportLogTests(t *testing.T, newLog func(t *testing.T) predict.ExportLog) {
	d1, d2, d3 := predict.MustParseDate("2025-01-01"), predict.MustParseDate("2025-01-02"), predict.MustParseDate("2025-01-03")
	ok := func(d predict.Date, at time.Time) predict.ExportState {
		return predict.ExportState{Date: d, BatchID: "b-" + d.String(), Path: "gs://exports/" + d.String() + ".json", At: at}
	}
	failed := func(d predict.Date, at time.Time, why string) predict.ExportState {
		s := ok(d, at)
		s.Error = why
		return s
	}
	t.Run("Unknown", func(t *testing.T) {
		t.Parallel()
		l := newLog(t)
		if _, err := l.ExportState(t.Context(), d1); !errors.Is(err, batch.ErrNotFound) {
			t.Fatalf("ExportState of a date never exported: %v, want ErrNotFound", err)
		}
		if fs, err := l.FailingExports(t.Context()); err != nil || len(fs) != 0 {
			t.Fatalf("FailingExports of an empty log = %v, %v; want none", fs, err)
		}
	})
	t.Run("FailuresCountUntilSuccess", func(t *testing.T) {
		t.Parallel()
		l := newLog(t)
		want := failed(d1, t0, "bucket unreachable")
		want.Failures, want.FailingSince = 1, t0
		expectRecord(t, l, failed(d1, t0, "bucket unreachable"), want)
		want = failed(d1, t0.Add(time.Minute), "permission denied")
		want.Failures, want.FailingSince = 2, t0
		expectRecord(t, l, failed(d1, t0.Add(time.Minute), "permission denied"), want)
		expectFailing(t, l, want)
		// A success clears the count; the next failure starts a new one.
		expectRecord(t, l, ok(d1, t0.Add(2*time.Minute)), ok(d1, t0.Add(2*time.Minute)))
		expectFailing(t, l)
		want = failed(d1, t0.Add(3*time.Minute), "quota")
		want.Failures, want.FailingSince = 1, t0.Add(3*time.Minute)
		expectRecord(t, l, failed(d1, t0.Add(3*time.Minute), "quota"), want)
	})
	t.Run("FailingOldestFirst", func(t *testing.T) {
		t.Parallel()
		l := newLog(t)
		for _, s := range []predict.ExportState{failed(d3, t0, "x"), ok(d2, t0), failed(d1, t0.Add(time.Second), "y")} {
			if _, err := l.RecordExport(t.Context(), s); err != nil {
				t.Fatal(err)
			}
		}
		w1, w3 := failed(d1, t0.Add(time.Second), "y"), failed(d3, t0, "x")
		w1.Failures, w1.FailingSince = 1, t0.Add(time.Second)
		w3.Failures, w3.FailingSince = 1, t0
		expectFailing(t, l, w1, w3)
	})
	t.Run("ConcurrentFailuresCount", func(t *testing.T) {
		// Failed attempts recorded at once (two coordinators retrying)
		// are each counted.
		t.Parallel()
		l := newLog(t)
		const n = 4
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if _, err := l.RecordExport(t.Context(), failed(d1, t0.Add(time.Duration(i)*time.Second), "down")); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got, err := l.ExportState(t.Context(), d1)
		if err != nil || got.Failures != n {
			t.Fatalf("after %d concurrent failures: %+v, %v; want %d failures", n, got, err, n)
		}
	})
}

// expectRecord records s and checks what RecordExport returns and what
// ExportState reads back.
func expectRecord(t *testing.T, l predict.ExportLog, s, want predict.ExportState) {
	t.Helper()
	got, err := l.RecordExport(t.Context(), s)
	if err != nil {
		t.Fatalf("RecordExport(%+v): %v", s, err)
	}
	if !sameExport(got, want) {
		t.Fatalf("RecordExport(%+v) = %+v, want %+v", s, got, want)
	}
	if got, err = l.ExportState(t.Context(), s.Date); err != nil || !sameExport(got, want) {
		t.Fatalf("ExportState(%s) = %+v, %v; want %+v", s.Date, got, err, want)
	}
}

// expectFailing checks FailingExports lists exactly want, in order.
func expectFailing(t *testing.T, l predict.ExportLog, want ...predict.ExportState) {
	t.Helper()
	got, err := l.FailingExports(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("FailingExports = %+v, want %+v", got, want)
	}
	for i := range got {
		if !sameExport(got[i], want[i]) {
			t.Fatalf("FailingExports[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func sameExport(a, b predict.ExportState) bool {
	return a.Date == b.Date && a.BatchID == b.BatchID && a.Path == b.Path && a.Error == b.Error &&
		a.Failures == b.Failures && a.At.Equal(b.At) && a.FailingSince.Equal(b.FailingSince)
}
