package batch_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"tipoff/batch"
)

// ackQueue records what a worker acks and nacks; HandleBatch needs nothing
// else of a queue.
type ackQueue struct {
	batch.Queue
	mu          sync.Mutex
	acked, nack []string
}

func (q *ackQueue) Ack(_ context.Context, ds ...batch.Delivery) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, d := range ds {
		q.acked = append(q.acked, d.ID)
	}
	return nil
}

func (q *ackQueue) Nack(_ context.Context, ds ...batch.Delivery) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, d := range ds {
		q.nack = append(q.nack, d.ID)
	}
	return nil
}

// TestWorker_ResultNotJSON checks that one handler result that is not JSON
// fails only its own item: before, it made the whole receive batch's
// outcomes unencodable, so every request in it was nacked until it
// dead-lettered.
func TestWorker_ResultNotJSON(t *testing.T) {
	t.Parallel()
	var ds []batch.Delivery
	for _, id := range []string{"p1", "p2", "p3"} {
		m := batch.RequestMessage(batch.Item{BatchID: "b1", ID: id}, 1, "")
		ds = append(ds, batch.Delivery{Message: m, Attempt: 1})
	}
	h := func(_ context.Context, d batch.Delivery) (batch.Outcome, []byte, error) {
		if d.Attributes[batch.AttrItemID] == "p2" {
			return batch.OutcomeSucceeded, []byte("points=21.5"), nil
		}
		return batch.OutcomeSucceeded, []byte(`{"points":21.5}`), nil
	}
	var got []batch.OutcomeMessage
	sink := func(_ context.Context, msgs []batch.OutcomeMessage) error {
		for _, m := range msgs {
			if _, err := batch.EncodeOutcome(m); err != nil {
				return err
			}
		}
		got = append(got, msgs...)
		return nil
	}
	q := &ackQueue{}
	w := batch.NewWorker(q, h, sink, nil, batch.WorkerConfig{NowFunc: func() time.Time { return time.Unix(1e9, 0) }})
	w.HandleBatch(t.Context(), ds)
	if len(q.nack) != 0 || len(q.acked) != 3 {
		t.Fatalf("acked %v, nacked %v; want all three acked", q.acked, q.nack)
	}
	if len(got) != 3 {
		t.Fatalf("sink got %d outcomes, want 3", len(got))
	}
	for _, m := range got {
		want := batch.OutcomeSucceeded
		if m.ItemID == "p2" {
			want = batch.OutcomeFailed
			if !strings.Contains(m.Error, "not JSON") || m.Result != nil {
				t.Fatalf("p2 = error %q, result %s; want a failure saying the result is not JSON", m.Error, m.Result)
			}
		}
		if m.Outcome != want {
			t.Fatalf("%s has outcome %s, want %s", m.ItemID, m.Outcome, want)
		}
	}
}

// HandleDelivery settles one delivery by its return value, as a push is
// settled by its HTTP answer, and never touches the worker's queue: done
// (ack) when the outcome reached the sink or the input is bad for good,
// retry (nack) when the handler or the sink failed transiently.
func TestWorker_HandleDelivery(t *testing.T) {
	t.Parallel()
	d := batch.Delivery{Message: batch.RequestMessage(batch.Item{BatchID: "b1", ID: "p1"}, 2, "trace"), Attempt: 1}
	errTransient := errors.New("try again")
	tests := []struct {
		name     string
		handle   batch.Handler
		sinkErr  error
		wantAck  bool
		wantSink batch.Outcome // "" for no outcome reaching the sink
	}{
		{"succeeded", func(context.Context, batch.Delivery) (batch.Outcome, []byte, error) {
			return batch.OutcomeSucceeded, []byte(`{}`), nil
		}, nil, true, batch.OutcomeSucceeded},
		{"permanent", func(context.Context, batch.Delivery) (batch.Outcome, []byte, error) {
			return "", nil, batch.Permanent(errors.New("bad request"))
		}, nil, true, batch.OutcomeFailed},
		{"transient", func(context.Context, batch.Delivery) (batch.Outcome, []byte, error) {
			return "", nil, errTransient
		}, nil, false, ""},
		{"sink fails", func(context.Context, batch.Delivery) (batch.Outcome, []byte, error) {
			return batch.OutcomeSkipped, nil, nil
		}, errTransient, false, batch.OutcomeSkipped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []batch.OutcomeMessage
			sink := func(_ context.Context, msgs []batch.OutcomeMessage) error {
				got = append(got, msgs...)
				return tt.sinkErr
			}
			w := batch.NewWorker(nil, tt.handle, sink, nil, batch.WorkerConfig{})
			if ack := w.HandleDelivery(t.Context(), d); ack != tt.wantAck {
				t.Errorf("HandleDelivery = %v, want %v", ack, tt.wantAck)
			}
			switch {
			case tt.wantSink == "" && len(got) != 0:
				t.Errorf("sink got %+v, want nothing", got)
			case tt.wantSink != "" && (len(got) != 1 || got[0].Outcome != tt.wantSink || got[0].ItemID != "p1" || got[0].Attempt != 2):
				t.Errorf("sink got %+v, want one %s outcome of p1, attempt 2", got, tt.wantSink)
			}
		})
	}
}

// With an acking sink, HandleBatch hands it the outcomes together with the
// deliveries they settle (a request naming no item among them) and never
// acks on its own: the sink acks in the step that records. A transient
// handler failure is nacked; when the acking sink fails, every request is.
func TestWorker_HandleBatch_Acking(t *testing.T) {
	t.Parallel()
	var ds []batch.Delivery
	for _, id := range []string{"p1", "p2", "p3"} {
		ds = append(ds, batch.Delivery{Message: batch.RequestMessage(batch.Item{BatchID: "b1", ID: id}, 1, ""), Attempt: 1})
	}
	ds = append(ds, batch.Delivery{Message: batch.Message{ID: "stray"}, Attempt: 1})
	h := func(_ context.Context, d batch.Delivery) (batch.Outcome, []byte, error) {
		if d.Attributes[batch.AttrItemID] == "p2" {
			return "", nil, errors.New("try again")
		}
		return batch.OutcomeSucceeded, []byte(`{}`), nil
	}
	for _, fail := range []bool{false, true} {
		q := &ackQueue{}
		var gotMsgs, gotDs []string
		acking := func(_ context.Context, msgs []batch.OutcomeMessage, ds []batch.Delivery) error {
			for _, m := range msgs {
				gotMsgs = append(gotMsgs, m.ItemID)
			}
			for _, d := range ds {
				gotDs = append(gotDs, d.ID)
			}
			if fail {
				return errors.New("disk on fire")
			}
			return nil
		}
		sink := func(context.Context, []batch.OutcomeMessage) error {
			t.Error("the plain sink was used")
			return nil
		}
		w := batch.NewWorker(q, h, sink, nil, batch.WorkerConfig{Acking: acking})
		w.HandleBatch(t.Context(), ds)
		wantNack := "b1/p2/1"
		if fail {
			wantNack = "b1/p2/1 b1/p1/1 b1/p3/1 stray"
		}
		if got := strings.Join(gotMsgs, " "); got != "p1 p3" {
			t.Errorf("fail=%v: acking sink got outcomes of %s, want p1 p3", fail, got)
		}
		if got := strings.Join(gotDs, " "); got != "b1/p1/1 b1/p3/1 stray" {
			t.Errorf("fail=%v: acking sink got deliveries %s, want b1/p1/1 b1/p3/1 stray", fail, got)
		}
		if len(q.acked) != 0 || strings.Join(q.nack, " ") != wantNack {
			t.Errorf("fail=%v: worker acked %v and nacked %v; want no ack and %s nacked", fail, q.acked, q.nack, wantNack)
		}
	}
}
