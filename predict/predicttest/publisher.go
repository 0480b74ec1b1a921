package predicttest

import (
	"errors"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/predict"
)

// RunPublisherTests is the conformance suite of a [predict.Publisher]: the
// publication policy as seen from outside. newPublisher returns an empty
// publisher of its own and registers its cleanup; subtests run in
// parallel, each on its own publisher.
func RunPublisherTests(t *testing.T, newPublisher func(t *testing.T) predict.Publisher) {
	t.Run("WorseNeverReplacesBetter", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct{ cur, next batch.Result }{
			{batch.ResultSucceeded, batch.ResultPartial},
			{batch.ResultSucceeded, batch.ResultFailed},
			{batch.ResultPartial, batch.ResultFailed},
			{batch.ResultPartial, batch.ResultCancelled},
		} {
			t.Run(string(c.next)+"After"+string(c.cur), func(t *testing.T) {
				t.Parallel()
				p := newPublisher(t)
				good := Publication("good", t0, c.cur, "p1", "p2")
				mustPublish(t, p, good)
				// A newer run that ended worse, with no predictions at all.
				mustPublish(t, p, Publication("worse", t0.Add(time.Hour), c.next))
				expectLive(t, p, good, "a newer "+string(c.next)+" run after a "+string(c.cur)+" one")
			})
		}
	})
	t.Run("EqualNewerReplaces", func(t *testing.T) {
		t.Parallel()
		for _, r := range []batch.Result{batch.ResultSucceeded, batch.ResultPartial, batch.ResultFailed} {
			t.Run(string(r), func(t *testing.T) {
				t.Parallel()
				p := newPublisher(t)
				mustPublish(t, p, Publication("old", t0, r, "p1", "p2"))
				newer := Publication("new", t0.Add(time.Hour), r, "p3")
				mustPublish(t, p, newer)
				expectLive(t, p, newer, "a newer "+string(r)+" run after an older one")
			})
		}
	})
	t.Run("BetterReplacesWorse", func(t *testing.T) {
		t.Parallel()
		p := newPublisher(t)
		mustPublish(t, p, Publication("failed", t0, batch.ResultFailed))
		partial := Publication("partial", t0.Add(time.Hour), batch.ResultPartial, "p1")
		mustPublish(t, p, partial)
		expectLive(t, p, partial, "a partial run after a failed one")
		// Better wins whatever the age: an older succeeded run finalizing
		// late replaces a newer partial one.
		late := Publication("late", t0.Add(-time.Hour), batch.ResultSucceeded, "p1", "p2")
		mustPublish(t, p, late)
		expectLive(t, p, late, "an older succeeded run finalizing after a newer partial one")
	})
	t.Run("OlderLateNeverHidesNewerEqual", func(t *testing.T) {
		t.Parallel()
		p := newPublisher(t)
		newer := Publication("newer", t0.Add(time.Hour), batch.ResultSucceeded, "p1")
		mustPublish(t, p, newer)
		mustPublish(t, p, Publication("older", t0, batch.ResultSucceeded, "p1", "p2", "p3"))
		expectLive(t, p, newer, "an older equal run finalizing late")
		// Created at the same instant: the batch ID orders them, so the
		// outcome does not depend on which finalizes first.
		tie := Publication("newa", t0.Add(time.Hour), batch.ResultSucceeded, "p9")
		mustPublish(t, p, tie)
		expectLive(t, p, newer, "a run created at the same instant with a smaller ID")
	})
	t.Run("RepublishSameBatch", func(t *testing.T) {
		t.Parallel()
		p := newPublisher(t)
		first := Publication("b1", t0, batch.ResultSucceeded, "p1", "p2")
		mustPublish(t, p, first)
		again := Publication("b1", t0, batch.ResultSucceeded, "p1", "p2")
		again.PublishedAt = first.PublishedAt.Add(time.Hour)
		mustPublish(t, p, again)
		expectLive(t, p, again, "the same batch published again")
	})
	t.Run("ExplicitPublish", func(t *testing.T) {
		t.Parallel()
		p := newPublisher(t)
		best := Publication("best", t0.Add(time.Hour), batch.ResultSucceeded, "p1", "p2")
		mustPublish(t, p, best)
		// An operator publishes an older, worse batch: it replaces the
		// better one, pinned.
		chosen := Publication("chosen", t0, batch.ResultPartial, "p1")
		chosen.Pinned = true
		if err := p.PublishExplicit(t.Context(), chosen); err != nil {
			t.Fatalf("PublishExplicit(%s): %v", chosen.BatchID, err)
		}
		expectLive(t, p, chosen, "an explicit publish of an older partial batch")
		// No automatic publish replaces a pinned publication, not even a
		// newer succeeded run or the pinned batch finalizing again.
		mustPublish(t, p, Publication("newest", t0.Add(2*time.Hour), batch.ResultSucceeded, "p1", "p2", "p3"))
		mustPublish(t, p, Publication("chosen", t0, batch.ResultPartial, "p1"))
		expectLive(t, p, chosen, "automatic publishes after an explicit one")
		// Another explicit publish changes it; unpinned, it hands the date
		// back to the policy.
		back := Publication("best", t0.Add(time.Hour), batch.ResultSucceeded, "p1", "p2")
		if err := p.PublishExplicit(t.Context(), back); err != nil {
			t.Fatalf("PublishExplicit(%s): %v", back.BatchID, err)
		}
		expectLive(t, p, back, "an unpinned explicit publish")
		newest := Publication("newest", t0.Add(2*time.Hour), batch.ResultSucceeded, "p4")
		mustPublish(t, p, newest)
		expectLive(t, p, newest, "a newer succeeded run after an unpinned explicit publish")
		// An explicit publish of a failed, empty batch is the operator's
		// choice too.
		empty := Publication("empty", t0, batch.ResultFailed)
		empty.Pinned = true
		if err := p.PublishExplicit(t.Context(), empty); err != nil {
			t.Fatalf("PublishExplicit(%s): %v", empty.BatchID, err)
		}
		expectLive(t, p, empty, "an explicit publish of an empty failed batch")
	})
	t.Run("EmptyIsNotMissing", func(t *testing.T) {
		t.Parallel()
		p := newPublisher(t)
		empty := Publication("b1", t0, batch.ResultSucceeded)
		mustPublish(t, p, empty)
		got := expectLive(t, p, empty, "a publication without players")
		if got.Players == nil {
			t.Fatal("Published: Players is nil, want an empty slice (the export says [], not null)")
		}
	})
	t.Run("DatesAreSeparate", func(t *testing.T) {
		t.Parallel()
		p := newPublisher(t)
		good := Publication("good", t0, batch.ResultSucceeded, "p1")
		mustPublish(t, p, good)
		other := Publication("other", t0.Add(time.Hour), batch.ResultFailed)
		other.Date++
		pinned := *other
		pinned.Pinned = true
		if err := p.PublishExplicit(t.Context(), &pinned); err != nil {
			t.Fatal(err)
		}
		expectLive(t, p, good, "a pinned publication of the next day")
		// The next day's pin does not hold this date's automatic publishes.
		better := Publication("better", t0.Add(time.Minute), batch.ResultSucceeded, "p2")
		mustPublish(t, p, better)
		expectLive(t, p, better, "a newer run after another date was pinned")
		if _, err := p.Published(t.Context(), other.Date+1); !errors.Is(err, batch.ErrNotFound) {
			t.Fatalf("Published of a date never published: got %v, want ErrNotFound", err)
		}
	})
}

// t0 is when the suite's oldest batch was created.
var t0 = time.Date(2025, 12, 25, 12, 0, 0, 0, time.UTC)

// PublicationDate is the date of the suite's publications.
var PublicationDate = predict.MustParseDate("2025-12-25")

// Publication returns a publication of batchID, created at `at`, that
// ended with result, for the given players (none: an empty publication),
// each with two line variants of one system.
func Publication(batchID string, at time.Time, result batch.Result, players ...string) *predict.Publication {
	d := PublicationDate
	pub := &predict.Publication{Date: d, BatchID: batchID, Run: "run-" + batchID, Result: result,
		DataVersion: "v1", BatchAt: at, PublishedAt: at.Add(time.Minute), Players: []predict.PublishedPlayer{}}
	for _, id := range players {
		pl := predict.PublishedPlayer{PlayerID: id, Name: "Player " + id, Team: "BOS", Opponent: "NYK", Home: true}
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

func mustPublish(t *testing.T, p predict.Publisher, pub *predict.Publication) {
	t.Helper()
	if err := p.Publish(t.Context(), pub); err != nil {
		t.Fatalf("Publish(%s, %s): %v", pub.BatchID, pub.Result, err)
	}
}

// expectLive fails unless the date's publication is want, whole: its batch,
// result, pin, times and every prediction.
func expectLive(t *testing.T, p predict.Publisher, want *predict.Publication, after string) *predict.Publication {
	t.Helper()
	got, err := p.Published(t.Context(), want.Date)
	if err != nil {
		t.Fatalf("after %s: Published: %v", after, err)
	}
	if got.BatchID != want.BatchID || got.Result != want.Result || got.Pinned != want.Pinned || got.Run != want.Run {
		t.Fatalf("after %s: live publication is batch %s (%s, pinned %v, run %s), want %s (%s, pinned %v, run %s)",
			after, got.BatchID, got.Result, got.Pinned, got.Run, want.BatchID, want.Result, want.Pinned, want.Run)
	}
	if !got.BatchAt.Equal(want.BatchAt) || !got.PublishedAt.Equal(want.PublishedAt) {
		t.Fatalf("after %s: batch created %v published %v, want %v and %v", after, got.BatchAt, got.PublishedAt, want.BatchAt, want.PublishedAt)
	}
	if len(got.Players) != len(want.Players) || got.Count() != want.Count() {
		t.Fatalf("after %s: %d players with %d predictions, want %d with %d", after, len(got.Players), got.Count(), len(want.Players), want.Count())
	}
	for i := range got.Players {
		g, w := got.Players[i], want.Players[i]
		if g.PlayerID != w.PlayerID || g.Name != w.Name || len(g.Predictions) != len(w.Predictions) {
			t.Fatalf("after %s: player %d is %s (%s, %d predictions), want %s (%s, %d)", after, i, g.PlayerID, g.Name, len(g.Predictions), w.PlayerID, w.Name, len(w.Predictions))
		}
		for j := range g.Predictions {
			if g.Predictions[j] != w.Predictions[j] {
				t.Fatalf("after %s: player %s prediction %d is %+v, want %+v", after, g.PlayerID, j, g.Predictions[j], w.Predictions[j])
			}
		}
	}
	return got
}
