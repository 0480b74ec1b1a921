package gcpfirestore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/gcpfirestore"
	"tipoff/predict"
	"tipoff/predict/predicttest"
)

var pubDate = predict.MustParseDate("2025-12-25")

// publication returns a publication of batchID created at `at` with
// players p0000 … p<n-1>, each with two line variants of two systems.
func publication(batchID string, at time.Time, n int) *predict.Publication {
	pub := &predict.Publication{Date: pubDate, BatchID: batchID, Run: "daily", Result: batch.ResultSucceeded,
		DataVersion: "v-" + batchID, BatchAt: at, PublishedAt: at.Add(time.Minute)}
	for i := range n {
		id := fmt.Sprintf("p%04d", i)
		pl := predict.PublishedPlayer{PlayerID: id, Name: "Player " + id, Team: "BOS", Opponent: "NYK", Home: i%2 == 0}
		for _, sys := range []string{"baseline", "ensemble"} {
			// Two line variants of one system must stay two predictions.
			for _, line := range []float64{20.5, 21.5} {
				pl.Predictions = append(pl.Predictions, predict.Prediction{Date: pubDate, PlayerID: id, System: sys,
					Line: line, LineOffset: line - 20.5, LineSource: "draftkings", Estimated: line != 20.5,
					Points: 22.25 + float64(i)/7, Confidence: 0.6, Edge: 22.25 + float64(i)/7 - line, Pick: predict.Over,
					ModelPOver: 0.64, MarketPOver: 0.52, POver: 0.6, Side: predict.Over, Price: -110 + i, PriceBook: "fanduel", EV: 0.145})
			}
		}
		pub.Players = append(pub.Players, pl)
	}
	return pub
}

// playerDocs counts the player documents of every set of the date, by the
// batch of the set (a set ID is <batch id>@<random>).
func playerDocs(t *testing.T, s *gcpfirestore.Store) map[string]int {
	t.Helper()
	docs, err := s.Client().CollectionGroup("players").Documents(t.Context()).GetAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, d := range docs {
		batchID, _, _ := strings.Cut(d.Ref.Parent.Parent.ID, "@")
		out[batchID]++
	}
	return out
}

func TestStore_Publish(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := mustOpen(t, batchtest.UniqueID(t), gcpfirestore.Config{})
	if _, err := s.Published(ctx, pubDate); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("Published before any publish: got %v, want ErrNotFound", err)
	}
	t0 := time.Date(2025, 12, 25, 12, 0, 0, 0, time.UTC)
	// More players than one commit writes.
	first := publication("b1", t0, 450)
	if err := s.Publish(ctx, first); err != nil {
		t.Fatal(err)
	}
	got, err := s.Published(ctx, pubDate)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}

	// Publishing the same batch again changes only the time.
	again := publication("b1", t0, 450)
	again.PublishedAt = t0.Add(time.Hour)
	if err := s.Publish(ctx, again); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Published(ctx, pubDate); err != nil || !got.PublishedAt.Equal(again.PublishedAt) || got.Count() != 1800 {
		t.Fatalf("after republish: published at %v with %d predictions, %v; want %v, 1800", got.PublishedAt, got.Count(), err, again.PublishedAt)
	}

	// A newer run replaces the whole set, and the old set is deleted.
	newer := publication("b2", t0.Add(time.Hour), 3)
	if err := s.Publish(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Published(ctx, pubDate); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(newer, got); diff != "" {
		t.Fatalf("after newer run (-want +got):\n%s", diff)
	}
	if docs := playerDocs(t, s); !cmp.Equal(docs, map[string]int{"b2": 3}) {
		t.Fatalf("player documents by set after the newer run: %v, want only b2's 3", docs)
	}

	// An older run finalizing late neither hides the newer one nor leaves
	// its set behind.
	if err := s.Publish(ctx, publication("b0", t0.Add(-time.Hour), 5)); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Published(ctx, pubDate); err != nil || got.BatchID != "b2" {
		t.Fatalf("older run replaced the newer publication: got batch %s, %v", got.BatchID, err)
	}
	if docs := playerDocs(t, s); !cmp.Equal(docs, map[string]int{"b2": 3}) {
		t.Fatalf("player documents by set after a late older run: %v, want only b2's 3", docs)
	}

	// Another date is separate.
	other := publication("b9", t0, 2)
	other.Date = predict.MustParseDate("2025-12-26")
	for i := range other.Players {
		for j := range other.Players[i].Predictions {
			other.Players[i].Predictions[j].Date = other.Date
		}
	}
	if err := s.Publish(ctx, other); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Published(ctx, pubDate); err != nil || got.BatchID != "b2" {
		t.Fatalf("publishing another date changed %s: got batch %s, %v", pubDate, got.BatchID, err)
	}
}

// A publication of a batch that had no predictions is empty, not missing.
func TestStore_PublishEmpty(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, batchtest.UniqueID(t), gcpfirestore.Config{})
	empty := publication("b1", time.Date(2025, 12, 25, 12, 0, 0, 0, time.UTC), 0)
	if err := s.Publish(t.Context(), empty); err != nil {
		t.Fatal(err)
	}
	got, err := s.Published(t.Context(), pubDate)
	if err != nil || got.BatchID != "b1" || len(got.Players) != 0 {
		t.Fatalf("Published = %+v, %v; want b1 with no players", got, err)
	}
}

// Bad input is refused, naming what is wrong, and writes nothing.
func TestStore_PublishInvalid(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, batchtest.UniqueID(t), gcpfirestore.Config{})
	t0 := time.Date(2025, 12, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		mutate func(*predict.Publication)
	}{
		{"player id with a slash", func(p *predict.Publication) { p.Players[1].PlayerID = "a/b" }},
		{"player twice", func(p *predict.Publication) { p.Players[1].PlayerID = p.Players[0].PlayerID }},
		{"empty batch id", func(p *predict.Publication) { p.BatchID = "" }},
		{"date out of range", func(p *predict.Publication) { p.Date = predict.Date(1 << 30) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := publication("b1", t0, 3)
			tt.mutate(pub)
			if err := s.Publish(t.Context(), pub); !errors.Is(err, batch.ErrInvalid) {
				t.Fatalf("Publish: got %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := s.Published(t.Context(), pubDate); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("Published after refused publishes: got %v, want ErrNotFound", err)
	}
	if docs := playerDocs(t, s); len(docs) != 0 {
		t.Fatalf("refused publishes left player documents: %v", docs)
	}
}

// Readers never see a mix of two runs' sets, while runs publish
// concurrently; the newest run ends up published, alone.
func TestStore_PublishAtomic(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := mustOpen(t, batchtest.UniqueID(t), gcpfirestore.Config{})
	t0 := time.Date(2025, 12, 25, 12, 0, 0, 0, time.UTC)
	// Sizes differ so a mix would show in the count; b3 is the newest.
	pubs := []*predict.Publication{publication("b1", t0, 420), publication("b2", t0.Add(time.Minute), 150),
		publication("b3", t0.Add(2*time.Minute), 900)}
	want := map[string]int{"b1": 420, "b2": 150, "b3": 900}
	if err := s.Publish(ctx, pubs[0]); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	var reads, mixed int
	var mu sync.Mutex
	for range 3 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := s.Published(ctx, pubDate)
				if err != nil {
					t.Errorf("Published during publishes: %v", err)
					return
				}
				ok := len(got.Players) == want[got.BatchID]
				for _, pl := range got.Players {
					ok = ok && pl.Name == "Player "+pl.PlayerID && len(pl.Predictions) == 4
				}
				mu.Lock()
				reads++
				if !ok {
					mixed++
				}
				mu.Unlock()
			}
		})
	}
	var writers sync.WaitGroup
	for _, p := range []*predict.Publication{pubs[2], pubs[1], pubs[0]} {
		writers.Go(func() {
			if err := s.Publish(ctx, p); err != nil {
				t.Errorf("Publish %s: %v", p.BatchID, err)
			}
		})
	}
	writers.Wait()
	close(done)
	readers.Wait()
	if mixed > 0 || reads == 0 {
		t.Fatalf("%d of %d reads saw an inconsistent publication", mixed, reads)
	}
	got, err := s.Published(ctx, pubDate)
	if err != nil || got.BatchID != "b3" || len(got.Players) != 900 {
		t.Fatalf("after concurrent publishes: %s with %d players, %v; want b3 with 900", got.BatchID, len(got.Players), err)
	}
	if docs := playerDocs(t, s); !cmp.Equal(docs, map[string]int{"b3": 900}) {
		t.Fatalf("player documents by set after concurrent publishes: %v, want only b3's", docs)
	}
	t.Logf("%d consistent reads during the publishes", reads)
}

// BenchmarkStore_Publish publishes a day of 250 players (4 predictions
// each), each time as a newer run, so every publish also deletes the
// previous run's set.
func BenchmarkStore_Publish(b *testing.B) {
	batchtest.RequireEnv(b, "FIRESTORE_EMULATOR_HOST")
	s := mustOpen(b, batchtest.UniqueID(b), gcpfirestore.Config{})
	t0 := time.Date(2025, 12, 25, 12, 0, 0, 0, time.UTC)
	i := 0
	for b.Loop() {
		i++
		if err := s.Publish(b.Context(), publication(fmt.Sprintf("b%06d", i), t0.Add(time.Duration(i)*time.Second), 250)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStore_Published reads a day of 250 players.
func BenchmarkStore_Published(b *testing.B) {
	batchtest.RequireEnv(b, "FIRESTORE_EMULATOR_HOST")
	s := mustOpen(b, batchtest.UniqueID(b), gcpfirestore.Config{})
	if err := s.Publish(b.Context(), publication("b1", time.Date(2025, 12, 25, 12, 0, 0, 0, time.UTC), 250)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Published(b.Context(), pubDate); err != nil {
			b.Fatal(err)
		}
	}
}

// fencedPublish is the publication as a fenced write for the conformance
// suite: the mark travels as the data version.
func fencedPublish(s *gcpfirestore.Store) batchtest.FencedWrite {
	date := func(ctx context.Context, batchID string) (batch.Batch, predict.Date, error) {
		b, err := s.GetBatch(ctx, batchID)
		if err != nil {
			return b, 0, err
		}
		d, err := predict.ParseDate(b.Key.Date)
		return b, d, err
	}
	return batchtest.FencedWrite{
		Store: s,
		Write: func(ctx context.Context, batchID string, lease batch.LeaseToken, mark string) error {
			b, d, err := date(ctx, batchID)
			if err != nil {
				return err
			}
			pub := publication(batchID, b.CreatedAt, 2)
			pub.Date, pub.DataVersion, pub.Fence = d, mark, lease
			for _, pl := range pub.Players {
				for i := range pl.Predictions {
					pl.Predictions[i].Date = d
				}
			}
			return s.Publish(ctx, pub)
		},
		Written: func(ctx context.Context, batchID string) (string, error) {
			_, d, err := date(ctx, batchID)
			if err != nil {
				return "", err
			}
			pub, err := s.Published(ctx, d)
			if errors.Is(err, batch.ErrNotFound) {
				return "", nil
			}
			if err != nil {
				return "", err
			}
			return pub.DataVersion, nil
		},
	}
}

func TestStore_PublishFenced(t *testing.T) {
	t.Parallel()
	batchtest.RequireEnv(t, "FIRESTORE_EMULATOR_HOST")
	batchtest.RunFencedWriteTests(t, func(t *testing.T) batchtest.FencedWrite {
		return fencedPublish(mustOpen(t, batchtest.UniqueID(t), gcpfirestore.Config{}))
	})
}

// BenchmarkStore_PublishFenced republishes one finalizing batch's day of
// 250 players, without a fence and with the batch's current lease as the
// fence: the cost of the fence is one read before the set is written and
// one read of the batch document in the switching transaction.
func BenchmarkStore_PublishFenced(b *testing.B) {
	batchtest.RequireEnv(b, "FIRESTORE_EMULATOR_HOST")
	for _, fenced := range []bool{false, true} {
		b.Run(fmt.Sprintf("fenced=%v", fenced), func(b *testing.B) {
			s := mustOpen(b, batchtest.UniqueID(b), gcpfirestore.Config{})
			t0 := time.Date(2025, 12, 25, 12, 0, 0, 0, time.UTC)
			spec := batch.Spec{Key: batch.Key{Date: pubDate.String(), Run: "daily"}, Items: []batch.NewItem{{ID: "p0000"}}}
			bt, _, err := s.CreateBatch(b.Context(), "b1", spec, t0)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.RecordOutcome(b.Context(), batch.OutcomeRecord{BatchID: "b1", ItemID: "p0000", Outcome: batch.OutcomeSkipped, At: t0}); err != nil {
				b.Fatal(err)
			}
			if bt, err = s.AcquireFinalize(b.Context(), "b1", "f1", t0, time.Hour); err != nil {
				b.Fatal(err)
			}
			pub := publication("b1", bt.CreatedAt, 250)
			if fenced {
				pub.Fence = bt.LeaseToken()
			}
			for b.Loop() {
				if err := s.Publish(b.Context(), pub); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestPublisherConformance(t *testing.T) {
	t.Parallel()
	predicttest.RunPublisherTests(t, func(t *testing.T) predict.Publisher {
		return mustOpen(t, batchtest.UniqueID(t), gcpfirestore.Config{})
	})
}

func TestExportLogConformance(t *testing.T) {
	t.Parallel()
	predicttest.RunExportLogTests(t, func(t *testing.T) predict.ExportLog {
		return mustOpen(t, batchtest.UniqueID(t), gcpfirestore.Config{})
	})
}
