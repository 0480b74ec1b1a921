package batchtest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"tipoff/batch"
)

func testCreate(t *testing.T, newStore NewStoreFunc) {
	t.Run("Basic", func(t *testing.T) {
		s := newStore(t)
		spec := newSpec(testDate, testRun, 5)
		spec.Policy = batch.Policy{ItemTimeout: 30 * time.Second, MinSuccessRatio: 0.75}
		spec.Meta = map[string]string{"data_version": "2026-01-15T06:00", batch.AttrTraceID: "trace-1"}
		b, created, err := s.CreateBatch(t.Context(), "b1", spec, t0)
		if err != nil || !created {
			t.Fatalf("CreateBatch = created %v, %v; want true, nil", created, err)
		}
		pol := spec.Policy.WithDefaults()
		want := batch.Batch{
			ID: "b1", Key: spec.Key, State: batch.Running, Total: 5, Policy: pol, Meta: spec.Meta,
			CreatedAt: t0, UpdatedAt: t0, Deadline: t0.Add(pol.Deadline),
		}
		wantSame(t, "created batch", b, want)
		wantSame(t, "GetBatch", mustGet(t, s, "b1"), want)
		items := mustItems(t, s, "b1", batch.ItemsOptions{})
		if len(items) != 5 {
			t.Fatalf("got %d items, want 5", len(items))
		}
		for i, it := range items {
			wantSame(t, "item "+itemID(i), it, batch.Item{
				BatchID: "b1", ID: itemID(i), Request: spec.Items[i].Request, CreatedAt: t0,
			})
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		s := newStore(t)
		first := mustCreate(t, s, "b1", newSpec(testDate, testRun, 5), t0)
		again := newSpec(testDate, testRun, 9)
		b, created, err := s.CreateBatch(t.Context(), "b2", again, at(time.Minute))
		if err != nil || created {
			t.Fatalf("second CreateBatch of the key = created %v, %v; want false, nil", created, err)
		}
		wantSame(t, "batch returned for an existing key", b, first)
		if n := len(mustItems(t, s, "b1", batch.ItemsOptions{})); n != 5 {
			t.Fatalf("existing batch has %d items after a second create, want the original 5", n)
		}
		_, err = s.GetBatch(t.Context(), "b2")
		wantErr(t, err, batch.ErrNotFound, "GetBatch of the ID a repeated create was given")
	})

	t.Run("ConcurrentSameKey", func(t *testing.T) {
		s := newStore(t)
		const n = 8
		spec := newSpec(testDate, testRun, 40)
		var wg sync.WaitGroup
		bs := make([]batch.Batch, n)
		createdBy := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				bs[i], createdBy[i], errs[i] = s.CreateBatch(t.Context(), fmt.Sprintf("b%d", i), spec, t0)
			})
		}
		wg.Wait()
		winners := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("CreateBatch #%d: %v", i, errs[i])
			}
			if createdBy[i] {
				winners++
			}
			if bs[i].ID != bs[0].ID {
				t.Fatalf("CreateBatch #%d returned batch %s, #0 returned %s", i, bs[i].ID, bs[0].ID)
			}
		}
		if winners != 1 {
			t.Fatalf("%d concurrent creates of one key reported created=true, want exactly 1", winners)
		}
		list, err := s.ListBatches(t.Context(), batch.ListOptions{Date: testDate})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 {
			t.Fatalf("ListBatches after concurrent creates: got %d batches, want 1", len(list))
		}
		if got := len(mustItems(t, s, bs[0].ID, batch.ItemsOptions{})); got != 40 {
			t.Fatalf("batch has %d items, want the manifest's 40", got)
		}
	})

	t.Run("DistinctKeys", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, "b1", newSpec(testDate, "daily", 3), t0)
		mustCreate(t, s, "b2", newSpec(testDate, "rerun", 4), t0)
		mustCreate(t, s, "b3", newSpec("2026-01-16", "daily", 5), t0)
		for id, n := range map[string]int{"b1": 3, "b2": 4, "b3": 5} {
			if b := mustGet(t, s, id); b.Total != n {
				t.Fatalf("batch %s total %d, want %d", id, b.Total, n)
			}
		}
	})

	t.Run("IDTaken", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, "b1", newSpec(testDate, "daily", 3), t0)
		_, _, err := s.CreateBatch(t.Context(), "b1", newSpec(testDate, "rerun", 4), t0)
		wantErr(t, err, batch.ErrConflict, "CreateBatch with an ID another key uses")
		list, err := s.ListBatches(t.Context(), batch.ListOptions{Run: "rerun"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 0 {
			t.Fatalf("a refused create left %d batches of its key", len(list))
		}
		if b := mustGet(t, s, "b1"); b.Key.Run != "daily" || b.Total != 3 {
			t.Fatalf("a refused create changed the existing batch: %+v", b)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		s := newStore(t)
		ok := newSpec(testDate, testRun, 3)
		with := func(f func(*batch.Spec)) batch.Spec {
			sp := newSpec(testDate, testRun, 3)
			f(&sp)
			return sp
		}
		tests := []struct {
			name   string
			id     string
			spec   batch.Spec
			wantIn string // the error names what was wrong
		}{
			{"no id", "", ok, "id"},
			{"bad date", "b1", with(func(s *batch.Spec) { s.Key.Date = "2026-02-30" }), "2026-02-30"},
			{"no date", "b1", with(func(s *batch.Spec) { s.Key.Date = "" }), "date"},
			{"bad run", "b1", with(func(s *batch.Spec) { s.Key.Run = "Daily Run" }), "Daily Run"},
			{"empty manifest", "b1", with(func(s *batch.Spec) { s.Items = nil }), "no items"},
			{"empty item id", "b1", with(func(s *batch.Spec) { s.Items[1].ID = "" }), "item 1"},
			{"bad item id", "b1", with(func(s *batch.Spec) { s.Items[2].ID = "lebron james" }), "lebron james"},
			{"repeated item", "b1", with(func(s *batch.Spec) { s.Items[2].ID = s.Items[0].ID }), "twice"},
			{"negative timeout", "b1", with(func(s *batch.Spec) { s.Policy.ItemTimeout = -time.Second }), "item timeout"},
			{"ratio above 1", "b1", with(func(s *batch.Spec) { s.Policy.MinSuccessRatio = 1.5 }), "1.5"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := s.CreateBatch(t.Context(), tt.id, tt.spec, t0)
				wantErr(t, err, batch.ErrInvalid, "CreateBatch")
				if !strings.Contains(err.Error(), tt.wantIn) {
					t.Fatalf("error %q does not name %q", err, tt.wantIn)
				}
			})
		}
		list, err := s.ListBatches(t.Context(), batch.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 0 {
			t.Fatalf("invalid creates left %d batches", len(list))
		}
	})
}
