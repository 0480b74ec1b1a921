package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tipoff/batch"
	"tipoff/predict"
	"tipoff/predict/systems"
)

// StartRequest asks for a date's run: the body of POST /start in both
// shapes, and what "tipoff run" and the daily schedule ask for. Every field
// is optional.
type StartRequest struct {
	// Date is the game date, YYYY-MM-DD. Empty means the league's date at
	// ScheduleTime, or today.
	Date string `json:"date,omitempty"`
	// Run is the run label; empty means the configured default.
	Run     string  `json:"run,omitempty"`
	Options Options `json:"options,omitzero"`

	// ScheduleTime is when a scheduler meant the run to start (Cloud
	// Scheduler's X-CloudScheduler-ScheduleTime). A retry of the same tick
	// carries the same time, so it resolves to the same date and finds the
	// batch the first try created.
	ScheduleTime time.Time `json:"-"`
	// TraceID is the trace the new batch carries; empty means a new one.
	TraceID string `json:"-"`
}

// Options tune one run; zero fields keep the configured [Settings]. They
// apply only when the run creates its batch: starting an existing key
// returns the batch as it was created.
type Options struct {
	// Lines are line offsets k adding base-k and base+k lines.
	Lines []float64 `json:"lines,omitempty"`
	// Books is the bookmaker preference for the base line.
	Books      []string `json:"books,omitempty"`
	MinGames   int      `json:"min_games,omitempty"`
	MinMinutes float64  `json:"min_minutes,omitempty"`
	// Policy overrides; durations are Go durations ("90s", "2h").
	ItemTimeout Duration `json:"item_timeout,omitzero"`
	MaxAttempts int      `json:"max_attempts,omitempty"`
	Deadline    Duration `json:"deadline,omitzero"`
	MinSuccess  float64  `json:"min_success,omitempty"`
}

// Duration is a time.Duration that is a string ("2m30s") in JSON.
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string such as "90s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string like \"90s\": %v", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: want a duration like \"90s\" or \"2h\"", s)
	}
	*d = Duration(v)
	return nil
}

// DecodeStartRequest decodes the JSON body of a start request (empty means
// every field left out) and validates it. Every error wraps
// [batch.ErrInvalid] and names the field or the place at fault: unknown
// fields, data after the object and durations that do not parse are
// refused.
func DecodeStartRequest(body []byte) (StartRequest, error) {
	var req StartRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return req, nil
	}
	// Durations decode as strings here, so a bad one is reported with its
	// field's name.
	var in struct {
		Date    string `json:"date"`
		Run     string `json:"run"`
		Options struct {
			Lines       []float64 `json:"lines"`
			Books       []string  `json:"books"`
			MinGames    int       `json:"min_games"`
			MinMinutes  float64   `json:"min_minutes"`
			ItemTimeout string    `json:"item_timeout"`
			MaxAttempts int       `json:"max_attempts"`
			Deadline    string    `json:"deadline"`
			MinSuccess  float64   `json:"min_success"`
		} `json:"options"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return req, fmt.Errorf("%w: start request body: want JSON like {\"date\":\"YYYY-MM-DD\",\"run\":\"daily\",\"options\":{...}}: %v", batch.ErrInvalid, err)
	}
	if dec.More() {
		return req, fmt.Errorf("%w: start request body has data after the JSON object", batch.ErrInvalid)
	}
	o := in.Options
	req = StartRequest{Date: in.Date, Run: in.Run, Options: Options{Lines: o.Lines, Books: o.Books, MinGames: o.MinGames,
		MinMinutes: o.MinMinutes, MaxAttempts: o.MaxAttempts, MinSuccess: o.MinSuccess}}
	var errs []error
	for _, d := range []struct {
		name string
		in   string
		out  *Duration
	}{{"options.item_timeout", o.ItemTimeout, &req.Options.ItemTimeout}, {"options.deadline", o.Deadline, &req.Options.Deadline}} {
		if d.in == "" {
			continue
		}
		v, err := time.ParseDuration(d.in)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want a duration like \"90s\" or \"2h\"", d.name, d.in))
			continue
		}
		*d.out = Duration(v)
	}
	if errs = append(errs, req.problems()...); len(errs) > 0 {
		return req, fmt.Errorf("%w: start request: %w", batch.ErrInvalid, errors.Join(errs...))
	}
	return req, nil
}

// Validate reports every problem with r, each naming the field; the error
// wraps [batch.ErrInvalid].
func (r StartRequest) Validate() error {
	if errs := r.problems(); len(errs) > 0 {
		return fmt.Errorf("%w: start request: %w", batch.ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// problems returns every problem with r, each naming the field.
func (r StartRequest) problems() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if r.Date != "" {
		if _, err := time.Parse(time.DateOnly, r.Date); err != nil {
			bad("date %q: want YYYY-MM-DD", r.Date)
		}
	}
	if r.Run != "" {
		if err := (batch.Key{Date: "2000-01-01", Run: r.Run}).Validate(); err != nil {
			bad("run %q: 1-64 of a-z 0-9 . _ - starting with a letter or digit", r.Run)
		}
	}
	o := r.Options
	if len(o.Lines) > 10 {
		bad("options.lines: %d offsets, want at most 10", len(o.Lines))
	}
	for i, k := range o.Lines {
		if !(k > 0 && k < 100) {
			bad("options.lines[%d] = %v: want a number above 0 and below 100", i, k)
		}
	}
	if len(o.Books) > 20 {
		bad("options.books: %d books, want at most 20", len(o.Books))
	}
	for i, b := range o.Books {
		if b == "" || len(b) > 64 || strings.TrimSpace(b) != b {
			bad("options.books[%d] = %q: want a bookmaker name of 1-64 characters", i, b)
		}
	}
	if o.MinGames < 0 || o.MinGames > 10 {
		bad("options.min_games %d: want 0 to 10", o.MinGames)
	}
	if o.MinMinutes < 0 || o.MinMinutes > 48 || math.IsNaN(o.MinMinutes) {
		bad("options.min_minutes %v: want 0 to 48", o.MinMinutes)
	}
	if o.ItemTimeout < 0 {
		bad("options.item_timeout %v: want a positive duration", time.Duration(o.ItemTimeout))
	}
	if o.MaxAttempts < 0 || o.MaxAttempts > 100 {
		bad("options.max_attempts %d: want 1 to 100", o.MaxAttempts)
	}
	if o.Deadline < 0 || time.Duration(o.Deadline) > 48*time.Hour {
		bad("options.deadline %v: want a positive duration up to 48h", time.Duration(o.Deadline))
	}
	if o.MinSuccess < 0 || o.MinSuccess > 1 || math.IsNaN(o.MinSuccess) {
		bad("options.min_success %v: want 0 to 1", o.MinSuccess)
	}
	return errs
}

// Settings are what a run is built with unless its [Options] say
// otherwise: the configured defaults of a coordinator or "tipoff run".
type Settings struct {
	Run     string // run label when a request names none
	Policy  batch.Policy
	Select  predict.SelectOptions
	Request predict.RequestOptions
}

// Apply returns s with o's non-zero fields in place of its own.
func (o Options) Apply(s Settings) Settings {
	if len(o.Lines) > 0 {
		s.Request.Offsets = o.Lines
	}
	if len(o.Books) > 0 {
		s.Request.Books = o.Books
	}
	if o.MinGames > 0 {
		s.Select.MinGames = o.MinGames
	}
	if o.MinMinutes > 0 {
		s.Select.MinMinutes = o.MinMinutes
	}
	if o.ItemTimeout > 0 {
		s.Policy.ItemTimeout = time.Duration(o.ItemTimeout)
	}
	if o.MaxAttempts > 0 {
		s.Policy.MaxAttempts = o.MaxAttempts
	}
	if o.Deadline > 0 {
		s.Policy.Deadline = time.Duration(o.Deadline)
	}
	if o.MinSuccess > 0 {
		s.Policy.MinSuccessRatio = o.MinSuccess
	}
	return s
}

// calibrations keeps the calibrations BuildSpec fitted: a rerun of a date
// on the same data reuses its fit.
var calibrations predict.CalibrationCache

// BuildSpec builds the batch for key from ds: one item per selected player,
// whose request carries everything a worker needs, the systems' calibration
// fitted on the graded days before the date included (unless s.Request
// brings one). Players whose request cannot be built (no played game before
// the date) are left out and logged. meta is added to the batch's meta,
// after data_version.
//
// A date inside the data's schedule with no games gets a batch with no
// items whose meta [batch.MetaNoItems] is [NoGames]: the durable record of
// an off day. A date outside the schedule is an error wrapping
// [batch.ErrNotFound].
func BuildSpec(ds *predict.Dataset, key batch.Key, s Settings, meta map[string]string, log *slog.Logger) (batch.Spec, error) {
	return buildSpec(ds, key, s, meta, log, func(ds *predict.Dataset, date predict.Date, opts predict.CalibrateOptions) (*predict.Calibration, error) {
		return calibrations.Calibrate(ds, date, systems.Default(), opts)
	})
}

// calibrateFunc returns the systems' calibration for date under opts.
type calibrateFunc func(ds *predict.Dataset, date predict.Date, opts predict.CalibrateOptions) (*predict.Calibration, error)

// buildSpec is [BuildSpec] with the calibration, when the batch needs one,
// from calibrate.
func buildSpec(ds *predict.Dataset, key batch.Key, s Settings, meta map[string]string, log *slog.Logger, calibrate calibrateFunc) (batch.Spec, error) {
	date, err := predict.ParseDate(key.Date)
	if err != nil {
		return batch.Spec{}, fmt.Errorf("%w: %v", batch.ErrInvalid, err)
	}
	m := map[string]string{"data_version": ds.Version()}
	for k, v := range meta {
		m[k] = v
	}
	if len(ds.GamesOn(date)) == 0 {
		// A day without games is a quiet day only inside the schedule the
		// data has: past its end the schedule is missing, not empty.
		games := ds.Games()
		if len(games) == 0 || date < games[0].Date || date > games[len(games)-1].Date {
			span := "no games at all"
			if len(games) > 0 {
				span = fmt.Sprintf("games from %s to %s", games[0].Date, games[len(games)-1].Date)
			}
			return batch.Spec{}, fmt.Errorf("%w: the data (version %s) has no schedule for %s: its schedule has %s; import a newer one",
				batch.ErrNotFound, ds.Version(), key.Date, span)
		}
		m[batch.MetaNoItems] = NoGames(key.Date)
		return batch.Spec{Key: key, Policy: s.Policy, Meta: m}, nil
	}
	if err := ds.CheckBooks(s.Request.Books); err != nil {
		return batch.Spec{}, err
	}
	if s.Request.Calibration == nil {
		cal, err := calibrate(ds, date, predict.CalibrateOptions{Select: s.Select, Request: s.Request})
		if err != nil {
			return batch.Spec{}, fmt.Errorf("calibrate the systems for %s: %w", key.Date, err)
		}
		s.Request.Calibration = cal
	}
	spec := batch.Spec{Key: key, Policy: s.Policy, Meta: m}
	cands := predict.SelectPlayers(ds, date, s.Select)
	reqs := buildRequests(ds, date, cands, s.Request)
	for i, c := range cands {
		r := reqs[i]
		if errors.Is(r.buildErr, batch.ErrNotFound) {
			if log != nil {
				log.Info("player left out", "run_date", key.Date, "item_id", c.PlayerID, "err", r.buildErr)
			}
			continue
		}
		if r.buildErr != nil {
			return batch.Spec{}, fmt.Errorf("build request for %s (%s) on %s: %w", c.Name, c.PlayerID, key.Date, r.buildErr)
		}
		if r.encodeErr != nil {
			return batch.Spec{}, fmt.Errorf("encode request for %s on %s: %w", c.PlayerID, key.Date, r.encodeErr)
		}
		spec.Items = append(spec.Items, batch.NewItem{ID: c.PlayerID, Request: r.body})
	}
	return spec, nil
}

// builtRequest is one candidate's encoded request, or why there is none.
type builtRequest struct {
	body                []byte
	buildErr, encodeErr error
}

// buildRequests builds and encodes the candidates' requests, in their
// order, on as many goroutines as there are processors: a data set is
// only read once built, and the busiest day's 311 requests take ~40 ms
// on one.
func buildRequests(ds *predict.Dataset, date predict.Date, cands []predict.Candidate, opts predict.RequestOptions) []builtRequest {
	out := make([]builtRequest, len(cands))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(cands)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(cands); i = int(next.Add(1) - 1) {
				r := &out[i]
				req, err := predict.BuildRequest(ds, date, cands[i].PlayerID, opts)
				if r.buildErr = err; err == nil {
					r.body, r.encodeErr = predict.EncodeRequest(req)
				}
			}
		})
	}
	wg.Wait()
	return out
}

// LoadFunc reads the input data as it is now.
type LoadFunc func(ctx context.Context) (*predict.Dataset, error)

// LoadDayFunc reads the part of the input data, as it is now, that date's
// batch reads under sel and ro: a partial data set (see
// [predict.DayScope] and [predict.NewPartialDataset]).
type LoadDayFunc func(ctx context.Context, date predict.Date, sel predict.SelectOptions, ro predict.RequestOptions) (*predict.Dataset, error)

// StarterConfig configures a [Starter]. Engine, Store and Load are required.
type StarterConfig struct {
	Engine *batch.Engine
	// Store is where an existing batch of the key is looked up.
	Store batch.Store
	// Load reads the data a new batch is built from.
	Load LoadFunc
	// LoadDay, when set, reads just what a new batch is built from; Load
	// is then read only to fit a calibration that Calibrations does not
	// hold.
	LoadDay LoadDayFunc
	// Calibrations, when set, keeps the systems' calibrations fitted for
	// each date and data version, so that only the first batch of a date
	// on a data version pays for the fit. Without it a process keeps its
	// last few fits in memory.
	Calibrations predict.CalibrationStore
	// Settings are the defaults a request's options adjust.
	Settings Settings
	// Meta is added to every new batch's meta (e.g. data_path).
	Meta map[string]string
	// NowFunc is the clock; default time.Now.
	NowFunc func() time.Time
	Log     *slog.Logger
}

// Starter starts a date's run: it resolves the request's key, returns the
// key's batch if it exists (touching no data), and otherwise reads the data
// and creates the batch. One start at a time reads data and creates, so
// concurrent starts of one key read the data once and a burst of starts
// never holds many copies of it.
type Starter struct {
	cfg     StarterConfig
	log     *slog.Logger
	creates sync.Mutex
}

// NewStarter returns a starter. It panics without an engine, a store or a
// loader: a wiring mistake.
func NewStarter(cfg StarterConfig) *Starter {
	if cfg.Engine == nil || cfg.Store == nil || cfg.Load == nil {
		panic("pipeline: NewStarter needs Engine, Store and Load")
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Starter{cfg: cfg, log: log}
}

// Key resolves the batch key req asks for: its date, else the league's date
// at its schedule time, else today; its run label, else the default.
func (s *Starter) Key(req StartRequest) batch.Key {
	key := batch.Key{Date: req.Date, Run: req.Run}
	if key.Date == "" {
		at := req.ScheduleTime
		if at.IsZero() {
			at = s.cfg.NowFunc()
		}
		key.Date = LeagueToday(at)
	}
	if key.Run == "" {
		key.Run = s.cfg.Settings.Run
	}
	return key
}

// Start returns the batch req asks for, creating it if its key has none
// (created is then true). It does not dispatch. A date with no games gets a
// batch with no items, finalized at once (see [BuildSpec] and [batch.Batch.NoItems]).
// Errors wrap [batch.ErrInvalid] for a bad request and [batch.ErrNotFound]
// when the data has no schedule for the date or nobody qualifies on it.
func (s *Starter) Start(ctx context.Context, req StartRequest) (b batch.Batch, created bool, err error) {
	if err := req.Validate(); err != nil {
		return batch.Batch{}, false, err
	}
	key := s.Key(req)
	if b, ok, err := s.existing(ctx, key); err != nil || ok {
		return b, false, err
	}
	s.creates.Lock()
	defer s.creates.Unlock()
	// Another start of the key may have created it while this one waited.
	if b, ok, err := s.existing(ctx, key); err != nil || ok {
		return b, false, err
	}
	settings := req.Options.Apply(s.cfg.Settings)
	ds, err := s.load(ctx, key, settings)
	if err != nil {
		return batch.Batch{}, false, err
	}
	trace := req.TraceID
	if trace == "" {
		trace = batch.NewTraceID()
	}
	meta := map[string]string{batch.AttrTraceID: trace}
	for k, v := range s.cfg.Meta {
		meta[k] = v
	}
	if !req.ScheduleTime.IsZero() {
		meta["schedule_time"] = req.ScheduleTime.UTC().Format(time.RFC3339)
	}
	spec, err := buildSpec(ds, key, settings, meta, s.log, s.calibrate(ctx))
	if err != nil {
		return batch.Batch{}, false, err
	}
	if _, off := spec.Meta[batch.MetaNoItems]; len(spec.Items) == 0 && !off {
		return batch.Batch{}, false, fmt.Errorf("%w: nobody to predict on %s in the data (version %s): there are games but no player qualifies",
			batch.ErrNotFound, key.Date, ds.Version())
	}
	return s.cfg.Engine.Create(ctx, spec)
}

// load reads the data key's batch is built from: just that (LoadDay) when
// the starter can.
func (s *Starter) load(ctx context.Context, key batch.Key, settings Settings) (*predict.Dataset, error) {
	if s.cfg.LoadDay == nil {
		return s.cfg.Load(ctx)
	}
	date, err := predict.ParseDate(key.Date)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", batch.ErrInvalid, err)
	}
	return s.cfg.LoadDay(ctx, date, settings.Select, settings.Request)
}

// calibrate returns how the starter gets a calibration: the one stored for
// the data version, date and options, else a fit on the whole data set
// (read with Load when ds is partial), which it then stores.
func (s *Starter) calibrate(ctx context.Context) calibrateFunc {
	return func(ds *predict.Dataset, date predict.Date, opts predict.CalibrateOptions) (*predict.Calibration, error) {
		sys := systems.Default()
		store := s.cfg.Calibrations
		if store == nil && !ds.Partial() {
			return calibrations.Calibrate(ds, date, sys, opts)
		}
		key, err := predict.CalibrationKey(sys, opts)
		if err != nil {
			return nil, err
		}
		if store != nil {
			cal, err := store.Calibration(ctx, ds.Version(), date, key)
			if err == nil {
				return cal, nil
			}
			if !errors.Is(err, batch.ErrNotFound) {
				// An unreadable fit is fitted again and replaced.
				s.log.Warn("stored calibration unusable; fitting it again", "run_date", date.String(), "err", err)
			}
		}
		full := ds
		if ds.Partial() {
			if full, err = s.cfg.Load(ctx); err != nil {
				return nil, err
			}
			if full.Version() != ds.Version() {
				return nil, fmt.Errorf("%w: the data changed from version %s to %s while the batch was built; start it again",
					batch.ErrConflict, ds.Version(), full.Version())
			}
		}
		cal, err := calibrations.Calibrate(full, date, sys, opts)
		if err != nil {
			return nil, err
		}
		if store != nil {
			if err := store.PutCalibration(ctx, full.Version(), date, key, cal); err != nil {
				s.log.Warn("calibration not stored; the next batch of the date fits it again", "run_date", date.String(), "err", err)
			}
		}
		return cal, nil
	}
}

// existing returns the key's batch if it has one. The run is matched here,
// not in the query: Firestore has an index for the date alone, and a date
// has a handful of batches.
func (s *Starter) existing(ctx context.Context, key batch.Key) (batch.Batch, bool, error) {
	bs, err := s.cfg.Store.ListBatches(ctx, batch.ListOptions{Date: key.Date, Limit: 1000})
	if err != nil {
		return batch.Batch{}, false, err
	}
	for _, b := range bs {
		if b.Key == key {
			return b, true, nil
		}
	}
	return batch.Batch{}, false, nil
}

// NoGames is the [batch.MetaNoItems] reason of a date with no games.
func NoGames(date string) string { return "no games scheduled on " + date }
