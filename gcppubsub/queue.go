package gcppubsub

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	pubsub "cloud.google.com/go/pubsub/v2"
	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tipoff/batch"
)

// IDAttribute is the message attribute that carries [batch.Message.ID]:
// Pub/Sub assigns message IDs of its own, so the queue's travel alongside.
// Deliveries do not show it among their attributes, and publishing a
// message that sets it is refused.
const IDAttribute = "tipoff_message_id"

// deadLetterAttrPrefix starts the attributes Pub/Sub adds to a message it
// moves to a dead-letter topic (source subscription, delivery count, …).
// Deliveries do not show them: a dead-lettered message keeps the ID, body
// and attributes it was published with.
const deadLetterAttrPrefix = "CloudPubSubDeadLetter"

// Pub/Sub limits on what one message and one publish request may hold.
const (
	maxAttributes     = 100
	maxAttrKeyBytes   = 256
	maxAttrValueBytes = 1024
	// maxRequestBytes keeps a publish request under Pub/Sub's 10 MB with
	// room for its framing; it is also the most one message may hold.
	maxRequestBytes    = 9 << 20
	maxRequestMessages = 1000
	// maxPull is the most messages one Pull asks for.
	maxPull = 1000
	// perMessageBytes is a generous bound on the framing of one message
	// in a publish request.
	perMessageBytes = 64
)

// AutoSetup tries Setup this many times, each bounded by autoSetupTimeout.
const (
	autoSetupAttempts = 3
	autoSetupTimeout  = 15 * time.Second
)

// emptyPullPause is the least time between two pulls that found nothing.
const emptyPullPause = 100 * time.Millisecond

// settleTimeout bounds the RPCs that settle messages the caller already
// holds (setting the lease after a pull), which run even when the
// caller's context has just ended so as not to strand the messages.
const settleTimeout = 10 * time.Second

// Queue is a [batch.Queue] on Google Pub/Sub: Publish publishes to a topic,
// and Receive pulls from the topic's pull subscription (see
// [Config.Subscriptions]). Dead-lettering after [Config.MaxDeliveries] and
// the nack backoff are Pub/Sub's, from the subscription's dead-letter and
// retry policies ([Queue.Setup] creates subscriptions with them).
//
// Receive uses unary Pull, asking for at most the messages asked for, rather than
// the client library's streaming subscriber: nothing is fetched that the
// caller did not ask for, so no message waits in a buffer with its lease
// (and one of its delivery attempts) running out while nobody is
// receiving, and there is no lease extension to keep going. The price is a
// round trip per Receive, which a batch of a few hundred items does not
// notice.
//
// A [batch.Delivery.Receipt] holds the subscription, the ack ID and when
// the delivery's lease ends. Pub/Sub silently ignores the ack of a
// delivery that is no longer current, so the queue decides staleness
// itself: Ack and Nack of a delivery whose lease has ended, or that this
// queue has already settled, return [batch.ErrConflict] and send nothing;
// the message is delivered again, never lost.
//
// Pub/Sub does not deduplicate message IDs and does not keep publish order;
// see the package documentation for what the emulator does differently.
type Queue struct {
	client *pubsub.Client
	cfg    Config

	mu        sync.Mutex
	closed    bool
	done      chan struct{}
	inflight  sync.WaitGroup
	settled   map[string]time.Time // receipt → lease end, for receipts settled here
	lastPrune time.Time
	setUp     map[string]*setupCall // AutoSetup's calls, by source topic
}

var _ batch.Queue = (*Queue)(nil)

// errClosed is returned by every call after [Queue.Close].
var errClosed = errors.New("gcppubsub: queue is closed")

// Open connects to Pub/Sub for cfg.Project. opts are passed to the client
// (credentials, endpoint); the client library itself connects to the
// emulator when PUBSUB_EMULATOR_HOST is set. It does not create topics or
// subscriptions: see [Queue.Setup]. The caller must Close the queue.
func Open(ctx context.Context, cfg Config, opts ...option.ClientOption) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	client, err := pubsub.NewClient(ctx, cfg.Project, opts...)
	if err != nil {
		return nil, fmt.Errorf("gcppubsub: connect to project %s: %w", cfg.Project, err)
	}
	q := &Queue{client: client, cfg: cfg, done: make(chan struct{}),
		settled: make(map[string]time.Time), setUp: make(map[string]*setupCall)}
	if err := q.Setup(ctx, cfg.SetupTopics...); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

// Close ends waiting receives, waits for calls in progress and closes the
// connection. Later calls return an error.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.done)
	q.mu.Unlock()
	q.inflight.Wait()
	return q.client.Close()
}

// enter registers a call in progress; the caller must call q.inflight.Done.
func (q *Queue) enter() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return errClosed
	}
	q.inflight.Add(1)
	return nil
}

// Config returns the queue's configuration, with defaults filled in.
func (q *Queue) Config() Config { return q.cfg }

func (q *Queue) topicPath(topic string) string {
	return "projects/" + q.cfg.Project + "/topics/" + topic
}

func (q *Queue) subscriptionPath(sub string) string {
	return "projects/" + q.cfg.Project + "/subscriptions/" + sub
}

// Publish publishes msgs to topic and returns once Pub/Sub has stored them,
// in as few requests as its limits allow. Nothing is published if any
// message is invalid (attributes beyond Pub/Sub's limits, or setting
// [IDAttribute]): the error wraps [batch.ErrInvalid] and names the message.
// A message without an ID gets a random one. If a later request fails the
// earlier ones stay published; publishing again is safe, since consumers
// absorb duplicates. A topic that does not exist is [batch.ErrNotFound].
func (q *Queue) Publish(ctx context.Context, topic string, msgs ...batch.Message) error {
	if err := checkName(topic); err != nil {
		return fmt.Errorf("publish: %w: topic: %v", batch.ErrInvalid, err)
	}
	if len(msgs) == 0 {
		return nil
	}
	pms := make([]*pb.PubsubMessage, len(msgs))
	sizes := make([]int, len(msgs))
	for i, m := range msgs {
		pm, size, err := toPubsub(m)
		if err != nil {
			return fmt.Errorf("publish to %s: message %d (id %q): %w", topic, i, m.ID, err)
		}
		pms[i], sizes[i] = pm, size
	}
	if err := q.autoSetup(ctx, topic); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	if err := q.enter(); err != nil {
		return err
	}
	defer q.inflight.Done()
	for start := 0; start < len(pms); {
		end, bytes := start, 0
		for end < len(pms) && end-start < maxRequestMessages && (end == start || bytes+sizes[end] <= maxRequestBytes) {
			bytes += sizes[end]
			end++
		}
		_, err := q.client.TopicAdminClient.Publish(ctx, &pb.PublishRequest{Topic: q.topicPath(topic), Messages: pms[start:end]})
		if err != nil {
			return fmt.Errorf("publish to %s: messages %d to %d of %d: %w", topic, start, end-1, len(pms), mapErr(err))
		}
		start = end
	}
	return nil
}

// toPubsub validates m and returns it as a Pub/Sub message with its size.
func toPubsub(m batch.Message) (*pb.PubsubMessage, int, error) {
	id := m.ID
	if id == "" {
		id = rand.Text()
	}
	if len(m.Attributes) >= maxAttributes {
		return nil, 0, fmt.Errorf("%w: %d attributes, Pub/Sub allows %d besides the ID", batch.ErrInvalid, len(m.Attributes), maxAttributes-1)
	}
	if !utf8.ValidString(id) || len(id) > maxAttrValueBytes {
		return nil, 0, fmt.Errorf("%w: the ID must be valid UTF-8 of at most %d bytes", batch.ErrInvalid, maxAttrValueBytes)
	}
	attrs := make(map[string]string, len(m.Attributes)+1)
	size := len(m.Body) + len(IDAttribute) + len(id) + perMessageBytes
	for k, v := range m.Attributes {
		switch {
		case k == "":
			return nil, 0, fmt.Errorf("%w: an attribute has an empty name", batch.ErrInvalid)
		case k == IDAttribute:
			return nil, 0, fmt.Errorf("%w: attribute %q is reserved for the message ID", batch.ErrInvalid, k)
		case strings.HasPrefix(k, "goog"):
			return nil, 0, fmt.Errorf("%w: attribute %q: Pub/Sub reserves names starting with \"goog\"", batch.ErrInvalid, k)
		case len(k) > maxAttrKeyBytes:
			return nil, 0, fmt.Errorf("%w: attribute name %.20q… is %d bytes, Pub/Sub allows %d", batch.ErrInvalid, k, len(k), maxAttrKeyBytes)
		case len(v) > maxAttrValueBytes:
			return nil, 0, fmt.Errorf("%w: attribute %q is %d bytes, Pub/Sub allows %d", batch.ErrInvalid, k, len(v), maxAttrValueBytes)
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			return nil, 0, fmt.Errorf("%w: attribute %q is not valid UTF-8", batch.ErrInvalid, k)
		}
		attrs[k] = v
		size += len(k) + len(v) + 8
	}
	attrs[IDAttribute] = id
	if size > maxRequestBytes {
		return nil, 0, fmt.Errorf("%w: %d bytes with attributes, more than the %d a message may hold", batch.ErrInvalid, size, maxRequestBytes)
	}
	return &pb.PubsubMessage{Data: m.Body, Attributes: attrs}, size, nil
}

// fromPubsub returns the message m carries, undoing toPubsub.
func fromPubsub(m *pb.PubsubMessage) batch.Message {
	out := batch.Message{ID: m.GetMessageId(), Body: m.GetData()}
	for k, v := range m.GetAttributes() {
		switch {
		case k == IDAttribute:
			if v != "" {
				out.ID = v
			}
		case strings.HasPrefix(k, deadLetterAttrPrefix):
		default:
			if out.Attributes == nil {
				out.Attributes = make(map[string]string, len(m.GetAttributes()))
			}
			out.Attributes[k] = v
		}
	}
	return out
}

// Receive pulls up to limit messages of topic from its subscription, waiting
// until at least one is there or ctx ends (then it returns ctx's error). It
// sets each message's ack deadline to [Config.Lease]; the receipt records
// when that ends. A limit above 1000 asks for 1000. Bad arguments wrap
// [batch.ErrInvalid]; a subscription that does not exist is
// [batch.ErrNotFound].
//
// A pull cut short by ctx may have taken messages the caller never sees:
// Pub/Sub delivers them again after the subscription's ack deadline.
func (q *Queue) Receive(ctx context.Context, topic string, limit int) ([]batch.Delivery, error) {
	if err := checkName(topic); err != nil {
		return nil, fmt.Errorf("receive: %w: topic: %v", batch.ErrInvalid, err)
	}
	if limit < 1 {
		return nil, fmt.Errorf("receive from %s: %w: max is %d, want at least 1", topic, batch.ErrInvalid, limit)
	}
	if err := q.autoSetup(ctx, topic); err != nil {
		if err := ctxErr(ctx); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("receive from %s: %w", topic, err)
	}
	if err := q.enter(); err != nil {
		return nil, err
	}
	defer q.inflight.Done()
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // Close ends a waiting pull
		select {
		case <-q.done:
			cancel()
		case <-pctx.Done():
		}
	}()
	sub := q.cfg.subscription(topic)
	req := &pb.PullRequest{Subscription: q.subscriptionPath(sub), MaxMessages: int32(min(limit, maxPull))}
	for {
		start := time.Now()
		resp, err := q.pull(pctx, req)
		if err := ctxErr(ctx); err != nil {
			// What a pull cut short took comes back after its deadline.
			return nil, err
		}
		if q.isClosed() {
			return nil, errClosed
		}
		if err != nil {
			switch status.Code(err) {
			case codes.DeadlineExceeded, codes.Unavailable:
				// A long poll that found nothing, or a connection
				// dropped: ask again.
				continue
			}
			return nil, fmt.Errorf("receive from %s (subscription %s): %w", topic, sub, mapErr(err))
		}
		if len(resp.GetReceivedMessages()) == 0 {
			// Pub/Sub holds an empty pull open for a while; one that came
			// back at once must not turn this loop into a busy wait.
			if wait := emptyPullPause - time.Since(start); wait > 0 {
				select {
				case <-time.After(wait):
				case <-pctx.Done():
				}
			}
			continue
		}
		return q.lease(ctx, topic, sub, resp.GetReceivedMessages())
	}
}

// pull runs one Pull, bounded by [Config.PullWait].
func (q *Queue) pull(ctx context.Context, req *pb.PullRequest) (*pb.PullResponse, error) {
	if q.cfg.PullWait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, q.cfg.PullWait)
		defer cancel()
	}
	return q.client.SubscriptionAdminClient.Pull(ctx, req)
}

// lease sets the ack deadline of pulled messages to the configured lease
// and returns them as deliveries.
func (q *Queue) lease(ctx context.Context, topic, sub string, rms []*pb.ReceivedMessage) ([]batch.Delivery, error) {
	ackIDs := make([]string, len(rms))
	for i, rm := range rms {
		ackIDs[i] = rm.GetAckId()
	}
	// The messages are the caller's now: set their lease even if ctx has
	// just ended, so they are not stranded for the subscription's deadline.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	// The lease is reckoned from before the request, so the queue's idea
	// of when it ends is never later than Pub/Sub's.
	start := q.cfg.NowFunc()
	err := q.client.SubscriptionAdminClient.ModifyAckDeadline(mctx, &pb.ModifyAckDeadlineRequest{
		Subscription:       q.subscriptionPath(sub),
		AckIds:             ackIDs,
		AckDeadlineSeconds: int32(q.cfg.Lease / time.Second),
	})
	if err != nil {
		// Their lease is the subscription's, of a length the queue cannot
		// vouch for: give them back rather than hand them out.
		_ = q.client.SubscriptionAdminClient.ModifyAckDeadline(mctx, &pb.ModifyAckDeadlineRequest{
			Subscription: q.subscriptionPath(sub), AckIds: ackIDs, AckDeadlineSeconds: 0,
		})
		return nil, fmt.Errorf("receive from %s: set the lease of %d messages: %w", topic, len(rms), mapErr(err))
	}
	end := start.Add(q.cfg.Lease)
	ds := make([]batch.Delivery, len(rms))
	for i, rm := range rms {
		ds[i] = batch.Delivery{
			Message:     fromPubsub(rm.GetMessage()),
			Attempt:     max(int(rm.GetDeliveryAttempt()), 1),
			PublishedAt: rm.GetMessage().GetPublishTime().AsTime(),
			Receipt:     makeReceipt(sub, end, rm.GetAckId()),
		}
	}
	return ds, nil
}

// setupCall is one AutoSetup of a topic: done is closed when it has
// ended, with err its result.
type setupCall struct {
	done chan struct{}
	err  error
}

// autoSetup runs Setup for topic's source topic the first time, if
// [Config.AutoSetup] is set. Callers that come while it runs wait for it:
// a publish must not go ahead on the word of a Setup that found the topic
// and subscription already being created by another caller, since Pub/Sub
// gives a subscription only the messages published after it exists (the
// emulator has been seen to drop a publish that way). A Setup that failed
// is tried again by the next caller.
func (q *Queue) autoSetup(ctx context.Context, topic string) error {
	if !q.cfg.AutoSetup {
		return nil
	}
	src := topic
	if s, ok := strings.CutSuffix(topic, batch.DeadLetterTopic("")); ok && s != "" {
		src = s
	}
	for {
		q.mu.Lock()
		c := q.setUp[src]
		if c == nil {
			c = &setupCall{done: make(chan struct{})}
			q.setUp[src] = c
			q.mu.Unlock()
			c.err = q.runSetup(ctx, src)
			q.mu.Lock()
			if c.err != nil {
				delete(q.setUp, src)
			}
			q.mu.Unlock()
			close(c.done)
			return c.err
		}
		q.mu.Unlock()
		select {
		case <-c.done:
			if c.err == nil {
				return nil
			}
			// It failed, perhaps only for its caller's context: try
			// again, unless this caller's context has ended too.
			if err := ctx.Err(); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// runSetup runs Setup for src, each attempt bounded, so one request the
// server loses does not hold up the caller for the client library's
// minute.
func (q *Queue) runSetup(ctx context.Context, src string) error {
	var err error
	for range autoSetupAttempts {
		actx, cancel := context.WithTimeout(ctx, autoSetupTimeout)
		err = q.Setup(actx, src)
		timedOut := actx.Err() == context.DeadlineExceeded && ctx.Err() == nil
		cancel()
		if err == nil || !timedOut {
			break
		}
	}
	return err
}

// ctxErr returns ctx's error if ctx is done or its deadline has passed.
// gRPC may report the deadline a moment before ctx itself ends; then it
// waits that moment, so the error is ctx's own.
func ctxErr(ctx context.Context) error {
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		<-ctx.Done()
	}
	return ctx.Err()
}

func (q *Queue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// Ack acknowledges deliveries, one request per subscription (and per
// thousand messages). A delivery whose lease has ended, or that was
// already settled through this queue, is not sent: the error wraps
// [batch.ErrConflict], and Pub/Sub delivers the message again. A receipt
// this package did not make wraps [batch.ErrInvalid]. The other deliveries
// are acked either way.
func (q *Queue) Ack(ctx context.Context, ds ...batch.Delivery) error {
	return q.settle(ctx, "ack", ds, func(ctx context.Context, sub string, ackIDs []string) error {
		return q.client.SubscriptionAdminClient.Acknowledge(ctx, &pb.AcknowledgeRequest{Subscription: q.subscriptionPath(sub), AckIds: ackIDs})
	})
}

// Nack gives deliveries back by setting their ack deadline to zero: Pub/Sub
// delivers each again after the subscription's retry backoff, or moves it
// to the dead-letter topic once it has had its deliveries. Stale and
// foreign receipts are treated as by [Queue.Ack].
func (q *Queue) Nack(ctx context.Context, ds ...batch.Delivery) error {
	return q.settle(ctx, "nack", ds, func(ctx context.Context, sub string, ackIDs []string) error {
		return q.client.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pb.ModifyAckDeadlineRequest{Subscription: q.subscriptionPath(sub), AckIds: ackIDs, AckDeadlineSeconds: 0})
	})
}

// settle claims the current receipts among ds and sends them with rpc,
// grouped by subscription. A receipt whose request fails is released, so
// the caller may settle it again.
func (q *Queue) settle(ctx context.Context, verb string, ds []batch.Delivery, rpc func(context.Context, string, []string) error) error {
	if len(ds) == 0 {
		return nil
	}
	if err := q.enter(); err != nil {
		return err
	}
	defer q.inflight.Done()
	var errs []error
	bySub := make(map[string][]receipt)
	var order []string
	now := q.cfg.NowFunc()
	q.mu.Lock()
	q.prune(now)
	for _, d := range ds {
		r, err := parseReceipt(d.Receipt)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s message %q: %w", verb, d.ID, err))
			continue
		}
		if _, ok := q.settled[d.Receipt]; ok {
			errs = append(errs, fmt.Errorf("%s message %q: %w: delivery %d was already settled", verb, d.ID, batch.ErrConflict, d.Attempt))
			continue
		}
		if !now.Before(r.end.Add(-ackMargin(q.cfg.Lease))) {
			errs = append(errs, fmt.Errorf("%s message %q: %w: the lease of delivery %d ended at %s; the message will be delivered again",
				verb, d.ID, batch.ErrConflict, d.Attempt, r.end.Format(time.RFC3339Nano)))
			continue
		}
		q.settled[d.Receipt] = r.end
		if _, ok := bySub[r.sub]; !ok {
			order = append(order, r.sub)
		}
		bySub[r.sub] = append(bySub[r.sub], r)
	}
	q.mu.Unlock()
	for _, sub := range order {
		rs := bySub[sub]
		for start := 0; start < len(rs); start += maxRequestMessages {
			chunk := rs[start:min(start+maxRequestMessages, len(rs))]
			ackIDs := make([]string, len(chunk))
			for i, r := range chunk {
				ackIDs[i] = r.ackID
			}
			if err := rpc(ctx, sub, ackIDs); err != nil {
				q.mu.Lock()
				for _, r := range chunk {
					delete(q.settled, r.raw)
				}
				q.mu.Unlock()
				errs = append(errs, fmt.Errorf("%s %d messages of subscription %s: %w", verb, len(chunk), sub, mapErr(err)))
			}
		}
	}
	return errors.Join(errs...)
}

// ackMargin is how long before its lease ends a delivery already counts
// as stale: an ack sent later might reach Pub/Sub after the lease and be
// ignored, so it is reported as a conflict instead.
func ackMargin(lease time.Duration) time.Duration { return min(lease/10, time.Second) }

// prune forgets settled receipts whose lease has ended: the lease check
// refuses them from then on. q.mu is held.
func (q *Queue) prune(now time.Time) {
	if now.Sub(q.lastPrune) < q.cfg.Lease {
		return
	}
	q.lastPrune = now
	for r, end := range q.settled {
		if now.After(end) {
			delete(q.settled, r)
		}
	}
}

// receipt is a parsed [batch.Delivery.Receipt]: "sub/end/ackID", end in
// Unix milliseconds.
type receipt struct {
	raw   string
	sub   string
	end   time.Time
	ackID string
}

func makeReceipt(sub string, end time.Time, ackID string) string {
	// Round down, so the receipt's lease never outlasts Pub/Sub's.
	return sub + "/" + strconv.FormatInt(end.UnixMilli(), 10) + "/" + ackID
}

func parseReceipt(s string) (receipt, error) {
	sub, rest, ok1 := strings.Cut(s, "/")
	ms, ackID, ok2 := strings.Cut(rest, "/")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok1 || !ok2 || err != nil || ackID == "" || checkName(sub) != nil {
		return receipt{}, fmt.Errorf("%w: receipt %.60q was not made by a gcppubsub queue", batch.ErrInvalid, s)
	}
	return receipt{raw: s, sub: sub, end: time.UnixMilli(n), ackID: ackID}, nil
}

// mapErr maps Pub/Sub's status codes onto batch's error kinds, keeping the
// cause.
func mapErr(err error) error {
	switch status.Code(err) {
	case codes.NotFound:
		return fmt.Errorf("%w: %w (create it with Queue.Setup or deploy/deploy.sh)", batch.ErrNotFound, err)
	case codes.InvalidArgument, codes.OutOfRange:
		return fmt.Errorf("%w: %w", batch.ErrInvalid, err)
	case codes.AlreadyExists:
		return fmt.Errorf("%w: %w", batch.ErrConflict, err)
	}
	return err
}
