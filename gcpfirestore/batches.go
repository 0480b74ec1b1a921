package gcpfirestore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"

	"tipoff/batch"
)

// loaded is a batch document with the sum of its shards.
type loaded struct {
	id           string
	doc          batchDoc
	counts       batch.Counts
	shardUpdated int64
	// updateTime is the batch document's, the precondition for changing it.
	updateTime time.Time
}

func (l loaded) batch() batch.Batch { return l.doc.toBatch(l.id, l.counts, l.shardUpdated) }

func (l loaded) remaining() int { return int(l.doc.Total) - l.counts.Done() }

func notFound(id string) error { return fmt.Errorf("batch %s: %w", id, batch.ErrNotFound) }

// decodeBatch decodes a batch document snapshot, [batch.ErrNotFound] if it
// does not exist, and remembers the batch's layout.
func (s *Store) decodeBatch(sn *firestore.DocumentSnapshot) (batchDoc, error) {
	if !sn.Exists() {
		return batchDoc{}, notFound(sn.Ref.ID)
	}
	var d batchDoc
	if err := sn.DataTo(&d); err != nil {
		return batchDoc{}, fmt.Errorf("decode %s: %w", sn.Ref.Path, err)
	}
	if len(d.Meta) > 0 && !json.Valid(d.Meta) {
		return batchDoc{}, fmt.Errorf("decode %s: meta is not JSON", sn.Ref.Path)
	}
	s.layouts.Store(sn.Ref.ID, d.layout())
	return d, nil
}

// layoutOf returns where a batch's documents live, reading the batch
// document only the first time. [batch.ErrNotFound] if there is no batch.
func (s *Store) layoutOf(ctx context.Context, id string) (layout, error) {
	if !validDocID(id) {
		return layout{}, notFound(id)
	}
	if l, ok := s.layouts.Load(id); ok {
		return l.(layout), nil
	}
	snaps, err := s.getAll(ctx, "read batch "+id, []*firestore.DocumentRef{s.batchRef(id)})
	if err != nil {
		return layout{}, fmt.Errorf("read batch %s: %w", id, err)
	}
	d, err := s.decodeBatch(snaps[0])
	if err != nil {
		return layout{}, err
	}
	return d.layout(), nil
}

// load reads a batch document and its shards at one read time (two reads
// the first time this store sees the batch).
func (s *Store) load(ctx context.Context, id string) (loaded, error) {
	l, err := s.layoutOf(ctx, id)
	if err != nil {
		return loaded{}, err
	}
	refs := append([]*firestore.DocumentRef{s.batchRef(id)}, s.shardRefs(id, l.shards)...)
	snaps, err := s.getAll(ctx, "read batch "+id, refs)
	if err != nil {
		return loaded{}, fmt.Errorf("read batch %s: %w", id, err)
	}
	d, err := s.decodeBatch(snaps[0])
	if err != nil {
		return loaded{}, err
	}
	c, upd, err := sumShards(snaps[1:])
	if err != nil {
		return loaded{}, err
	}
	return loaded{id: id, doc: d, counts: c, shardUpdated: upd, updateTime: snaps[0].UpdateTime}, nil
}

// counts reads only a batch's shards.
func (s *Store) counts(ctx context.Context, id string, l layout) (batch.Counts, int64, error) {
	snaps, err := s.getAll(ctx, "read counts of "+id, s.shardRefs(id, l.shards))
	if err != nil {
		return batch.Counts{}, 0, fmt.Errorf("read counts of %s: %w", id, err)
	}
	return sumShards(snaps)
}

// GetBatch returns one batch with its counts. [batch.ErrNotFound] if there
// is none.
func (s *Store) GetBatch(ctx context.Context, id string) (batch.Batch, error) {
	l, err := s.load(ctx, id)
	if err != nil {
		return batch.Batch{}, err
	}
	return l.batch(), nil
}

// ListBatches returns batches newest first (by creation time, then ID),
// filtered by opts. [batch.ErrInvalid] for options that fail
// [batch.ListOptions.Validate]. On Firestore proper each filter combination
// needs the composite index listed in firestore.indexes.json.
func (s *Store) ListBatches(ctx context.Context, opts batch.ListOptions) ([]batch.Batch, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = 100
	}
	q := s.batches.Query
	if opts.Date != "" {
		q = q.Where("date", "==", opts.Date)
	}
	if opts.Run != "" {
		q = q.Where("run", "==", opts.Run)
	}
	if opts.State != "" {
		q = q.Where("state", "==", string(opts.State))
	}
	q = q.OrderBy("created_at", firestore.Desc).OrderBy(firestore.DocumentID, firestore.Desc).Limit(limit)
	docs, err := s.queryAll(ctx, "list batches", q)
	if err != nil {
		return nil, fmt.Errorf("list batches: %w", err)
	}
	ls := make([]loaded, len(docs))
	var refs []*firestore.DocumentRef
	for i, sn := range docs {
		d, err := s.decodeBatch(sn)
		if err != nil {
			return nil, err
		}
		ls[i] = loaded{id: sn.Ref.ID, doc: d}
		refs = append(refs, s.shardRefs(sn.Ref.ID, int(d.Shards))...)
	}
	// One read for the shards of up to maxGetAll/shards batches at a time.
	const maxGetAll = 500
	var shards []*firestore.DocumentSnapshot
	for len(refs) > 0 {
		n := min(len(refs), maxGetAll)
		snaps, err := s.getAll(ctx, "list batches: read counts", refs[:n])
		if err != nil {
			return nil, fmt.Errorf("list batches: read counts: %w", err)
		}
		shards = append(shards, snaps...)
		refs = refs[n:]
	}
	out := make([]batch.Batch, len(ls))
	for i := range ls {
		n := int(ls[i].doc.Shards)
		c, upd, err := sumShards(shards[:n])
		if err != nil {
			return nil, err
		}
		shards = shards[n:]
		ls[i].counts, ls[i].shardUpdated = c, upd
		out[i] = ls[i].batch()
	}
	return out, nil
}

// Progress returns the batch, how many items have no outcome, and the IDs
// of up to missingLimit of them in ID order. It reads the batch and its
// shards, plus one query that returns only document names.
// [batch.ErrNotFound] if the batch does not exist, [batch.ErrInvalid] for a
// negative limit.
func (s *Store) Progress(ctx context.Context, batchID string, missingLimit int) (batch.Progress, error) {
	if missingLimit < 0 {
		return batch.Progress{}, fmt.Errorf("%w: progress of %s: missing limit %d is negative", batch.ErrInvalid, batchID, missingLimit)
	}
	l, err := s.load(ctx, batchID)
	if err != nil {
		return batch.Progress{}, err
	}
	p := batch.Progress{Batch: l.batch(), Remaining: l.remaining(), Missing: []string{}}
	if missingLimit == 0 || p.Remaining == 0 {
		return p, nil
	}
	q := s.itemsOf(batchID, l.doc.layout()).Where("outcome", "==", "").
		OrderBy(firestore.DocumentID, firestore.Asc).Limit(missingLimit).Select()
	docs, err := s.queryAll(ctx, "progress of "+batchID, q)
	if err != nil {
		return batch.Progress{}, fmt.Errorf("progress of %s: %w", batchID, err)
	}
	for _, d := range docs {
		p.Missing = append(p.Missing, d.Ref.ID)
	}
	return p, nil
}
