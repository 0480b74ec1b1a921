package predict

// Reliability is how one system's published P(over) fared: per bucket of
// stated probability, the share of graded predictions that went over.
type Reliability struct {
	System string `json:"system"`
	// From and Through are the first and last dates with a graded row;
	// Days counts the dates that have one.
	From    Date `json:"from"`
	Through Date `json:"through"`
	Days    int  `json:"days"`
	// Score holds the Brier score and log loss beside the market's.
	Score   ProbScore `json:"score"`
	Buckets []Bucket  `json:"buckets"`
	// Picks, Hits and Stated are the system's OVER/UNDER picks among the
	// rows, how many won, and their mean stated probability of winning.
	Picks  int     `json:"picks"`
	Hits   int     `json:"hits"`
	Stated float64 `json:"stated"`
}

// PublishedReliability grades system's base-line predictions in pubs on
// sportsbook lines with prices against the points ds records: the
// reliability of P(over) as it was published. Pushes and players who did
// not play (or whose game ds does not yet hold) are left out. It is the
// backtest's reliability table on what was actually published.
func PublishedReliability(ds *Dataset, pubs []*Publication, system string) Reliability {
	var t scoreTally
	rel := Reliability{System: system}
	for _, pub := range pubs {
		graded := false
		for _, pl := range pub.Players {
			log, ok := ds.LogOn(pl.PlayerID, pub.Date)
			if !ok || !log.Played {
				continue
			}
			for _, p := range pl.Predictions {
				if p.System != system || p.LineOffset != 0 || p.Estimated || p.MarketPOver == 0 {
					continue
				}
				t.add(p, Line{Value: p.Line, Source: p.LineSource}, log.Stats.Pts)
				graded = true
			}
		}
		if graded {
			rel.Days++
			if rel.From == 0 || pub.Date < rel.From {
				rel.From = pub.Date
			}
			rel.Through = max(rel.Through, pub.Date)
		}
	}
	sc := t.score(system)
	rel.Score, rel.Buckets, rel.Picks, rel.Hits, rel.Stated = sc.Prob, sc.Reliability, sc.Picks, sc.Hits, sc.Stated
	return rel
}
