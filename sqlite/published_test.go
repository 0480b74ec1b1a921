package sqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/predict"
	"tipoff/predict/predicttest"
	"tipoff/sqlite"
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

// A reader keeps the publication it read; what another handle on the file
// publishes later (another process, in production) is still what it reads
// next.
func TestDB_PublishedSeesOtherWriters(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tipoff.db")
	writer, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	reader, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	date := predict.MustParseDate("2025-12-25")
	t0 := time.Date(2025, 12, 25, 12, 0, 0, 0, time.UTC)
	first := publication("b1", t0, "1", "2", "3")
	if err := writer.Publish(ctx, first); err != nil {
		t.Fatal(err)
	}
	got, err := reader.Published(ctx, date)
	if err != nil || got.BatchID != "b1" {
		t.Fatalf("first read: %v, %v; want b1", got, err)
	}
	if again, err := reader.Published(ctx, date); err != nil || cmp.Diff(first, again) != "" {
		t.Fatalf("second read (-want +got):\n%s (err %v)", cmp.Diff(first, again), err)
	}
	newer := publication("b2", t0.Add(time.Hour), "2", "4")
	if err := writer.Publish(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if got, err := reader.Published(ctx, date); err != nil || cmp.Diff(newer, got) != "" {
		t.Fatalf("read after another handle published b2 (-want +got):\n%s (err %v)", cmp.Diff(newer, got), err)
	}
	// The same batch published again at a later time with other players
	// (an explicit re-publish) is read as stored, not as kept.
	again := publication("b2", t0.Add(time.Hour), "5")
	again.PublishedAt = newer.PublishedAt.Add(time.Second)
	if err := writer.Publish(ctx, again); err != nil {
		t.Fatal(err)
	}
	if got, err := reader.Published(ctx, date); err != nil || cmp.Diff(again, got) != "" {
		t.Fatalf("read after b2 was published again (-want +got):\n%s (err %v)", cmp.Diff(again, got), err)
	}
}

// fencedPublish is the publication as a fenced write for the conformance
// suite: the mark travels as the data version.
func fencedPublish(store batch.Store, pubs predict.Publisher) batchtest.FencedWrite {
	date := func(ctx context.Context, batchID string) (batch.Batch, predict.Date, error) {
		b, err := store.GetBatch(ctx, batchID)
		if err != nil {
			return b, 0, err
		}
		d, err := predict.ParseDate(b.Key.Date)
		return b, d, err
	}
	return batchtest.FencedWrite{
		Store: store,
		Write: func(ctx context.Context, batchID string, lease batch.LeaseToken, mark string) error {
			b, d, err := date(ctx, batchID)
			if err != nil {
				return err
			}
			pub := publication(batchID, b.CreatedAt, "1")
			pub.Date, pub.DataVersion, pub.Fence = d, mark, lease
			for i := range pub.Players[0].Predictions {
				pub.Players[0].Predictions[i].Date = d
			}
			return pubs.Publish(ctx, pub)
		},
		Written: func(ctx context.Context, batchID string) (string, error) {
			_, d, err := date(ctx, batchID)
			if err != nil {
				return "", err
			}
			pub, err := pubs.Published(ctx, d)
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

func TestDB_PublishFenced(t *testing.T) {
	t.Parallel()
	batchtest.RunFencedWriteTests(t, func(t *testing.T) batchtest.FencedWrite {
		db := mustOpenDB(t)
		return fencedPublish(sqlite.NewStore(db), db)
	})
}

func TestPublisherConformance(t *testing.T) {
	t.Parallel()
	predicttest.RunPublisherTests(t, func(t *testing.T) predict.Publisher { return mustOpenDB(t) })
}

func TestExportLogConformance(t *testing.T) {
	t.Parallel()
	predicttest.RunExportLogTests(t, func(t *testing.T) predict.ExportLog { return mustOpenDB(t) })
}

// What a publish leaves for its own handle's next read (which the finalize's
// export reads at once) is what any other handle reads from the file: the
// same order, grouping, fields and times, however the publication came.
func TestDB_PublishedByWriterEqualsStored(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tipoff.db")
	writer, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().In(ny) // a monotonic reading and a zone, neither stored
	pub := publication("b1", at, "9", "10", "1")
	pub.Players[0].Predictions[0], pub.Players[0].Predictions[1] = pub.Players[0].Predictions[1], pub.Players[0].Predictions[0]
	pub.Players[1].Predictions[1].System = "alpha"            // sorts before baseline
	pub.Players[1].Predictions[0].Edge = math.Copysign(0, -1) // stored as 0
	pub.Players = append(pub.Players, predict.PublishedPlayer{PlayerID: "5", Name: "Player 5", Team: "BOS", Opponent: "NYK"})
	extra := publication("b1", at, "9").Players[0] // player 9 again, with other lines
	for i := range extra.Predictions {
		extra.Predictions[i].Line += 10
	}
	pub.Players = append(pub.Players, extra)
	pub.Fence = batch.LeaseToken{}
	for _, explicit := range []bool{false, true} {
		pub.Pinned = explicit
		pub.PublishedAt = pub.PublishedAt.Add(time.Second) // a new head, so the explicit publish is not the cached one
		publish := writer.Publish
		if explicit {
			publish = writer.PublishExplicit
		}
		if err := publish(ctx, pub); err != nil {
			t.Fatal(err)
		}
		kept, err := writer.Published(ctx, pub.Date)
		if err != nil {
			t.Fatal(err)
		}
		other, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := other.Published(ctx, pub.Date)
		other.Close()
		if err != nil {
			t.Fatal(err)
		}
		if stored.Count() != 8 || len(stored.Players) != 3 {
			t.Fatalf("explicit %v: stored %d predictions of %d players, want 8 of 3", explicit, stored.Count(), len(stored.Players))
		}
		if d := cmp.Diff(stored, kept); d != "" {
			t.Errorf("explicit %v: the publishing handle reads (-stored +read):\n%s", explicit, d)
		}
		// As exported: times in the same zone, empty lists as empty.
		sj, _ := json.Marshal(stored)
		kj, _ := json.Marshal(kept)
		if string(sj) != string(kj) {
			t.Errorf("explicit %v: the publishing handle's read encodes as\n%s\nthe stored one as\n%s", explicit, kj, sj)
		}
	}
}

// A publication with a row twice (same player, system and line) is
// refused, naming the row, and leaves the date's publication as it was;
// rows are written many to a statement.
func TestDB_PublishRefusesDuplicateRow(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := mustOpenDB(t)
	t0 := time.Date(2025, 12, 25, 12, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 100 { // 200 rows: more than one statement's worth
		ids = append(ids, fmt.Sprint(i))
	}
	first := publication("b1", t0, ids...)
	if err := db.Publish(ctx, first); err != nil {
		t.Fatal(err)
	}
	bad := publication("b2", t0.Add(time.Hour), ids...)
	pl := &bad.Players[70]
	pl.Predictions = append(pl.Predictions, pl.Predictions[0])
	err := db.Publish(ctx, bad)
	if err == nil || !strings.Contains(err.Error(), "player 70 system baseline line 20.5") {
		t.Fatalf("publish with a row twice: %v, want an error naming player 70's row", err)
	}
	other, err := sqlite.Open(ctx, db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	got, err := other.Published(ctx, first.Date)
	if err != nil || got.BatchID != "b1" || got.Count() != first.Count() {
		t.Fatalf("after the refused publish: %v (%v), want b1's %d rows", got, err, first.Count())
	}
}
