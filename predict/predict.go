package predict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"tipoff/batch"
)

// Pick is a recommendation against a line.
type Pick string

// Picks.
const (
	Over  Pick = "OVER"
	Under Pick = "UNDER"
	Pass  Pick = "PASS"
)

// Valid reports whether p is OVER, UNDER or PASS.
func (p Pick) Valid() bool { return p == Over || p == Under || p == Pass }

// Prediction is one system's prediction of one player's points against one
// line. Its stored key is [Prediction.Key]: line variants of one player never
// collapse into one row.
type Prediction struct {
	Date       Date    `json:"date"`
	PlayerID   string  `json:"player_id"`
	System     string  `json:"system"`
	Line       float64 `json:"line"`
	LineOffset float64 `json:"line_offset"`
	LineSource string  `json:"line_source"`
	Estimated  bool    `json:"estimated"`
	// Points is the predicted points.
	Points float64 `json:"points"`
	// Edge is Points minus Line.
	Edge float64 `json:"edge"`
	// ModelPOver is the system's own, uncalibrated probability that the
	// player scores over the line: the input to its calibration.
	ModelPOver float64 `json:"model_p_over"`
	// MarketPOver is the market's vig-free probability of OVER at this
	// line, or 0 when the line has no prices (estimated lines, variants,
	// books without odds).
	MarketPOver float64 `json:"market_p_over,omitempty"`
	// POver is the calibrated probability that the player scores over the
	// line (see [Calibration]).
	POver float64 `json:"p_over"`
	// Side is the side the figures below refer to: the side with the
	// higher expected value at the offered prices, or without prices the
	// likelier side. It is the pick unless the pick is PASS.
	Side Pick `json:"side"`
	// Confidence is the calibrated probability that Side wins: POver for
	// OVER, 1 − POver for UNDER. It is the one probability a user is
	// shown, and the backtest checks it against the realized hit rate.
	Confidence float64 `json:"confidence"`
	// Price is the American odds offered for Side by PriceBook, or 0 when
	// the line has no price for it.
	Price     int    `json:"price,omitempty"`
	PriceBook string `json:"price_book,omitempty"`
	// EV is the expected profit per unit staked on Side at Price
	// (Confidence·payout − (1 − Confidence)); 0 when there is no price.
	EV float64 `json:"ev"`
	// Pick is Side when the line is a sportsbook line with a price for
	// Side and EV reaches the request's [Pricing.MinEV]; otherwise PASS.
	Pick Pick `json:"pick"`
}

// Key is the identity of a stored prediction.
type Key struct {
	Date     Date
	PlayerID string
	System   string
	Line     float64
}

// Key returns p's stored key: (game date, player, system, line).
func (p Prediction) Key() Key { return Key{p.Date, p.PlayerID, p.System, p.Line} }

// Estimate is what a system returns for one line: its expected points and
// its own probability that the player scores over the line. [Run]
// calibrates the probability, prices it and decides the pick.
type Estimate struct {
	Points float64 // predicted points, >= 0
	POver  float64 // the system's own probability of OVER, in [0,1]
}

// System is one prediction system: a small, pure, deterministic type.
// Predict must not keep req or prior, and must not use randomness or the
// clock. prior holds, for the same line, the predictions of the systems run
// before this one (an ensemble combines them instead of re-running them).
// Each system documents how it gets its probability.
type System interface {
	Name() string
	Predict(req *Request, line Line, prior []Prediction) (Estimate, error)
}

// Result is the outcome payload of one request: every system's prediction
// for every line.
type Result struct {
	Format   int    `json:"format"`
	Date     Date   `json:"date"`
	PlayerID string `json:"player_id"`
	// Player is who the request named ([Run] copies it), so that a
	// publication is built from the results alone ([Consolidate]) without
	// reading every request again. Nil in results of workers from before
	// it was added.
	Player      *Identity    `json:"player,omitempty"`
	DataVersion string       `json:"data_version"`
	Predictions []Prediction `json:"predictions"`
}

// Identity is who a request is for, as a publication shows him.
type Identity struct {
	Name     string `json:"name"`
	Team     string `json:"team"`
	Opponent string `json:"opponent"`
	Home     bool   `json:"home"`
}

// CheckSystems panics if two systems share a name or a name is empty: a
// programmer error to catch at start-up.
func CheckSystems(systems []System) {
	seen := make(map[string]bool, len(systems))
	for _, s := range systems {
		n := s.Name()
		if n == "" || seen[n] {
			panic(fmt.Sprintf("predict: system name %q is empty or used twice", n))
		}
		seen[n] = true
	}
}

// Run is the worker's whole job for one request: every system in order over
// every line. A system's error is returned wrapped with its name (a system
// failing on a valid request is a bug, not bad input); a request that does
// not validate gives an error wrapping [batch.ErrInvalid].
func Run(req *Request, systems []System) (Result, error) {
	if err := req.Validate(); err != nil {
		return Result{}, err
	}
	res := Result{Format: WireFormat, Date: req.Date, PlayerID: req.PlayerID, DataVersion: req.DataVersion,
		Player:      &Identity{Name: req.PlayerName, Team: req.Team, Opponent: req.Opponent, Home: req.Home},
		Predictions: make([]Prediction, 0, len(systems)*len(req.Lines))}
	prior := make([]Prediction, 0, len(systems))
	for _, line := range req.Lines {
		prior = prior[:0]
		for _, s := range systems {
			est, err := s.Predict(req, line, prior)
			if err != nil {
				return Result{}, fmt.Errorf("system %s, player %s, line %v: %w", s.Name(), req.PlayerID, line.Value, err)
			}
			if err := est.check(); err != nil {
				return Result{}, fmt.Errorf("system %s, player %s, line %v: %w", s.Name(), req.PlayerID, line.Value, err)
			}
			p := Prediction{
				Date: req.Date, PlayerID: req.PlayerID, System: s.Name(),
				Line: line.Value, LineOffset: line.Offset, LineSource: line.Source, Estimated: line.Estimated,
				Points: round2(est.Points), Edge: round2(est.Points - line.Value), ModelPOver: round4(est.POver),
			}
			if m, ok := req.Pricing.market(line); ok {
				p.MarketPOver = round4(m)
			}
			p.price(line, req.Calibration, req.Pricing)
			prior = append(prior, p)
		}
		res.Predictions = append(res.Predictions, prior...)
	}
	return res, nil
}

func (e Estimate) check() error {
	switch {
	case !(e.Points >= 0 && e.Points < 200):
		return fmt.Errorf("predicted points %v out of range", e.Points)
	case !(e.POver >= 0 && e.POver <= 1):
		return fmt.Errorf("probability of over %v outside [0,1]", e.POver)
	}
	return nil
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// Bounds on a result's wire form. A worker's result holds one prediction
// per system and line, a few dozen and some kilobytes; the coordinator
// decodes every outcome's result, so these keep a broken or hostile one
// from costing it more than a few megabytes and milliseconds (a megabyte
// of "{}," was 350,000 empty predictions to allocate before Validate
// could refuse the first).
const (
	// MaxResultBytes is the longest wire form DecodeResult reads and
	// EncodeResult writes.
	MaxResultBytes = 1 << 20
	// MaxPredictions is the most predictions a result may hold.
	MaxPredictions = 1000
)

// EncodeResult returns res's wire form (JSON). A result that does not
// validate, or whose wire form would exceed [MaxResultBytes], gives an
// error wrapping [batch.ErrInvalid].
func EncodeResult(res Result) ([]byte, error) {
	if err := res.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxResultBytes {
		return nil, fmt.Errorf("%w: result is %d bytes encoded, more than %d", batch.ErrInvalid, len(b), MaxResultBytes)
	}
	return b, nil
}

// DecodeResult parses and validates a result's wire form; errors wrap
// [batch.ErrInvalid]. It refuses, before decoding them, forms longer than
// [MaxResultBytes] and more than [MaxPredictions] predictions.
func DecodeResult(b []byte) (Result, error) {
	if len(b) > MaxResultBytes {
		return Result{}, fmt.Errorf("%w: decode result: %d bytes, more than %d", batch.ErrInvalid, len(b), MaxResultBytes)
	}
	res, ok := decodeResultFast(b)
	if !ok {
		var err error
		if res, err = decodeResultSlow(b); err != nil {
			return Result{}, fmt.Errorf("%w: decode result: %v", batch.ErrInvalid, err)
		}
	}
	if err := res.Validate(); err != nil {
		return Result{}, err
	}
	return res, nil
}

// decodeResultSlow is DecodeResult's decoding by encoding/json.
func decodeResultSlow(b []byte) (Result, error) {
	var wire struct {
		Result
		Predictions predictionList `json:"predictions"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&wire); err != nil {
		return Result{}, err
	}
	if dec.More() {
		return Result{}, errors.New("data after the JSON object")
	}
	res := wire.Result
	res.Predictions = wire.Predictions
	return res, nil
}

// predictionList decodes a JSON array of predictions one at a time,
// refusing the one past [MaxPredictions] before it allocates it.
type predictionList []Prediction

// UnmarshalJSON implements json.Unmarshaler.
func (l *predictionList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*l = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return errors.New("predictions is not an array")
	}
	out := []Prediction{}
	for dec.More() {
		if len(out) == MaxPredictions {
			return fmt.Errorf("more than %d predictions", MaxPredictions)
		}
		var p Prediction
		if err := dec.Decode(&p); err != nil {
			return fmt.Errorf("predictions[%d]: %w", len(out), err)
		}
		out = append(out, p)
	}
	*l = out
	return nil
}

// Validate checks that the result holds at most [MaxPredictions]
// predictions, that every one belongs to the result's date and player, has
// a valid pick, confidence and points, and that no two share a key. Errors
// wrap [batch.ErrInvalid].
func (res *Result) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: result: "+format, append([]any{batch.ErrInvalid}, args...)...))
	}
	if res.Format != WireFormat {
		bad("format %d is not %d", res.Format, WireFormat)
	}
	if !res.Date.Valid() {
		bad("date %d out of range", int(res.Date))
	}
	if res.PlayerID == "" {
		bad("player_id is empty")
	}
	if pl := res.Player; pl != nil && (pl.Team == "" || pl.Opponent == "" || pl.Team == pl.Opponent) {
		bad("player: team %q and opponent %q must be two different teams", pl.Team, pl.Opponent)
	}
	if len(res.Predictions) > MaxPredictions {
		bad("%d predictions, more than %d", len(res.Predictions), MaxPredictions)
		return errors.Join(errs...)
	}
	seen := make(map[Key]bool, len(res.Predictions))
	for i, p := range res.Predictions {
		if p.Date != res.Date || p.PlayerID != res.PlayerID {
			bad("predictions[%d]: date %s / player %q differ from the result's", i, p.Date, p.PlayerID)
		}
		if p.System == "" {
			bad("predictions[%d]: system is empty", i)
		}
		if !(p.Line >= 0 && p.Line < 200) || !(p.Points >= 0 && p.Points < 200) || math.IsNaN(p.Edge) || math.IsNaN(p.LineOffset) {
			bad("predictions[%d]: line %v, points %v or edge %v out of range", i, p.Line, p.Points, p.Edge)
		}
		for _, v := range [...]float64{p.Confidence, p.POver, p.ModelPOver, p.MarketPOver} {
			if !(v >= 0 && v <= 1) {
				bad("predictions[%d]: probability %v outside [0,1]", i, v)
				break
			}
		}
		if math.IsNaN(p.EV) || p.EV < -1 || p.EV > 100 {
			bad("predictions[%d]: ev %v out of range", i, p.EV)
		}
		// A record written before sides existed has none; otherwise a pick
		// is PASS or its side.
		if !p.Pick.Valid() || p.Side != "" && (p.Side != Over && p.Side != Under || p.Pick != Pass && p.Pick != p.Side) {
			bad("predictions[%d]: pick %q / side %q is not OVER, UNDER or PASS on its side", i, p.Pick, p.Side)
		}
		if p.LineSource == "" {
			bad("predictions[%d]: line_source is empty", i)
		}
		if seen[p.Key()] {
			bad("predictions[%d]: system %s and line %v appear twice", i, p.System, p.Line)
		}
		seen[p.Key()] = true
		if len(errs) > 10 {
			break
		}
	}
	return errors.Join(errs...)
}

// price calibrates p's probability with cal, prices both sides at the
// offered odds and decides the pick under pr.
func (p *Prediction) price(line Line, cal *Calibration, pr Pricing) {
	m, ok := p.marketPOver()
	p.POver = round4(cal.POver(p.System, p.ModelPOver, m, ok))
	var over, under Offer
	if line.Real() {
		over, under = pr.best(line)
	}
	evOver, evUnder := ExpectedValue(p.POver, over.OverOdds), ExpectedValue(1-p.POver, under.UnderOdds)
	side := Over
	switch {
	case over.OverOdds != 0 && under.UnderOdds != 0:
		if evUnder > evOver {
			side = Under
		}
	case p.POver < 0.5:
		side = Under
	}
	p.Side, p.Confidence, p.Price, p.PriceBook, p.EV = Over, p.POver, over.OverOdds, over.Book, evOver
	if side == Under {
		p.Side, p.Confidence, p.Price, p.PriceBook, p.EV = Under, round4(1-p.POver), under.UnderOdds, under.Book, evUnder
	}
	if p.Price == 0 {
		p.PriceBook = ""
	}
	p.EV = round4(p.EV)
	p.Pick = Pass
	if line.Real() && p.Price != 0 && p.EV >= pr.MinEV && cal.earned(p.System) {
		p.Pick = p.Side
	}
}

// marketPOver returns the market's vig-free P(over) the prediction carries.
func (p *Prediction) marketPOver() (float64, bool) { return p.MarketPOver, p.MarketPOver > 0 }
