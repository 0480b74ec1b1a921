package httpapi_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/httpapi"
	"tipoff/predict"
)

var (
	itemRow    = regexp.MustCompile(`<tr data-item="([^"]+)">`)
	batchRow   = regexp.MustCompile(`<tr data-batch="([^"]+)">`)
	pickRowRE  = regexp.MustCompile(`<td class="pick-(OVER|UNDER)">`)
	refreshTag = `<meta http-equiv="refresh"`
)

func TestStatusPages_Index(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ps := players(t, 6)
	a := e.create(t, batch.Key{Date: gameDate, Run: "early"}, ps[:2], batch.Policy{}, t0.Add(-time.Hour))
	for _, p := range ps[:2] {
		e.record(t, a.ID, p, batch.OutcomeSucceeded, t0.Add(-50*time.Minute))
	}
	e.finalize(t, a.ID, t0.Add(-50*time.Minute))
	c := e.create(t, batch.Key{Date: "2026-01-13", Run: "daily"}, ps[:1], batch.Policy{}, t0.Add(-48*time.Hour))
	srv := e.server(t)

	body, code := get(t, srv.URL+"/")
	if code != http.StatusOK || !strings.Contains(body, a.ID) || !strings.Contains(body, refreshTag) {
		t.Errorf("GET /: got %d, want 200 listing %s, refreshing while %s runs:\n%s", code, a.ID, c.ID, body)
	}
	if _, err := e.store.Cancel(t.Context(), c.ID, "test", batch.Event{ID: "cancel-c", Type: batch.EventCancelled, BatchID: c.ID}, t0); err != nil {
		t.Fatal(err)
	}
	body, _ = get(t, srv.URL+"/")
	if strings.Contains(body, refreshTag) {
		t.Errorf("GET / with only ended batches: want no auto-refresh:\n%s", body)
	}

	b := e.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{}, t0)
	e.record(t, b.ID, ps[0], batch.OutcomeSucceeded, t0.Add(time.Minute))
	body, _ = get(t, srv.URL+"/")
	rows := batchRow.FindAllStringSubmatch(body, -1)
	if len(rows) != 3 || rows[0][1] != b.ID || rows[1][1] != a.ID || rows[2][1] != c.ID {
		t.Errorf("GET /: got rows %v, want %s, %s, %s", rows, b.ID, a.ID, c.ID)
	}
	if !strings.Contains(body, refreshTag) || !strings.Contains(body, "1/6 (16.7%)") {
		t.Errorf("GET / with a running batch: want auto-refresh and progress 1/6 (16.7%%):\n%s", body)
	}

	body, _ = get(t, srv.URL+"/?date=2026-01-13")
	if rows := batchRow.FindAllStringSubmatch(body, -1); len(rows) != 1 || rows[0][1] != c.ID {
		t.Errorf("GET /?date=2026-01-13: got rows %v, want only %s", rows, c.ID)
	}
	body, code = get(t, srv.URL+"/?date=yesterday")
	if code != http.StatusBadRequest || !strings.Contains(body, "&#34;yesterday&#34;") {
		t.Errorf("GET /?date=yesterday: got %d, want 400 naming the date:\n%s", code, body)
	}
}

func TestStatusPages_Batch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ps := players(t, 12)
	b := e.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{MinSuccessRatio: 0.5}, t0)
	for i, p := range ps[:8] {
		e.record(t, b.ID, p, batch.OutcomeSucceeded, t0.Add(time.Duration(i+2)*time.Second))
	}
	e.record(t, b.ID, ps[8], batch.OutcomeFailed, t0.Add(15*time.Second))
	e.clk.Set(t0.Add(time.Minute))
	srv := e.server(t)

	body, code := get(t, srv.URL+"/batches/"+b.ID)
	if code != http.StatusOK {
		t.Fatalf("GET batch page: %d\n%s", code, body)
	}
	rows := itemRow.FindAllStringSubmatch(body, -1)
	if len(rows) != len(ps) {
		t.Errorf("player rows: got %d, want %d", len(rows), len(ps))
	}
	for _, want := range []string{
		refreshTag, `<strong id="done">9 / 12</strong>`, "<polyline points=", ps[0].Name,
		"permanent: request of " + ps[8].ID, "Picks so far (not published yet)", `<span class="badge pending">pending</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("running batch page lacks %q", want)
		}
	}
	prelim := len(pickRowRE.FindAllString(body, -1))
	if prelim == 0 {
		t.Errorf("running batch page: no OVER/UNDER picks from the 8 players done")
	}

	for _, p := range ps[9:] {
		e.record(t, b.ID, p, batch.OutcomeSucceeded, t0.Add(20*time.Second))
	}
	e.finalize(t, b.ID, t0.Add(21*time.Second))
	body, _ = get(t, srv.URL+"/batches/"+b.ID)
	if strings.Contains(body, refreshTag) || strings.Contains(body, "not published yet") || !strings.Contains(body, "this batch's") {
		t.Errorf("finalized batch page: want no refresh, the published picks of this batch:\n%s", body)
	}
	pub, err := e.db.Published(t.Context(), predict.MustParseDate(gameDate))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(pickRowRE.FindAllString(body, -1)), len(pub.TopPicks("ensemble", 1000)); got != want {
		t.Errorf("published picks rows: got %d, want %d (the ensemble's OVER/UNDER picks)", got, want)
	}
	// Each pick shows its calibrated P(over), side, price, book and
	// expected value; no column claims a "confidence".
	top := pub.TopPicks("ensemble", 1000)
	if len(top) == 0 {
		t.Fatal("no published picks: the columns are not checked")
	}
	for _, tp := range top {
		pr := tp.Prediction
		want := strings.ReplaceAll(fmt.Sprintf(`<td class="n">%.1f%%</td><td>%s</td><td class="n">%+d</td><td>%s</td><td class="n">%+.3f</td><td class="pick-%s">`,
			100*pr.POver, pr.Side, pr.Price, pr.PriceBook, pr.EV, pr.Pick), "+", "&#43;")
		if pr.Price == 0 || !strings.Contains(body, want) {
			t.Errorf("picks table lacks %s's P(over), side, price, book and EV %q", tp.Player.Name, want)
		}
	}
	for _, h := range []string{"<th class=\"n\">P(over)</th>", "<th>Book</th>", "<th class=\"n\">EV</th>"} {
		if !strings.Contains(body, h) {
			t.Errorf("picks table lacks the header %s", h)
		}
	}
	if strings.Contains(strings.ToLower(body), "confidence") {
		t.Error("the batch page still shows a confidence")
	}

	body, code = get(t, srv.URL+"/batches/no-such-batch")
	if code != http.StatusNotFound || !strings.Contains(body, "no-such-batch") {
		t.Errorf("unknown batch page: got %d, want 404 naming it:\n%s", code, body)
	}
}

// A newer run that failed keeps its own record; its page says its result
// and that it is not the live publication, naming the batch that is.
func TestStatusPages_BatchNotLive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ps := players(t, 4)
	good := e.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{}, t0)
	for _, p := range ps {
		e.record(t, good.ID, p, batch.OutcomeSucceeded, t0.Add(time.Second))
	}
	e.finalize(t, good.ID, t0.Add(2*time.Second))
	bad := e.create(t, batch.Key{Date: gameDate, Run: "second"}, ps, batch.Policy{}, t0.Add(time.Minute))
	for _, p := range ps {
		e.record(t, bad.ID, p, batch.OutcomeFailed, t0.Add(time.Minute+time.Second))
	}
	e.finalize(t, bad.ID, t0.Add(time.Minute+2*time.Second))
	srv := e.server(t)

	body, _ := get(t, srv.URL+"/batches/"+bad.ID)
	if !strings.Contains(body, "not live (failed)") || !strings.Contains(body, "the live picks are batch <a href=\"/batches/"+good.ID+"\">"+good.ID+"</a> (daily, succeeded)") {
		t.Errorf("failed batch page: want it not live, naming %s as the live picks:\n%s", good.ID, body)
	}
	body, _ = get(t, srv.URL+"/batches/"+good.ID)
	if !strings.Contains(body, "live: this batch's") {
		t.Errorf("good batch page: want it live:\n%s", body)
	}
	var rep httpapi.BatchReport
	getJSON(t, srv.URL+"/api/batches/"+bad.ID, &rep)
	if rep.Publication == nil || rep.Publication.ThisBatch || rep.Publication.BatchID != good.ID || rep.Batch.Result != batch.ResultFailed {
		t.Errorf("GET /api/batches/%s: publication %+v; want %s's, not this batch's", bad.ID, rep.Publication, good.ID)
	}
}

// One batch's page at 300 players, 250 of them done.
func BenchmarkStatusPages_Batch(b *testing.B) {
	e := newEnv(b)
	ps := manyPlayers(b, 300)
	bt := e.create(b, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{}, t0)
	for i, p := range ps[:250] {
		o := batch.OutcomeSucceeded
		if i%50 == 0 {
			o = batch.OutcomeFailed
		}
		e.record(b, bt.ID, p, o, t0.Add(time.Duration(i)*100*time.Millisecond))
	}
	e.clk.Set(t0.Add(time.Minute))
	srv := e.server(b)
	url := srv.URL + "/batches/" + bt.ID
	for b.Loop() {
		if _, code := get(b, url); code != http.StatusOK {
			b.Fatalf("status %d", code)
		}
	}
}

// The index with 30 days of 300-player batches.
func BenchmarkStatusPages_Index(b *testing.B) {
	e := newEnv(b)
	ps := manyPlayers(b, 300)
	for d := range 30 {
		at := t0.Add(time.Duration(d-30) * 24 * time.Hour)
		bt := e.create(b, batch.Key{Date: at.Format(time.DateOnly), Run: "daily"}, ps, batch.Policy{}, at)
		for _, p := range ps[:100] {
			e.record(b, bt.ID, p, batch.OutcomeSucceeded, at.Add(time.Minute))
		}
	}
	srv := e.server(b)
	for b.Loop() {
		if _, code := get(b, srv.URL+"/"); code != http.StatusOK {
			b.Fatalf("status %d", code)
		}
	}
}
