package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/httpapi"
)

// The cloud coordinator (Firestore and Pub/Sub emulators, pulling) exports
// to Cloud Storage (fake-gcs-server) whose bucket does not exist yet: the
// export write fails, the batch still finalizes with its picks published,
// the failure is recorded in Firestore and health through the coordinator
// warns about it; once the bucket exists the coordinator's retry after a
// sweep writes the export, and health is clean. Not parallel: it sets the
// environment.
func TestCloud_ExportFailsIsRetried(t *testing.T) {
	batchtest.RequireEnv(t, "FIRESTORE_EMULATOR_HOST")
	batchtest.RequireEnv(t, "PUBSUB_EMULATOR_HOST")
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer gcs.Stop()
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(gcs.URL(), "http://"))

	cl, srv, date := cloudOnLeague(t, 5, "gs://exports/picks")
	ctx, stop := context.WithTimeout(t.Context(), 2*time.Minute)
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() })
	w := batch.NewWorker(cl.queue, cl.job.Handle, batch.PublishOutcomes(cl.queue), discardLogger(), batch.WorkerConfig{Name: "w", Concurrency: 2})
	wg.Go(func() { w.Run(ctx) })
	client := &httpapi.Client{BaseURL: srv.URL}

	code, body := postWith(t, srv.URL+"/start", "", []byte(fmt.Sprintf(`{"date":%q,"run":"daily"}`, date)), jsonType)
	var started httpapi.StartResponse
	if code != 202 || json.Unmarshal([]byte(body), &started) != nil {
		t.Fatalf("start: %d %s", code, body)
	}
	var b batch.Batch
	for {
		rep, err := client.Batch(ctx, started.BatchID)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Batch.State == batch.Finalized {
			b = rep.Batch.Batch
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("batch %s not finalized: %d of %d done", started.BatchID, rep.Batch.Done, rep.Batch.Total)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if b.Result != batch.ResultSucceeded {
		t.Fatalf("batch %s %+v, want succeeded although its export failed", b.Result, b.Counts)
	}
	if pub, err := cl.store.Published(t.Context(), date); err != nil || pub.BatchID != b.ID {
		t.Fatalf("publication after the failed export: %+v, %v; want batch %s's", pub, err, b.ID)
	}
	st, err := cl.store.ExportState(t.Context(), date)
	if err != nil || !st.Failing() || st.Failures < 1 || st.Path != "gs://exports/picks/"+date.String()+".json" {
		t.Fatalf("export state after the failed write: %+v, %v; want failing at its path", st, err)
	}
	health := func() string {
		t.Helper()
		out, _ := runMain(t, "health", "--coordinator", srv.URL, "--date", date.String(), "--json") // exits non-zero unless healthy
		var h struct {
			Checks []struct{ Name, Level, Message string }
		}
		if err := json.Unmarshal([]byte(out), &h); err != nil {
			t.Fatalf("health --json: %v\n%s", err, out)
		}
		for _, c := range h.Checks {
			if c.Name == "export" {
				return c.Level + ": " + c.Message
			}
		}
		t.Fatalf("health has no export check:\n%s", out)
		return ""
	}
	if got := health(); !strings.HasPrefix(got, "warn: ") || !strings.Contains(got, "the export is retried") {
		t.Errorf("health's export check while the export fails: %q; want a warning that it is retried", got)
	}

	// The bucket appears; the retry after a sweep (5 s after the first
	// failure) writes the export.
	gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "exports"})
	for {
		st, err = cl.store.ExportState(t.Context(), date)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Failing() {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("export still failing after the bucket appeared: %+v", st)
		case <-time.After(200 * time.Millisecond):
		}
	}
	ex, err := cl.export(t.Context(), date)
	if err != nil || !ex.Exists || ex.BatchID != b.ID || ex.Failing != "" {
		t.Fatalf("export after the retry: %+v, %v; want batch %s's picks", ex, err, b.ID)
	}
	if got := health(); !strings.HasPrefix(got, "ok: ") {
		t.Errorf("health's export check after the retry: %q; want ok", got)
	}
}
