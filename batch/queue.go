package batch

import (
	"context"
	"time"
)

// Topics of the prediction pipeline.
const (
	TopicRequests = "prediction-requests" // coordinator → workers: one message per item
	TopicOutcomes = "prediction-outcomes" // workers → coordinator: one [OutcomeMessage] per item
	TopicEvents   = "batch-events"        // relay → downstream: [Event]s from the outbox, at least once; dedupe on [AttrEventID]
)

// DeadLetterTopic returns the topic a queue moves a message of topic to once
// it has been delivered the maximum number of times.
func DeadLetterTopic(topic string) string { return topic + "-dead-letter" }

// Message attribute names.
const (
	AttrBatchID = "batch_id"
	AttrItemID  = "item_id"
	AttrAttempt = "attempt" // the item's dispatch attempt, as a decimal
	AttrTraceID = "trace_id"
	AttrEventID = "event_id"
)

// Message is what is published to a topic.
type Message struct {
	// ID identifies this publish; backends that can, drop a second publish
	// of the same ID on the same topic while the first is undelivered.
	ID         string
	Body       []byte
	Attributes map[string]string
}

// Delivery is a received message. It must be acked or nacked; if it is
// neither before its lease expires it is delivered again.
type Delivery struct {
	Message
	// Attempt is 1 on the first delivery of the message and grows with each
	// redelivery.
	Attempt int
	// PublishedAt is when the message was published.
	PublishedAt time.Time
	// Receipt is the backend's handle for Ack and Nack.
	Receipt string
}

// Queue is an at-least-once message transport. A message is delivered again
// until it is acked; after a backend-configured number of deliveries it is
// moved to [DeadLetterTopic]. Order is not guaranteed.
type Queue interface {
	// Publish adds messages to a topic durably before returning.
	Publish(ctx context.Context, topic string, msgs ...Message) error

	// Receive waits until at least one message of topic is available or
	// ctx is done, and returns up to max of them, each leased to the caller
	// for the backend's visibility timeout. It returns ctx's error when ctx
	// ends first.
	Receive(ctx context.Context, topic string, max int) ([]Delivery, error)

	// Ack removes delivered messages for good, all in one durable step
	// where the backend can. Acking a message whose lease expired and which
	// was delivered again returns an error wrapping [ErrConflict] (the other
	// messages are still acked); the message is not lost.
	Ack(ctx context.Context, ds ...Delivery) error

	// Nack gives delivered messages back to be delivered again after a
	// backoff, or moves each to the dead-letter topic when it has used its
	// deliveries.
	Nack(ctx context.Context, ds ...Delivery) error
}

// TopicDepth counts the unacknowledged messages of one topic by state, at
// one instant of the queue's clock.
type TopicDepth struct {
	Topic string `json:"topic"`
	// Ready messages can be received now: never delivered, or their lease
	// or backoff has ended.
	Ready int `json:"ready"`
	// Leased messages are held by a receiver whose lease has not ended.
	Leased int `json:"leased"`
	// Delayed messages were nacked and wait out their backoff.
	Delayed int `json:"delayed"`
}

// Total returns the number of messages on the topic.
func (d TopicDepth) Total() int { return d.Ready + d.Leased + d.Delayed }
