package sqlite_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tipoff/batch"
	"tipoff/predict"
	"tipoff/predict/predicttest"
)

func publication(batchID string, at time.Time, players ...string) *predict.Publication {
	d := predict.MustParseDate("2025-12-25")
	pub := &predict.Publication{Date: d, BatchID: batchID, Run: "daily", Result: batch.ResultSucceeded,
		BatchAt: at, PublishedAt: at.Add(time.Minute)}
	for _, id := range players {
		pl := predict.PublishedPlayer{PlayerID: id, Name: "Player " + id, Team: "BOS", Opponent: "NYK", Home: true}
		// Two line variants of one system must stay two rows.
		for _, line := range []float64{20.5, 21.5} {
			pl.Predictions = append(pl.Predictions, predict.Prediction{Date: d, PlayerID: id, System: "baseline",
				Line: line, LineOffset: line - 20.5, LineSource: "draftkings", Points: 22, Confidence: 0.6,
				Edge: 22 - line, Pick: predict.Over, ModelPOver: 0.64, MarketPOver: 0.52, POver: 0.6, Side: predict.Over,
				Price: -110, PriceBook: "fanduel", EV: 0.145})
		}
		pub.Players = append(pub.Players, pl)
	}
	return pub
}

func TestDB_Publish(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := mustOpenDB(t)
	date := predict.MustParseDate("2025-12-25")
	if _, err := db.Published(ctx, date); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("Published before any publish: got %v, want ErrNotFound", err)
	}
	t0 := time.Date(2025, 12, 25, 12, 0, 0, 0, time.UTC)
	first := publication("b1", t0, "1", "2", "3")
	if err := db.Publish(ctx, first); err != nil {
		t.Fatal(err)
	}
	got, err := db.Published(ctx, date)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}

	// Publishing the same batch again is idempotent.
	if err := db.Publish(ctx, first); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Published(ctx, date); got.Count() != 6 {
		t.Fatalf("after republish: %d predictions, want 6", got.Count())
	}

	// A newer run replaces the whole set.
	newer := publication("b2", t0.Add(time.Hour), "2", "4")
	if err := db.Publish(ctx, newer); err != nil {
		t.Fatal(err)
	}
	got, _ = db.Published(ctx, date)
	if got.BatchID != "b2" || len(got.Players) != 2 || got.Players[1].PlayerID != "4" {
		t.Fatalf("after newer run: batch %s players %v, want b2 with players 2 and 4", got.BatchID, got.Players)
	}

	// An older run finalizing late does not hide the newer one.
	if err := db.Publish(ctx, first); err != nil {
		t.Fatal(err)
	}
	if got, _ = db.Published(ctx, date); got.BatchID != "b2" {
		t.Fatalf("older run replaced the newer publication: got batch %s", got.BatchID)
	}
}

func TestPublisherConformance(t *testing.T) {
	t.Parallel()
	predicttest.RunPublisherTests(t, func(t *testing.T) predict.Publisher { return mustOpenDB(t) })
}
