package gcpfirestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tipoff/batch"
)

// Firestore limits that shape how a manifest is written.
const (
	// maxDocBytes is what an item document may hold in request, result and
	// error together, leaving room under Firestore's 1 MiB document limit
	// for the other fields and the document name.
	maxDocBytes = 1<<20 - 16<<10
	// maxMetaBytes bounds a batch's metadata, which lives in the batch
	// document.
	maxMetaBytes = 64 << 10
	// chunkItems and chunkBytes bound one manifest commit, under
	// Firestore's 500 writes and 10 MiB per commit.
	chunkItems = 450
	chunkBytes = 6 << 20
	// manifestWriters is how many manifest chunks are written at once.
	manifestWriters = 4
)

// CreateBatch creates a batch and its manifest, or returns the batch that
// already has spec.Key with created=false.
//
// A manifest can be larger than one Firestore commit, so it is written in
// two phases. First the items go, in chunks, under a fresh manifest ID
// (batches/<newID>/manifests/<manifest>/items); nothing refers to them yet,
// so no reader sees them. Then one commit creates the key document,
// the batch document naming that manifest, the counter shards and the
// gates that outcomes pass while the batch runs, unless the key already
// exists. The batch therefore appears with its whole
// manifest or not at all. A create that dies between the phases leaves
// only unreferenced item documents, and the next CreateBatch of the key
// proceeds as if it had never run; one that loses a race for the key
// returns the winner's batch at once and deletes its items in the
// background. Racing creators do not
// lock anything: the second phase is a commit of creates, each on condition
// that its document does not exist.
//
// It returns [batch.ErrInvalid] for a spec that fails [batch.Spec.Validate],
// a newID that cannot name a Firestore document, or a request or metadata
// too large for a document, and [batch.ErrConflict] if newID already names
// a batch of another key.
func (s *Store) CreateBatch(ctx context.Context, newID string, spec batch.Spec, now time.Time) (batch.Batch, bool, error) {
	if err := s.checkSpec(newID, spec); err != nil {
		return batch.Batch{}, false, err
	}
	if b, ok, err := s.existing(ctx, spec.Key, newID); err != nil || ok {
		return b, false, err
	}
	return s.create(ctx, newID, spec, now)
}

// create writes the manifest and commits the batch, or finds that another
// create of the key won and returns its batch after discarding the
// manifest.
func (s *Store) create(ctx context.Context, newID string, spec batch.Spec, now time.Time) (batch.Batch, bool, error) {
	manifest := newToken()
	if err := s.writeManifest(ctx, newID, manifest, spec.Items, now); err != nil {
		return batch.Batch{}, false, fmt.Errorf("create batch %s: write manifest: %w", spec.Key, err)
	}

	pol := spec.Policy.WithDefaults()
	d := batchDoc{
		Date:  spec.Key.Date,
		Run:   spec.Key.Run,
		State: string(batch.Running),
		Total: int64(len(spec.Items)),
		Policy: policyDoc{ItemTimeout: int64(pol.ItemTimeout), MaxAttempts: int64(pol.MaxAttempts),
			Deadline: int64(pol.Deadline), MinSuccessRatio: pol.MinSuccessRatio},
		Meta:      encodeMeta(spec.Meta),
		CreatedAt: nanos(now),
		UpdatedAt: nanos(now),
		Deadline:  nanos(now.Add(pol.Deadline)),
		Manifest:  manifest,
		Shards:    int64(s.cfg.Shards),
		Gates:     int64(s.cfg.Shards),
	}
	keyRef, batchRef := s.keys.Doc(keyDocID(spec.Key)), s.batchRef(newID)
	var winner string
	// The creates carry the precondition "does not exist", so racing
	// creators of one key take no locks; the losers find out by reading.
	err := s.retry(ctx, "create batch "+spec.Key.String(), func() error {
		err := s.commit(ctx, func(tx writer) error {
			if err := tx.Create(keyRef, keyDoc{BatchID: newID, CreatedAt: nanos(now)}); err != nil {
				return err
			}
			if err := tx.Create(batchRef, d); err != nil {
				return err
			}
			for _, r := range s.shardRefs(newID, s.cfg.Shards) {
				if err := tx.Create(r, shardDoc{}); err != nil {
					return err
				}
			}
			for _, r := range s.gateRefs(newID, s.cfg.Shards) {
				if err := tx.Create(r, gateDoc{}); err != nil {
					return err
				}
			}
			return nil
		})
		if status.Code(err) != codes.AlreadyExists {
			return err
		}
		snaps, err := s.client.GetAll(ctx, []*firestore.DocumentRef{keyRef, batchRef})
		if err != nil {
			return err
		}
		if snaps[0].Exists() {
			var k keyDoc
			if err := snaps[0].DataTo(&k); err != nil {
				return fmt.Errorf("decode %s: %w", keyRef.Path, err)
			}
			winner = k.BatchID
			return nil
		}
		if snaps[1].Exists() {
			return idTaken(newID, snaps[1])
		}
		return fmt.Errorf("%w: key and batch documents both absent after a create found one", errStale)
	})
	if err != nil {
		// The commit may have happened even so: leave the items in place.
		return batch.Batch{}, false, fmt.Errorf("create batch %s: %w", spec.Key, err)
	}
	if winner != "" {
		l, err := s.load(ctx, winner)
		if err != nil {
			return batch.Batch{}, false, fmt.Errorf("create batch %s: read existing: %w", spec.Key, err)
		}
		// A retried commit that had in fact succeeded finds its own batch.
		if winner == newID && l.doc.Manifest == manifest {
			return l.batch(), true, nil
		}
		// The loser answers at once with the winner's batch; its unused
		// manifest is deleted in the background (Close waits for that).
		s.cleanup.Go(func() { s.discardManifest(ctx, newID, manifest, spec.Items) })
		return l.batch(), false, nil
	}
	s.layouts.Store(newID, d.layout())
	return d.toBatch(newID, batch.Counts{}, 0), true, nil
}

// checkSpec validates what CreateBatch is given, including the limits
// Firestore adds.
func (s *Store) checkSpec(newID string, spec batch.Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	if !validDocID(newID) {
		return fmt.Errorf("%w: batch id %q must be 1-512 bytes without '/', and not \".\", \"..\" or __name__", batch.ErrInvalid, newID)
	}
	for i, it := range spec.Items {
		if len(it.Request) > maxDocBytes {
			return fmt.Errorf("%w: item %d (%s): request is %d bytes; a Firestore item document holds at most %d", batch.ErrInvalid, i, it.ID, len(it.Request), maxDocBytes)
		}
	}
	n := 0
	for k, v := range spec.Meta {
		n += len(k) + len(v)
	}
	if n > maxMetaBytes {
		return fmt.Errorf("%w: batch %s: metadata is %d bytes; at most %d fit in the batch document", batch.ErrInvalid, spec.Key, n, maxMetaBytes)
	}
	return nil
}

// existing returns the batch that has key k, if any, or
// [batch.ErrConflict] if newID already names a batch (of another key). The
// create transaction checks both again; this read saves writing a manifest
// that could not be used.
func (s *Store) existing(ctx context.Context, k batch.Key, newID string) (batch.Batch, bool, error) {
	keyRef := s.keys.Doc(keyDocID(k))
	snaps, err := s.getAll(ctx, "read key "+k.String(), []*firestore.DocumentRef{keyRef, s.batchRef(newID)})
	if err != nil {
		return batch.Batch{}, false, fmt.Errorf("create batch %s: read key: %w", k, err)
	}
	if !snaps[0].Exists() {
		if snaps[1].Exists() {
			return batch.Batch{}, false, idTaken(newID, snaps[1])
		}
		return batch.Batch{}, false, nil
	}
	var kd keyDoc
	if err := snaps[0].DataTo(&kd); err != nil {
		return batch.Batch{}, false, fmt.Errorf("create batch %s: decode %s: %w", k, keyRef.Path, err)
	}
	b, err := s.GetBatch(ctx, kd.BatchID)
	if err != nil {
		return batch.Batch{}, false, fmt.Errorf("create batch %s: read existing: %w", k, err)
	}
	return b, true, nil
}

// idTaken is the error for a newID that names the batch in sn.
func idTaken(newID string, sn *firestore.DocumentSnapshot) error {
	var other batchDoc
	_ = sn.DataTo(&other)
	return fmt.Errorf("%w: batch id %s already names the batch of %s/%s", batch.ErrConflict, newID, other.Date, other.Run)
}

// newToken returns a random ID for a manifest or for one call's writes.
func newToken() string {
	var r [12]byte
	_, _ = rand.Read(r[:])
	return hex.EncodeToString(r[:])
}

// chunks splits items into runs that fit one commit.
func chunks(items []batch.NewItem) [][]batch.NewItem {
	var out [][]batch.NewItem
	start, bytes := 0, 0
	for i, it := range items {
		if i > start && (i-start == chunkItems || bytes+len(it.Request) > chunkBytes) {
			out = append(out, items[start:i])
			start, bytes = i, 0
		}
		bytes += len(it.Request) + len(it.ID)
	}
	if start < len(items) {
		out = append(out, items[start:])
	}
	return out
}

// writeManifest writes every item, unpublished, under the manifest.
// Chunks are written concurrently; a chunk retried after an ambiguous
// commit just writes the same documents again.
func (s *Store) writeManifest(ctx context.Context, batchID, manifest string, items []batch.NewItem, now time.Time) error {
	col := s.itemsOf(batchID, layout{manifest: manifest})
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(manifestWriters)
	for _, ch := range chunks(items) {
		g.Go(func() error {
			return s.runTx(gctx, "write manifest of "+batchID, func(ctx context.Context, tx *firestore.Transaction) error {
				for _, it := range ch {
					if err := tx.Set(col.Doc(it.ID), itemDoc{Request: it.Request, CreatedAt: nanos(now)}); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
	return g.Wait()
}

// discardManifest deletes the items of a manifest that no batch refers to,
// as far as it can: leftovers are unreachable and harmless.
func (s *Store) discardManifest(ctx context.Context, batchID, manifest string, items []batch.NewItem) {
	if len(items) == 0 {
		return
	}
	if s.discardHook != nil {
		s.discardHook()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	col := s.itemsOf(batchID, layout{manifest: manifest})
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(manifestWriters)
	for _, ch := range chunks(items) {
		g.Go(func() error {
			return s.runTx(gctx, "discard manifest", func(ctx context.Context, tx *firestore.Transaction) error {
				for _, it := range ch {
					if err := tx.Delete(col.Doc(it.ID)); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("unused manifest left behind", "batch_id", batchID, "manifest", manifest, "err", err)
	}
}
