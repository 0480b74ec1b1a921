package gcppubsub

import (
	"errors"
	"fmt"
	"time"

	"tipoff/batch"
)

// Limits Pub/Sub puts on subscriptions, which [Config.Validate] enforces.
const (
	MinDeliveries = 5   // fewest deliveries a dead-letter policy allows
	MaxDeliveries = 100 // most deliveries a dead-letter policy allows
	MaxLease      = 600 * time.Second
	MaxBackoff    = 600 * time.Second
	// minAckDeadline is the shortest ack deadline a subscription can be
	// created with; shorter leases are set per delivery.
	minAckDeadline = 10 * time.Second
)

// SubscriptionSuffix names the pull subscription of a topic that
// [Config.Subscriptions] does not list: topic + SubscriptionSuffix.
const SubscriptionSuffix = "-pull"

// Config configures a [Queue]. Zero fields take their defaults.
type Config struct {
	// Project is the Google Cloud project of the topics and subscriptions.
	// Required.
	Project string
	// Subscriptions maps a topic to the ID of the pull subscription the
	// queue receives its messages through. A topic it does not list is
	// received through topic + [SubscriptionSuffix].
	Subscriptions map[string]string
	// Lease is the visibility timeout: Receive sets the ack deadline of
	// every message it returns to Lease, and a message neither acked nor
	// nacked by then is delivered again. Whole seconds from 1s to 10m
	// (a fraction is rounded up); default 60s.
	Lease time.Duration
	// MaxDeliveries is the dead-letter policy [Queue.Setup] gives the
	// subscriptions it creates: after that many deliveries a message moves
	// to [batch.DeadLetterTopic]. From 5 to 100; default 5.
	MaxDeliveries int
	// BackoffMin and BackoffMax are the retry policy Setup gives the
	// subscriptions it creates: a nacked message is delivered again after
	// an exponential backoff between them. Up to 10m; defaults 10s and 10m.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// PullWait bounds how long one pull waits for messages before Receive
	// asks again, so a pull the server or the connection loses costs at
	// most that long. Zero leaves it to the client library's 60s.
	PullWait time.Duration
	// AutoSetup makes the queue run [Queue.Setup] for a topic the first
	// time it publishes to or receives from it (for a dead-letter topic,
	// Setup of its source topic). For the emulator and tests: in
	// production the topology comes from deploy/.
	AutoSetup bool
	// SetupTopics are set up ([Queue.Setup]) by Open before it returns, so
	// their subscriptions exist before anyone publishes. For the emulator
	// and tests, like AutoSetup.
	SetupTopics []string
	// NowFunc is the clock the queue reckons lease ends by; default
	// time.Now. Pub/Sub keeps its own time: only tests against the
	// in-process fake, whose clock can be set, change it.
	NowFunc func() time.Time
}

// DefaultConfig returns the defaults for project.
func DefaultConfig(project string) Config {
	return Config{
		Project:       project,
		Lease:         60 * time.Second,
		MaxDeliveries: 5,
		BackoffMin:    10 * time.Second,
		BackoffMax:    MaxBackoff,
		NowFunc:       time.Now,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig(c.Project)
	if c.Lease <= 0 {
		c.Lease = d.Lease
	}
	c.Lease = c.Lease.Round(0)
	if r := c.Lease % time.Second; r != 0 {
		c.Lease += time.Second - r
	}
	if c.MaxDeliveries == 0 {
		c.MaxDeliveries = d.MaxDeliveries
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = d.BackoffMin
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = max(d.BackoffMax, c.BackoffMin)
	}
	if c.NowFunc == nil {
		c.NowFunc = d.NowFunc
	}
	return c
}

// Validate returns every problem with c (after defaults), joined; each
// wraps [batch.ErrInvalid] and names the field.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: gcppubsub config: "+format, append([]any{batch.ErrInvalid}, args...)...))
	}
	if err := checkProject(c.Project); err != nil {
		bad("Project: %v", err)
	}
	for topic, sub := range c.Subscriptions {
		if err := checkName(topic); err != nil {
			bad("Subscriptions: topic %q: %v", topic, err)
		}
		if err := checkName(sub); err != nil {
			bad("Subscriptions[%q] = %q: %v", topic, sub, err)
		}
	}
	if c.Lease > MaxLease {
		bad("Lease %v is longer than Pub/Sub's %v", c.Lease, MaxLease)
	}
	if c.MaxDeliveries < MinDeliveries || c.MaxDeliveries > MaxDeliveries {
		bad("MaxDeliveries %d is outside Pub/Sub's %d to %d", c.MaxDeliveries, MinDeliveries, MaxDeliveries)
	}
	if c.BackoffMin < 0 || c.BackoffMin > MaxBackoff {
		bad("BackoffMin %v is outside 0 to %v", c.BackoffMin, MaxBackoff)
	}
	if c.PullWait < 0 {
		bad("PullWait %v is negative", c.PullWait)
	}
	if c.BackoffMax < c.BackoffMin || c.BackoffMax > MaxBackoff {
		bad("BackoffMax %v is outside BackoffMin (%v) to %v", c.BackoffMax, c.BackoffMin, MaxBackoff)
	}
	return errors.Join(errs...)
}

// subscription returns the subscription ID topic is received through.
func (c Config) subscription(topic string) string {
	if s, ok := c.Subscriptions[topic]; ok {
		return s
	}
	return topic + SubscriptionSuffix
}

// checkProject checks a Google Cloud project ID: 6 to 30 lower-case
// letters, digits and hyphens, starting with a letter.
func checkProject(p string) error {
	if len(p) < 6 || len(p) > 30 {
		return fmt.Errorf("project ID %q must be 6 to 30 characters", p)
	}
	for i, r := range p {
		switch {
		case r >= 'a' && r <= 'z':
		case i > 0 && (r >= '0' && r <= '9' || r == '-'):
		default:
			return fmt.Errorf("project ID %q may hold only lower-case letters, digits and hyphens, starting with a letter", p)
		}
	}
	return nil
}

// checkName checks a topic or subscription ID the way Pub/Sub does: 3 to
// 255 letters, digits and - _ . ~ + %, starting with a letter, and not
// starting with "goog".
func checkName(n string) error {
	if len(n) < 3 || len(n) > 255 {
		return fmt.Errorf("name %q must be 3 to 255 characters", n)
	}
	if len(n) >= 4 && n[:4] == "goog" {
		return fmt.Errorf("name %q must not start with \"goog\"", n)
	}
	for i, r := range n {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '~' || r == '+' || r == '%'):
		default:
			return fmt.Errorf("name %q may hold only letters, digits and - _ . ~ + %%, starting with a letter", n)
		}
	}
	return nil
}
