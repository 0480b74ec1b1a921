package gcppubsub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	pubsub "cloud.google.com/go/pubsub/v2"
	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"

	"tipoff/batch"
	"tipoff/batch/batchtest"
	"tipoff/gcppubsub"
)

// Settings of the queues the emulator runs.
const (
	// emuLease is Pub/Sub's shortest ack deadline. It must also exceed
	// twice the emulator's extra delay before a message whose lease ended
	// can be delivered (its ~1s backoff plus up to ~2s): the emulator
	// dead-letters such a message only when a pull comes after that, and
	// the suite's check for it waits 1.5 leases.
	emuLease = 10 * time.Second
	// The shortest retry backoff the emulator applies (it raises less to 1s).
	emuBackoffMin = time.Second
	emuBackoffMax = time.Second
	// emuPullWait bounds each pull: the emulator has been seen to lose a
	// waiting pull (under load, after another request on the connection
	// was cancelled, which makes it log NoSuchMethodError in
	// onRstStreamRead), and a bounded pull is asked again.
	emuPullWait = 10 * time.Second
)

// fakeLease is the lease of the queues on the pstest fake: Pub/Sub's
// shortest ack deadline, so Setup gives the subscription the same one.
// Their clock is injected, so it costs no waiting.
const fakeLease = 10 * time.Second

// TestConformance runs the queue suite against the in-process pstest fake,
// always, and against the Pub/Sub emulator (PUBSUB_EMULATOR_HOST;
// scripts/test starts it), which in CI must be there.
func TestConformance(t *testing.T) {
	t.Run("Fake", func(t *testing.T) {
		t.Parallel()
		clock := batchtest.NewManualClock(time.Date(2026, 1, 15, 14, 0, 0, 0, time.UTC))
		batchtest.RunQueueTests(t, func(t *testing.T) batch.Queue {
			return newFakeServer(t, clock).queue(t, gcppubsub.Config{Lease: fakeLease, NowFunc: clock.Now})
		}, batchtest.QueueCaps{
			// pstest reckons ack deadlines, publish times and the
			// lease ends the queue checks by one clock the suite moves.
			Clock:         clock,
			Lease:         fakeLease,
			MaxDeliveries: 5, // Pub/Sub's minimum
			// pstest ignores the subscription's retry policy: a nacked
			// message can be pulled again at once. Production waits
			// the policy's backoff.
			NackDelayMin: 0,
			NackDelayMax: 0,
			// pstest walks a map: no order. Nor does it deduplicate.
			FIFO:       false,
			DedupesIDs: false,
			// The queue tracks leases itself: pstest, like Pub/Sub,
			// silently ignores a stale ack.
			DetectsStaleAck: true,
		})
	})
	t.Run("Emulator", func(t *testing.T) {
		batchtest.RequireEnv(t, "PUBSUB_EMULATOR_HOST")
		t.Parallel()
		batchtest.RunQueueTests(t, func(t *testing.T) batch.Queue {
			return mustOpenEmulator(t, gcppubsub.Config{
				Lease: emuLease, BackoffMin: emuBackoffMin, BackoffMax: emuBackoffMax,
			})
		}, batchtest.QueueCaps{
			Lease:         emuLease,
			MaxDeliveries: 5, // Pub/Sub's minimum
			// The emulator delivers a message nacked for the first time
			// again at once, whatever the retry policy says; later nacks
			// wait for about the policy's maximum backoff.
			NackDelayMin: 0,
			NackDelayMax: emuBackoffMax,
			// Pub/Sub neither keeps publish order (without ordering keys)
			// nor deduplicates publishes.
			FIFO:       false,
			DedupesIDs: false,
			// The queue tracks leases itself: Pub/Sub would silently
			// ignore a stale ack.
			DetectsStaleAck: true,
		})
	})
}

// mustOpenEmulator returns a queue on a project of its own in the emulator,
// setting up topics as they are used.
func mustOpenEmulator(t testing.TB, cfg gcppubsub.Config) *gcppubsub.Queue {
	t.Helper()
	batchtest.RequireEnv(t, "PUBSUB_EMULATOR_HOST")
	cfg.Project = batchtest.UniqueID(t)
	cfg.AutoSetup = true
	if cfg.PullWait == 0 {
		cfg.PullWait = emuPullWait
	}
	return mustOpen(t, cfg)
}

func mustOpen(t testing.TB, cfg gcppubsub.Config, opts ...option.ClientOption) *gcppubsub.Queue {
	t.Helper()
	q, err := gcppubsub.Open(t.Context(), cfg, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := q.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return q
}

func mustReceive(t testing.TB, q batch.Queue, topic string, n int) []batch.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var got []batch.Delivery
	for len(got) < n {
		ds, err := q.Receive(ctx, topic, n-len(got))
		if err != nil {
			t.Fatalf("Receive(%s) after %d of %d: %v", topic, len(got), n, err)
		}
		got = append(got, ds...)
	}
	return got
}

func expectNone(t testing.TB, q batch.Queue, topic string, wait time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	ds, err := q.Receive(ctx, topic, 10)
	if len(ds) > 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive(%s) = %d deliveries, %v; want none and %v", topic, len(ds), err, context.DeadlineExceeded)
	}
}

// Invalid messages are refused with ErrInvalid naming the message, and
// nothing of the call is published, not even its valid messages.
func TestQueue_PublishInvalid(t *testing.T) {
	srv := newTestServer(t)
	q := srv.queue(t, gcppubsub.Config{Lease: emuLease})
	// Set up first: a message published before its subscription exists
	// would be lost, and the check below would prove nothing.
	if err := q.Setup(t.Context(), "publish-invalid"); err != nil {
		t.Fatal(err)
	}
	good := batch.Message{ID: "good", Body: []byte("ok")}
	tests := []struct {
		name string
		m    batch.Message
		want string
	}{
		{"reserved attribute", batch.Message{ID: "r", Attributes: map[string]string{gcppubsub.IDAttribute: "x"}}, "reserved"},
		{"goog attribute", batch.Message{ID: "g", Attributes: map[string]string{"googclient_x": "1"}}, `"goog"`},
		{"empty attribute name", batch.Message{ID: "e", Attributes: map[string]string{"": "1"}}, "empty name"},
		{"long attribute name", batch.Message{ID: "k", Attributes: map[string]string{strings.Repeat("k", 257): "1"}}, "257 bytes"},
		{"long attribute value", batch.Message{ID: "v", Attributes: map[string]string{"v": strings.Repeat("v", 1025)}}, "1025 bytes"},
		{"invalid UTF-8 attribute", batch.Message{ID: "u", Attributes: map[string]string{"u": "\xff"}}, "UTF-8"},
		{"invalid UTF-8 ID", batch.Message{ID: "\xfe"}, "UTF-8"},
		{"long ID", batch.Message{ID: strings.Repeat("i", 1025)}, "1024 bytes"},
		{"too many attributes", batch.Message{ID: "n", Attributes: manyAttrs(100)}, "100 attributes"},
		{"too large", batch.Message{ID: "big", Body: make([]byte, 9<<20)}, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := q.Publish(t.Context(), "publish-invalid", good, tt.m)
			if !errors.Is(err, batch.ErrInvalid) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "message 1") {
				t.Fatalf("Publish(good, %s) = %v; want an error wrapping %v that names message 1 and mentions %q", tt.name, err, batch.ErrInvalid, tt.want)
			}
		})
	}
	for _, topic := range []string{"", "x", "goog-topic", "has space", "9starts-with-digit"} {
		if err := q.Publish(t.Context(), topic, good); !errors.Is(err, batch.ErrInvalid) {
			t.Errorf("Publish to topic %q = %v; want an error wrapping %v", topic, err, batch.ErrInvalid)
		}
	}
	if srv.fake != nil {
		// The fake lists what reached it: no need to wait and see.
		if ms := srv.fake.Messages(); len(ms) > 0 {
			t.Fatalf("%d messages reached the server, want none; the first: %q", len(ms), ms[0].Data)
		}
	} else {
		expectNone(t, q, "publish-invalid", 3*time.Second)
	}
	if err := q.Publish(t.Context(), "publish-invalid", good); err != nil {
		t.Fatalf("Publish(good): %v", err)
	}
	if d := mustReceive(t, q, "publish-invalid", 1)[0]; d.ID != good.ID {
		t.Fatalf("received %q, want %q", d.ID, good.ID)
	}
}

func manyAttrs(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[fmt.Sprintf("a%03d", i)] = "v"
	}
	return m
}

// One Publish call of more messages, and more bytes, than one Pub/Sub
// request holds is split, and every message arrives.
//
// The emulator only: pstest's gRPC server takes requests of at most 4 MB,
// where Pub/Sub takes 10 MB, so the client would retry the 9 MB requests
// against it until its deadline.
func TestQueue_PublishSplits(t *testing.T) {
	q := mustOpenEmulator(t, gcppubsub.Config{Lease: 30 * time.Second})
	msgs := make([]batch.Message, 2100)
	for i := range msgs {
		msgs[i] = batch.Message{ID: fmt.Sprintf("m%04d", i), Body: []byte(fmt.Sprintf(`{"i":%d}`, i))}
	}
	big := bytes.Repeat([]byte("p"), 4<<20)
	for i := range 3 {
		msgs = append(msgs, batch.Message{ID: fmt.Sprintf("big%d", i), Body: big})
	}
	if err := q.Publish(t.Context(), "publish-splits", msgs...); err != nil {
		t.Fatalf("Publish(%d messages): %v", len(msgs), err)
	}
	ds := mustReceive(t, q, "publish-splits", len(msgs))
	seen := make(map[string]bool)
	for _, d := range ds {
		if seen[d.ID] {
			t.Fatalf("message %q delivered twice", d.ID)
		}
		seen[d.ID] = true
		if strings.HasPrefix(d.ID, "big") && !bytes.Equal(d.Body, big) {
			t.Fatalf("message %q: body of %d bytes, want %d", d.ID, len(d.Body), len(big))
		}
	}
	if err := q.Ack(t.Context(), ds...); err != nil {
		t.Fatalf("Ack(%d): %v", len(ds), err)
	}
}

// Without AutoSetup, a topic nobody set up is ErrNotFound, for publishing
// and for receiving.
func TestQueue_NotSetUp(t *testing.T) {
	q := mustOpen(t, gcppubsub.Config{Project: batchtest.UniqueID(t)}, newTestServer(t).clientOptions()...)
	if err := q.Publish(t.Context(), "nowhere", batch.Message{ID: "x"}); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("Publish to a missing topic: got %v, want an error wrapping %v", err, batch.ErrNotFound)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := q.Receive(ctx, "nowhere", 1); !errors.Is(err, batch.ErrNotFound) {
		t.Fatalf("Receive from a missing subscription: got %v, want an error wrapping %v", err, batch.ErrNotFound)
	}
}

// Publishers that all use a topic nobody has set up yet lose nothing:
// AutoSetup lets one of them set it up while the others wait, so none
// publishes before the subscription exists. Each round is a new project,
// since only the first use of a topic races. Before the others waited,
// the emulator lost whole publishes within the first few rounds.
func TestQueue_AutoSetupConcurrentPublish(t *testing.T) {
	const rounds, publishers, perPub = 20, 6, 15
	for round := range rounds {
		q := mustOpenEmulator(t, gcppubsub.Config{Lease: emuLease})
		var wg sync.WaitGroup
		for p := range publishers {
			wg.Go(func() {
				msgs := make([]batch.Message, perPub)
				for i := range msgs {
					msgs[i] = batch.Message{ID: fmt.Sprintf("p%d-%d", p, i), Body: []byte("x")}
				}
				if err := q.Publish(t.Context(), "fresh", msgs...); err != nil {
					t.Errorf("round %d: publisher %d: %v", round, p, err)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		got := make(map[string]bool)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		for len(got) < publishers*perPub {
			ds, err := q.Receive(ctx, "fresh", 100)
			if err != nil {
				break
			}
			for _, d := range ds {
				got[d.ID] = true
			}
			if err := q.Ack(t.Context(), ds...); err != nil {
				t.Errorf("round %d: Ack: %v", round, err)
			}
		}
		cancel()
		if len(got) != publishers*perPub {
			t.Fatalf("round %d: received %d distinct messages of the %d published", round, len(got), publishers*perPub)
		}
	}
}

// Close ends a waiting Receive at once, and later calls fail.
func TestQueue_Close(t *testing.T) {
	pulling := make(chan struct{}, 1)
	q := newTestServer(t).queue(t, gcppubsub.Config{}, watchPulls(func() {
		select {
		case pulling <- struct{}{}:
		default:
		}
	}, nil))
	if err := q.Setup(t.Context(), "close-me"); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := q.Receive(t.Context(), "close-me", 1)
		errc <- err
	}()
	select {
	case <-pulling: // the receive is waiting in its pull
	case err := <-errc:
		t.Fatalf("Receive on an empty topic returned %v before Close", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Receive sent no pull within 30s")
	}
	closed := time.Now()
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Receive waiting at Close returned no error")
		}
		t.Logf("Receive returned %v, %v after Close", err, time.Since(closed))
	case <-time.After(10 * time.Second):
		t.Fatal("Receive still waiting 10s after Close")
	}
	if err := q.Publish(t.Context(), "close-me", batch.Message{ID: "x"}); err == nil {
		t.Fatal("Publish after Close succeeded")
	}
}

// Setup creates the topic, the dead-letter topic and both subscriptions
// with the configured policies, and running it again changes nothing.
func TestQueue_Setup(t *testing.T) {
	srv := newTestServer(t)
	ctx := t.Context()
	project := batchtest.UniqueID(t)
	cfg := gcppubsub.Config{Project: project, Lease: 45 * time.Second, MaxDeliveries: 7,
		BackoffMin: 5 * time.Second, BackoffMax: 90 * time.Second,
		Subscriptions: map[string]string{batch.TopicOutcomes: "coordinator-outcomes"}}
	q := mustOpen(t, cfg, srv.clientOptions()...)
	for range 2 {
		if err := q.Setup(ctx, batch.TopicOutcomes); err != nil {
			t.Fatalf("Setup: %v", err)
		}
	}
	c, err := pubsub.NewClient(ctx, project, srv.clientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	prefix := "projects/" + project
	sub, err := c.SubscriptionAdminClient.GetSubscription(ctx, &pb.GetSubscriptionRequest{Subscription: prefix + "/subscriptions/coordinator-outcomes"})
	if err != nil {
		t.Fatalf("GetSubscription: %v", err)
	}
	if got, want := sub.GetTopic(), prefix+"/topics/"+batch.TopicOutcomes; got != want {
		t.Errorf("topic %q, want %q", got, want)
	}
	if got := sub.GetAckDeadlineSeconds(); got != 45 {
		t.Errorf("ack deadline %ds, want 45s", got)
	}
	dl := sub.GetDeadLetterPolicy()
	if got, want := dl.GetDeadLetterTopic(), prefix+"/topics/"+batch.DeadLetterTopic(batch.TopicOutcomes); got != want || dl.GetMaxDeliveryAttempts() != 7 {
		t.Errorf("dead-letter policy %v, want topic %q after 7 deliveries", dl, want)
	}
	rp := sub.GetRetryPolicy()
	if rp.GetMinimumBackoff().AsDuration() != 5*time.Second || rp.GetMaximumBackoff().AsDuration() != 90*time.Second {
		t.Errorf("retry policy %v, want 5s to 1m30s", rp)
	}
	dlSub, err := c.SubscriptionAdminClient.GetSubscription(ctx, &pb.GetSubscriptionRequest{
		Subscription: prefix + "/subscriptions/" + batch.DeadLetterTopic(batch.TopicOutcomes) + gcppubsub.SubscriptionSuffix})
	if err != nil {
		t.Fatalf("GetSubscription of the dead-letter subscription: %v", err)
	}
	if dlSub.GetDeadLetterPolicy() != nil {
		t.Errorf("the dead-letter subscription has a dead-letter policy %v", dlSub.GetDeadLetterPolicy())
	}
}

// Open with SetupTopics sets them up before it returns: a message
// published at once reaches the topic's subscription.
func TestOpen_SetupTopics(t *testing.T) {
	srv := newTestServer(t)
	project := batchtest.UniqueID(t)
	mustOpen(t, gcppubsub.Config{Project: project, SetupTopics: []string{batch.TopicRequests}}, srv.clientOptions()...)
	c, err := pubsub.NewClient(t.Context(), project, srv.clientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	name := "projects/" + project + "/subscriptions/" + batch.TopicRequests + gcppubsub.SubscriptionSuffix
	if _, err := c.SubscriptionAdminClient.GetSubscription(t.Context(), &pb.GetSubscriptionRequest{Subscription: name}); err != nil {
		t.Fatalf("subscription %s after Open with SetupTopics: %v", name, err)
	}
}

// A lease shorter than the subscription's ack deadline is what Receive
// gives: the message comes back after it, not after the ack deadline.
func TestQueue_LeaseShorterThanAckDeadline(t *testing.T) {
	q := newTestServer(t).queue(t, gcppubsub.Config{Lease: 2 * time.Second})
	if err := q.Publish(t.Context(), "short-lease", batch.Message{ID: "s"}); err != nil {
		t.Fatal(err)
	}
	d1 := mustReceive(t, q, "short-lease", 1)[0]
	start := time.Now()
	d2 := mustReceive(t, q, "short-lease", 1)[0]
	// The subscription's ack deadline is 10s; the emulator looks at
	// leases every few seconds.
	if waited := time.Since(start); waited >= 9*time.Second || d2.Attempt != d1.Attempt+1 {
		t.Fatalf("redelivered after %v with attempt %d; want before the 10s ack deadline, attempt %d", waited, d2.Attempt, d1.Attempt+1)
	}
	if err := q.Ack(t.Context(), d1); !errors.Is(err, batch.ErrConflict) {
		t.Fatalf("Ack of the expired delivery: got %v, want an error wrapping %v", err, batch.ErrConflict)
	}
	if err := q.Ack(t.Context(), d2); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name string
		cfg  gcppubsub.Config
		want []string // each in the error; none means valid
	}{
		{"defaults", gcppubsub.Config{Project: "tipoff-prod"}, nil},
		{"everything set", gcppubsub.Config{Project: "tipoff-prod", Lease: 10 * time.Minute, MaxDeliveries: 100,
			BackoffMin: time.Second, BackoffMax: time.Second, Subscriptions: map[string]string{"a-topic": "a-sub"}}, nil},
		{"no project", gcppubsub.Config{}, []string{"Project"}},
		{"bad project", gcppubsub.Config{Project: "Tipoff_Prod"}, []string{"Project", "Tipoff_Prod"}},
		{"long lease", gcppubsub.Config{Project: "tipoff-prod", Lease: 11 * time.Minute}, []string{"Lease 11m0s"}},
		{"few deliveries", gcppubsub.Config{Project: "tipoff-prod", MaxDeliveries: 3}, []string{"MaxDeliveries 3"}},
		{"many deliveries", gcppubsub.Config{Project: "tipoff-prod", MaxDeliveries: 101}, []string{"MaxDeliveries 101"}},
		{"backoff order", gcppubsub.Config{Project: "tipoff-prod", BackoffMin: time.Minute, BackoffMax: time.Second}, []string{"BackoffMax 1s"}},
		{"long backoff", gcppubsub.Config{Project: "tipoff-prod", BackoffMin: time.Hour}, []string{"BackoffMin 1h0m0s"}},
		{"negative pull wait", gcppubsub.Config{Project: "tipoff-prod", PullWait: -time.Second}, []string{"PullWait -1s"}},
		{"bad subscription", gcppubsub.Config{Project: "tipoff-prod", Subscriptions: map[string]string{"a-topic": "goog-sub"}}, []string{`Subscriptions["a-topic"]`}},
		{"all at once", gcppubsub.Config{Project: "x", Lease: time.Hour, MaxDeliveries: 1}, []string{"Project", "Lease", "MaxDeliveries"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, batch.ErrInvalid) {
				t.Fatalf("Validate() = %v, want an error wrapping %v", err, batch.ErrInvalid)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

// Pulls that bring nothing, cut short by PullWait or not, are asked
// again: Receive waits on past them until its own context ends, then still
// gets what is published.
func TestQueue_PullWait(t *testing.T) {
	// Shorter than the fake's own 500ms hold of an empty pull, so that
	// there it is PullWait that ends them. (The emulator answers some
	// empty pulls at once.)
	const pullWait = 300 * time.Millisecond
	empty := make(chan error, 100)
	q := newTestServer(t).queue(t, gcppubsub.Config{Lease: emuLease, PullWait: pullWait}, watchPulls(nil, func(n int, err error) {
		if n == 0 {
			select {
			case empty <- err:
			default:
			}
		}
	}))
	if err := q.Setup(t.Context(), "pull-wait"); err != nil {
		t.Fatal(err)
	}
	type received struct {
		ds  []batch.Delivery
		err error
	}
	got := make(chan received, 1)
	go func() {
		ds, err := q.Receive(t.Context(), "pull-wait", 1)
		got <- received{ds, err}
	}()
	for i := range 3 {
		select {
		case err := <-empty:
			t.Logf("pull %d brought nothing: %v", i+1, err)
		case r := <-got:
			t.Fatalf("Receive returned %d deliveries, %v after %d empty pulls; want it to wait on", len(r.ds), r.err, i)
		case <-time.After(30 * time.Second):
			t.Fatalf("%d empty pulls within 30s; want 3", i)
		}
	}
	if err := q.Publish(t.Context(), "pull-wait", batch.Message{ID: "late"}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.err != nil || len(r.ds) != 1 || r.ds[0].ID != "late" {
			t.Fatalf("Receive = %d deliveries, %v; want %q", len(r.ds), r.err, "late")
		}
		if err := q.Ack(t.Context(), r.ds...); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Receive did not return the message published while it waited")
	}
}
