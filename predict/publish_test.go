package predict_test

import (
	"encoding/json"
	"errors"
	"strings"
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

// Consolidate reads who each request is for without decoding the rest of
// it: wherever the five fields are in the object, a long history before
// them or none after; a request that is not an object, or whose fields
// have the wrong types, names its item.
func TestConsolidate_RequestIdentity(t *testing.T) {
	t.Parallel()
	b := batch.Batch{ID: "b1", Key: batch.Key{Date: "2025-12-25", Run: "daily"}, Result: batch.ResultSucceeded}
	ds := tinyDataset(t)
	real, err := predict.BuildRequest(ds, jan5, "p1", predict.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := predict.EncodeRequest(real)
	if err != nil {
		t.Fatal(err)
	}
	long := make([]int, 5000)
	late, err := json.Marshal(struct {
		Recent     []int  `json:"recent"`
		PlayerID   string `json:"player_id"`
		PlayerName string `json:"player_name"`
		Team       string `json:"team"`
		Opponent   string `json:"opponent"`
		Home       bool   `json:"home"`
		After      string `json:"after"`
	}{long, "9", "Late Fields", "ALB", "BRK", true, "x"})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		request []byte
		want    predict.PublishedPlayer
	}{
		"built":          {encoded, predict.PublishedPlayer{PlayerID: real.PlayerID, Name: real.PlayerName, Team: real.Team, Opponent: real.Opponent, Home: real.Home}},
		"fields late":    {late, predict.PublishedPlayer{PlayerID: "9", Name: "Late Fields", Team: "ALB", Opponent: "BRK", Home: true}},
		"fields missing": {[]byte(`{"player_id":"9","recent":[1,2]}`), predict.PublishedPlayer{PlayerID: "9"}},
	} {
		it := item(t, c.want.PlayerID, batch.OutcomeSucceeded, c.want.PlayerID, predict.Over)
		it.Request = c.request
		pub, err := predict.Consolidate(b, []batch.Item{it}, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := pub.Players[0]
		if got.PlayerID != c.want.PlayerID || got.Name != c.want.Name || got.Team != c.want.Team || got.Opponent != c.want.Opponent || got.Home != c.want.Home {
			t.Errorf("%s: published %+v, want %+v", name, got, c.want)
		}
	}
	for name, req := range map[string]string{"array": `[1]`, "wrong type": `{"player_id":9}`, "cut": `{"player_id":"9","team":`, "empty": ``} {
		it := item(t, "9", batch.OutcomeSucceeded, "9", predict.Over)
		it.Request = []byte(req)
		if _, err := predict.Consolidate(b, []batch.Item{it}, time.Now()); !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), "item 9") {
			t.Errorf("%s request: got %v, want ErrInvalid naming item 9", name, err)
		}
	}
}

// Who a player is comes from his result when the item was read without
// its request; the result must then be the item's. With the request too,
// the two must agree. Without either, Consolidate asks for the requests.
func TestConsolidate_ResultNamesPlayer(t *testing.T) {
	t.Parallel()
	b := batch.Batch{ID: "b1", Key: batch.Key{Date: "2025-12-25", Run: "daily"}, Result: batch.ResultSucceeded}
	named := func(id, player string, who predict.Identity) batch.Item {
		it := item(t, id, batch.OutcomeSucceeded, player, predict.Over)
		res, err := predict.DecodeResult(it.Result)
		if err != nil {
			t.Fatal(err)
		}
		res.Player = &who
		if it.Result, err = predict.EncodeResult(res); err != nil {
			t.Fatal(err)
		}
		it.Request = nil
		return it
	}
	who := predict.Identity{Name: "Res Name", Team: "LAL", Opponent: "GSW", Home: false}
	pub, err := predict.Consolidate(b, []batch.Item{named("7", "7", who)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := predict.PublishedPlayer{PlayerID: "7", Name: who.Name, Team: who.Team, Opponent: who.Opponent, Home: who.Home}
	if got := pub.Players[0]; got.PlayerID != want.PlayerID || got.Name != want.Name || got.Team != want.Team || got.Opponent != want.Opponent || got.Home != want.Home || len(got.Predictions) != 1 {
		t.Fatalf("published %+v, want %+v with its prediction", got, want)
	}

	if _, err := predict.Consolidate(b, []batch.Item{named("7", "8", who)}, time.Now()); !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), "item 7") {
		t.Fatalf("result for player 8 on item 7: got %v, want ErrInvalid naming item 7", err)
	}
	bare := item(t, "7", batch.OutcomeSucceeded, "7", predict.Over)
	bare.Request = nil
	if _, err := predict.Consolidate(b, []batch.Item{named("6", "6", who), bare}, time.Now()); !errors.Is(err, predict.ErrNeedRequests) {
		t.Fatalf("a result naming nobody, read without its request: got %v, want ErrNeedRequests", err)
	}
	// The request is item's: Name 7, BOS at home against NYK.
	both := named("7", "7", who)
	both.Request = item(t, "7", batch.OutcomeSucceeded, "7").Request
	if _, err := predict.Consolidate(b, []batch.Item{both}, time.Now()); !errors.Is(err, batch.ErrInvalid) {
		t.Fatalf("result and request naming different players: got %v, want ErrInvalid", err)
	}
	same := named("7", "7", predict.Identity{Name: "Name 7", Team: "BOS", Opponent: "NYK", Home: true})
	same.Request = both.Request
	if _, err := predict.Consolidate(b, []batch.Item{same}, time.Now()); err != nil {
		t.Fatalf("result and request agreeing: %v", err)
	}
}
