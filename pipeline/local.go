package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"tipoff/batch"
)

// RunToEnd runs coord and w in this process until batch id is finalized,
// calling progress with the batch as it goes, then relays the
// batch's events and returns the finalized batch: "tipoff run" and the demo.
// If ctx ends first, or the coordinator or the worker cannot receive (or
// the coordinator dispatch) for want of disk space ([batch.ErrNoSpace]), it
// returns an error saying the batch can be resumed; what was recorded stays
// recorded.
func RunToEnd(ctx context.Context, coord *batch.Coordinator, w *batch.Worker, store batch.Store, id string, progress func(b batch.Batch)) (batch.Batch, error) {
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { coord.Run(runCtx) })
	wg.Go(func() { w.Run(runCtx) })
	defer func() { stop(); wg.Wait() }()
	coord.Dispatch(id)
	// A read of the batch's row is cheap: look often, so the run ends
	// soon after its batch does.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return batch.Batch{}, fmt.Errorf("interrupted with batch %s unfinished; run the same command again to resume it", id)
		case <-tick.C:
		}
		cur, err := store.GetBatch(ctx, id)
		if err != nil {
			return batch.Batch{}, err
		}
		// Without disk space nothing more can be recorded: stop rather
		// than retry for ever. What was recorded stays recorded.
		if err := errors.Join(coord.Stuck(), w.Stuck()); err != nil && cur.State != batch.Finalized {
			return cur, fmt.Errorf("stopped with batch %s unfinished at %d/%d: %w", id, cur.Counts.Done(), cur.Total, err)
		}
		progress(cur)
		if cur.State == batch.Finalized {
			stop()
			wg.Wait()
			// The event may be left for the next run or serve to relay.
			_, err := coord.Engine().RelayEvents(ctx)
			return cur, err
		}
	}
}
