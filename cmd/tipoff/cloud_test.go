package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pubsub "cloud.google.com/go/pubsub/v2"
	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/iterator"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/gcpfirestore"
	"tipoff/gcppubsub"
	"tipoff/httpapi"
	"tipoff/internal/oidctest"
	"tipoff/pipeline"
	"tipoff/predict"
	"tipoff/predict/systems"
)

// The cloud shape end to end, on the Firestore and Pub/Sub emulators: the
// coordinator and two workers run as processes of the built binary, wired
// by push subscriptions through a gateway (standing in for Pub/Sub's push
// delivery and Cloud Run's load balancing) that signs each push with an
// OIDC token as Pub/Sub would; the emulator sends none. Christmas Day 2025
// from the real data is started through /start and must end with every
// player's predictions published once and one finalized event.
func TestCloud_EndToEnd(t *testing.T) {
	t.Parallel()
	runCloudDay(t, faults{})
}

// The same day with a fifth of the pushes failing transiently (refused
// before the service sees them, or answered 500 after the service handled
// them, as a lost acknowledgement) and a tenth delivered twice, and with a
// worker stopped and the coordinator restarted by SIGTERM mid-day while
// pushes to them are in flight: the result must be exactly the same, and
// no push may find its connection cut.
func TestCloud_EndToEndFaults(t *testing.T) {
	t.Parallel()
	runCloudDay(t, faults{fail: 0.2, dup: 0.1, maxFails: 2, disrupt: true})
}

// The same day with coordinator and workers pulling from their
// subscriptions (--pull) instead of taking pushes.
func TestCloud_EndToEndPull(t *testing.T) {
	t.Parallel()
	runCloudDay(t, faults{pull: true})
}

const (
	cloudDate    = "2025-12-25"
	coordAud     = "https://coordinator.tipoff.test"
	workerAud    = "https://worker.tipoff.test"
	pushEmail    = "push@tipoff-e2e.iam.gserviceaccount.com"
	schedEmail   = "scheduler@tipoff-e2e.iam.gserviceaccount.com"
	opsEmail     = "oncall@tipoff-e2e.iam.gserviceaccount.com"
	cloudTimeout = 3 * time.Minute
)

func runCloudDay(t *testing.T, f faults) {
	if testing.Short() {
		t.Skip("runs the cloud services as processes against the emulators")
	}
	batchtest.RequireEnv(t, "FIRESTORE_EMULATOR_HOST")
	batchtest.RequireEnv(t, "PUBSUB_EMULATOR_HOST")
	data := realData(t)
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(t.Context(), cloudTimeout)
	defer cancel()
	project := batchtest.UniqueID(t)
	is := oidctest.New(t)

	// The gateway comes first: the push subscriptions point at it.
	gw := newGateway(t, is, f)
	q, err := gcppubsub.Open(ctx, gcppubsub.Config{Project: project, Lease: 10 * time.Second,
		BackoffMin: time.Second, BackoffMax: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	t.Cleanup(func() { deleteSubscriptions(t, project) })
	if f.pull {
		// Pull subscriptions, dead-letter topics and theirs.
		if err := q.Setup(ctx, batch.TopicRequests, batch.TopicOutcomes); err != nil {
			t.Fatal(err)
		}
	} else {
		for _, s := range []struct {
			topic string
			push  gcppubsub.Push
		}{
			{batch.TopicRequests, gcppubsub.Push{Endpoint: gw.url + "/predict"}},
			{batch.TopicOutcomes, gcppubsub.Push{Endpoint: gw.url + "/complete"}},
			{batch.DeadLetterTopic(batch.TopicRequests), gcppubsub.Push{Subscription: "prediction-requests-dead-letter-push", Endpoint: gw.url + "/dead-letter"}},
		} {
			if err := q.SetupPush(ctx, s.topic, s.push); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := q.Setup(ctx, batch.TopicEvents); err != nil { // a pull subscription this test reads
		t.Fatal(err)
	}

	common := []string{"--project", project, "--auth-keys-url", is.JWKS.URL, "--addr", "127.0.0.1:0", "--log-format", "json"}
	if f.pull {
		common = append(common, "--pull", "--lease", "10s")
	}
	coordArgs := append([]string{"coordinator", "--data", data, "--auth-audiences", coordAud, "--start-invokers", schedEmail,
		"--push-invokers", pushEmail, "--operators", opsEmail, "--sweep-every", "500ms", "--metrics-addr", "127.0.0.1:0"}, common...)
	if f.fail > 0 {
		// Now and then the emulator never pushes again a message whose
		// push failed twice (production Pub/Sub redelivers it after the
		// backoff). The sweeper re-drives such an item after the item
		// timeout, as it would a message lost any other way: keep that
		// wait short.
		coordArgs = append(coordArgs, "--item-timeout", "15s")
	}
	coord := startService(t, bin, coordArgs...)
	var workers []*service
	for range 2 {
		workers = append(workers, startService(t, bin, append([]string{"worker", "--cloud", "--auth-audiences", workerAud,
			"--auth-emails", pushEmail, "--workers", "2"}, common...)...))
	}
	gw.route("/predict", workerAud, workers[0].url, workers[1].url)
	gw.route("/complete", coordAud, coord.url)
	gw.route("/dead-letter", coordAud, coord.url)

	store, err := gcpfirestore.Open(ctx, gcpfirestore.Config{ProjectID: project})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	// The binary refuses what it must, and records nothing for it.
	startBody := []byte(`{"date":"` + cloudDate + `","run":"e2e"}`)
	for _, c := range []struct {
		name, url, token string
		want             int
	}{
		{"start without a token", coord.url + "/start", "", http.StatusUnauthorized},
		{"start by another account", coord.url + "/start", token(t, is, coordAud, "intruder@elsewhere.iam.gserviceaccount.com", time.Hour), http.StatusForbidden},
		{"start with an expired token", coord.url + "/start", token(t, is, coordAud, schedEmail, -time.Minute), http.StatusUnauthorized},
		{"start with the worker's audience", coord.url + "/start", token(t, is, workerAud, schedEmail, time.Hour), http.StatusUnauthorized},
		{"start by Pub/Sub's push account", coord.url + "/start", token(t, is, coordAud, pushEmail, time.Hour), http.StatusForbidden},
		{"start by an operator", coord.url + "/start", token(t, is, coordAud, opsEmail, time.Hour), http.StatusForbidden},
		{"sweep by the scheduler", coord.url + "/sweep", token(t, is, coordAud, schedEmail, time.Hour), http.StatusForbidden},
		{"predict with the coordinator's audience", workers[0].url + "/predict", token(t, is, coordAud, pushEmail, time.Hour), http.StatusUnauthorized},
	} {
		if code, body := postWith(t, c.url, c.token, startBody, jsonType); code != c.want {
			t.Fatalf("%s: status %d (%s), want %d", c.name, code, body, c.want)
		}
	}
	if bs, err := store.ListBatches(ctx, batch.ListOptions{}); err != nil || len(bs) != 0 {
		t.Fatalf("refused starts left %d batches, %v", len(bs), err)
	}

	// Start the day, twice: the second finds the first's batch.
	sched := token(t, is, coordAud, schedEmail, time.Hour)
	code, body := postWith(t, coord.url+"/start", sched, startBody, jsonType)
	var started httpapi.StartResponse
	if code != http.StatusAccepted || json.Unmarshal([]byte(body), &started) != nil || !started.Created || started.Total == 0 {
		t.Fatalf("start: %d %s; want 202 with a created batch", code, body)
	}
	code, body = postWith(t, coord.url+"/start", sched, startBody, jsonType)
	var again httpapi.StartResponse
	if code != http.StatusAccepted || json.Unmarshal([]byte(body), &again) != nil || again.Created || again.BatchID != started.BatchID {
		t.Fatalf("second start: %d %s; want 202 with batch %s, not created", code, body, started.BatchID)
	}
	t.Logf("batch %s: %d players, data %s", started.BatchID, started.Total, started.DataVersion)

	if f.disrupt {
		// A third of the day's request pushes in, and a third of its
		// outcome pushes.
		gw.pause("/predict", int64(started.Total/3))
		gw.pause("/complete", int64(started.Total/3))
	}
	stopped := []*service{}
	began := time.Now()
	ops := token(t, is, coordAud, opsEmail, time.Hour)
	client := &httpapi.Client{BaseURL: coord.url, Token: ops}
	var b batch.Batch
	for {
		select {
		case path := <-gw.paused:
			switch path {
			case "/predict":
				// Cloud Run stops routing to an instance, then sends it
				// SIGTERM; a push it is still reading must be answered,
				// and its outcome published.
				gw.route("/predict", workerAud, workers[0].url)
				it := anyItem(t, store, started.BatchID, "")
				push := pushBody(t, batch.RequestMessage(it, 1, ""))
				inflight(t, workers[1], "/predict", token(t, is, workerAud, pushEmail, time.Hour), push)
				stopped = append(stopped, workers[1])
				workers = workers[:1]
				t.Logf("worker stopped mid-day (gateway: %s)", gw.stats())
			case "/complete":
				// Outcome pushes wait at the gateway meanwhile. An outcome
				// the coordinator is still reading at SIGTERM must be
				// recorded before its 2xx.
				rep, err := client.Batch(ctx, started.BatchID)
				if err != nil || len(rep.Missing) == 0 {
					t.Fatalf("report before the restart: %d missing, %v", len(rep.Missing), err)
				}
				it := anyItem(t, store, started.BatchID, rep.Missing[0])
				m := cloudOutcome(t, it)
				body, err := batch.EncodeOutcome(m)
				if err != nil {
					t.Fatal(err)
				}
				push := pushBody(t, batch.Message{ID: it.BatchID + "/" + it.ID + "/1/outcome", Body: body,
					Attributes: map[string]string{batch.AttrBatchID: it.BatchID, batch.AttrItemID: it.ID, batch.AttrAttempt: "1"}})
				inflight(t, coord, "/complete", token(t, is, coordAud, pushEmail, time.Hour), push)
				if got := anyItem(t, store, started.BatchID, it.ID); got.Outcome != m.Outcome {
					t.Fatalf("outcome of %s acked during shutdown but not stored: %q", it.ID, got.Outcome)
				}
				stopped = append(stopped, coord)
				coord = startService(t, bin, coordArgs...)
				client.BaseURL = coord.url
				gw.route("/complete", coordAud, coord.url)
				gw.route("/dead-letter", coordAud, coord.url)
				t.Logf("coordinator restarted mid-day (gateway: %s)", gw.stats())
			}
			continue
		default:
		}
		rep, err := client.Batch(ctx, started.BatchID)
		if err != nil {
			t.Fatalf("batch report: %v (gateway: %s)", err, gw.stats())
		}
		if rep.Batch.State == batch.Finalized {
			b = rep.Batch.Batch
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("batch %s not finalized in time: %d of %d done, missing %v (gateway: %s)",
				started.BatchID, rep.Batch.Done, rep.Batch.Total, rep.Missing, gw.stats())
		case <-time.After(250 * time.Millisecond):
		}
	}
	t.Logf("finalized %s after %s; gateway: %s", b.Result, time.Since(began).Round(time.Millisecond), gw.stats())
	if b.Result != batch.ResultSucceeded || b.Counts.Failed+b.Counts.TimedOut != 0 {
		t.Fatalf("batch %s: result %s counts %+v, want succeeded with no failures", b.ID, b.Result, b.Counts)
	}
	if f.fail > 0 && (gw.failed.Load() == 0 || gw.lostAcks.Load() == 0 || gw.dups.Load() == 0) {
		t.Fatalf("the faults were not exercised: %s", gw.stats())
	}
	if f.disrupt && len(stopped) != 2 {
		t.Fatalf("%d services stopped mid-day, want a worker and the coordinator", len(stopped))
	}
	if n := gw.broken.Load(); n > 0 {
		t.Errorf("%d pushes found their connection cut: a service did not shut down gracefully", n)
	}

	checkCloudBatch(t, store, data, b)
	if !f.disrupt { // a restart resets the counters
		checkCloudMetrics(t, coord, ops, b)
	}
	checkCloudEvents(t, q, b)

	// The operators' health check reads the same state through the
	// coordinator's API, with an operator's token.
	out, stderr, err := runWithEnv(t, map[string]string{"TIPOFF_TOKEN": ops}, "health", "--coordinator", coord.url, "--date", cloudDate, "--run", "e2e", "--json")
	var health struct {
		Status string `json:"status"`
	}
	if err != nil || json.Unmarshal([]byte(out), &health) != nil || health.Status != "healthy" {
		t.Errorf("tipoff health --coordinator: %v\n%s\n%s", err, out, stderr)
	}

	// SIGTERM stops each service within 10 s, cleanly.
	for _, s := range append([]*service{coord}, workers...) {
		s.stop(t)
	}
}

// checkCloudBatch checks the batch's manifest is the day's selection from
// the data, and that the publication holds every player's predictions, each
// once.
func checkCloudBatch(t *testing.T, store *gcpfirestore.Store, data string, b batch.Batch) {
	t.Helper()
	ctx := t.Context()
	ds := readDataset(t, data)
	settings := predictConfig{MinGames: 3, MinMinutes: 12, Books: predict.DefaultBooks}.settings(DefaultConfig())
	spec, err := pipeline.BuildSpec(ds, b.Key, settings, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Meta["data_version"] != ds.Version() {
		t.Errorf("batch data version %q, want the data's %q", b.Meta["data_version"], ds.Version())
	}
	items, err := store.Items(ctx, b.ID, batch.ItemsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(spec.Items) || b.Total != len(spec.Items) {
		t.Fatalf("batch has %d items (total %d), want the %d players selected from the data", len(items), b.Total, len(spec.Items))
	}
	selected := map[string]bool{}
	for _, it := range spec.Items {
		selected[it.ID] = true
	}
	nsys := len(systems.Default())
	want := map[string]int{} // player → predictions
	for _, it := range items {
		if !selected[it.ID] {
			t.Fatalf("item %s is not a player selected from the data", it.ID)
		}
		switch it.Outcome {
		case batch.OutcomeSucceeded:
			req, err := predict.DecodeRequest(it.Request)
			if err != nil {
				t.Fatal(err)
			}
			want[it.ID] = nsys * len(req.Lines)
		case batch.OutcomeSkipped:
		default:
			t.Errorf("item %s: outcome %q (%s)", it.ID, it.Outcome, it.Error)
		}
	}
	pub, err := store.Published(ctx, predict.MustParseDate(b.Key.Date))
	if err != nil {
		t.Fatal(err)
	}
	if pub.BatchID != b.ID || pub.DataVersion != ds.Version() {
		t.Fatalf("publication of batch %s, data %s; want %s, %s", pub.BatchID, pub.DataVersion, b.ID, ds.Version())
	}
	got := map[string]int{}
	seen := map[predict.Key]bool{}
	for _, pl := range pub.Players {
		for _, p := range pl.Predictions {
			if seen[p.Key()] {
				t.Errorf("prediction %v published twice", p.Key())
			}
			seen[p.Key()] = true
			got[pl.PlayerID]++
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d players published, want %d", len(got), len(want))
	}
	for id, n := range want {
		if got[id] != n {
			t.Errorf("player %s: %d predictions published, want %d", id, got[id], n)
		}
	}
}

// checkCloudMetrics checks the coordinator counted each outcome once,
// however many copies arrived, and serves the same counts without a token
// on its loopback metrics listener (the collector sidecar's), while its
// main listener wants an operator's token.
func checkCloudMetrics(t *testing.T, coord *service, token string, b batch.Batch) {
	t.Helper()
	if code, _ := getBody(t, coord.url+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics on the main listener without a token: %d, want 401", code)
	}
	code, body := getBody(t, coord.url+"/metrics", token)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	line := fmt.Sprintf(`tipoff_outcomes_recorded_total{outcome="succeeded"} %d`, b.Counts.Succeeded)
	if !strings.Contains(body, line+"\n") {
		t.Errorf("metrics lack %q", line)
	}
	select {
	case addr := <-coord.metrics:
		if !httpapi.IsLoopback(addr) {
			t.Errorf("metrics listener on %s, want loopback", addr)
		}
		code, body := getBody(t, "http://"+addr+"/metrics", "")
		if code != http.StatusOK || !strings.Contains(body, line+"\n") || !strings.Contains(body, "tipoff_batches_past_deadline 0\n") {
			t.Errorf("GET /metrics on the metrics listener without a token: %d; want 200 with %q and the deadline gauge", code, line)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("the coordinator did not log its metrics listener's address")
	}
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "tipoff_outcomes_duplicate_total") || strings.HasPrefix(l, "tipoff_finalize_attempts_total") {
			t.Log(l)
		}
	}
}

// checkCloudEvents checks the batch-events topic got the finalized event
// once, with the publication's numbers.
func checkCloudEvents(t *testing.T, q *gcppubsub.Queue, b batch.Batch) {
	t.Helper()
	var got []batch.Event
	// Wait long enough for a second relay (every 500 ms) to show.
	for _, d := range drainTopic(t, q, batch.TopicEvents, 3*time.Second) {
		var ev batch.Event
		if err := json.Unmarshal(d.Body, &ev); err != nil {
			t.Fatalf("event %s: %v", d.ID, err)
		}
		got = append(got, ev)
	}
	if len(got) != 1 || got[0].ID != batch.EventID(b.ID, batch.EventFinalized) || got[0].Type != batch.EventFinalized {
		t.Fatalf("events published: %+v; want the one finalized event of %s", got, b.ID)
	}
	var payload pipeline.FinalizedEvent
	if err := json.Unmarshal(got[0].Payload, &payload); err != nil {
		t.Fatal(err)
	}
	if payload.Result != batch.ResultSucceeded || payload.Total != b.Total || payload.Players == 0 || payload.Predictions == 0 {
		t.Fatalf("finalized event payload %+v", payload)
	}
}

// faults are what the gateway does to pushes.
type faults struct {
	fail     float64 // share of pushes failed transiently
	dup      float64 // share of pushes delivered twice
	maxFails int     // most failures per message, so none is dead-lettered
	// disrupt stops a worker and restarts the coordinator, each with SIGTERM
	// while pushes to it are in flight, after a part of the day's pushes.
	disrupt bool
	// pull wires the services by pull subscriptions instead: no pushes,
	// so no gateway faults either.
	pull bool
	// pushTimeout is how long a push waits for the service's answer
	// before it counts as failed (Pub/Sub's push deadline); default 30 s.
	pushTimeout time.Duration
}

// gateway delivers pushes to the services as Pub/Sub and Cloud Run would:
// it signs each with an OIDC token for the route's audience, spreads them
// over the route's instances, holds them while a route has no instance (as
// Cloud Run holds requests while an instance starts), and injects faults.
type gateway struct {
	url string
	is  *oidctest.Issuer
	f   faults

	mu      sync.Mutex
	rng     *mrand.Rand
	routes  map[string]*gwRoute
	fails   map[string]int   // path + message ID → failures injected
	counts  map[string]int64 // pushes per path
	pauseAt map[string]int64 // path → push count at which its route is emptied
	paused  chan string      // paths whose route was emptied

	pushes, failed, lostAcks, dups, broken atomic.Int64
	sent                                   []gwPush // pushes answered, in order
}

// gwPush is one push the gateway delivered and how it was answered.
type gwPush struct {
	path    string
	msgID   string            // Pub/Sub's message ID: one per publish
	attrs   map[string]string // the message's attributes
	code    int               // the answer, 502 when the push timed out or broke
	at      time.Time         // when the push arrived
	took    time.Duration
	timeout bool // no answer within the push deadline
}

type gwRoute struct {
	aud      string
	backends []string
	next     int
	token    string
	tokenExp time.Time
}

func newGateway(t *testing.T, is *oidctest.Issuer, f faults) *gateway {
	t.Helper()
	seed := time.Now().UnixNano()
	t.Logf("gateway seed %d", seed)
	gw := &gateway{is: is, f: f, rng: mrand.New(mrand.NewPCG(uint64(seed), 7)), routes: map[string]*gwRoute{},
		fails: map[string]int{}, counts: map[string]int64{}, pauseAt: map[string]int64{}, paused: make(chan string, 4)}
	client := &http.Client{Timeout: cmp.Or(f.pushTimeout, 30*time.Second)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		gw.pushes.Add(1)
		var env struct {
			Message struct {
				ID    string            `json:"messageId"`
				Attrs map[string]string `json:"attributes"`
			} `json:"message"`
		}
		json.Unmarshal(body, &env)
		arrived := time.Now()
		var timedOut atomic.Bool
		var p gwPlan
		for wait := time.Now(); ; time.Sleep(20 * time.Millisecond) {
			var ok bool
			if p, ok = gw.plan(t, r.URL.Path, env.Message.ID); ok {
				break
			}
			if time.Since(wait) > 20*time.Second {
				http.Error(w, "no instance", http.StatusServiceUnavailable)
				return
			}
		}
		if p.fail {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		send := func(to string) int {
			req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, to+r.URL.Path, bytes.NewReader(body))
			if err != nil {
				return http.StatusBadGateway
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+p.token)
			resp, err := client.Do(req)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					timedOut.Store(true)
				}
				gw.broken.Add(1)
				t.Logf("gateway: push to %s%s: %v", to, r.URL.Path, err)
				return http.StatusBadGateway
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		var wg sync.WaitGroup
		if p.dup {
			// The copy goes to another instance, at the same time.
			wg.Go(func() { send(p.targets[1]) })
		}
		code := send(p.targets[0])
		wg.Wait()
		if p.lostAck {
			code = http.StatusInternalServerError
		}
		gw.mu.Lock()
		gw.sent = append(gw.sent, gwPush{path: r.URL.Path, msgID: env.Message.ID, attrs: env.Message.Attrs, code: code,
			at: arrived, took: time.Since(arrived), timeout: timedOut.Load()})
		gw.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	gw.url = srv.URL
	return gw
}

// route sends pushes to path to the backends, with tokens for aud; with no
// backends, pushes wait for some.
func (gw *gateway) route(path, aud string, backends ...string) {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	gw.routes[path] = &gwRoute{aud: aud, backends: backends}
}

// pause empties path's route when its n-th push arrives, and then says so
// on gw.paused.
func (gw *gateway) pause(path string, n int64) {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	gw.pauseAt[path] = n
}

// gwPlan is where a push goes and what befalls it.
type gwPlan struct {
	targets            [2]string
	token              string
	fail, lostAck, dup bool
}

// plan decides a push's fate; false while its route has no instance.
func (gw *gateway) plan(t *testing.T, path, msgID string) (gwPlan, bool) {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	rt := gw.routes[path]
	if rt == nil || len(rt.backends) == 0 {
		return gwPlan{}, false
	}
	gw.counts[path]++
	if n, ok := gw.pauseAt[path]; ok && gw.counts[path] == n {
		rt.backends = nil
		gw.paused <- path
		return gwPlan{}, false
	}
	var p gwPlan
	p.targets[0] = rt.backends[rt.next%len(rt.backends)]
	p.targets[1] = rt.backends[(rt.next+1)%len(rt.backends)]
	rt.next++
	if time.Until(rt.tokenExp) < 10*time.Minute {
		rt.token = token(t, gw.is, rt.aud, pushEmail, time.Hour)
		rt.tokenExp = time.Now().Add(time.Hour)
	}
	p.token = rt.token
	key := path + " " + msgID
	if gw.f.fail > 0 && gw.fails[key] < gw.f.maxFails && gw.rng.Float64() < gw.f.fail {
		gw.fails[key]++
		if gw.rng.IntN(2) == 0 {
			gw.failed.Add(1)
			p.fail = true
		} else {
			gw.lostAcks.Add(1)
			p.lostAck = true
		}
	}
	if !p.fail && gw.f.dup > 0 && gw.rng.Float64() < gw.f.dup {
		gw.dups.Add(1)
		p.dup = true
	}
	return p, true
}

// pushSummary says how the pushes to path of batchID's messages went: how
// many, of how many publishes (Pub/Sub message IDs) and item attempts, the
// answers, the pushes that timed out, the slowest, and the messages pushed
// more than once with each push's arrival, wait and answer.
func (gw *gateway) pushSummary(path, batchID string) string {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	var n, timeouts int
	var slowest time.Duration
	codes := map[int]int{}
	byMsg := map[string][]gwPush{}
	attempts := map[string]bool{}
	for _, p := range gw.sent {
		if p.path != path || p.attrs[batch.AttrBatchID] != batchID {
			continue
		}
		n++
		codes[p.code]++
		if p.timeout {
			timeouts++
		}
		slowest = max(slowest, p.took)
		byMsg[p.msgID] = append(byMsg[p.msgID], p)
		attempts[p.attrs[batch.AttrItemID]+"/"+p.attrs[batch.AttrAttempt]] = true
	}
	var again []string
	for id, ps := range byMsg {
		if len(ps) < 2 {
			continue
		}
		var each []string
		for _, p := range ps {
			each = append(each, fmt.Sprintf("%s +%s → %d", p.at.Format("15:04:05.000"), p.took.Round(time.Millisecond), p.code))
		}
		again = append(again, fmt.Sprintf("%s (%s/%s): %s", id, ps[0].attrs[batch.AttrItemID], ps[0].attrs[batch.AttrAttempt], strings.Join(each, ", ")))
		if len(again) == 10 {
			break
		}
	}
	return fmt.Sprintf("pushes to %s: %d, of %d publishes and %d item attempts; answers %v; %d timed out; slowest %s; pushed again (up to 10): %s",
		path, n, len(byMsg), len(attempts), codes, timeouts, slowest.Round(time.Millisecond), strings.Join(again, "; "))
}

func (gw *gateway) stats() string {
	return fmt.Sprintf("%d pushes, %d refused, %d acks lost, %d duplicated, %d connections broken",
		gw.pushes.Load(), gw.failed.Load(), gw.lostAcks.Load(), gw.dups.Load(), gw.broken.Load())
}

// token returns an ID token from is for aud and email that expires after
// ttl (already expired for a negative ttl).
func token(t *testing.T, is *oidctest.Issuer, aud, email string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{"iss": "https://accounts.google.com", "aud": aud, "sub": "1234567890",
		"email": email, "email_verified": true, "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(ttl).Unix()}
	if ttl < 0 {
		claims["iat"] = now.Add(ttl - time.Hour).Unix()
	}
	return is.Token(t, claims)
}

// service is a cloud service running as a process of the binary.
type service struct {
	name string
	cmd  *exec.Cmd
	url  string
	// metrics receives the address of the metrics listener, if it has one.
	metrics chan string
	logs    *syncBuffer
	done    chan error
	// loaded is closed when a coordinator has logged its first check of the
	// data's version (what it does at start) or its first data load.
	loaded chan struct{}
}

// startService starts the binary with args and waits for its "serving" log
// line, which names the address it listens on. Its logs are shown if the
// test fails.
func startService(t *testing.T, bin string, args ...string) *service {
	t.Helper()
	return startServiceWith(t, bin, nil, nil, args...)
}

// startServiceWith is startService with env added to the process's
// environment and onLog, if set, called with every message it logs.
func startServiceWith(t *testing.T, bin string, env []string, onLog func(s *service, msg string), args ...string) *service {
	t.Helper()
	s := &service{name: args[0], logs: &syncBuffer{}, done: make(chan error, 1), metrics: make(chan string, 1), loaded: make(chan struct{})}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	s.cmd.Stderr = io.MultiWriter(s.logs, pw)
	s.cmd.Stdout = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := s.cmd.Wait()
		pw.Close()
		s.done <- err
	}()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Signal(syscall.SIGCONT)
			s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("%s %d logs:\n%s", s.name, s.cmd.Process.Pid, tail(s.logs.String(), 60))
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		served, loaded := false, false
		for sc.Scan() {
			var line struct {
				Message string `json:"message"`
				Addr    string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			switch {
			case line.Message == "serving metrics" && line.Addr != "":
				s.metrics <- line.Addr
			case line.Message == "serving" && line.Addr != "" && !served:
				addr <- line.Addr
				served = true
			case (line.Message == "data version checked" || line.Message == "data loaded") && !loaded:
				loaded = true
				close(s.loaded)
			}
			if onLog != nil {
				onLog(s, line.Message)
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case a := <-addr:
		s.url = "http://" + a
		return s
	case err := <-s.done:
		s.done <- err
		t.Fatalf("%s exited before serving: %v\n%s", s.name, err, s.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start serving within 60 s\n%s", s.name, s.logs.String())
	}
	return nil
}

// stop sends SIGTERM and checks the service exits 0 within 10 s.
func (s *service) stop(t *testing.T) {
	t.Helper()
	s.wait(t, s.term(t))
}

// term sends SIGTERM and returns when.
func (s *service) term(t *testing.T) time.Time {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// wait checks the service exits 0 within 10 s of start.
func (s *service) wait(t *testing.T, start time.Time) {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM\n%s", s.name, err, tail(s.logs.String(), 20))
		}
		t.Logf("%s stopped %s after SIGTERM", s.name, time.Since(start).Round(time.Millisecond))
	case <-time.After(time.Until(start.Add(10 * time.Second))):
		t.Errorf("%s still running 10 s after SIGTERM", s.name)
	}
}

// inflight sends a push to the service and, while the service is reading
// its body, sends the service SIGTERM: the push must still get its 204, and
// the service must then exit cleanly within 10 s. The request asks for 100
// Continue, which the service sends when it starts reading the body; the
// rest of the body is sent only once the service has stopped listening, so
// the request is in flight across the start of the shutdown.
func inflight(t *testing.T, s *service, path, token string, body []byte) {
	t.Helper()
	reading := make(chan struct{})
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{Got100Continue: func() { close(reading) }})
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+path, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}).Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{code: resp.StatusCode}
	}()
	select {
	case <-reading:
	case r := <-done:
		t.Fatalf("push to %s answered before its body was sent: %d, %v", s.name, r.code, r.err)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not start reading a push within 10 s", s.name)
	}
	half := len(body) / 2
	if _, err := pw.Write(body[:half]); err != nil {
		t.Fatal(err)
	}
	sent := s.term(t)
	// The listener closes when the shutdown starts.
	host := strings.TrimPrefix(s.url, "http://")
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := net.DialTimeout("tcp", host, 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections 5 s after SIGTERM", s.name)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := pw.Write(body[half:]); err != nil {
		t.Fatalf("%s stopped reading a push in flight at SIGTERM: %v", s.name, err)
	}
	pw.Close()
	r := <-done
	if r.err != nil || r.code != http.StatusNoContent {
		t.Fatalf("push to %s in flight at SIGTERM: status %d, %v; want 204", s.name, r.code, r.err)
	}
	s.wait(t, sent)
}

// emulator, so it stops pushing to the test's closed gateway.
func deleteSubscriptions(t *testing.T, project string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 30*time.Second)
	defer cancel()
	c, err := pubsub.NewClient(ctx, project)
	if err != nil {
		t.Errorf("delete subscriptions: %v", err)
		return
	}
	defer c.Close()
	it := c.SubscriptionAdminClient.ListSubscriptions(ctx, &pb.ListSubscriptionsRequest{Project: "projects/" + project})
	for {
		sub, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return
		}
		if err != nil {
			t.Errorf("list subscriptions: %v", err)
			return
		}
		if err := c.SubscriptionAdminClient.DeleteSubscription(ctx, &pb.DeleteSubscriptionRequest{Subscription: sub.GetName()}); err != nil {
			t.Errorf("delete subscription %s: %v", sub.GetName(), err)
		}
	}
}

// anyItem returns item id of the batch, or its first item for "".
func anyItem(t *testing.T, store *gcpfirestore.Store, batchID, id string) batch.Item {
	t.Helper()
	opts := batch.ItemsOptions{Limit: 1}
	if id != "" {
		// Items pages by ID: the one just before id is not known, so read
		// them all.
		opts.Limit = 0
	}
	items, err := store.Items(t.Context(), batchID, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if id == "" || it.ID == id {
			return it
		}
	}
	t.Fatalf("batch %s has no item %q", batchID, id)
	return batch.Item{}
}

// cloudOutcome returns the outcome a worker publishes for the item.
func cloudOutcome(t *testing.T, it batch.Item) batch.OutcomeMessage {
	t.Helper()
	j := pipeline.NewJob(pipeline.JobConfig{})
	o, result, err := j.Handle(t.Context(), batch.Delivery{Message: batch.RequestMessage(it, 1, "")})
	if err != nil {
		t.Fatal(err)
	}
	return batch.OutcomeMessage{BatchID: it.BatchID, ItemID: it.ID, Outcome: o, Result: result, Attempt: 1, Worker: "test", At: time.Now()}
}

// pushBody returns the body Pub/Sub pushes for m.
func pushBody(t *testing.T, m batch.Message) []byte {
	t.Helper()
	b, err := gcppubsub.EncodePush("projects/test/subscriptions/test", batch.Delivery{Message: m, Attempt: 1, PublishedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// postWith POSTs body with a bearer token (none for "") and returns the
// status and body.
// jsonType is the header of a JSON request body.
var jsonType = map[string]string{"Content-Type": "application/json"}

func postWith(t *testing.T, url, token string, body []byte, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getBody(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
