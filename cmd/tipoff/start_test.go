package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/dataimport"
	"tipoff/httpapi"
	"tipoff/pipeline"
	"tipoff/predict"
)

// startCase is one request to POST /start and what both shapes answer.
type startCase struct {
	name    string
	body    string
	headers map[string]string
	status  int
	created bool   // for 202: a new batch
	errHas  string // for an error: a word the message names
}

// The embedded and cloud shapes serve POST /start with one implementation:
// the same requests get the same statuses, the same keys and counts, and
// the same errors.
func TestStart_SameAnswersBothShapes(t *testing.T) {
	t.Parallel()
	league, err := dataimport.Synthetic(4, dataimport.SyntheticOptions{From: predict.MustParseDate("2025-10-21"),
		To: predict.MustParseDate("2025-11-20"), Teams: 6})
	if err != nil {
		t.Fatal(err)
	}
	date := league.BusiestDate(predict.MustParseDate("2025-11-10"), 0).String()
	off := ""
	for d := predict.MustParseDate("2025-10-22"); off == "" && d < predict.MustParseDate("2025-11-20"); d = d.AddDays(1) {
		if len(league.GamesOn(d)) == 0 {
			off = d.String()
		}
	}
	if off == "" {
		t.Fatal("the synthetic league has no day without games")
	}
	cases := []startCase{
		{name: "new", body: `{"date":"` + date + `","run":"a"}`, status: http.StatusAccepted, created: true},
		{name: "again", body: `{"date":"` + date + `","run":"a","options":{"max_attempts":9}}`, status: http.StatusAccepted},
		{name: "with options", body: `{"date":"` + date + `","run":"b","options":{"lines":[1],"max_attempts":2,"deadline":"1h"}}`,
			status: http.StatusAccepted, created: true},
		{name: "no games", body: `{"date":"` + off + `","run":"a"}`, status: http.StatusOK, created: true},
		{name: "no games again", body: `{"date":"` + off + `","run":"a"}`, status: http.StatusOK},
		{name: "before the schedule", body: `{"date":"2025-07-04","run":"a"}`, status: http.StatusNotFound, errHas: "no schedule for 2025-07-04"},
		{name: "not JSON", body: `date=2025-12-01`, status: http.StatusBadRequest, errHas: "JSON"},
		{name: "unknown field", body: `{"date":"` + date + `","runn":"a"}`, status: http.StatusBadRequest, errHas: "runn"},
		{name: "trailing data", body: `{"date":"` + date + `"} {}`, status: http.StatusBadRequest, errHas: "after the JSON"},
		{name: "bad date and label", body: `{"date":"2025-02-30","run":"Bad Label"}`, status: http.StatusBadRequest, errHas: "run"},
		{name: "bad options", body: `{"options":{"min_games":-1,"deadline":"forever"}}`, status: http.StatusBadRequest, errHas: "deadline"},
		{name: "bad schedule time", body: ``, headers: map[string]string{"X-CloudScheduler-ScheduleTime": "yesterday"},
			status: http.StatusBadRequest, errHas: "X-CloudScheduler-ScheduleTime"},
		{name: "another origin", body: `{"date":"` + date + `","run":"c"}`, headers: map[string]string{"Origin": "http://evil.example"},
			status: http.StatusForbidden, errHas: "origin"},
		{name: "form", body: `date=2025-12-01`, headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			status: http.StatusUnsupportedMediaType, errHas: "want application/json"},
		{name: "too large", body: `{"run":"` + strings.Repeat("x", 70<<10) + `"}`, status: http.StatusRequestEntityTooLarge},
	}

	// The embedded shape reads the league from its file; the cloud shape
	// from a SQLite file at its data path.
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.DB, cfg.ExportDir = filepath.Join(dir, "tipoff.db"), filepath.Join(dir, "exports")
	pc := predictConfig{Books: predict.DefaultBooks, MinGames: 3, MinMinutes: 12}
	emb, err := openEmbedded(t.Context(), cfg, pc.settings(cfg), nil, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb.Close() })
	if err := emb.db.ImportDataset(t.Context(), league); err != nil {
		t.Fatal(err)
	}
	embedded := httptest.NewServer(emb.handler(nil))
	t.Cleanup(embedded.Close)
	got := map[string][]string{"embedded": answers(t, embedded.URL, cases)}

	batchtest.RequireEnv(t, "FIRESTORE_EMULATOR_HOST")
	batchtest.RequireEnv(t, "PUBSUB_EMULATOR_HOST")
	dataPath := leagueFile(t, league)
	project := batchtest.UniqueID(t)
	cc := &cloudConfig{Project: project, FirestorePrefix: "tipoff", PubsubSetup: true, GuardConfig: httpapi.GuardConfig{NoAuth: true}}
	cl, err := openCloud(t.Context(), cfg, cc, pc.settings(cfg), dataPath, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	cloudSrv := httptest.NewServer(cl.handler(httpapi.Guards{}))
	t.Cleanup(cloudSrv.Close)
	got["cloud"] = answers(t, cloudSrv.URL, cases)

	for i, c := range cases {
		if got["embedded"][i] != got["cloud"][i] {
			t.Errorf("%s: the shapes answer differently:\nembedded: %s\ncloud:    %s", c.name, got["embedded"][i], got["cloud"][i])
		}
	}
}

// answers sends the cases in order to base/start, checks each against its
// expectation, and returns each answer in a comparable form: the status
// with the key, created flag, total and state of a 202, or the error text.
func answers(t *testing.T, base string, cases []startCase) []string {
	t.Helper()
	var out []string
	for _, c := range cases {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/start", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range c.headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: status %d (%s), want %d", base, c.name, resp.StatusCode, body, c.status)
		}
		var a string
		if resp.StatusCode == http.StatusOK {
			var r httpapi.StartResponse
			if err := json.Unmarshal(body, &r); err != nil || r.BatchID == "" || r.Created != c.created || r.Total != 0 ||
				r.State != batch.Finalized || !strings.HasPrefix(r.NoItems, "no games scheduled on ") {
				t.Errorf("%s %s: 200 body %s, %v; want a finalized batch with no items saying no games, created %v", base, c.name, body, err, c.created)
			}
			a = fmt.Sprintf("200 %v %s created=%v players=%d %s", r.Key, r.State, r.Created, r.Total, r.NoItems)
		} else if resp.StatusCode == http.StatusAccepted {
			var r httpapi.StartResponse
			if err := json.Unmarshal(body, &r); err != nil || r.BatchID == "" || r.Status != "/api/batches/"+r.BatchID || r.TraceID == "" {
				t.Errorf("%s %s: 202 body %s, %v; want a start response", base, c.name, body, err)
			}
			if r.Created != c.created || r.Total == 0 {
				t.Errorf("%s %s: created %v with %d players, want created %v and players", base, c.name, r.Created, r.Total, c.created)
			}
			a = fmt.Sprintf("202 %v %s created=%v players=%d", r.Key, r.State, r.Created, r.Total)
		} else {
			a = resp.Status + " " + string(bytes.TrimSpace(body))
			if c.errHas != "" && !strings.Contains(a, c.errHas) {
				t.Errorf("%s %s: %s; want it to name %q", base, c.name, a, c.errHas)
			}
		}
		out = append(out, a)
	}
	return out
}

// A cloud coordinator whose data is a CSV directory reads and parses it
// once per version of its files: checking the version at start reads no
// data, a second new batch on unchanged files (another run label) reads
// none, a start of an existing batch reads none, and a new batch after
// the files change reads the new data. /health says what it found.
func TestCloud_CSVDataReadOncePerVersion(t *testing.T) {
	t.Parallel()
	batchtest.RequireEnv(t, "FIRESTORE_EMULATOR_HOST")
	batchtest.RequireEnv(t, "PUBSUB_EMULATOR_HOST")
	synthetic := func(seed int64) *predict.Dataset {
		league, err := dataimport.Synthetic(seed, dataimport.SyntheticOptions{From: predict.MustParseDate("2025-10-21"),
			To: predict.MustParseDate("2025-12-31"), Teams: 4})
		if err != nil {
			t.Fatal(err)
		}
		return league
	}
	league, other := synthetic(7), synthetic(8)
	dir := t.TempDir()
	if err := dataimport.WriteDir(dir, league); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	cfg := DefaultConfig()
	pc := predictConfig{Books: predict.DefaultBooks, MinGames: 3, MinMinutes: 12}
	cc := &cloudConfig{Project: batchtest.UniqueID(t), FirestorePrefix: "tipoff", PubsubSetup: true, GuardConfig: httpapi.GuardConfig{NoAuth: true}, Pull: true}
	cl, err := openCloud(t.Context(), cfg, cc, pc.settings(cfg), dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	srv := httptest.NewServer(cl.handler(httpapi.Guards{}))
	t.Cleanup(srv.Close)
	loads := func() int { return strings.Count(logs.String(), `msg="data loaded"`) }
	start := func(date predict.Date, run string, wantCreated bool) httpapi.StartResponse {
		t.Helper()
		code, body := postWith(t, srv.URL+"/start", "", []byte(`{"date":"`+date.String()+`","run":"`+run+`"}`), jsonType)
		var r httpapi.StartResponse
		if err := json.Unmarshal([]byte(body), &r); err != nil || code != http.StatusAccepted || r.Created != wantCreated {
			t.Fatalf("start %s %s: %d %s; want 202 with created %v", date, run, code, body, wantCreated)
		}
		return r
	}
	health := func() pipeline.DataInfo {
		t.Helper()
		code, body := getBody(t, srv.URL+"/health", "")
		var rep httpapi.HealthReport
		if err := json.Unmarshal([]byte(body), &rep); err != nil || code != http.StatusOK || rep.Data == nil {
			t.Fatalf("health: %d %s", code, body)
		}
		return *rep.Data
	}

	// What the coordinator does at start: check the version, read nothing.
	if err := cl.data.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := health(); got.Path != dir || got.Source == "" || got.Version != "" || !got.LoadedAt.IsZero() || loads() != 0 {
		t.Fatalf("after the check at start: %+v, %d loads; want the source version and no data read", got, loads())
	}
	day := league.BusiestDate(predict.MustParseDate("2025-12-01"), 0)
	start(day, "a", true)
	start(day, "b", true)
	if n := loads(); n != 1 {
		t.Fatalf("two new batches on unchanged files read the data %d times, want once", n)
	}
	checked := cl.data.Info().CheckedAt
	start(day, "a", false)
	if got := cl.data.Info(); loads() != 1 || !got.CheckedAt.Equal(checked) {
		t.Fatalf("a start of an existing batch touched the data: %d loads (want 1), checked at %v (was %v)", loads(), got.CheckedAt, checked)
	}
	if got := health(); got.Version != league.Version() || got.LoadedAt.IsZero() || got.Changed || got.Problem != "" {
		t.Fatalf("health after the loads: %+v, want version %s", got, league.Version())
	}

	source := health().Source
	if err := dataimport.WriteDir(dir, other); err != nil {
		t.Fatal(err)
	}
	r := start(other.BusiestDate(predict.MustParseDate("2025-12-01"), 0), "c", true)
	b, err := cl.store.GetBatch(t.Context(), r.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	if got := health(); loads() != 2 || b.Meta["data_version"] != other.Version() || got.Version != other.Version() || got.Source == source {
		t.Fatalf("a new batch after the files changed: %d loads (want 2), batch on data %s, health %+v; want data %s",
			loads(), b.Meta["data_version"], got, other.Version())
	}
}
