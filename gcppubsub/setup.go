package gcppubsub

import (
	"context"
	"fmt"
	"time"

	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"tipoff/batch"
)

// Push configures a push subscription for [Queue.SetupPush].
type Push struct {
	// Subscription is the subscription's ID; default topic + "-push".
	Subscription string
	// Endpoint is the URL Pub/Sub POSTs each message to.
	Endpoint string
	// ServiceAccount, when set, is the account whose OIDC token Pub/Sub
	// sends with each push, for Audience (default: Endpoint).
	ServiceAccount string
	Audience       string
}

// Setup creates, for each topic, what the queue needs to publish to it and
// receive from it: the topic, its dead-letter topic ([batch.DeadLetterTopic]),
// the topic's pull subscription with the configured lease as ack deadline
// (at least Pub/Sub's 10s), the dead-letter policy ([Config.MaxDeliveries])
// and the retry policy ([Config.BackoffMin], [Config.BackoffMax]), and a
// pull subscription on the dead-letter topic that keeps what lands there
// for 7 days. What already exists is left as it is. It is meant for the
// emulator, tests and pull-mode deployments; deploy/deploy.sh sets up
// production, including the permissions dead-lettering needs.
func (q *Queue) Setup(ctx context.Context, topics ...string) error {
	for _, topic := range topics {
		if err := q.setup(ctx, topic, nil); err != nil {
			return err
		}
	}
	return nil
}

// SetupPush is [Queue.Setup] for one topic whose messages Pub/Sub pushes to
// an HTTP endpoint instead: the topic's subscription is a push subscription
// with the same dead-letter and retry policies. The dead-letter topic still
// gets a pull subscription.
func (q *Queue) SetupPush(ctx context.Context, topic string, p Push) error {
	if p.Endpoint == "" {
		return fmt.Errorf("setup push for %s: %w: no endpoint", topic, batch.ErrInvalid)
	}
	if p.Subscription == "" {
		p.Subscription = topic + "-push"
	}
	return q.setup(ctx, topic, &p)
}

func (q *Queue) setup(ctx context.Context, topic string, push *Push) error {
	dlTopic := batch.DeadLetterTopic(topic)
	for _, name := range []string{topic, dlTopic} {
		if err := checkName(name); err != nil {
			return fmt.Errorf("setup: %w: topic: %v", batch.ErrInvalid, err)
		}
	}
	if err := q.enter(); err != nil {
		return err
	}
	defer q.inflight.Done()
	for _, name := range []string{topic, dlTopic} {
		_, err := q.client.TopicAdminClient.CreateTopic(ctx, &pb.Topic{Name: q.topicPath(name)})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("setup: create topic %s: %w", name, mapErr(err))
		}
	}
	dlSub := &pb.Subscription{
		Name:                     q.subscriptionPath(q.cfg.subscription(dlTopic)),
		Topic:                    q.topicPath(dlTopic),
		AckDeadlineSeconds:       int32(max(q.cfg.Lease, minAckDeadline) / time.Second),
		MessageRetentionDuration: durationpb.New(7 * 24 * time.Hour),
		ExpirationPolicy:         &pb.ExpirationPolicy{}, // never expires
	}
	sub := &pb.Subscription{
		Name:               q.subscriptionPath(q.cfg.subscription(topic)),
		Topic:              q.topicPath(topic),
		AckDeadlineSeconds: int32(max(q.cfg.Lease, minAckDeadline) / time.Second),
		DeadLetterPolicy: &pb.DeadLetterPolicy{
			DeadLetterTopic:     q.topicPath(dlTopic),
			MaxDeliveryAttempts: int32(q.cfg.MaxDeliveries),
		},
		RetryPolicy: &pb.RetryPolicy{
			MinimumBackoff: durationpb.New(q.cfg.BackoffMin),
			MaximumBackoff: durationpb.New(q.cfg.BackoffMax),
		},
		ExpirationPolicy: &pb.ExpirationPolicy{},
	}
	if push != nil {
		if err := checkName(push.Subscription); err != nil {
			return fmt.Errorf("setup push for %s: %w: subscription: %v", topic, batch.ErrInvalid, err)
		}
		sub.Name = q.subscriptionPath(push.Subscription)
		sub.PushConfig = &pb.PushConfig{PushEndpoint: push.Endpoint}
		if push.ServiceAccount != "" {
			aud := push.Audience
			if aud == "" {
				aud = push.Endpoint
			}
			sub.PushConfig.AuthenticationMethod = &pb.PushConfig_OidcToken_{
				OidcToken: &pb.PushConfig_OidcToken{ServiceAccountEmail: push.ServiceAccount, Audience: aud},
			}
		}
	}
	for _, s := range []*pb.Subscription{dlSub, sub} {
		_, err := q.client.SubscriptionAdminClient.CreateSubscription(ctx, s)
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("setup: create subscription %s: %w", s.Name, mapErr(err))
		}
	}
	return nil
}
