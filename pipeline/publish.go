package pipeline

import (
	"context"
	"fmt"

	"tipoff/batch"
	"tipoff/predict"
)

// Published is what an explicit publish did: the date's publication as it
// now stands, and the export file written from it ("" without an export
// directory).
type Published struct {
	Publication *predict.Publication
	Export      string
}

// Publish is an operator's explicit publish of a finalized batch ("tipoff
// publish", POST /batches/{id}/publish): the batch's predictions become the
// date's publication whatever its result and whatever is published now
// ([predict.Publisher.PublishExplicit]), pinned if pin, so that no batch's
// own finalize replaces it until an operator publishes again; an unpinned
// explicit publish hands the date back to the automatic policy. The export
// file is then rewritten from the date's publication.
//
// It returns an error wrapping [batch.ErrNotFound] for an unknown batch,
// and [batch.ErrConflict] for a batch that has not finalized: only a
// finalized batch has a result to publish.
func (j *Job) Publish(ctx context.Context, batchID string, pin bool) (Published, error) {
	b, err := j.cfg.Store.GetBatch(ctx, batchID)
	if err != nil {
		return Published{}, err // the store names the batch
	}
	if b.State != batch.Finalized {
		return Published{}, fmt.Errorf("publish %s: %w: the batch is %s; only a finalized batch can be published", batchID, batch.ErrConflict, b.State)
	}
	pub, err := j.consolidate(ctx, b)
	if err != nil {
		return Published{}, fmt.Errorf("publish %s: %w", batchID, err)
	}
	pub.Pinned = pin
	if err := j.cfg.Publisher.PublishExplicit(ctx, pub); err != nil {
		return Published{}, fmt.Errorf("publish %s: %w", batchID, err)
	}
	cur, st, err := j.export(ctx, pub.Date, batch.LeaseToken{})
	if err != nil {
		return Published{}, fmt.Errorf("publish %s: %w", batchID, err)
	}
	j.log.Info("batch published by an operator", "batch_id", b.ID, "run_date", b.Key.Date, "run", b.Key.Run,
		"result", b.Result, "pinned", pin, "live", cur.BatchID)
	return Published{Publication: cur, Export: st.Path}, nil
}
