package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/dataimport"
	"tipoff/gcpfirestore"
	"tipoff/gcppubsub"
	"tipoff/httpapi"
	"tipoff/internal/oidctest"
	"tipoff/pipeline"
	"tipoff/predict"
	"tipoff/sqlite"
)

var (
	scaleRuns = flag.Int("scale-runs", 1, "TestCloud_ScaleOut: runs of each scenario in each mode")
	scaleDay  = flag.String("scale-day", "", "TestCloud_ScaleOut: a game date of the real data to run, with production-like timeouts, "+
		"e.g. 2025-12-23 (the busiest day); default a day of a small synthetic league, with short timeouts")
	scaleLogs = flag.String("scale-logs", "", "TestCloud_ScaleOut: a directory to write every service's log to, one file per run and service")
)

// TestCloud_ScaleOut runs the cloud shape scaled out: three coordinator
// processes and two workers on one Firestore and one Pub/Sub (the
// emulators), in push mode (through the gateway, which spreads pushes over
// the three coordinators as Cloud Run's load balancer would) and in pull
// mode, under each scenario:
//
//   - nofault: nothing goes wrong;
//   - kills: a random coordinator and a random worker are killed (SIGKILL)
//     at random points and started again;
//   - freeze: the coordinator holding the work claim is frozen (SIGSTOP)
//     for longer than the item timeout, then resumed;
//   - freeze-finalizer: the coordinator that starts finalizing is frozen
//     until its finalize lease has expired, then resumed;
//   - concurrent-start: the same /start goes to all three at once.
//
// Every run must end with one batch for the key, succeeded, every player
// with exactly one outcome and the counts equal to a recount, no player
// timed out or failed, the finalized event relayed under one event ID, the
// publication and the export naming the finalized batch and written under
// its final lease (none after the lease was lost), and no outcome dropped
// as invalid; without faults, at most 1.1 requests dispatched per player.
// Each run records its time to finalize after the last outcome, the
// requests the coordinators dispatched (published: their "items
// dispatched" log lines) and those the workers handled (their "request
// handled" lines: Pub/Sub may deliver a published request more than once)
// per player; the table is logged at the end. In push mode each run also
// logs how the gateway's pushes of requests went. -scale-runs repeats the
// runs; -scale-day picks another day; -scale-logs keeps the services' logs.
func TestCloud_ScaleOut(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three coordinators and two workers as processes against the emulators")
	}
	batchtest.RequireEnv(t, "FIRESTORE_EMULATOR_HOST")
	batchtest.RequireEnv(t, "PUBSUB_EMULATOR_HOST")
	cfg := scaleConfig{itemTimeout: 8 * time.Second, lease: 3 * time.Second, pushDeadline: 10 * time.Second, killWithin: time.Second}
	if *scaleDay != "" {
		cfg = scaleConfig{day: *scaleDay, data: realData(t), itemTimeout: 15 * time.Second, lease: 5 * time.Second, pushDeadline: 10 * time.Second,
			killWithin: 5 * time.Second}
	} else {
		cfg.data, cfg.day = smallLeague(t)
	}
	cfg.bin = buildBinary(t)
	var (
		mu   sync.Mutex
		rows []scaleRecord
	)
	t.Cleanup(func() { t.Log("\n" + scaleTable(rows)) })
	for _, mode := range []string{"push", "pull"} {
		t.Run(mode, func(t *testing.T) {
			// The two modes run side by side; each runs its scenarios one
			// after another, so at most ten services run at once.
			t.Parallel()
			for i := range *scaleRuns {
				for _, sc := range scaleScenarios {
					t.Run(fmt.Sprintf("%s/%d", sc.name, i+1), func(t *testing.T) {
						rec := runScale(t, cfg, mode == "pull", sc)
						rec.scenario, rec.mode = sc.name, mode
						mu.Lock()
						rows = append(rows, rec)
						mu.Unlock()
					})
				}
			}
		})
	}
}

// smallLeague writes a synthetic league of six teams (fast to load: the
// coordinators read its rows for each new batch) to a SQLite data file and
// returns its path and its last day with the most games.
func smallLeague(t *testing.T) (path, day string) {
	ds, err := dataimport.Synthetic(5, dataimport.SyntheticOptions{From: predict.MustParseDate("2025-10-21"),
		To: predict.MustParseDate("2025-11-30"), Teams: 6})
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "league.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Import(t.Context(), ds, sqlite.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	games := map[predict.Date]int{}
	var best predict.Date
	for _, g := range ds.Games() {
		games[g.Date]++
		if n := games[g.Date]; n > games[best] || n == games[best] && g.Date > best {
			best = g.Date
		}
	}
	return path, best.String()
}

type scaleConfig struct {
	day, data, bin string
	itemTimeout    time.Duration
	lease          time.Duration // finalize lease
	pushDeadline   time.Duration // how long a push waits for its answer
	// killWithin bounds the random wait before each kill.
	killWithin time.Duration
}

// scaleRecord is what one run measured.
type scaleRecord struct {
	scenario, mode string
	ok             bool
	result         batch.Result
	players        int
	requests       int           // requests the workers handled
	dispatched     int           // requests the coordinators published
	toFinalize     time.Duration // from the last outcome recorded to finalized
	sinceWorker    time.Duration // from the last outcome a worker sent to finalized
	events         int           // copies of the finalized event relayed
	note           string
}

type scaleScenario struct {
	name string
	// start starts the day and returns the batch ID.
	start func(sr *scaleRun) string
	// during runs while the batch runs, given the share of items done;
	// it returns once its faults are over.
	during func(sr *scaleRun)
}

var scaleScenarios = []scaleScenario{
	{name: "nofault"},
	{name: "kills", during: func(sr *scaleRun) {
		// At random times, not shares done: a small day is over in about
		// a second once it is dispatched.
		for _, services := range [][]*service{sr.coords, sr.workers} {
			time.Sleep(time.Duration(sr.rng.Int64N(int64(sr.cfg.killWithin))))
			sr.restart(services, sr.rng.IntN(len(services)))
		}
	}},
	{name: "freeze", during: func(sr *scaleRun) {
		sr.waitDone(0.1 + 0.5*sr.rng.Float64())
		i := sr.holder()
		sr.freeze(sr.coords[i], sr.cfg.itemTimeout+2*time.Second)
		sr.notef("froze coordinator %d (the claim holder)", i)
	}},
	{name: "freeze-finalizer", during: func(sr *scaleRun) {
		select {
		case s := <-sr.finalizing:
			if st := sr.batch().State; st == batch.Finalizing {
				sr.notef("froze the finalizer mid-finalize")
			} else {
				sr.notef("froze the finalizer after it finished (%s)", st)
			}
			sr.freeze(s, 2*sr.cfg.lease+time.Second)
		case <-sr.ctx.Done():
		}
	}},
	{name: "concurrent-start", start: func(sr *scaleRun) string {
		type answer struct {
			code int
			body string
			took time.Duration
		}
		answers := make([]answer, len(sr.coords))
		var wg sync.WaitGroup
		for i, c := range sr.coords {
			wg.Go(func() {
				began := time.Now()
				code, body := postWith(sr.t, c.url+"/start", sr.sched, sr.startBody, jsonType)
				answers[i] = answer{code, body, time.Since(began)}
			})
		}
		wg.Wait()
		id, created := "", 0
		var took []string
		for i, a := range answers {
			var r httpapi.StartResponse
			if a.code != http.StatusAccepted || json.Unmarshal([]byte(a.body), &r) != nil {
				sr.t.Fatalf("start at coordinator %d: %d %s", i, a.code, a.body)
			}
			if id != "" && r.BatchID != id {
				sr.t.Fatalf("concurrent starts answered batches %s and %s", id, r.BatchID)
			}
			id = r.BatchID
			if r.Created {
				created++
			}
			took = append(took, a.took.Round(10*time.Millisecond).String())
		}
		if created != 1 {
			sr.t.Fatalf("%d of the concurrent starts created the batch, want 1", created)
		}
		sr.notef("starts answered in %s", strings.Join(took, ", "))
		return id
	}},
}

// scaleRun is one run of a scenario.
type scaleRun struct {
	scenario   string
	t          *testing.T
	ctx        context.Context
	cfg        scaleConfig
	pull       bool
	rng        *mrand.Rand
	is         *oidctest.Issuer
	gw         *gateway
	store      *gcpfirestore.Store
	coordArgs  []string
	workerArgs []string
	coords     []*service
	workers    []*service
	old        []*service // killed services, whose logs still count
	sched      string
	startBody  []byte
	batchID    string
	finalizing chan *service // coordinators that logged "finalizing"
	froze      atomic.Bool   // a service was frozen
	mu         sync.Mutex
	notes      []string
}

func (sr *scaleRun) notef(format string, args ...any) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	sr.notes = append(sr.notes, fmt.Sprintf(format, args...))
	sr.t.Logf(format, args...)
}

func runScale(t *testing.T, cfg scaleConfig, pull bool, sc scaleScenario) (rec scaleRecord) {
	ctx, cancel := context.WithTimeout(t.Context(), 6*cfg.itemTimeout+2*time.Minute)
	defer cancel()
	began := time.Now()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	project := batchtest.UniqueID(t)
	sr := &scaleRun{scenario: sc.name, t: t, ctx: ctx, cfg: cfg, pull: pull, rng: mrand.New(mrand.NewPCG(uint64(seed), 13)),
		is: oidctest.New(t), finalizing: make(chan *service, 8)}
	sr.gw = newGateway(t, sr.is, faults{pull: pull, pushTimeout: cfg.pushDeadline})
	q, err := gcppubsub.Open(ctx, gcppubsub.Config{Project: project, Lease: 10 * time.Second,
		BackoffMin: time.Second, BackoffMax: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	t.Cleanup(func() { deleteSubscriptions(t, project) })
	if pull {
		err = q.Setup(ctx, batch.TopicRequests, batch.TopicOutcomes)
	} else {
		for _, s := range []struct {
			topic string
			push  gcppubsub.Push
		}{
			{batch.TopicRequests, gcppubsub.Push{Endpoint: sr.gw.url + "/predict"}},
			{batch.TopicOutcomes, gcppubsub.Push{Endpoint: sr.gw.url + "/complete"}},
			{batch.DeadLetterTopic(batch.TopicRequests), gcppubsub.Push{Subscription: "prediction-requests-dead-letter-push", Endpoint: sr.gw.url + "/dead-letter"}},
		} {
			if err = q.SetupPush(ctx, s.topic, s.push); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = q.Setup(ctx, batch.TopicEvents)
	}
	if err != nil {
		t.Fatal(err)
	}
	exportDir := t.TempDir()
	common := []string{"--project", project, "--auth-keys-url", sr.is.JWKS.URL, "--addr", "127.0.0.1:0", "--log-format", "json"}
	if pull {
		common = append(common, "--pull", "--lease", "10s")
	}
	sr.coordArgs = append([]string{"coordinator", "--data", cfg.data, "--auth-audiences", coordAud, "--start-invokers", schedEmail,
		"--push-invokers", pushEmail, "--operators", opsEmail, "--sweep-every", "500ms", "--export-dir", exportDir,
		"--item-timeout", cfg.itemTimeout.String(), "--max-attempts", "3", "--finalize-lease", cfg.lease.String()}, common...)
	sr.workerArgs = append([]string{"worker", "--cloud", "--auth-audiences", workerAud, "--auth-emails", pushEmail, "--workers", "2"}, common...)
	for range 3 {
		sr.coords = append(sr.coords, sr.startService(sr.coordArgs))
	}
	for range 2 {
		sr.workers = append(sr.workers, sr.startService(sr.workerArgs))
	}
	// Each coordinator checks the data's version when it starts (reading
	// no data): start once all three are up and have checked it.
	for _, c := range sr.coords {
		select {
		case <-c.loaded:
		case <-time.After(3 * time.Minute):
			t.Fatalf("coordinator did not check its data within 3 min")
		}
	}
	sr.route()
	t.Logf("services started after %s", time.Since(began).Round(time.Millisecond))
	sr.store, err = gcpfirestore.Open(ctx, gcpfirestore.Config{ProjectID: project})
	if err != nil {
		t.Fatal(err)
	}
	defer sr.store.Close()

	sr.sched = token(t, sr.is, coordAud, schedEmail, time.Hour)
	sr.startBody = []byte(`{"date":"` + cfg.day + `","run":"scale"}`)
	if sc.start != nil {
		sr.batchID = sc.start(sr)
	} else {
		code, body := postWith(t, sr.coords[0].url+"/start", sr.sched, sr.startBody, jsonType)
		var r httpapi.StartResponse
		if code != http.StatusAccepted || json.Unmarshal([]byte(body), &r) != nil || !r.Created {
			t.Fatalf("start: %d %s; want 202 with a created batch", code, body)
		}
		sr.batchID = r.BatchID
	}
	faultsDone := make(chan struct{})
	go func() {
		defer close(faultsDone)
		if sc.during != nil {
			sc.during(sr)
		}
	}()
	t.Logf("batch %s started after %s", sr.batchID, time.Since(began).Round(time.Millisecond))
	b := sr.waitFinalized()
	t.Logf("finalized after %s", time.Since(began).Round(time.Millisecond))
	<-faultsDone
	if sr.froze.Load() {
		// A frozen service resumed: give it time to do whatever it still
		// would.
		time.Sleep(2 * time.Second)
	}

	rec = scaleRecord{result: b.Result, players: b.Total}
	defer func() {
		rec.ok = !t.Failed()
		rec.note = strings.Join(sr.notes, "; ")
	}()
	sr.check(b, q, exportDir, &rec)
	for _, s := range slices.Concat(sr.coords, sr.workers) {
		s.stop(t)
	}
	sr.writeLogs()
	return rec
}

// startService starts a service whose log lines the run watches: the
// workers at debug level, so they log each request handled.
func (sr *scaleRun) startService(args []string) *service {
	sr.t.Helper()
	return startServiceWith(sr.t, sr.cfg.bin, []string{"TIPOFF_LOG_LEVEL=debug"}, func(s *service, msg string) {
		if msg == "finalizing" && s.name == "coordinator" {
			select {
			case sr.finalizing <- s:
			default:
			}
		}
	}, args...)
}

// writeLogs writes each service's log to a file of its own under
// -scale-logs, if set.
func (sr *scaleRun) writeLogs() {
	if *scaleLogs == "" {
		return
	}
	sr.mu.Lock()
	all := slices.Concat(sr.coords, sr.workers, sr.old)
	sr.mu.Unlock()
	run := strings.ReplaceAll(sr.t.Name(), "/", "-")
	for _, s := range all {
		path := filepath.Join(*scaleLogs, fmt.Sprintf("%s-%s-%d.log", run, s.name, s.cmd.Process.Pid))
		if err := os.WriteFile(path, []byte(s.logs.String()), 0o644); err != nil {
			sr.t.Errorf("write log: %v", err)
		}
	}
}

// route points the gateway's push routes at the running services.
func (sr *scaleRun) route() {
	var cs, ws []string
	for _, c := range sr.coords {
		cs = append(cs, c.url)
	}
	for _, w := range sr.workers {
		ws = append(ws, w.url)
	}
	sr.gw.route("/predict", workerAud, ws...)
	sr.gw.route("/complete", coordAud, cs...)
	sr.gw.route("/dead-letter", coordAud, cs...)
}

// restart kills services[i] with SIGKILL and starts another in its place.
func (sr *scaleRun) restart(services []*service, i int) {
	s := services[i]
	done := sr.done()
	s.cmd.Process.Kill()
	<-s.done
	s.done <- nil
	sr.mu.Lock()
	sr.old = append(sr.old, s)
	sr.mu.Unlock()
	args := sr.workerArgs
	if s.name == "coordinator" {
		args = sr.coordArgs
	}
	services[i] = sr.startService(args)
	sr.route()
	sr.notef("killed and restarted %s %d at %d%% done", s.name, i, int(100*done))
}

// freeze stops s with SIGSTOP for d, then resumes it with SIGCONT.
func (sr *scaleRun) freeze(s *service, d time.Duration) {
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		sr.t.Errorf("SIGSTOP %s: %v", s.name, err)
		return
	}
	sr.froze.Store(true)
	time.Sleep(d)
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		sr.t.Errorf("SIGCONT %s: %v", s.name, err)
	}
}

// holder returns the index of the coordinator that last logged taking the
// work claim, 0 if none did.
func (sr *scaleRun) holder() int {
	best, at := 0, ""
	for i, c := range sr.coords {
		for _, l := range strings.Split(c.logs.String(), "\n") {
			var line struct {
				Message string `json:"message"`
				Time    string `json:"time"`
			}
			if json.Unmarshal([]byte(l), &line) == nil && strings.HasPrefix(line.Message, "work claimed") && line.Time > at {
				best, at = i, line.Time
			}
		}
	}
	return best
}

func (sr *scaleRun) batch() batch.Batch {
	b, err := sr.store.GetBatch(context.WithoutCancel(sr.ctx), sr.batchID)
	if err != nil {
		sr.t.Errorf("get batch: %v", err)
	}
	return b
}

// done returns the share of items with an outcome.
func (sr *scaleRun) done() float64 {
	b := sr.batch()
	if b.Total == 0 {
		return 0
	}
	return float64(b.Counts.Done()) / float64(b.Total)
}

// waitDone returns once at least share of the items have an outcome, the
// batch has left running, or the run is over.
func (sr *scaleRun) waitDone(share float64) {
	for sr.ctx.Err() == nil {
		b := sr.batch()
		if b.State != batch.Running || float64(b.Counts.Done()) >= share*float64(b.Total) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFinalized returns the batch once it is finalized.
func (sr *scaleRun) waitFinalized() batch.Batch {
	for {
		b, err := sr.store.GetBatch(sr.ctx, sr.batchID)
		if err == nil && b.State == batch.Finalized {
			return b
		}
		select {
		case <-sr.ctx.Done():
			sr.t.Fatalf("batch %s not finalized in time: %+v, %v (gateway: %s)", sr.batchID, b.Counts, err, sr.gw.stats())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// check checks the finalized batch b and what was made of it, and records
// the run's measures in rec.
func (sr *scaleRun) check(b batch.Batch, q *gcppubsub.Queue, exportDir string, rec *scaleRecord) {
	t, ctx := sr.t, sr.ctx
	if b.Result != batch.ResultSucceeded || b.Counts.Failed+b.Counts.TimedOut != 0 {
		t.Errorf("batch %s: result %s counts %+v, want succeeded with no player failed or timed out", b.ID, b.Result, b.Counts)
	}
	bs, err := sr.store.ListBatches(ctx, batch.ListOptions{Date: sr.cfg.day, Run: "scale"})
	if err != nil || len(bs) != 1 {
		t.Errorf("%d batches for the key, %v; want 1", len(bs), err)
	}
	items, err := sr.store.Items(ctx, b.ID, batch.ItemsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var recount batch.Counts
	var last time.Time
	for _, it := range items {
		switch it.Outcome {
		case batch.OutcomeSucceeded:
			recount.Succeeded++
		case batch.OutcomeSkipped:
			recount.Skipped++
		case batch.OutcomeFailed:
			recount.Failed++
		case batch.OutcomeTimedOut:
			recount.TimedOut++
		default:
			t.Errorf("item %s has no outcome in a finalized batch", it.ID)
		}
		if it.CompletedAt.After(last) {
			last = it.CompletedAt
		}
	}
	if len(items) != b.Total || recount != b.Counts {
		t.Errorf("batch counts %+v of %d, recount %+v of %d items", b.Counts, b.Total, recount, len(items))
	}
	rec.sinceWorker = b.FinalizedAt.Sub(last)
	// When the last outcome became durable: the last write of an item
	// document (an outcome is the last thing written to an item), by
	// Firestore's clock, which is this machine's.
	docs, err := sr.store.Client().CollectionGroup("items").Documents(ctx).GetAll()
	if err != nil {
		t.Fatal(err)
	}
	var lastRecorded time.Time
	for _, d := range docs {
		if d.UpdateTime.After(lastRecorded) {
			lastRecorded = d.UpdateTime
		}
	}
	rec.toFinalize = b.FinalizedAt.Sub(lastRecorded)

	// The publication and the export are the finalized batch's, written
	// under its final lease, before it finalized.
	final := b.LeaseToken()
	pub, err := sr.store.Published(ctx, predict.MustParseDate(sr.cfg.day))
	if err != nil {
		t.Fatal(err)
	}
	if pub.BatchID != b.ID || pub.Result != b.Result {
		t.Errorf("publication of batch %s (%s), want %s (%s)", pub.BatchID, pub.Result, b.ID, b.Result)
	}
	if pub.PublishedAt.After(b.FinalizedAt) {
		t.Errorf("publication written at %s, after the batch finalized at %s: by a finalizer that had lost its lease",
			pub.PublishedAt.Format(time.RFC3339Nano), b.FinalizedAt.Format(time.RFC3339Nano))
	}
	path := pipeline.ExportPath(exportDir, predict.MustParseDate(sr.cfg.day))
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var exp predict.Publication
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatalf("export %s: %v", path, err)
	}
	if exp.BatchID != b.ID || exp.Fence != final {
		t.Errorf("export of batch %s under lease %+v, want %s under the final lease %+v", exp.BatchID, exp.Fence, b.ID, final)
	}
	if fi, err := os.Stat(path); err == nil && fi.ModTime().After(b.FinalizedAt) {
		t.Errorf("export written at %s, after the batch finalized at %s", fi.ModTime().Format(time.RFC3339Nano), b.FinalizedAt.Format(time.RFC3339Nano))
	}
	if n, m := pub.Count(), exp.Count(); n != m || n == 0 {
		t.Errorf("publication has %d predictions, the export %d", n, m)
	}

	// The finalized event, relayed under one ID; copies are counted. Only
	// the holder of the work claim relays: after a kill of the holder the
	// claim (6 sweeps, 3 s) must run out before another relays, so wait
	// for the event that long and more, then for copies.
	want := batch.EventID(b.ID, batch.EventFinalized)
	ids := map[string]int{}
	for at := time.Now(); ids[want] == 0 && time.Since(at) < 10*time.Second; {
		for _, d := range drainTopic(t, q, batch.TopicEvents, 500*time.Millisecond) {
			ids[d.Attributes[batch.AttrEventID]]++
		}
	}
	for _, d := range drainTopic(t, q, batch.TopicEvents, 2*time.Second) {
		ids[d.Attributes[batch.AttrEventID]]++
	}
	rec.events = ids[want]
	if len(ids) != 1 || ids[want] == 0 {
		t.Errorf("events relayed %v, want the finalized event %s", ids, want)
	}

	// The logs: no outcome dropped as invalid; requests dispatched and
	// handled per player.
	var dispatches []string
	sr.mu.Lock()
	all := slices.Concat(sr.coords, sr.workers, sr.old)
	sr.mu.Unlock()
	for _, s := range all {
		for _, l := range strings.Split(s.logs.String(), "\n") {
			var line struct {
				Message string `json:"message"`
				BatchID string `json:"batch_id"`
				Items   int    `json:"items"`
				Time    string `json:"time"`
			}
			if json.Unmarshal([]byte(l), &line) != nil || len(line.Time) < 11 {
				continue
			}
			switch {
			case line.Message == "dropping outcome that cannot be recorded":
				t.Errorf("%s dropped an outcome: %s", s.name, l)
			case line.Message == "request handled" && line.BatchID == b.ID:
				rec.requests++
			case line.Message == "items dispatched" && line.BatchID == b.ID:
				rec.dispatched += line.Items
				dispatches = append(dispatches, fmt.Sprintf("%s %s: %d", line.Time[11:], s.url, line.Items))
			}
		}
	}
	t.Logf("dispatches (time, coordinator: items): %s", strings.Join(dispatches, "; "))
	if !sr.pull {
		t.Log(sr.gw.pushSummary("/predict", b.ID))
	}
	t.Logf("%s: %d players, finalized %s %s after the last outcome recorded (%s after the worker sent it), %d requests dispatched (%.2f per player), %d handled (%.2f per player), event relayed %d time(s)",
		b.ID, b.Total, b.Result, rec.toFinalize.Round(time.Millisecond), rec.sinceWorker.Round(time.Millisecond),
		rec.dispatched, float64(rec.dispatched)/float64(b.Total), rec.requests, float64(rec.requests)/float64(b.Total), rec.events)
	// Without faults, one coordinator dispatches each request once: an
	// outbox mark that outcomes kept failing had the dispatch outlast the
	// work claim and the next holder publish the same requests again.
	if sr.scenario == "nofault" && float64(rec.dispatched) > 1.1*float64(b.Total) {
		t.Errorf("%d requests dispatched for %d players without faults, want at most 1.1 per player", rec.dispatched, b.Total)
	}
}

// scaleTable summarizes the runs per scenario and mode.
func scaleTable(rows []scaleRecord) string {
	type key struct{ scenario, mode string }
	groups := map[key][]scaleRecord{}
	var keys []key
	for _, r := range rows {
		k := key{r.scenario, r.mode}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| scenario | mode | runs | passed | result | time to finalize after the last outcome recorded: median (max) | "+
		"after the worker sent it: median (max) | requests dispatched per player: mean (max) | requests handled per player: mean (max) | event copies |\n"+
		"|---|---|---|---|---|---|---|---|---|---|\n")
	for _, k := range keys {
		g := groups[k]
		var fin, sent []time.Duration
		var dispatched, handled []float64
		passed, events := 0, 0
		results := map[batch.Result]int{}
		for _, r := range g {
			if r.ok {
				passed++
			}
			results[r.result]++
			fin = append(fin, r.toFinalize)
			sent = append(sent, r.sinceWorker)
			if r.players > 0 {
				dispatched = append(dispatched, float64(r.dispatched)/float64(r.players))
				handled = append(handled, float64(r.requests)/float64(r.players))
			}
			events = max(events, r.events)
		}
		slices.Sort(fin)
		slices.Sort(sent)
		var res []string
		for r, n := range results {
			res = append(res, fmt.Sprintf("%s×%d", r, n))
		}
		slices.Sort(res)
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %s (%s) | %s (%s) | %s | %s | ≤ %d |\n", k.scenario, k.mode, len(g), passed,
			strings.Join(res, " "), fin[len(fin)/2].Round(10*time.Millisecond), fin[len(fin)-1].Round(10*time.Millisecond),
			sent[len(sent)/2].Round(10*time.Millisecond), sent[len(sent)-1].Round(10*time.Millisecond), meanMax(dispatched), meanMax(handled), events)
	}
	return b.String()
}

// meanMax formats the mean and the largest of xs as "mean (max)".
func meanMax(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return fmt.Sprintf("%.2f (%.2f)", sum/float64(len(xs)), slices.Max(xs))
}
