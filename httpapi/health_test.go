package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/httpapi"
	"tipoff/pipeline"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	storeCheck := httpapi.HealthCheck{Name: "store", Check: func(ctx context.Context) error {
		_, err := e.store.ListBatches(ctx, batch.ListOptions{Limit: 1})
		return err
	}}
	var queueErr error
	queueCheck := httpapi.HealthCheck{Name: "queue", Check: func(context.Context) error { return queueErr }}
	data := pipeline.DataInfo{Path: "/data/nba", Version: "v-123", LoadedAt: t0}
	h := httpapi.NewHealth(httpapi.HealthConfig{Program: "tipoff", Version: "v1.2.3", Commit: "abc123", Role: "coordinator",
		Checks: []httpapi.HealthCheck{storeCheck, queueCheck}, Data: func() pipeline.DataInfo { return data },
		Log: testLogger(t)})
	srv := httptest.NewServer(h)
	defer srv.Close()

	read := func() (int, httpapi.HealthReport) {
		t.Helper()
		body, code := get(t, srv.URL)
		var rep httpapi.HealthReport
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatalf("health body: %v\n%s", err, body)
		}
		return code, rep
	}
	code, rep := read()
	if code != http.StatusOK || rep.Status != "ok" || rep.Program != "tipoff" || rep.Version != "v1.2.3" || rep.Commit != "abc123" ||
		rep.Data == nil || rep.Data.Version != "v-123" || len(rep.Checks) != 3 {
		t.Fatalf("healthy: %d %+v", code, rep)
	}
	for _, c := range rep.Checks {
		if !c.OK {
			t.Fatalf("healthy: check %+v failed", c)
		}
	}
	// The status client reads who the service is.
	info, err := (&httpapi.Client{BaseURL: srv.URL}).Health(t.Context())
	if err != nil || info.Program != "tipoff" || info.Commit != "abc123" {
		t.Fatalf("Client.Health = %+v, %v", info, err)
	}

	queueErr = errors.New("pubsub: connection refused")
	data.Problem = "read data directory: no such file"
	code, rep = read()
	if code != http.StatusServiceUnavailable || rep.Status != "unavailable" {
		t.Fatalf("with the queue down: %d %s, want 503 unavailable", code, rep.Status)
	}
	failed := map[string]string{}
	for _, c := range rep.Checks {
		if !c.OK {
			failed[c.Name] = c.Error
		}
	}
	if failed["queue"] != "pubsub: connection refused" || failed["data"] == "" || len(failed) != 2 {
		t.Fatalf("failed checks: %v, want queue and data with their errors", failed)
	}
	if _, err := (&httpapi.Client{BaseURL: srv.URL}).Health(t.Context()); err == nil {
		t.Fatal("Client.Health of an unavailable service: no error")
	}
}

// A check that hangs is cut off at the timeout and reported failed.
func TestHealth_Timeout(t *testing.T) {
	t.Parallel()
	h := httpapi.NewHealth(httpapi.HealthConfig{Program: "tipoff", Timeout: 50 * time.Millisecond,
		Checks: []httpapi.HealthCheck{{Name: "slow", Check: func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}}}})
	rep := h.Report(t.Context())
	if rep.Status != "unavailable" || rep.Checks[0].OK || rep.Checks[0].Error == "" {
		t.Fatalf("report with a hanging check: %+v", rep)
	}
}
