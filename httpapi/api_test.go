package httpapi_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"tipoff/batch"
	"tipoff/httpapi"
	"tipoff/predict"
)

// A running batch with successes, failures, a time-out and players still
// waiting reports each of them, and what is stuck; finalized, it reports its
// publication.
func TestStatus_Batch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ps := players(t, 10)
	pol := batch.Policy{ItemTimeout: 2 * time.Minute, MinSuccessRatio: 0.5}
	b := e.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, pol, t0)
	for i, p := range ps[:5] {
		e.record(t, b.ID, p, batch.OutcomeSucceeded, t0.Add(time.Duration(10+i)*time.Second))
	}
	e.record(t, b.ID, ps[5], batch.OutcomeFailed, t0.Add(20*time.Second))
	e.record(t, b.ID, ps[6], batch.OutcomeTimedOut, t0.Add(30*time.Second))
	e.clk.Set(t0.Add(10 * time.Minute))
	srv := e.server(t)

	var rep httpapi.BatchReport
	getJSON(t, srv.URL+"/api/batches/"+b.ID, &rep)
	if rep.Batch.ID != b.ID || rep.Batch.State != batch.Running || rep.Batch.Done != 7 || rep.Batch.Remaining != 3 || rep.Batch.Total != 10 {
		t.Errorf("batch: got id %s state %s done %d remaining %d total %d, want %s running 7 3 10",
			rep.Batch.ID, rep.Batch.State, rep.Batch.Done, rep.Batch.Remaining, rep.Batch.Total, b.ID)
	}
	if want := (batch.Counts{Succeeded: 5, Failed: 1, TimedOut: 1}); rep.Batch.Counts != want {
		t.Errorf("counts: got %+v, want %+v", rep.Batch.Counts, want)
	}
	if rep.TraceID != "trace-daily" {
		t.Errorf("trace id: got %q, want %q", rep.TraceID, "trace-daily")
	}
	wantMissing := []string{ps[7].ID, ps[8].ID, ps[9].ID}
	slices.Sort(wantMissing)
	if diff := cmp.Diff(wantMissing, rep.Missing); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}
	gotFailed := map[string]httpapi.ItemProblem{}
	for _, f := range rep.Failed {
		gotFailed[f.ID] = f
	}
	if len(rep.Failed) != 2 || gotFailed[ps[5].ID].Outcome != batch.OutcomeFailed || gotFailed[ps[6].ID].Outcome != batch.OutcomeTimedOut ||
		!strings.Contains(gotFailed[ps[5].ID].Error, ps[5].ID) || gotFailed[ps[6].ID].Error == "" {
		t.Errorf("failed: got %+v, want %s failed and %s timed out, each with its error", rep.Failed, ps[5].ID, ps[6].ID)
	}
	if len(rep.Stuck) != 3 {
		t.Fatalf("stuck: got %+v, want the 3 players without an outcome", rep.Stuck)
	}
	for i, s := range rep.Stuck {
		// Published at t0+1s, checked at t0+10m.
		if s.ID != wantMissing[i] || s.Reason != httpapi.StuckOverdue || s.Attempts != 1 || s.WaitSeconds != 599 {
			t.Errorf("stuck[%d]: got %+v, want %s overdue after 1 attempt for 599 s", i, s, wantMissing[i])
		}
	}
	if !rep.PublicationChecked || rep.Publication != nil || rep.Finalize.Attempts != 0 {
		t.Errorf("before finalize: got publication checked %v, %+v, %d finalize attempts; want checked, none, 0",
			rep.PublicationChecked, rep.Publication, rep.Finalize.Attempts)
	}

	// Within the item timeout nothing is stuck.
	e.clk.Set(t0.Add(time.Minute))
	getJSON(t, srv.URL+"/api/batches/"+b.ID, &rep)
	if len(rep.Stuck) != 0 {
		t.Errorf("stuck a minute in: got %+v, want none", rep.Stuck)
	}

	for _, p := range ps[7:] {
		e.record(t, b.ID, p, batch.OutcomeSucceeded, t0.Add(11*time.Minute))
	}
	fin := e.finalize(t, b.ID, t0.Add(12*time.Minute))
	e.clk.Set(t0.Add(13 * time.Minute))
	getJSON(t, srv.URL+"/api/batches/"+b.ID, &rep)
	if rep.Batch.State != batch.Finalized || rep.Batch.Result != batch.ResultPartial || rep.Finalize.Attempts != 1 ||
		!rep.Finalize.FinalizedAt.Equal(fin.FinalizedAt) || len(rep.Stuck) != 0 || len(rep.Missing) != 0 {
		t.Errorf("finalized: got %s %s, %d attempts at %v, stuck %v, missing %v; want finalized partial, 1 attempt at %v, nothing stuck or missing",
			rep.Batch.State, rep.Batch.Result, rep.Finalize.Attempts, rep.Finalize.FinalizedAt, rep.Stuck, rep.Missing, fin.FinalizedAt)
	}
	pub, err := e.db.Published(t.Context(), predict.MustParseDate(gameDate))
	if err != nil {
		t.Fatal(err)
	}
	want := &httpapi.PublicationReport{Date: gameDate, BatchID: b.ID, Run: "daily", Result: batch.ResultPartial,
		BatchAt: b.CreatedAt, PublishedAt: t0.Add(12 * time.Minute), Players: 8, Predictions: pub.Count(), ThisBatch: true}
	if diff := cmp.Diff(want, rep.Publication); diff != "" {
		t.Errorf("publication (-want +got):\n%s", diff)
	}
	if pub.Count() < 8 {
		t.Errorf("published %d predictions, want at least one per succeeded player", pub.Count())
	}
}

// Items never dispatched an item timeout after the batch was created are
// stuck too: the outbox was not drained.
func TestStatus_Batch_Undispatched(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ps := players(t, 3)
	spec := batch.Spec{Key: batch.Key{Date: gameDate, Run: "outbox"}, Items: []batch.NewItem{{ID: ps[0].ID, Request: ps[0].Request}, {ID: ps[1].ID, Request: ps[1].Request}}}
	b, _, err := e.store.CreateBatch(t.Context(), "b-outbox", spec, t0)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Set(t0.Add(time.Minute))
	rep, err := e.status.Batch(t.Context(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Stuck) != 0 {
		t.Errorf("within the item timeout: got stuck %+v, want none", rep.Stuck)
	}
	e.clk.Set(t0.Add(5 * time.Minute))
	rep, err = e.status.Batch(t.Context(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Stuck) != 2 || rep.Stuck[0].Reason != httpapi.StuckUndispatched || rep.Stuck[0].Attempts != 0 || rep.Stuck[0].WaitSeconds != 300 {
		t.Errorf("after 5 min: got stuck %+v, want both items undispatched for 300 s", rep.Stuck)
	}
}

func TestStatus_API_List(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ps := players(t, 4)
	old := e.create(t, batch.Key{Date: "2026-01-14", Run: "daily"}, ps[:2], batch.Policy{}, t0.Add(-24*time.Hour))
	a := e.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{}, t0)
	c := e.create(t, batch.Key{Date: gameDate, Run: "rerun"}, ps[:3], batch.Policy{}, t0.Add(time.Hour))
	e.record(t, a.ID, ps[0], batch.OutcomeSucceeded, t0.Add(time.Minute))
	srv := e.server(t)

	ids := func(l httpapi.BatchList) []string {
		var out []string
		for _, b := range l.Batches {
			out = append(out, b.ID)
		}
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{c.ID, a.ID, old.ID}},
		{"?date=" + gameDate, []string{c.ID, a.ID}},
		{"?date=" + gameDate + "&run=daily", []string{a.ID}},
		{"?limit=1", []string{c.ID}},
		{"?state=finalized", nil},
	}
	for _, tt := range tests {
		var l httpapi.BatchList
		getJSON(t, srv.URL+"/api/batches"+tt.query, &l)
		if diff := cmp.Diff(tt.want, ids(l)); diff != "" {
			t.Errorf("GET /api/batches%s (-want +got):\n%s", tt.query, diff)
		}
	}
	var l httpapi.BatchList
	getJSON(t, srv.URL+"/api/batches?date="+gameDate+"&run=daily", &l)
	if got := l.Batches[0]; got.Done != 1 || got.Remaining != 3 || got.Percent != 25 {
		t.Errorf("summary: got done %d remaining %d percent %v, want 1 3 25", got.Done, got.Remaining, got.Percent)
	}
}

// Bad requests get a 400 naming what was wrong; unknown batches a 404; the
// body is always JSON.
func TestStatus_API_Errors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.server(t)
	tests := []struct {
		path     string
		code     int
		mentions string
	}{
		{"/api/batches?date=2026-13-01", http.StatusBadRequest, `"2026-13-01"`},
		{"/api/batches?limit=0", http.StatusBadRequest, "limit"},
		{"/api/batches?limit=x", http.StatusBadRequest, `"x"`},
		{"/api/batches?state=done", http.StatusBadRequest, `"done"`},
		{"/api/batches/no-such-batch", http.StatusNotFound, "no-such-batch"},
	}
	for _, tt := range tests {
		body, code := get(t, srv.URL+tt.path)
		if code != tt.code || !strings.Contains(body, `"error"`) || !strings.Contains(body, strings.ReplaceAll(tt.mentions, `"`, `\"`)) {
			t.Errorf("GET %s: got %d %s, want %d with a JSON error mentioning %s", tt.path, code, body, tt.code, tt.mentions)
		}
	}
}

func TestStatus_API_Queue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.server(t)
	var q httpapi.QueueReport
	getJSON(t, srv.URL+"/api/queue", &q)
	if diff := cmp.Diff(map[string]int{batch.TopicRequests: 0, batch.TopicOutcomes: 0, batch.TopicEvents: 0}, q.DeadLetters); diff != "" {
		t.Errorf("empty queue dead letters (-want +got):\n%s", diff)
	}
	dl := batch.DeadLetterTopic(batch.TopicRequests)
	msgs := []batch.Message{{ID: "a", Body: []byte("{}")}, {ID: "b", Body: []byte("{}")}}
	if err := e.queue.Publish(t.Context(), dl, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := e.queue.Publish(t.Context(), batch.TopicRequests, batch.Message{ID: "c", Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	getJSON(t, srv.URL+"/api/queue", &q)
	if q.DeadLetters[batch.TopicRequests] != 2 || q.DeadLetters[batch.TopicOutcomes] != 0 {
		t.Errorf("dead letters: got %v, want 2 of %s and none of %s", q.DeadLetters, batch.TopicRequests, batch.TopicOutcomes)
	}
	want := []batch.TopicDepth{{Topic: batch.TopicRequests, Ready: 1}, {Topic: dl, Ready: 2}}
	if diff := cmp.Diff(want, q.Topics); diff != "" {
		t.Errorf("topics (-want +got):\n%s", diff)
	}
}

// The client reads the same report over HTTP as Status gives in-process,
// and maps error statuses back onto error kinds.
func TestClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ps := players(t, 5)
	b := e.create(t, batch.Key{Date: gameDate, Run: "daily"}, ps, batch.Policy{}, t0)
	e.record(t, b.ID, ps[0], batch.OutcomeSucceeded, t0.Add(time.Second))
	e.record(t, b.ID, ps[1], batch.OutcomeFailed, t0.Add(time.Second))
	e.clk.Set(t0.Add(time.Hour))
	srv := e.server(t)
	c := &httpapi.Client{BaseURL: srv.URL + "/"}

	want, err := e.status.Batch(t.Context(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Batch(t.Context(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("client report (-status +client):\n%s", diff)
	}
	l, err := c.ListBatches(t.Context(), batch.ListOptions{Date: gameDate, Run: "daily"})
	if err != nil || len(l.Batches) != 1 || l.Batches[0].ID != b.ID {
		t.Errorf("ListBatches: got %+v, %v; want batch %s", l, err, b.ID)
	}
	q, err := c.Queue(t.Context())
	if err != nil || q.DeadLetters == nil {
		t.Errorf("Queue: got %+v, %v; want dead-letter counts", q, err)
	}
	if _, err := c.Batch(t.Context(), "nope"); !errors.Is(err, batch.ErrNotFound) {
		t.Errorf("unknown batch: got %v, want ErrNotFound", err)
	}
	if _, err := c.ListBatches(t.Context(), batch.ListOptions{Date: "15/01/2026"}); !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), "15/01/2026") {
		t.Errorf("bad date: got %v, want ErrInvalid naming the date", err)
	}
	info, err := c.Health(t.Context())
	if err != nil || info.Status != http.StatusNotFound {
		t.Errorf("Health on a server without /health: got %+v, %v; want status 404 and no error", info, err)
	}
	down := &httpapi.Client{BaseURL: "http://127.0.0.1:1"}
	if _, err := down.Health(t.Context()); err == nil {
		t.Error("Health of an unreachable coordinator: got no error")
	}
}

func TestTraceID(t *testing.T) {
	t.Parallel()
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	tests := []struct {
		name   string
		header map[string]string
		want   string
	}{
		{"none", nil, ""},
		{"traceparent", map[string]string{"Traceparent": "00-" + trace + "-00f067aa0ba902b7-01"}, trace},
		{"cloud trace", map[string]string{"X-Cloud-Trace-Context": trace + "/1;o=1"}, trace},
		{"traceparent first", map[string]string{"Traceparent": "00-" + trace + "-00f067aa0ba902b7-01", "X-Request-Id": "r1"}, trace},
		{"request id in trace form", map[string]string{"X-Request-Id": trace}, trace},
		{"request id not in trace form", map[string]string{"X-Request-Id": "req-42:a.b_c"}, ""},
		{"zero trace falls back", map[string]string{"Traceparent": "00-" + strings.Repeat("0", 32) + "-00f067aa0ba902b7-01", "X-Request-Id": trace}, trace},
		{"upper-case hex", map[string]string{"X-Cloud-Trace-Context": strings.ToUpper(trace)}, ""},
		{"short", map[string]string{"Traceparent": "00-abc-def-01"}, ""},
		{"request id with spaces", map[string]string{"X-Request-Id": "a b"}, ""},
		{"request id too long", map[string]string{"X-Request-Id": strings.Repeat("a", 129)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, _ := http.NewRequest(http.MethodPost, "/start", nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if got := httpapi.TraceID(r); got != tt.want {
				t.Errorf("TraceID = %q, want %q", got, tt.want)
			}
		})
	}
}

// TraceID reads untrusted headers: it never panics, and what it returns is
// safe to store and pass on as a message attribute.
func FuzzTraceID(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "", "")
	f.Add("", "4bf92f3577b34da6a3ce929d0e0e4736/1;o=1", "")
	f.Add("", "", "req-1")
	f.Add("00--", "/", "a b")
	safe := regexp.MustCompile(`^([0-9a-f]{32})?$`)
	f.Fuzz(func(t *testing.T, traceparent, cloud, reqID string) {
		r, _ := http.NewRequest(http.MethodPost, "/start", nil)
		r.Header["Traceparent"] = []string{traceparent}
		r.Header["X-Cloud-Trace-Context"] = []string{cloud}
		r.Header["X-Request-Id"] = []string{reqID}
		if got := httpapi.TraceID(r); !safe.MatchString(got) {
			t.Fatalf("TraceID(%q, %q, %q) = %q: neither empty nor 32 lower-case hex digits", traceparent, cloud, reqID, got)
		}
	})
}

// The client decodes whatever a server sends: a report that decodes
// encodes and decodes to the same value.
func FuzzBatchReportJSON(f *testing.F) {
	f.Add([]byte(`{"batch":{"id":"b","key":{"date":"2026-01-15","run":"daily"},"state":"running","total":2,"counts":{"succeeded":1},"done":1,"remaining":1,"percent":50},"missing":["p2"],"failed":[],"stuck":[{"id":"p2","reason":"overdue","attempts":1,"since":"2026-01-15T14:00:01Z","wait_seconds":599}],"finalize":{"attempts":0},"publication_checked":true,"checked_at":"2026-01-15T14:10:00Z"}`))
	f.Add([]byte(`{"batch":{"meta":{"trace_id":"x"}},"export":{"path":"e.json","exists":true}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r httpapi.BatchReport
		if json.Unmarshal(body, &r) != nil {
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("encode a decoded report: %v", err)
		}
		var again httpapi.BatchReport
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("decode %s: %v", out, err)
		}
		// omitempty turns an empty map or list into none, which means the same.
		if diff := cmp.Diff(r, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// GET /api/batches/{id} of a 300-player batch with failures and stuck
// players: the report the health command reads.
func BenchmarkStatusAPI_Batch(b *testing.B) {
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
	e.clk.Set(t0.Add(10 * time.Minute))
	srv := e.server(b)
	url := srv.URL + "/api/batches/" + bt.ID
	for b.Loop() {
		if _, code := get(b, url); code != http.StatusOK {
			b.Fatalf("status %d", code)
		}
	}
}

// Filters and ids that cannot name anything are answered without asking
// the store: a bad run label is 400, an id that is not UTF-8 (or has a
// slash or control character) is 404, and neither is ever a 500.
func TestAPI_ImplausibleInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := httptest.NewServer(e.status.Handler())
	t.Cleanup(srv.Close)
	tests := []struct {
		path string
		want int
		says string
	}{
		{"/api/batches?run=%FF", http.StatusBadRequest, "run"},
		{"/api/batches?run=Daily%20Run", http.StatusBadRequest, "run"},
		{"/api/batches/%FF%FE", http.StatusNotFound, "not found"},
		{"/api/batches/a%00b", http.StatusNotFound, "not found"},
		{"/api/batches/" + strings.Repeat("x", 201), http.StatusNotFound, "not found"},
	}
	for _, tt := range tests {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || !strings.Contains(string(body), tt.says) {
			t.Errorf("GET %s: %d %s; want %d saying %q", tt.path, resp.StatusCode, body, tt.want, tt.says)
		}
	}
}
