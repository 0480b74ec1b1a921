package batchtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"tipoff/batch"
)

var deliveryCases = []queueCase{
	{"PublishReceiveAck", testQueuePublishReceiveAck},
	{"RoundTrip", testQueueRoundTrip},
	{"Limit", testQueueLimit},
	{"Order", testQueueOrder},
	{"DuplicateID", testQueueDuplicateID},
	{"Topics", testQueueTopics},
	{"InvalidInput", testQueueInvalidInput},
}

// A published message is delivered once with Attempt 1, its publish time
// and a receipt of its own, and once acked it is never delivered again.
func testQueuePublishReceiveAck(h *queueHarness) {
	msgs := queueMsgs("pra", 3)
	before := h.now()
	h.publish(queueTopic, msgs...)
	after := h.now()
	ds := h.receive(queueTopic, len(msgs), 10)
	byID := make(map[string]batch.Message)
	for _, m := range msgs {
		byID[m.ID] = m
	}
	receipts := make(map[string]bool)
	for _, d := range ds {
		m, ok := byID[d.ID]
		if !ok {
			h.t.Fatalf("delivered %q, which was not published or was delivered twice; deliveries %s", d.ID, describeDeliveries(ds))
		}
		delete(byID, d.ID)
		sameQueueMessage(h.t, d, m)
		if d.Attempt != 1 {
			h.t.Fatalf("message %q: first delivery has Attempt %d, want 1", d.ID, d.Attempt)
		}
		h.checkPublishedAt(d, before, after)
		if d.Receipt == "" || receipts[d.Receipt] {
			h.t.Fatalf("message %q: receipt %q is empty or shared with another delivery", d.ID, d.Receipt)
		}
		receipts[d.Receipt] = true
	}
	h.ack(ds...)
	// Past every lease and backoff: an acked message never comes back.
	h.advance(h.caps.Lease + h.caps.NackDelayMax)
	h.expectNone(queueTopic, h.caps.Lease+h.caps.Lease/2)
}

// IDs, bodies and attributes come back exactly as published.
func testQueueRoundTrip(h *queueHarness) {
	r := rand.New(rand.NewPCG(6, 7))
	large := make([]byte, 512<<10)
	for i := range large {
		large[i] = byte(r.UintN(256))
	}
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	many := make(map[string]string)
	for i := range 30 {
		many[fmt.Sprintf("attr_%02d", i)] = strings.Repeat("v", i)
	}
	msgs := []batch.Message{
		{ID: "rt-plain", Body: []byte("hello"), Attributes: map[string]string{"a": "1"}},
		{ID: "rt-binary", Body: binary, Attributes: map[string]string{"kind": "binary"}},
		{ID: "rt-no-body", Attributes: map[string]string{batch.AttrBatchID: "b1", batch.AttrItemID: "p1", batch.AttrAttempt: "2"}},
		{ID: "rt-no-attrs", Body: []byte(`{"x":1}`)},
		{ID: "rt-unicode/ключ ✓", Body: []byte("Dončić 34 pts — ✓"), Attributes: map[string]string{"ключ": "値 ✓", "empty": "", "sp ace": "a=b&c"}},
		{ID: "rt-large", Body: large, Attributes: map[string]string{"size": "512KiB"}},
		{ID: "rt-many-attrs", Body: []byte("m"), Attributes: many},
	}
	h.publish(queueTopic, msgs...)
	got := h.receive(queueTopic, len(msgs), len(msgs))
	for _, m := range msgs {
		i := slices.IndexFunc(got, func(d batch.Delivery) bool { return d.ID == m.ID })
		if i < 0 {
			h.t.Fatalf("message %q not delivered; got %s", m.ID, describeDeliveries(got))
		}
		sameQueueMessage(h.t, got[i], m)
	}
	h.ack(got...)
}

// Receive returns at most the number of messages asked for, and the rest
// stay for later receives.
func testQueueLimit(h *queueHarness) {
	msgs := queueMsgs("lim", 7)
	h.publish(queueTopic, msgs...)
	seen := make(map[string]bool)
	for len(seen) < len(msgs) {
		ds := h.receive(queueTopic, min(3, len(msgs)-len(seen)), 3)
		for _, d := range ds {
			if seen[d.ID] {
				h.t.Fatalf("message %q delivered twice while its lease holds", d.ID)
			}
			seen[d.ID] = true
		}
		h.ack(ds...)
	}
}

// First deliveries come in publish order where the backend declares FIFO,
// and as the same set otherwise.
func testQueueOrder(h *queueHarness) {
	var want []string
	for p := range 4 {
		msgs := queueMsgs(fmt.Sprintf("ord%d", p), 5)
		h.publish(queueTopic, msgs...)
		for _, m := range msgs {
			want = append(want, m.ID)
		}
	}
	var got []string
	for len(got) < len(want) {
		ds := h.receiveSome(queueTopic, 7)
		for _, d := range ds {
			got = append(got, d.ID)
		}
		h.ack(ds...)
	}
	if !h.caps.FIFO {
		slices.Sort(got)
		want = slices.Sorted(slices.Values(want))
	}
	if !slices.Equal(got, want) {
		h.t.Fatalf("delivered %v, want %v (FIFO %v)", got, want, h.caps.FIFO)
	}
}

// A second publish of an ID still pending on the topic is dropped where
// the backend dedupes IDs, and delivered as well otherwise. Once acked, the
// ID can be published again.
func testQueueDuplicateID(h *queueHarness) {
	first := batch.Message{ID: "dup-1", Body: []byte("first"), Attributes: map[string]string{"n": "1"}}
	second := batch.Message{ID: "dup-1", Body: []byte("second"), Attributes: map[string]string{"n": "2"}}
	third := batch.Message{ID: "dup-1", Body: []byte("third"), Attributes: map[string]string{"n": "3"}}
	h.publish(queueTopic, first)
	h.publish(queueTopic, second)
	if !h.caps.DedupesIDs {
		ds := h.receive(queueTopic, 2, 2)
		bodies := []string{string(ds[0].Body), string(ds[1].Body)}
		slices.Sort(bodies)
		if !slices.Equal(bodies, []string{"first", "second"}) {
			h.t.Fatalf("without deduplication, delivered bodies %q, want first and second", bodies)
		}
		h.ack(ds...)
		return
	}
	d := h.receiveOne(queueTopic)
	sameQueueMessage(h.t, d, first)
	// A duplicate within one Publish call is dropped too, and so is one
	// published while the first is leased.
	h.publish(queueTopic, second, second)
	h.expectNone(queueTopic, h.caps.Lease/2)
	h.ack(d)
	h.publish(queueTopic, third)
	sameQueueMessage(h.t, h.receiveOne(queueTopic), third)
}

// Topics are independent.
func testQueueTopics(h *queueHarness) {
	a, b := queueMsg("top-a"), queueMsg("top-b")
	h.publish(queueTopic, a)
	h.expectNone(queueOtherTopic, h.caps.Lease/2)
	h.publish(queueOtherTopic, b)
	sameQueueMessage(h.t, h.receiveOne(queueOtherTopic), b)
	sameQueueMessage(h.t, h.receiveOne(queueTopic), a)
}

// Bad input gets an error of the right kind and changes nothing.
func testQueueInvalidInput(h *queueHarness) {
	ctx := h.t.Context()
	if err := h.q.Publish(ctx, "", queueMsg("inv-1")); !errors.Is(err, batch.ErrInvalid) {
		h.t.Fatalf("Publish to an empty topic: got %v, want an error wrapping %v", err, batch.ErrInvalid)
	}
	for _, limit := range []int{0, -1} {
		if _, err := h.q.Receive(ctx, queueTopic, limit); !errors.Is(err, batch.ErrInvalid) {
			h.t.Fatalf("Receive with max %d: got %v, want an error wrapping %v", limit, err, batch.ErrInvalid)
		}
	}
	if _, err := h.q.Receive(ctx, "", 1); !errors.Is(err, batch.ErrInvalid) {
		h.t.Fatalf("Receive from an empty topic: got %v, want an error wrapping %v", err, batch.ErrInvalid)
	}
	// A receipt the backend never issued fails on its own: the good
	// delivery beside it is acked all the same.
	m := queueMsg("inv-2")
	h.publish(queueTopic, m)
	d := h.receiveOne(queueTopic)
	forged := batch.Delivery{Message: m, Attempt: 1, Receipt: "not-a-receipt"}
	err := h.q.Ack(ctx, forged, d)
	if !errors.Is(err, batch.ErrInvalid) && !errors.Is(err, batch.ErrConflict) {
		h.t.Fatalf("Ack with a forged receipt: got %v, want an error wrapping %v or %v", err, batch.ErrInvalid, batch.ErrConflict)
	}
	h.advance(h.caps.Lease + h.caps.NackDelayMax)
	h.expectNone(queueTopic, h.caps.Lease+h.caps.Lease/2)
}
