package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/gcpfirestore"
	"tipoff/gcppubsub"
	"tipoff/httpapi"
	"tipoff/internal/logtest"
	"tipoff/internal/oidctest"
	"tipoff/pipeline"
)

// deadLetterDate is a day of the real data with one game: few players, so
// every request can be dead-lettered quickly.
const deadLetterDate = "2025-12-16"

// The cloud shape through dead letters, on the emulators: the coordinator
// binary (pulling) and a worker on the emulator's subscriptions with the
// Pub/Sub dead-letter policy (5 deliveries, 1 s backoff). The worker
// refuses every request until each player's first request has been
// dead-lettered and re-driven (longer than the dead-letter policy allows),
// then recovers: every player still succeeds, on a later attempt, except one
// whose requests it refuses for good, which fails only when the request of
// its last attempt (--max-attempts 3) is dead-lettered. One player's
// outcome goes to the outcomes' dead-letter topic instead of the outcomes
// topic, as Pub/Sub moves one the coordinator did not take in time: the
// coordinator records it from there.
func TestCloud_EndToEndDeadLetters(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the coordinator as a process against the emulators")
	}
	batchtest.RequireEnv(t, "FIRESTORE_EMULATOR_HOST")
	batchtest.RequireEnv(t, "PUBSUB_EMULATOR_HOST")
	data := realData(t)
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(t.Context(), cloudTimeout)
	defer cancel()
	project := batchtest.UniqueID(t)
	is := oidctest.New(t)

	q, err := gcppubsub.Open(ctx, gcppubsub.Config{Project: project, Lease: 10 * time.Second,
		BackoffMin: time.Second, BackoffMax: time.Second, PullWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	t.Cleanup(func() { deleteSubscriptions(t, project) })
	// Pull subscriptions with the dead-letter policy, the dead-letter
	// topics and theirs, before anything publishes.
	if err := q.Setup(ctx, batch.TopicRequests, batch.TopicOutcomes, batch.TopicEvents); err != nil {
		t.Fatal(err)
	}
	// The item timeout is far beyond the dead letters' pace, so every
	// re-drive here is a dead letter's.
	coord := startService(t, bin, "coordinator", "--data", data, "--auth-audiences", coordAud, "--start-invokers", schedEmail,
		"--push-invokers", pushEmail, "--operators", opsEmail, "--sweep-every", "500ms", "--item-timeout", "10m", "--max-attempts", "3",
		"--project", project, "--auth-keys-url", is.JWKS.URL, "--addr", "127.0.0.1:0", "--log-format", "json", "--pull", "--lease", "10s")
	defer coord.stop(t)

	code, body := postWith(t, coord.url+"/start", token(t, is, coordAud, schedEmail, time.Hour),
		[]byte(`{"date":"`+deadLetterDate+`","run":"dead-letters"}`), jsonType)
	var started httpapi.StartResponse
	if code != http.StatusAccepted || json.Unmarshal([]byte(body), &started) != nil || started.Total < 3 {
		t.Fatalf("start: %d %s; want 202 with a batch of players", code, body)
	}
	t.Logf("batch %s: %d players", started.BatchID, started.Total)

	var (
		mu       sync.Mutex
		redriven = map[string]bool{} // players seen on a second or later attempt
		doomed   string              // the player whose requests are refused for good
		victim   string              // the player whose outcome is dead-lettered
		refused  int
	)
	errRefused := errors.New("refused: the worker is failing")
	job := pipeline.NewJob(pipeline.JobConfig{Log: discardLogger()})
	handle := func(ctx context.Context, d batch.Delivery) (batch.Outcome, []byte, error) {
		_, item, attempt, err := batch.RequestOf(d.Message)
		if err != nil {
			return "", nil, batch.Permanent(err)
		}
		mu.Lock()
		if doomed == "" {
			doomed = item
		}
		if attempt > 1 {
			redriven[item] = true
		}
		// The outage lasts until every player's first request was
		// dead-lettered: the coordinator then published it again.
		if item == doomed || len(redriven) < started.Total {
			refused++
			mu.Unlock()
			return "", nil, errRefused
		}
		mu.Unlock()
		return job.Handle(ctx, d)
	}
	publish := batch.PublishOutcomes(q)
	sink := func(ctx context.Context, msgs []batch.OutcomeMessage) error {
		var rest []batch.OutcomeMessage
		for _, m := range msgs {
			mu.Lock()
			if victim == "" {
				victim = m.ItemID
			}
			isVictim := m.ItemID == victim
			mu.Unlock()
			if !isVictim {
				rest = append(rest, m)
				continue
			}
			body, err := batch.EncodeOutcome(m)
			if err != nil {
				return err
			}
			dl := batch.Message{ID: m.BatchID + "/" + m.ItemID + "/outcome", Body: body,
				Attributes: map[string]string{batch.AttrBatchID: m.BatchID, batch.AttrItemID: m.ItemID}}
			if err := q.Publish(ctx, batch.DeadLetterTopic(batch.TopicOutcomes), dl); err != nil {
				return err
			}
		}
		if len(rest) == 0 {
			return nil
		}
		return publish(ctx, rest)
	}
	w := batch.NewWorker(q, handle, sink, logtest.New(t), batch.WorkerConfig{Name: "refusing", Concurrency: 2})
	wctx, stopWorker := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(wctx) })
	defer func() { stopWorker(); wg.Wait() }()

	client := &httpapi.Client{BaseURL: coord.url, Token: token(t, is, coordAud, opsEmail, time.Hour)}
	var b batch.Batch
	for {
		rep, err := client.Batch(ctx, started.BatchID)
		if err != nil {
			t.Fatalf("batch report: %v", err)
		}
		if rep.Batch.State == batch.Finalized {
			b = rep.Batch.Batch
			break
		}
		select {
		case <-ctx.Done():
			mu.Lock()
			t.Fatalf("batch %s not finalized in time: %d of %d done, missing %v; %d players re-driven, %d requests refused",
				started.BatchID, rep.Batch.Done, rep.Batch.Total, rep.Missing, len(redriven), refused)
		case <-time.After(250 * time.Millisecond):
		}
	}
	stopWorker()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("finalized %s with %+v; %d requests refused", b.Result, b.Counts, refused)
	if b.Counts.Failed != 1 || b.Counts.TimedOut != 0 || b.Counts.Succeeded+b.Counts.Skipped != b.Total-1 {
		t.Errorf("counts %+v of %d players; want every player but one succeeded or skipped, and one failed", b.Counts, b.Total)
	}
	store, err := gcpfirestore.Open(t.Context(), gcpfirestore.Config{ProjectID: project})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	items, err := store.Items(t.Context(), b.ID, batch.ItemsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		switch {
		case it.ID == doomed:
			if it.Outcome != batch.OutcomeFailed || it.Attempts != 3 || !strings.Contains(it.Error, "attempt 3 of 3 dead-lettered") {
				t.Errorf("refused player %s: %s after %d attempts (%q); want failed on its 3rd attempt's dead letter", it.ID, it.Outcome, it.Attempts, it.Error)
			}
		case it.Outcome != batch.OutcomeSucceeded && it.Outcome != batch.OutcomeSkipped:
			t.Errorf("player %s: %s after %d attempts (%q); want succeeded after the outage", it.ID, it.Outcome, it.Attempts, it.Error)
		case it.Attempts < 2 || !redriven[it.ID]:
			t.Errorf("player %s succeeded on attempt %d, but its first request should have been dead-lettered and re-driven", it.ID, it.Attempts)
		}
	}
	if victim == "" || victim == doomed {
		t.Fatalf("no outcome was sent to the outcomes' dead-letter topic (victim %q)", victim)
	}
	if it := anyItem(t, store, b.ID, victim); it.Outcome != batch.OutcomeSucceeded && it.Outcome != batch.OutcomeSkipped {
		t.Errorf("player %s, whose outcome reached only the dead-letter topic: %q; want it recorded", it.ID, it.Outcome)
	}
}
