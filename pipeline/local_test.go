package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"tipoff/batch"
	"tipoff/pipeline"
	"tipoff/sqlite"
)

// fullQueue is a queue on a disk that has filled up: publishing still
// works (it came first), receiving fails for want of space.
type fullQueue struct{ batch.Queue }

func (q fullQueue) Receive(ctx context.Context, topic string, n int) ([]batch.Delivery, error) {
	return nil, fmt.Errorf("receive %s: /var/lib/tipoff.db: no space left: %w", topic, batch.ErrNoSpace)
}

// publishFullQueue is a queue on a disk that filled up before the batch's
// requests could be published: publishing fails for want of space.
type publishFullQueue struct{ batch.Queue }

func (q publishFullQueue) Publish(ctx context.Context, topic string, msgs ...batch.Message) error {
	return fmt.Errorf("publish %d messages to %s: /var/lib/tipoff.db: no space left: %w", len(msgs), topic, batch.ErrNoSpace)
}

// runOnFullDisk runs a one-player batch to its end on queue wrap(q) and
// checks that the run stops with [batch.ErrNoSpace] naming the file, and
// that the batch stays running, to be resumed.
func runOnFullDisk(t *testing.T, wrap func(batch.Queue) batch.Queue) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tipoff.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, q := sqlite.NewStore(db), wrap(sqlite.NewQueue(db, sqlite.QueueConfig{}))
	eng := batch.NewEngine(store, q, nil, batch.EngineConfig{})
	coord := batch.NewCoordinator(eng, q, nil, batch.CoordinatorConfig{PullOutcomes: true})
	w := batch.NewWorker(q, func(context.Context, batch.Delivery) (batch.Outcome, []byte, error) {
		return batch.OutcomeSkipped, nil, nil
	}, batch.RecordOutcomes(eng), nil, batch.WorkerConfig{})
	b, _, err := eng.Create(t.Context(), batch.Spec{Key: batch.Key{Date: "2026-01-15", Run: "daily"},
		Items: []batch.NewItem{{ID: "p1", Request: []byte(`{}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pipeline.RunToEnd(t.Context(), coord, w, store, b.ID, func(batch.Batch) {})
	if !errors.Is(err, batch.ErrNoSpace) || !strings.Contains(err.Error(), "stopped with batch "+b.ID+" unfinished at 0/1") ||
		!strings.Contains(err.Error(), "/var/lib/tipoff.db") {
		t.Fatalf("RunToEnd on a full disk = %v; want it to stop with ErrNoSpace naming the file", err)
	}
	if got, err := store.GetBatch(t.Context(), b.ID); err != nil || got.State != batch.Running {
		t.Fatalf("batch after the stop: %s, %v; want running, to resume", got.State, err)
	}
}

// A run that cannot dispatch its requests for want of disk space stops
// with an error saying so, instead of sweeping for ever.
func TestRunToEnd_NoSpaceToDispatch(t *testing.T) {
	t.Parallel()
	runOnFullDisk(t, func(q batch.Queue) batch.Queue { return publishFullQueue{q} })
}

// A run whose queue cannot receive for want of disk space stops with an
// error saying so, instead of retrying for ever.
func TestRunToEnd_NoSpace(t *testing.T) {
	t.Parallel()
	runOnFullDisk(t, func(q batch.Queue) batch.Queue { return fullQueue{q} })
}
