//lint:file-ignore SA1019 the client's WriteBatch, deprecated, is its only atomic Commit without a transaction (BulkWriter is not atomic)

package gcpfirestore

import (
	"context"
	"fmt"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// commit writes atomically in one Commit call without a transaction: it
// reads nothing, so it takes no locks before the commit and cannot
// deadlock; the writes carry preconditions instead. A transaction would
// cost a BeginTransaction round trip more for the same atomic commit (an
// outcome's record took a third longer on the emulator). A failed
// precondition comes back as errStale. One attempt: callers retry after
// reading again.
func (s *Store) commit(ctx context.Context, writes func(writer) error) error {
	b := &batchWriter{wb: s.client.Batch()}
	if err := writes(b); err != nil {
		return err
	}
	if b.n == 0 {
		return nil
	}
	_, err := b.wb.Commit(ctx)
	return stale(err)
}

// writer takes the writes of one atomic commit: a *firestore.Transaction,
// or the batchWriter of [Store.commit].
type writer interface {
	Create(dr *firestore.DocumentRef, data any) error
	Set(dr *firestore.DocumentRef, data any, opts ...firestore.SetOption) error
	Update(dr *firestore.DocumentRef, data []firestore.Update, opts ...firestore.Precondition) error
	Delete(dr *firestore.DocumentRef, opts ...firestore.Precondition) error
}

var _ writer = (*firestore.Transaction)(nil)

// batchWriter collects writes for one Commit call; their errors show at
// the commit.
type batchWriter struct {
	wb *firestore.WriteBatch
	n  int
}

func (b *batchWriter) Create(dr *firestore.DocumentRef, data any) error {
	b.n++
	b.wb.Create(dr, data)
	return nil
}

func (b *batchWriter) Set(dr *firestore.DocumentRef, data any, opts ...firestore.SetOption) error {
	b.n++
	b.wb.Set(dr, data, opts...)
	return nil
}

func (b *batchWriter) Update(dr *firestore.DocumentRef, data []firestore.Update, opts ...firestore.Precondition) error {
	b.n++
	b.wb.Update(dr, data, opts...)
	return nil
}

func (b *batchWriter) Delete(dr *firestore.DocumentRef, opts ...firestore.Precondition) error {
	b.n++
	b.wb.Delete(dr, opts...)
	return nil
}

// update is one conditional update of [Store.updateEach].
type update struct {
	snap    *firestore.DocumentSnapshot // the document as read
	updates []firestore.Update
}

// updateEach writes each update on its own, not atomically, each
// conditional on its document not having changed since it was read, and
// returns the documents whose condition failed (they changed: read them
// again and decide again). One document that changed does not fail the
// others, as it would in one atomic commit: many items being written at
// once (outcomes arriving while their requests are marked published) would
// fail every attempt of such a commit in turn. Any other error is returned
// (the first, with how many writes failed).
func (s *Store) updateEach(ctx context.Context, us []update) (stale []*firestore.DocumentSnapshot, err error) {
	if len(us) == 0 {
		return nil, nil
	}
	bw := s.client.BulkWriter(ctx)
	jobs := make([]*firestore.BulkWriterJob, 0, len(us))
	for _, u := range us {
		j, err := bw.Update(u.snap.Ref, u.updates, firestore.LastUpdateTime(u.snap.UpdateTime))
		if err != nil {
			bw.End()
			return nil, err
		}
		jobs = append(jobs, j)
	}
	bw.End()
	failed := 0
	for i, j := range jobs {
		_, jerr := j.Results()
		switch {
		case jerr == nil:
		case status.Code(jerr) == codes.FailedPrecondition:
			stale = append(stale, us[i].snap)
		default:
			if failed == 0 {
				err = jerr
			}
			failed++
		}
	}
	if failed > 1 {
		err = fmt.Errorf("%d of %d writes failed, the first: %w", failed, len(us), err)
	}
	return stale, err
}
