package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/httpapi"
	"tipoff/pipeline"
)

// The metrics listener answers without a token, so it may listen on
// loopback only unless that is explicitly waived.
func TestCheckMetricsAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr     string
		allowAny bool
		ok       bool
	}{
		{"127.0.0.1:9464", false, true},
		{"localhost:9464", false, true},
		{"[::1]:9464", false, true},
		{"127.0.0.1:0", false, true},
		{":9464", false, false},
		{"0.0.0.0:9464", false, false},
		{"[::]:9464", false, false},
		{"10.1.2.3:9464", false, false},
		{"metrics.internal:9464", false, false},
		{":9464", true, true},
		{"0.0.0.0:9464", true, true},
		{"9464", true, false},
		{"", false, false},
	}
	for _, tt := range tests {
		err := httpapi.CheckMetricsAddr(tt.addr, tt.allowAny)
		if (err == nil) != tt.ok {
			t.Errorf("CheckMetricsAddr(%q, %v) = %v; want ok %v", tt.addr, tt.allowAny, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "metrics-addr") {
			t.Errorf("CheckMetricsAddr(%q): %v does not name the setting", tt.addr, err)
		}
	}
}

// ListenMetrics refuses an address that is not loopback before listening.
func TestListenMetrics_RefusesNonLoopback(t *testing.T) {
	t.Parallel()
	m := httpapi.NewMetrics(httpapi.MetricsConfig{})
	for _, addr := range []string{":0", "0.0.0.0:0"} {
		l, err := httpapi.ListenMetrics(addr, false, m, testLogger(t))
		if err == nil {
			l.Close()
			t.Fatalf("ListenMetrics(%q) listened on %s; want it refused", addr, l.Addr())
		}
	}
	if loops, err := httpapi.MetricsLoops(":0", false, m, testLogger(t)); err == nil || loops != nil {
		t.Fatalf("MetricsLoops(\":0\") = %d loops, %v; want refused", len(loops), err)
	}
	if loops, err := httpapi.MetricsLoops("", false, m, testLogger(t)); err != nil || loops != nil {
		t.Fatalf("MetricsLoops(\"\") = %d loops, %v; want none, no listener asked for", len(loops), err)
	}
	l, err := httpapi.ListenMetrics("0.0.0.0:0", true, m, testLogger(t))
	if err != nil {
		t.Fatalf("ListenMetrics(0.0.0.0:0, allowAny): %v", err)
	}
	l.Close()
}

// The coordinator's metrics, served on the main listener to operators'
// tokens only, are served on the metrics listener without one: the same
// registry, gauges read from the store at each scrape. The metrics listener
// serves nothing else.
func TestMetricsListener_NoTokenThere(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.create(t, batch.Key{Date: gameDate, Run: "daily"}, players(t, 3), batch.Policy{Deadline: time.Hour}, t0)
	m := httpapi.NewMetrics(httpapi.MetricsConfig{Store: e.store, NowFunc: func() time.Time { return b.Deadline.Add(time.Minute) },
		Log: testLogger(t)})
	eng := batch.NewEngine(e.store, e.queue, testLogger(t), batch.EngineConfig{NowFunc: e.clock, Observer: m})
	is := newIssuer(t)
	auth := mustNewAuth(t, httpapi.AuthConfig{Audiences: []string{testAudience}, Emails: []string{opsAccount}, Validator: validator(t, is)})
	main := httpapi.NewCoordinatorHandler(httpapi.CoordinatorConfig{
		Coordinator: batch.NewCoordinator(eng, e.queue, testLogger(t), batch.CoordinatorConfig{}),
		Start: func(context.Context, pipeline.StartRequest) (batch.Batch, bool, error) {
			t.Error("start called")
			return batch.Batch{}, false, nil
		},
		Guards: httpapi.Guards{Operator: auth.Wrap}, Metrics: m, Log: testLogger(t)})
	mainSrv := httptest.NewServer(main)
	t.Cleanup(mainSrv.Close)

	l, err := httpapi.ListenMetrics("127.0.0.1:0", false, m, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { l.Serve(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	if !httpapi.IsLoopback(l.Addr()) {
		t.Fatalf("metrics listener on %s, want loopback", l.Addr())
	}

	// One outcome recorded through the engine shows on both.
	ps := players(t, 3)
	if _, err := eng.Record(t.Context(), batch.OutcomeRecord{BatchID: b.ID, ItemID: ps[0].ID, Outcome: batch.OutcomeSkipped}); err != nil {
		t.Fatal(err)
	}
	want := []string{"tipoff_batches_past_deadline 1\n", `tipoff_outcomes_recorded_total{outcome="skipped"} 1` + "\n"}

	get := func(method, url, auth string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := get("GET", "http://"+l.Addr()+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics on the metrics listener without a token: %d %s", code, body)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("metrics listener lacks %q", w)
		}
	}

	// The main listener still wants an operator's token.
	if code, body := get("GET", mainSrv.URL+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics on the main listener without a token: %d %s, want 401", code, body)
	}
	c := goodClaims()
	c["email"] = pushAccount
	if code, _ := get("GET", mainSrv.URL+"/metrics", "Bearer "+sign(t, is.Key, testKeyID, "RS256", c)); code != http.StatusForbidden {
		t.Errorf("GET /metrics on the main listener with the push account's token: %d, want 403", code)
	}
	c["email"] = opsAccount
	code, body = get("GET", mainSrv.URL+"/metrics", "Bearer "+sign(t, is.Key, testKeyID, "RS256", c))
	if code != http.StatusOK {
		t.Fatalf("GET /metrics on the main listener with an operator's token: %d %s", code, body)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("main listener's /metrics lacks %q", w)
		}
	}

	// Nothing but GET /metrics answers there.
	for _, r := range []struct{ method, path string }{{"GET", "/api/batches"}, {"GET", "/"}, {"POST", "/sweep"}, {"POST", "/metrics"}} {
		if code, _ := get(r.method, "http://"+l.Addr()+r.path, ""); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s on the metrics listener: %d, want 404 or 405", r.method, r.path, code)
		}
	}
}
