package httpapi

import (
	"bytes"
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"tipoff/batch"
	"tipoff/predict"
)

//go:embed templates/*.html
var templateFiles embed.FS

// pages returns one template set per page, each with the shared layout,
// parsed on first use: every command links this package, and only a
// server shows pages (parsing them took ~2 ms of each process's start).
var pages = sync.OnceValues(func() (map[string]*template.Template, error) {
	ps := make(map[string]*template.Template)
	for _, name := range []string{"index", "batch", "error", "reliability"} {
		t, err := template.New("layout.html").Funcs(pageFuncs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		ps[name] = t
	}
	return ps, nil
})

// page returns the named page's templates.
func page(name string) (*template.Template, error) {
	ps, err := pages()
	if err != nil {
		return nil, err
	}
	return ps[name], nil
}

var pageFuncs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("15:04:05")
	},
	"pct":  func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"num1": func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"signed": func(f float64) string {
		return strconv.FormatFloat(f, 'f', 1, 64)
	},
	"share": func(n, total int) float64 {
		if total <= 0 {
			return 0
		}
		return math.Round(10000*float64(n)/float64(total)) / 100
	},
	"seconds": func(s float64) string { return roundDuration(time.Duration(s * float64(time.Second))) },
	"since": func(from, to time.Time) string {
		if from.IsZero() || to.IsZero() {
			return "–"
		}
		return roundDuration(to.Sub(from))
	},
	"batchURL": func(id string) string { return "/batches/" + url.PathEscape(id) },
	"share100": func(f float64) float64 { return 100 * f },
	"odds": func(o int) string {
		if o == 0 {
			return "–"
		}
		return fmt.Sprintf("%+d", o)
	},
	"ev":  func(f float64) string { return fmt.Sprintf("%+.3f", f) },
	"add": func(a, b int) int { return a + b },
	"sub": func(a, b int) int { return a - b },
}

// roundDuration prints d to a precision a person reads: ms below a second,
// then tenths of seconds, then whole seconds.
func roundDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "–"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// refreshSeconds is how often a page reloads itself while a batch runs.
const refreshSeconds = 5

// pageLimit bounds the players one batch page lists; the rest are a link
// away (?after=ID).
const pageLimit = 1000

// layoutData is what the shared layout reads.
type layoutData struct {
	Title   string
	Refresh int // seconds; 0 for none
	Now     time.Time
}

type indexPage struct {
	layoutData
	Date    string
	Batches []BatchSummary
	Problem string
}

type batchPage struct {
	layoutData
	Report     BatchReport
	Policy     batch.Policy
	Players    []playerRow
	PlayerRows template.HTML
	// After is the ID to continue the player list from; "" when it is
	// complete.
	After   string
	From    string // the ?after= this page started from
	Chart   chart
	Picks   []pickRow
	PicksOf string // "published" or "preliminary"; "" for none
	Pub     *PublicationReport
	System  string
}

type playerRow struct {
	ID, Name, Team, Matchup string
	Outcome                 batch.Outcome
	Attempts                int
	PublishedAt             time.Time
	CompletedAt             time.Time
	Took                    string
	Error                   string
	Pick                    *pickCell
}

// pickCell is one prediction as the pages show it: the calibrated P(over),
// the side with the better expected value, its price and book, and the
// pick (PASS unless the side clears the price).
type pickCell struct {
	Line, Points, Edge, POver, PSide, EV float64
	Source, Book                         string
	Price                                int
	Side, Pick                           predict.Pick
}

func newPickCell(pr predict.Prediction) pickCell {
	return pickCell{Line: pr.Line, Points: pr.Points, Edge: pr.Edge, POver: pr.POver, PSide: pr.Confidence, EV: pr.EV,
		Source: pr.LineSource, Book: pr.PriceBook, Price: pr.Price, Side: pr.Side, Pick: pr.Pick}
}

type pickRow struct {
	PlayerID, Name, Team, Matchup string
	pickCell
}

func (s *Status) serveIndex(w http.ResponseWriter, r *http.Request) {
	date := strings.TrimSpace(r.URL.Query().Get("date"))
	p := indexPage{layoutData: layoutData{Title: "tipoff batches", Now: s.cfg.NowFunc()}, Date: date}
	l, err := s.ListBatches(r.Context(), batch.ListOptions{Date: date})
	switch {
	case errors.Is(err, batch.ErrInvalid):
		w.WriteHeader(http.StatusBadRequest)
		p.Problem = err.Error()
	case err != nil:
		s.writePageError(w, r, err)
		return
	}
	p.Batches = l.Batches
	for _, b := range p.Batches {
		if b.State != batch.Finalized {
			p.Refresh = refreshSeconds
		}
	}
	s.render(w, r, "index", p)
}

func (s *Status) serveBatchPage(w http.ResponseWriter, r *http.Request) {
	p, err := s.batchPage(r.Context(), r.PathValue("id"), r.URL.Query().Get("after"))
	if err != nil {
		s.writePageError(w, r, err)
		return
	}
	s.render(w, r, "batch", p)
}

// batchPage gathers one batch's page: the report, up to pageLimit players
// after the given ID, the completion chart and the picks.
func (s *Status) batchPage(ctx context.Context, id, after string) (*batchPage, error) {
	// The page reads every item anyway (for the chart): the report need not
	// read the failed ones first.
	rep, pub, err := s.report(ctx, id, false)
	if err != nil {
		return nil, err
	}
	b := rep.Batch
	p := &batchPage{layoutData: layoutData{Title: b.Key.Date + " " + b.Key.Run + " · tipoff", Now: rep.CheckedAt},
		Report: rep, Policy: b.Policy.WithDefaults(), From: after, Pub: rep.Publication, System: s.cfg.PickSystem}
	if b.State != batch.Finalized {
		p.Refresh = refreshSeconds
	}
	v, err := s.itemView(ctx, b.Batch, after)
	if err != nil {
		return nil, err
	}
	p.Players, p.PlayerRows, p.After, p.Chart = v.Players, v.PlayerRows, v.After, v.Chart
	p.Report.Failed = v.Failed
	prelim := v.Prelim
	if pub != nil {
		p.Picks, p.PicksOf = publishedPicks(pub, s.cfg.PickSystem), "published"
	}
	if p.PicksOf == "" && len(prelim) > 0 {
		p.Picks, p.PicksOf = prelim, "preliminary"
	}
	return p, nil
}

// requestHead is the part of a prediction request a page shows.
type requestHead struct {
	PlayerName string `json:"player_name"`
	Team       string `json:"team"`
	Opponent   string `json:"opponent"`
	Home       bool   `json:"home"`
}

// readHead reads a request's head fields, stopping once it has them: they
// come before the player's game history, which is most of the request. A
// request that does not decode gives what was read before the problem.
func readHead(body []byte) requestHead {
	var h requestHead
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return h
	}
	for found := 0; found < 4 && dec.More(); {
		t, err := dec.Token()
		if err != nil {
			return h
		}
		var dst any
		switch t {
		case "player_name":
			dst = &h.PlayerName
		case "team":
			dst = &h.Team
		case "opponent":
			dst = &h.Opponent
		case "home":
			dst = &h.Home
		default:
			var skip json.RawMessage
			dst = &skip
			found--
		}
		if dec.Decode(dst) != nil {
			return h
		}
		found++
	}
	return h
}

// resultPicks is the part of a prediction result a page shows.
type resultPicks struct {
	Predictions []predict.Prediction `json:"predictions"`
}

func matchup(opp string, home bool) string {
	if opp == "" {
		return ""
	}
	if home {
		return "vs " + opp
	}
	return "@ " + opp
}

// playerRow turns an item into a table row. Payloads that do not decode
// leave their columns empty: the page still shows the item.
func (s *Status) playerRow(it batch.Item) playerRow {
	row := playerRow{ID: it.ID, Outcome: it.Outcome, Attempts: it.Attempts, PublishedAt: it.PublishedAt,
		CompletedAt: it.CompletedAt, Error: it.Error, Took: "–"}
	head := readHead(it.Request)
	row.Name, row.Team, row.Matchup = head.PlayerName, head.Team, matchup(head.Opponent, head.Home)
	if !it.CompletedAt.IsZero() && !it.PublishedAt.IsZero() && !it.CompletedAt.Before(it.PublishedAt) {
		row.Took = roundDuration(it.CompletedAt.Sub(it.PublishedAt))
	}
	if it.Outcome == batch.OutcomeSucceeded && len(it.Result) > 0 {
		var res resultPicks
		if json.Unmarshal(it.Result, &res) == nil {
			for _, pr := range res.Predictions {
				if pr.System == s.cfg.PickSystem && pr.LineOffset == 0 {
					c := newPickCell(pr)
					row.Pick = &c
					break
				}
			}
		}
	}
	return row
}

// publishedPicks returns the publication's OVER/UNDER picks of system at
// base lines, highest expected value at the offered price first.
func publishedPicks(pub *predict.Publication, system string) []pickRow {
	top := pub.TopPicks(system, len(pub.Players))
	rows := make([]pickRow, len(top))
	for i, tp := range top {
		pr := tp.Prediction
		rows[i] = pickRow{PlayerID: tp.Player.PlayerID, Name: tp.Player.Name, Team: tp.Player.Team,
			Matchup:  matchup(tp.Player.Opponent, tp.Player.Home),
			pickCell: newPickCell(pr)}
	}
	return rows
}

func sortPicks(rows []pickRow) {
	slices.SortStableFunc(rows, func(a, b pickRow) int {
		if c := cmp.Compare(b.EV, a.EV); c != 0 {
			return c
		}
		if c := cmp.Compare(b.PSide, a.PSide); c != 0 {
			return c
		}
		return cmp.Compare(a.PlayerID, b.PlayerID)
	})
}

// chart is the completion-over-time chart: how many players had an outcome
// at each moment since the batch was created, drawn as an SVG polyline.
type chart struct {
	Width, Height           int
	Left, Top, PlotW, PlotH int
	Points                  string // polyline points in SVG coordinates
	Total                   int
	Done                    int
	Span                    string // time from creation to the chart's end
	Start, End              time.Time
	Empty                   bool
	DeadlineX               float64 // x of the deadline line; 0 when off the chart
}

// maxChartPoints bounds the polyline's points, so a large batch does not
// make a large page.
const maxChartPoints = 400

// completionChart draws the cumulative count of outcomes from the batch's
// creation to its finalize (or now, while it runs).
func completionChart(b batch.Batch, items []batch.Item, now time.Time) chart {
	c := chart{Width: 720, Height: 220, Left: 48, Top: 12, PlotW: 656, PlotH: 176, Total: b.Total, Start: b.CreatedAt}
	var times []time.Time
	for _, it := range items {
		if it.Outcome != batch.OutcomeNone && !it.CompletedAt.IsZero() {
			times = append(times, it.CompletedAt)
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	c.Done = len(times)
	end := now
	if !b.FinalizedAt.IsZero() {
		end = b.FinalizedAt
	}
	if n := len(times); n > 0 && times[n-1].After(end) {
		end = times[n-1]
	}
	c.End = end
	span := end.Sub(b.CreatedAt)
	c.Span = roundDuration(span)
	if len(times) == 0 || span <= 0 || b.Total == 0 {
		c.Empty = true
		return c
	}
	x := func(t time.Time) float64 {
		return float64(c.Left) + float64(c.PlotW)*float64(t.Sub(b.CreatedAt))/float64(span)
	}
	y := func(n int) float64 {
		return float64(c.Top+c.PlotH) - float64(c.PlotH)*float64(n)/float64(b.Total)
	}
	step := max(1, (len(times)+maxChartPoints-1)/maxChartPoints)
	var sb strings.Builder
	fmt.Fprintf(&sb, "%.1f,%.1f", x(b.CreatedAt), y(0))
	for i := 0; i < len(times); i += step {
		fmt.Fprintf(&sb, " %.1f,%.1f", x(times[i]), y(i+1))
	}
	if (len(times)-1)%step != 0 {
		fmt.Fprintf(&sb, " %.1f,%.1f", x(times[len(times)-1]), y(len(times)))
	}
	fmt.Fprintf(&sb, " %.1f,%.1f", x(end), y(len(times)))
	c.Points = sb.String()
	if !b.Deadline.IsZero() && !b.Deadline.After(end) {
		c.DeadlineX = x(b.Deadline)
	}
	return c
}

// render executes a page into a buffer first, so a template error becomes a
// clean 500 rather than half a page.
func (s *Status) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	var buf bytes.Buffer
	t, err := page(name)
	if err == nil {
		err = t.ExecuteTemplate(&buf, "layout.html", data)
	}
	if err != nil {
		s.log.Error("render status page", "page", name, "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(buf.Bytes())
	logUndelivered(s.log, r, err)
}

type errorPage struct {
	layoutData
	Code    int
	Message string
}

// writePageError renders an error page with the status errorStatus
// gives; a 500 shows only "internal error" and logs the details.
func (s *Status) writePageError(w http.ResponseWriter, r *http.Request, err error) {
	code := errorStatus(err)
	msg := err.Error()
	if code == http.StatusInternalServerError {
		logFailed(s.log, r, "status page failed", err)
		msg = "internal error"
	}
	var buf bytes.Buffer
	p := errorPage{layoutData: layoutData{Title: http.StatusText(code) + " · tipoff", Now: s.cfg.NowFunc()}, Code: code, Message: msg}
	t, terr := page("error")
	if terr == nil {
		terr = t.ExecuteTemplate(&buf, "layout.html", p)
	}
	if terr != nil {
		http.Error(w, msg, code)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, werr := w.Write(buf.Bytes())
	logUndelivered(s.log, r, werr)
}
