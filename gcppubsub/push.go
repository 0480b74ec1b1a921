package gcppubsub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"tipoff/batch"
)

// MaxPushBytes is the most DecodePush reads: a push envelope of the
// largest message Pub/Sub accepts (10 MB, base64-encoded) and its
// attributes.
const MaxPushBytes = 14 << 20

// pushEnvelope is the JSON body of a Pub/Sub push request (a "wrapped"
// push subscription).
type pushEnvelope struct {
	Message      *pushMessage `json:"message"`
	Subscription string       `json:"subscription"`
	// DeliveryAttempt is present when the subscription has a dead-letter
	// policy.
	DeliveryAttempt int `json:"deliveryAttempt,omitempty"`
}

type pushMessage struct {
	Data        []byte            `json:"data,omitempty"` // base64
	Attributes  map[string]string `json:"attributes,omitempty"`
	MessageID   string            `json:"messageId"`
	PublishTime string            `json:"publishTime"`
	OrderingKey string            `json:"orderingKey,omitempty"`
}

// DecodePush decodes the body of a Pub/Sub push request into the delivery
// it carries: the ID, body and attributes as published through a [Queue]
// (a message published some other way has Pub/Sub's message ID as its ID),
// the delivery attempt (1 when the subscription has no dead-letter policy)
// and the publish time. The delivery has no receipt: a push is acked by
// answering it with a 2xx status and nacked by any other. It reads at most
// [MaxPushBytes]. A publishTime outside the years 0001 to 9999 UTC, which
// Pub/Sub cannot send, is refused. Every error wraps [batch.ErrInvalid] and
// says what was wrong: a body that does not decode never will.
func DecodePush(r io.Reader) (batch.Delivery, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxPushBytes+1))
	if err != nil {
		return batch.Delivery{}, fmt.Errorf("%w: push body: read: %v", batch.ErrInvalid, err)
	}
	if len(body) > MaxPushBytes {
		return batch.Delivery{}, fmt.Errorf("%w: push body is longer than %d bytes", batch.ErrInvalid, MaxPushBytes)
	}
	var env pushEnvelope
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		return batch.Delivery{}, fmt.Errorf("%w: push body is not a Pub/Sub push envelope: %v", batch.ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return batch.Delivery{}, fmt.Errorf("%w: push body has data after the envelope", batch.ErrInvalid)
	}
	m := env.Message
	switch {
	case m == nil:
		return batch.Delivery{}, fmt.Errorf("%w: push envelope has no message", batch.ErrInvalid)
	case m.MessageID == "":
		return batch.Delivery{}, fmt.Errorf("%w: push message has no messageId", batch.ErrInvalid)
	case env.DeliveryAttempt < 0:
		return batch.Delivery{}, fmt.Errorf("%w: push message %s has deliveryAttempt %d", batch.ErrInvalid, m.MessageID, env.DeliveryAttempt)
	}
	published, err := time.Parse(time.RFC3339Nano, m.PublishTime)
	if err != nil {
		return batch.Delivery{}, fmt.Errorf("%w: push message %s: publishTime %q is not an RFC 3339 time", batch.ErrInvalid, m.MessageID, m.PublishTime)
	}
	if err := checkPublishTime(published); err != nil {
		return batch.Delivery{}, fmt.Errorf("%w: push message %s: publishTime %q %v", batch.ErrInvalid, m.MessageID, m.PublishTime, err)
	}
	d := batch.Delivery{
		Message:     batch.Message{ID: m.MessageID, Body: m.Data},
		Attempt:     max(env.DeliveryAttempt, 1),
		PublishedAt: published.UTC(),
	}
	for k, v := range m.Attributes {
		switch {
		case k == IDAttribute:
			if v != "" {
				d.ID = v
			}
		case strings.HasPrefix(k, deadLetterAttrPrefix):
		default:
			if d.Attributes == nil {
				d.Attributes = make(map[string]string, len(m.Attributes))
			}
			d.Attributes[k] = v
		}
	}
	if len(d.Body) == 0 {
		d.Body = nil
	}
	return d, nil
}

// Pub/Sub's publishTime is a protobuf Timestamp, which holds only UTC times
// from year 1 to year 9999; RFC 3339 text with an offset can name times
// beyond (0000-12-31T23:00:00-01:00 is in year 1, 0000-01-01T00:00:00+01:00
// in year -1), which no push carries and which do not survive a round trip,
// since their UTC form has no four-digit year.
var (
	minPublishTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxPublishTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// checkPublishTime reports a time outside a protobuf Timestamp's range.
func checkPublishTime(t time.Time) error {
	if t.Before(minPublishTime) || t.After(maxPublishTime) {
		return errors.New("is outside the years 0001 to 9999 UTC")
	}
	return nil
}

// EncodePush returns the body of the push request Pub/Sub would send for d
// on subscription (a full name, projects/P/subscriptions/S): what
// [DecodePush] reads. Tests of push handlers use it; d.ID doubles as the
// Pub/Sub message ID. A PublishedAt outside the years 0001 to 9999 UTC is
// refused with [batch.ErrInvalid].
func EncodePush(subscription string, d batch.Delivery) ([]byte, error) {
	if d.ID == "" {
		return nil, fmt.Errorf("%w: encode push: delivery has no ID", batch.ErrInvalid)
	}
	if err := checkPublishTime(d.PublishedAt); err != nil {
		return nil, fmt.Errorf("%w: encode push: PublishedAt %v", batch.ErrInvalid, err)
	}
	attrs := make(map[string]string, len(d.Attributes)+1)
	for k, v := range d.Attributes {
		if k == IDAttribute || strings.HasPrefix(k, deadLetterAttrPrefix) {
			return nil, fmt.Errorf("%w: encode push: attribute %q is reserved", batch.ErrInvalid, k)
		}
		attrs[k] = v
	}
	attrs[IDAttribute] = d.ID
	return json.Marshal(pushEnvelope{
		Message: &pushMessage{
			Data:        d.Body,
			Attributes:  attrs,
			MessageID:   d.ID,
			PublishTime: d.PublishedAt.UTC().Format(time.RFC3339Nano),
		},
		Subscription:    subscription,
		DeliveryAttempt: max(d.Attempt, 1),
	})
}
