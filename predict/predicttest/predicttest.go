package predicttest

import "tipoff/predict"

// Request returns a valid request for 2025-01-20 at home against a
// league-average opponent, with the given recent points (newest first),
// each game on one day's rest, alternating home and away (newest at home),
// against average defences, 30 minutes each, and a DraftKings line.
func Request(line float64, points ...int) *predict.Request {
	d := predict.MustParseDate("2025-01-20")
	r := &predict.Request{
		Format: predict.WireFormat, Date: d, DataVersion: "test", PlayerID: "p1", PlayerName: "Test Player",
		Team: "AAA", Opponent: "BBB", Home: true, RestDays: 1,
		OppRating:  predict.TeamRating{Defense: 1, Pace: 1, Games: 20},
		TeamRating: predict.TeamRating{Defense: 1, Pace: 1, Games: 20},
		League:     predict.LeagueRating{Points: 112, Home: 1.02, Away: 0.98, BackToBack: 0.96},
		Lines:      []predict.Line{{Value: line, Source: "draftkings"}},
	}
	sum := 0
	for i, p := range points {
		r.Recent = append(r.Recent, predict.PastGame{
			Date: d - predict.Date(2*(i+1)), Season: "2024-25", Opponent: "CCC", Home: i%2 == 0, RestDays: 1,
			Starter: true, Minutes: 30, Points: p, FGA: p / 2, FTA: 2, OppDefense: 1,
		})
		sum += p
	}
	if n := len(points); n > 0 {
		r.Season = predict.Averages{Games: n, Starts: n, Minutes: 30, Points: float64(sum) / float64(n)}
	}
	return r
}
