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
	// Confidence is the system's probability, in [0,1], that its pick wins
	// (for PASS: that the likelier side wins).
	Confidence float64 `json:"confidence"`
	// Edge is Points minus Line.
	Edge float64 `json:"edge"`
	Pick Pick    `json:"pick"`
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

// Estimate is what a system returns for one line.
type Estimate struct {
	Points     float64 // predicted points, >= 0
	Confidence float64 // probability in [0,1] that Pick wins (PASS: the likelier side)
	Pick       Pick
}

// System is one prediction system: a small, pure, deterministic type.
// Predict must not keep req or prior, and must not use randomness or the
// clock. prior holds, for the same line, the predictions of the systems run
// before this one (an ensemble combines them instead of re-running them).
type System interface {
	Name() string
	Predict(req *Request, line Line, prior []Prediction) (Estimate, error)
}

// Result is the outcome payload of one request: every system's prediction
// for every line.
type Result struct {
	Format      int          `json:"format"`
	Date        Date         `json:"date"`
	PlayerID    string       `json:"player_id"`
	DataVersion string       `json:"data_version"`
	Predictions []Prediction `json:"predictions"`
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
				Points: round2(est.Points), Confidence: round3(est.Confidence), Edge: round2(est.Points - line.Value), Pick: est.Pick,
			}
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
	case !(e.Confidence >= 0 && e.Confidence <= 1):
		return fmt.Errorf("confidence %v outside [0,1]", e.Confidence)
	case !e.Pick.Valid():
		return fmt.Errorf("pick %q is not OVER, UNDER or PASS", e.Pick)
	}
	return nil
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

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
	var wire struct {
		Result
		Predictions predictionList `json:"predictions"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&wire); err != nil {
		return Result{}, fmt.Errorf("%w: decode result: %v", batch.ErrInvalid, err)
	}
	if dec.More() {
		return Result{}, fmt.Errorf("%w: decode result: data after the JSON object", batch.ErrInvalid)
	}
	res := wire.Result
	res.Predictions = wire.Predictions
	if err := res.Validate(); err != nil {
		return Result{}, err
	}
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
		if !(p.Confidence >= 0 && p.Confidence <= 1) {
			bad("predictions[%d]: confidence %v outside [0,1]", i, p.Confidence)
		}
		if !p.Pick.Valid() {
			bad("predictions[%d]: pick %q is not OVER, UNDER or PASS", i, p.Pick)
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

// Decide turns a predicted mean and its standard deviation into a pick
// against line: OVER or UNDER when the prediction is at least minEdge
// points from the line, else PASS. The confidence is the normal-model
// probability that the pick wins (for PASS, that the likelier side wins).
func Decide(points, sd, line, minEdge float64) (Pick, float64) {
	if !(sd > 0) {
		sd = 1
	}
	pOver := 1 - normCDF((line-points)/sd)
	edge := points - line
	switch {
	case edge >= minEdge && edge > 0:
		return Over, pOver
	case -edge >= minEdge && edge < 0:
		return Under, 1 - pOver
	}
	return Pass, math.Max(pOver, 1-pOver)
}

func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }
