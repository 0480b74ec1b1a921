package predict_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/predict"
)

func item(t *testing.T, id string, outcome batch.Outcome, player string, picks ...predict.Pick) batch.Item {
	t.Helper()
	d := predict.MustParseDate("2025-12-25")
	req, err := json.Marshal(map[string]any{"player_id": id, "player_name": "Name " + id, "team": "BOS", "opponent": "NYK", "home": true})
	if err != nil {
		t.Fatal(err)
	}
	it := batch.Item{ID: id, Outcome: outcome, Request: req}
	if len(picks) == 0 {
		return it
	}
	res := predict.Result{Format: predict.WireFormat, Date: d, PlayerID: player}
	for i, pk := range picks {
		res.Predictions = append(res.Predictions, predict.Prediction{Date: d, PlayerID: player, System: "ensemble",
			Line: 20.5 + float64(i), LineOffset: float64(i), LineSource: "draftkings", Points: 22,
			Confidence: 0.5 + 0.1*float64(len(id)%3), EV: 0.01 * float64(len(id)%3), Edge: 1.5 - float64(i), Pick: pk})
	}
	if it.Result, err = predict.EncodeResult(res); err != nil {
		t.Fatal(err)
	}
	return it
}

func TestConsolidate(t *testing.T) {
	t.Parallel()
	b := batch.Batch{ID: "b1", Key: batch.Key{Date: "2025-12-25", Run: "daily"}, Result: batch.ResultPartial,
		CreatedAt: time.Date(2025, 12, 25, 12, 0, 0, 0, time.UTC), Meta: map[string]string{"data_version": "v1"}}
	items := []batch.Item{
		item(t, "2", batch.OutcomeSucceeded, "2", predict.Over, predict.Pass),
		item(t, "1", batch.OutcomeSucceeded, "1", predict.Under),
		item(t, "10", batch.OutcomeSucceeded, "10", predict.Over),
		item(t, "3", batch.OutcomeFailed, "3"),
	}
	pub, err := predict.Consolidate(b, items, b.CreatedAt.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(pub.Players) != 3 || pub.Players[0].PlayerID != "1" || pub.Players[1].PlayerID != "10" || pub.Players[2].PlayerID != "2" {
		t.Fatalf("players %+v, want 1, 10 and 2 in order (the failed item left out)", pub.Players)
	}
	if pub.Count() != 4 || pub.Players[2].Name != "Name 2" || pub.DataVersion != "v1" || pub.Result != batch.ResultPartial {
		t.Fatalf("publication %+v", pub)
	}
	top := pub.TopPicks("ensemble", 10)
	if len(top) != 3 {
		t.Fatalf("top picks %+v, want the three base-line OVER/UNDER picks (not the PASS)", top)
	}
	// Expected values follow the id's length: 0.02 for player 10, 0.01 for
	// players 1 and 2. Highest first.
	for i := 1; i < len(top); i++ {
		if top[i-1].Prediction.EV < top[i].Prediction.EV {
			t.Fatalf("top picks not by expected value, highest first: %+v", top)
		}
	}
	if top[0].Player.PlayerID != "10" {
		t.Fatalf("first pick %s, want 10, whose EV is highest", top[0].Player.PlayerID)
	}

	// A result for another player than the request's is refused.
	bad := item(t, "4", batch.OutcomeSucceeded, "5", predict.Over)
	if _, err := predict.Consolidate(b, []batch.Item{bad}, time.Now()); err == nil {
		t.Fatal("consolidated a result for the wrong player")
	}
	// A request that does not decode names its item.
	broken := item(t, "6", batch.OutcomeSucceeded, "6", predict.Over)
	broken.Request = []byte("{")
	if _, err := predict.Consolidate(b, []batch.Item{broken}, time.Now()); !errors.Is(err, batch.ErrInvalid) {
		t.Fatalf("broken request: got %v, want ErrInvalid", err)
	}
}
