package predict

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// decodeRequestFast parses b when it is in the form [EncodeRequest] writes
// (known keys, plain strings, no nulls), several times faster than
// encoding/json, which spends a worker's time scanning every request twice
// through reflection. Anything else, whether invalid or merely unusual (an
// escape in a string, a key in other case, a null, a key twice), it
// reports as not handled, and [DecodeRequest] leaves it to encoding/json:
// what it does decode equals what encoding/json decodes
// (FuzzDecodeRequestFast).
func decodeRequestFast(b []byte) (Request, bool) {
	p := reqParser{b: b}
	var r Request
	for k := p.object(); p.next(&k); {
		switch string(k.key) {
		case "format":
			p.int(&r.Format)
		case "date":
			p.date(&r.Date)
		case "data_version":
			p.str(&r.DataVersion)
		case "player_id":
			p.str(&r.PlayerID)
		case "player_name":
			p.str(&r.PlayerName)
		case "team":
			p.str(&r.Team)
		case "opponent":
			p.str(&r.Opponent)
		case "game_id":
			p.str(&r.GameID)
		case "home":
			p.bool(&r.Home)
		case "rest_days":
			p.int(&r.RestDays)
		case "missed":
			p.int(&r.Missed)
		case "opp_rating":
			p.rating(&r.OppRating)
		case "team_rating":
			p.rating(&r.TeamRating)
		case "league":
			p.league(&r.League)
		case "season":
			p.averages(&r.Season)
		case "prev_season":
			p.averages(&r.PrevSeason)
		case "recent":
			p.recent(&r.Recent)
		case "lines":
			p.lines(&r.Lines)
		case "calibration":
			p.calibration(&r.Calibration)
		case "pricing":
			p.pricing(&r.Pricing)
		default:
			p.bad = true
		}
	}
	p.space()
	if p.bad || p.i != len(p.b) {
		return Request{}, false
	}
	return r, true
}

// reqParser reads JSON from b at i. On anything it does not expect it sets
// bad and reads no further, leaving the whole to encoding/json.
type reqParser struct {
	b   []byte
	i   int
	bad bool
}

func (p *reqParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek consumes c, after any space, if it comes next.
func (p *reqParser) peek(c byte) bool {
	p.space()
	if !p.bad && p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// want consumes c, or fails.
func (p *reqParser) want(c byte) {
	if !p.peek(c) {
		p.bad = true
	}
}

// members iterates an object's members: after object, each call of next
// reads a key and its colon, and the caller reads the value.
type members struct {
	key   []byte
	first bool
}

func (p *reqParser) object() members {
	p.want('{')
	return members{first: true}
}

func (p *reqParser) next(m *members) bool {
	if p.bad {
		return false
	}
	if m.first {
		m.first = false
		if p.peek('}') {
			return false
		}
	} else if !p.peek(',') {
		p.want('}')
		return false
	}
	m.key = p.raw()
	p.want(':')
	return !p.bad
}

// raw reads a string without escapes or control characters, in valid
// UTF-8, and returns its bytes.
func (p *reqParser) raw() []byte {
	if !p.peek('"') {
		p.bad = true
		return nil
	}
	start, ascii := p.i, true
	for ; p.i < len(p.b); p.i++ {
		c := p.b[p.i]
		switch {
		case c == '"':
			raw := p.b[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(raw) {
				p.bad = true
			}
			return raw
		case c == '\\' || c < 0x20:
			p.bad = true
			return nil
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	p.bad = true
	return nil
}

func (p *reqParser) str(s *string) {
	if raw := p.raw(); !p.bad {
		*s = string(raw)
	}
}

// number returns the next number literal, checked against JSON's grammar;
// integer is false when it has a fraction or an exponent.
func (p *reqParser) number() (lit []byte, integer bool) {
	p.space()
	b, i := p.b, p.i
	digits := func() bool {
		n := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		p.bad = true
		return nil, false
	}
	integer = true
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			p.bad = true
			return nil, false
		}
		integer = false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			p.bad = true
			return nil, false
		}
		integer = false
	}
	lit, p.i = b[p.i:i], i
	return lit, integer
}

func (p *reqParser) int(v *int) {
	lit, integer := p.number()
	if p.bad {
		return
	}
	n, err := strconv.ParseInt(string(lit), 10, 64)
	if err != nil || !integer {
		p.bad = true
		return
	}
	*v = int(n)
}

func (p *reqParser) float(v *float64) {
	lit, _ := p.number()
	if p.bad {
		return
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		p.bad = true
		return
	}
	*v = f
}

func (p *reqParser) bool(v *bool) {
	p.space()
	switch {
	case bytes.HasPrefix(p.b[p.i:], []byte("true")):
		*v, p.i = true, p.i+4
	case bytes.HasPrefix(p.b[p.i:], []byte("false")):
		*v, p.i = false, p.i+5
	default:
		p.bad = true
	}
}

func (p *reqParser) date(d *Date) {
	if raw := p.raw(); !p.bad && d.UnmarshalText(raw) != nil {
		p.bad = true
	}
}

// array reads an array's elements, calling elem for each while nothing
// failed.
func (p *reqParser) array(elem func()) {
	p.want('[')
	if p.bad || p.peek(']') {
		return
	}
	for !p.bad {
		elem()
		if !p.peek(',') {
			p.want(']')
			return
		}
	}
}

// list reads into *dst an array of objects, calling member with each
// element and each of its keys to read the value. A list read already
// (its key twice) is left to encoding/json, which decodes the second into
// the first one's elements, and so is one of more than max elements (0: no
// limit). size is a capacity to start with.
func list[T any](p *reqParser, dst *[]T, size, max int, member func(e *T, key []byte)) {
	if *dst != nil {
		p.bad = true
		return
	}
	out := make([]T, 0, size)
	p.array(func() {
		if max > 0 && len(out) == max {
			p.bad = true
			return
		}
		var zero T
		out = append(out, zero)
		e := &out[len(out)-1]
		for k := p.object(); p.next(&k); {
			member(e, k.key)
		}
	})
	*dst = out
}

func (p *reqParser) rating(r *TeamRating) {
	for k := p.object(); p.next(&k); {
		switch string(k.key) {
		case "defense":
			p.float(&r.Defense)
		case "pace":
			p.float(&r.Pace)
		case "games":
			p.int(&r.Games)
		default:
			p.bad = true
		}
	}
}

func (p *reqParser) league(l *LeagueRating) {
	for k := p.object(); p.next(&k); {
		switch string(k.key) {
		case "points":
			p.float(&l.Points)
		case "home":
			p.float(&l.Home)
		case "away":
			p.float(&l.Away)
		case "back_to_back":
			p.float(&l.BackToBack)
		default:
			p.bad = true
		}
	}
}

func (p *reqParser) averages(a *Averages) {
	for k := p.object(); p.next(&k); {
		switch string(k.key) {
		case "games":
			p.int(&a.Games)
		case "starts":
			p.int(&a.Starts)
		case "minutes":
			p.float(&a.Minutes)
		case "points":
			p.float(&a.Points)
		case "fga":
			p.float(&a.FGA)
		case "fta":
			p.float(&a.FTA)
		default:
			p.bad = true
		}
	}
}

func (p *reqParser) pricing(pr *Pricing) {
	for k := p.object(); p.next(&k); {
		switch string(k.key) {
		case "min_ev":
			p.float(&pr.MinEV)
		case "best_price":
			p.bool(&pr.BestPrice)
		case "consensus":
			p.bool(&pr.Consensus)
		default:
			p.bad = true
		}
	}
}

// recent reads the recent games. A second "recent" key is left to
// encoding/json, which decodes it into the first one's elements; so are
// the other lists' (see list).
func (p *reqParser) recent(gs *[]PastGame) {
	list(p, gs, 40, 0, func(g *PastGame, key []byte) {
		switch string(key) {
		case "date":
			p.date(&g.Date)
		case "season":
			p.str(&g.Season)
		case "opponent":
			p.str(&g.Opponent)
		case "home":
			p.bool(&g.Home)
		case "rest_days":
			p.int(&g.RestDays)
		case "starter":
			p.bool(&g.Starter)
		case "minutes":
			p.float(&g.Minutes)
		case "points":
			p.int(&g.Points)
		case "fga":
			p.int(&g.FGA)
		case "fg3a":
			p.int(&g.FG3A)
		case "fta":
			p.int(&g.FTA)
		case "opp_defense":
			p.float(&g.OppDefense)
		case "line":
			p.float(&g.Line)
		default:
			p.bad = true
		}
	})
}

func (p *reqParser) lines(ls *[]Line) {
	list(p, ls, 0, 0, func(l *Line, key []byte) {
		switch string(key) {
		case "value":
			p.float(&l.Value)
		case "offset":
			p.float(&l.Offset)
		case "source":
			p.str(&l.Source)
		case "estimated":
			p.bool(&l.Estimated)
		case "over_odds":
			p.int(&l.OverOdds)
		case "under_odds":
			p.int(&l.UnderOdds)
		case "offers":
			p.offers(&l.Offers)
		default:
			p.bad = true
		}
	})
}

func (p *reqParser) offers(os *[]Offer) {
	list(p, os, 0, 0, func(o *Offer, key []byte) {
		switch string(key) {
		case "book":
			p.str(&o.Book)
		case "over_odds":
			p.int(&o.OverOdds)
		case "under_odds":
			p.int(&o.UnderOdds)
		default:
			p.bad = true
		}
	})
}

func (p *reqParser) calibration(c **Calibration) {
	if *c != nil {
		p.bad = true
		return
	}
	cal := &Calibration{}
	for k := p.object(); p.next(&k); {
		switch string(k.key) {
		case "from":
			p.date(&cal.From)
		case "through":
			p.date(&cal.Through)
		case "systems":
			p.systems(&cal.Systems)
		default:
			p.bad = true
		}
	}
	*c = cal
}

func (p *reqParser) systems(ss *[]SystemCalibration) {
	list(p, ss, 0, 0, func(s *SystemCalibration, key []byte) {
		switch string(key) {
		case "system":
			p.str(&s.System)
		case "market":
			p.floats(s.Market[:])
		case "market_rows":
			p.int(&s.MarketRows)
		case "no_market":
			p.floats(s.NoMarket[:])
		case "no_market_rows":
			p.int(&s.NoMarketRows)
		case "move":
			p.float(&s.Move)
		case "record":
			p.record(&s.Record)
		case "earned":
			p.bool(&s.Earned)
		default:
			p.bad = true
		}
	})
}

// floats reads an array of exactly len(fs) numbers.
func (p *reqParser) floats(fs []float64) {
	n := 0
	p.array(func() {
		if n == len(fs) {
			p.bad = true
			return
		}
		p.float(&fs[n])
		n++
	})
	if n != len(fs) {
		p.bad = true
	}
}

func (p *reqParser) record(r *PickRecord) {
	for k := p.object(); p.next(&k); {
		switch string(k.key) {
		case "picks":
			p.int(&r.Picks)
		case "hits":
			p.int(&r.Hits)
		case "stated":
			p.float(&r.Stated)
		case "profit":
			p.float(&r.Profit)
		default:
			p.bad = true
		}
	}
}

// decodeResultFast is decodeRequestFast for a result: the form
// [EncodeResult] writes, with at most [MaxPredictions] predictions; anything
// else is left to [DecodeResult]'s encoding/json (FuzzDecodeResultFast).
func decodeResultFast(b []byte) (Result, bool) {
	p := reqParser{b: b}
	var r Result
	for k := p.object(); p.next(&k); {
		switch string(k.key) {
		case "format":
			p.int(&r.Format)
		case "date":
			p.date(&r.Date)
		case "player_id":
			p.str(&r.PlayerID)
		case "player":
			p.identity(&r.Player)
		case "data_version":
			p.str(&r.DataVersion)
		case "predictions":
			p.predictions(&r.Predictions)
		default:
			p.bad = true
		}
	}
	p.space()
	if p.bad || p.i != len(p.b) {
		return Result{}, false
	}
	return r, true
}

func (p *reqParser) identity(id **Identity) {
	if *id != nil {
		p.bad = true // encoding/json would decode the second into the first
		return
	}
	who := &Identity{}
	for k := p.object(); p.next(&k); {
		switch string(k.key) {
		case "name":
			p.str(&who.Name)
		case "team":
			p.str(&who.Team)
		case "opponent":
			p.str(&who.Opponent)
		case "home":
			p.bool(&who.Home)
		default:
			p.bad = true
		}
	}
	*id = who
}

func (p *reqParser) predictions(ps *[]Prediction) {
	list(p, ps, 0, MaxPredictions, func(x *Prediction, key []byte) {
		switch string(key) {
		case "date":
			p.date(&x.Date)
		case "player_id":
			p.str(&x.PlayerID)
		case "system":
			p.str(&x.System)
		case "line":
			p.float(&x.Line)
		case "line_offset":
			p.float(&x.LineOffset)
		case "line_source":
			p.str(&x.LineSource)
		case "estimated":
			p.bool(&x.Estimated)
		case "points":
			p.float(&x.Points)
		case "edge":
			p.float(&x.Edge)
		case "model_p_over":
			p.float(&x.ModelPOver)
		case "market_p_over":
			p.float(&x.MarketPOver)
		case "p_over":
			p.float(&x.POver)
		case "side":
			p.pick(&x.Side)
		case "confidence":
			p.float(&x.Confidence)
		case "price":
			p.int(&x.Price)
		case "price_book":
			p.str(&x.PriceBook)
		case "ev":
			p.float(&x.EV)
		case "pick":
			p.pick(&x.Pick)
		default:
			p.bad = true
		}
	})
}

func (p *reqParser) pick(v *Pick) {
	var s string
	p.str(&s)
	*v = Pick(s)
}
