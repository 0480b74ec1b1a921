package gcpfirestore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tipoff/batch"
	"tipoff/predict"
)

// The Store is also the cloud shape's [predict.Publisher]: a date's
// published predictions live next to the batches, in
//
//	<prefix>_publications/<date>                            which set is the date's publication
//	<prefix>_publications/<date>/sets/<batch id>            one batch's set: what it is for
//	<prefix>_publications/<date>/sets/<batch id>/players/<player id>  a player's predictions
//
// A publication has a few hundred players, more than one Firestore commit
// may write. So Publish writes the batch's whole set first, where no reader
// looks, and then switches the date's publication document to it in one
// transaction: a reader, which reads the publication document and the set it
// names at one snapshot, sees the old set or the new, never a mix. Sets that
// the switch left behind are deleted afterwards.
var _ predict.Publisher = (*Store)(nil)

// pubChunk is how many set documents one commit writes or deletes, under
// Firestore's 500 writes per commit.
const pubChunk = 400

// publicationDoc is <prefix>_publications/<date>: the current set.
type publicationDoc struct {
	BatchID        string `firestore:"batch_id"`
	Run            string `firestore:"run"`
	Result         string `firestore:"result"`
	DataVersion    string `firestore:"data_version"`
	BatchCreatedAt int64  `firestore:"batch_created_at"`
	PublishedAt    int64  `firestore:"published_at"`
	Players        int64  `firestore:"players"`
	Predictions    int64  `firestore:"predictions"`
}

// setDoc is <prefix>_publications/<date>/sets/<batch id>. It is written
// before the set's players, so every set can be found and cleaned up.
type setDoc struct {
	BatchID        string `firestore:"batch_id"`
	BatchCreatedAt int64  `firestore:"batch_created_at"`
	Players        int64  `firestore:"players"`
}

// playerDoc is one player's predictions in a set.
type playerDoc struct {
	PlayerID    string          `firestore:"player_id"`
	Name        string          `firestore:"player_name"`
	Team        string          `firestore:"team"`
	Opponent    string          `firestore:"opponent"`
	Home        bool            `firestore:"home"`
	Predictions []predictionDoc `firestore:"predictions"`
}

type predictionDoc struct {
	System     string  `firestore:"system"`
	Line       float64 `firestore:"line"`
	LineOffset float64 `firestore:"line_offset"`
	LineSource string  `firestore:"line_source"`
	Estimated  bool    `firestore:"estimated"`
	Points     float64 `firestore:"points"`
	Confidence float64 `firestore:"confidence"`
	Edge       float64 `firestore:"edge"`
	Pick       string  `firestore:"pick"`
	// The calibrated probability, the offered price and the expected value
	// the pick stands on.
	ModelPOver  float64 `firestore:"model_p_over"`
	MarketPOver float64 `firestore:"market_p_over"`
	POver       float64 `firestore:"p_over"`
	Side        string  `firestore:"side"`
	Price       int     `firestore:"price"`
	PriceBook   string  `firestore:"price_book"`
	EV          float64 `firestore:"ev"`
}

func (s *Store) publicationRef(date string) *firestore.DocumentRef {
	return s.client.Collection(s.cfg.CollectionPrefix + "_publications").Doc(date)
}

func (s *Store) setRef(date, batchID string) *firestore.DocumentRef {
	return s.publicationRef(date).Collection("sets").Doc(batchID)
}

// newerThan reports whether a batch created at aAt with ID aID comes after
// one created at bAt with ID bID: by creation time, then ID, so two batches
// are never equal.
func newerThan(aAt int64, aID string, bAt int64, bID string) bool {
	if aAt != bAt {
		return aAt > bAt
	}
	return aID > bID
}

// validatePublication reports what about pub cannot be stored: an invalid
// date, a batch or player ID that cannot name a document, a player twice.
// The error wraps [batch.ErrInvalid].
func validatePublication(pub *predict.Publication) error {
	if pub == nil {
		return fmt.Errorf("%w: publish: no publication", batch.ErrInvalid)
	}
	if !pub.Date.Valid() {
		return fmt.Errorf("%w: publish: date %d days after 1970-01-01 is outside 1900-2999", batch.ErrInvalid, int32(pub.Date))
	}
	if !validDocID(pub.BatchID) {
		return fmt.Errorf("%w: publish %s: batch id %q cannot name a document", batch.ErrInvalid, pub.Date, pub.BatchID)
	}
	if !pub.Fence.IsZero() && pub.Fence.BatchID != pub.BatchID {
		return fmt.Errorf("%w: publish %s: batch %s fenced by a lease of batch %s", batch.ErrInvalid, pub.Date, pub.BatchID, pub.Fence.BatchID)
	}
	seen := make(map[string]bool, len(pub.Players))
	for i, pl := range pub.Players {
		if !validDocID(pl.PlayerID) {
			return fmt.Errorf("%w: publish %s: player %d: id %q cannot name a document", batch.ErrInvalid, pub.Date, i, pl.PlayerID)
		}
		if seen[pl.PlayerID] {
			return fmt.Errorf("%w: publish %s: player %s appears twice", batch.ErrInvalid, pub.Date, pl.PlayerID)
		}
		seen[pl.PlayerID] = true
	}
	return nil
}

// Publish makes pub its date's publication, unless the date's current
// publication comes from a batch created after pub's (see
// [predict.Publisher]; two batches created at the same instant are ordered
// by ID). It writes pub's set of predictions, switches the date's
// publication document to it in one transaction, and deletes the sets older
// than the one now published. Publishing the same batch again rewrites its
// set with the same content and updates the publication time. A fenced
// publication (pub.Fence set) is checked against the batch's finalize lease
// before the set is written and again inside the switching transaction; a
// stale fence returns [batch.ErrLeaseLost] and switches nothing (a fence
// lost between the two checks can leave the batch's set written where no
// reader looks; the date's next publish deletes it once older). It returns an
// error wrapping [batch.ErrInvalid] for a publication that cannot be stored
// (nothing is written then).
func (s *Store) Publish(ctx context.Context, pub *predict.Publication) error {
	if err := validatePublication(pub); err != nil {
		return err
	}
	date := pub.Date.String()
	wrap := func(err error) error {
		return fmt.Errorf("publish predictions of %s (batch %s): %w", date, pub.BatchID, err)
	}
	// A stale fence writes nothing, not even the set no reader looks at.
	if err := s.checkFence(ctx, nil, pub.Fence); err != nil {
		return wrap(err)
	}
	pubRef := s.publicationRef(date)
	cur, err := s.currentPublication(ctx, pubRef)
	if err != nil {
		return wrap(err)
	}
	at := nanos(pub.BatchAt)
	if cur != nil && cur.BatchID != pub.BatchID && newerThan(cur.BatchCreatedAt, cur.BatchID, at, pub.BatchID) {
		return nil // a newer run's publication stays; nothing written
	}
	if err := s.writeSet(ctx, pub); err != nil {
		return wrap(err)
	}
	doc := publicationDoc{BatchID: pub.BatchID, Run: pub.Run, Result: string(pub.Result), DataVersion: pub.DataVersion,
		BatchCreatedAt: at, PublishedAt: nanos(pub.PublishedAt), Players: int64(len(pub.Players)), Predictions: int64(pub.Count())}
	switched := false
	err = s.runTx(ctx, "switch publication "+date, func(ctx context.Context, tx *firestore.Transaction) error {
		switched = false
		if err := s.checkFence(ctx, tx, pub.Fence); err != nil {
			return err
		}
		sn, err := tx.Get(pubRef)
		if err != nil && !noDoc(err) {
			return err
		}
		if sn != nil && sn.Exists() {
			var c publicationDoc
			if err := sn.DataTo(&c); err != nil {
				return fmt.Errorf("decode %s: %w", pubRef.Path, err)
			}
			if c.BatchID != pub.BatchID && newerThan(c.BatchCreatedAt, c.BatchID, at, pub.BatchID) {
				return nil // a newer run published meanwhile
			}
		}
		switched = true
		return tx.Set(pubRef, doc)
	})
	if err != nil {
		return wrap(err)
	}
	curAt, curID := at, pub.BatchID
	if !switched {
		// A newer run switched meanwhile: our set is older than the
		// current one, so the clean-up removes it.
		if cur, err := s.currentPublication(ctx, pubRef); err == nil && cur != nil {
			curAt, curID = cur.BatchCreatedAt, cur.BatchID
		}
	}
	s.deleteOlderSets(ctx, date, curAt, curID)
	return nil
}

// checkFence returns nil for a zero fence or the batch's current finalize
// lease, and an error wrapping [batch.ErrLeaseLost] otherwise. With tx it
// reads the batch document in that transaction, so the switch commits only
// if the lease is unchanged when it does; without, it is a plain read.
func (s *Store) checkFence(ctx context.Context, tx *firestore.Transaction, fence batch.LeaseToken) error {
	if fence.IsZero() {
		return nil
	}
	ref := s.batchRef(fence.BatchID)
	var sn *firestore.DocumentSnapshot
	var err error
	if tx != nil {
		sn, err = tx.Get(ref)
	} else {
		var snaps []*firestore.DocumentSnapshot
		if snaps, err = s.getAll(ctx, "read "+ref.Path, []*firestore.DocumentRef{ref}); err == nil {
			sn = snaps[0]
		}
	}
	if noDoc(err) || (err == nil && !sn.Exists()) {
		return fmt.Errorf("%w: batch %s does not exist", batch.ErrLeaseLost, fence.BatchID)
	}
	if err != nil {
		return err
	}
	var d batchDoc
	if err := sn.DataTo(&d); err != nil {
		return fmt.Errorf("decode %s: %w", ref.Path, err)
	}
	return batch.CheckLease(fence, batch.State(d.State), d.LeaseOwner, int(d.FinalizeAttempts))
}

// currentPublication reads the date's publication document; nil if there
// is none.
func (s *Store) currentPublication(ctx context.Context, ref *firestore.DocumentRef) (*publicationDoc, error) {
	snaps, err := s.getAll(ctx, "read "+ref.Path, []*firestore.DocumentRef{ref})
	if err != nil {
		return nil, err
	}
	if !snaps[0].Exists() {
		return nil, nil
	}
	var d publicationDoc
	if err := snaps[0].DataTo(&d); err != nil {
		return nil, fmt.Errorf("decode %s: %w", ref.Path, err)
	}
	return &d, nil
}

// writeSet writes pub's set: its set document, then every player, then
// deletes players of an earlier write of the same set that pub no longer
// holds. Nothing reads the set before the switch, so it needs no atomicity.
func (s *Store) writeSet(ctx context.Context, pub *predict.Publication) error {
	date := pub.Date.String()
	setRef := s.setRef(date, pub.BatchID)
	sd := setDoc{BatchID: pub.BatchID, BatchCreatedAt: nanos(pub.BatchAt), Players: int64(len(pub.Players))}
	err := s.retry(ctx, "write set "+setRef.Path, func() error {
		return s.commit(ctx, func(tx *firestore.Transaction) error { return tx.Set(setRef, sd) })
	})
	if err != nil {
		return err
	}
	players := setRef.Collection("players")
	keep := make(map[string]bool, len(pub.Players))
	for start := 0; start < len(pub.Players); start += pubChunk {
		chunk := pub.Players[start:min(start+pubChunk, len(pub.Players))]
		err := s.retry(ctx, "write players of "+setRef.Path, func() error {
			return s.commit(ctx, func(tx *firestore.Transaction) error {
				for _, pl := range chunk {
					if err := tx.Set(players.Doc(pl.PlayerID), toPlayerDoc(pl)); err != nil {
						return err
					}
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		for _, pl := range chunk {
			keep[pl.PlayerID] = true
		}
	}
	var stale []*firestore.DocumentRef
	err = s.retry(ctx, "list players of "+setRef.Path, func() error {
		refs, err := players.DocumentRefs(ctx).GetAll()
		stale = stale[:0]
		for _, r := range refs {
			if !keep[r.ID] {
				stale = append(stale, r)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.deleteDocs(ctx, stale)
}

// deleteDocs deletes refs, a chunk per commit.
func (s *Store) deleteDocs(ctx context.Context, refs []*firestore.DocumentRef) error {
	for start := 0; start < len(refs); start += pubChunk {
		chunk := refs[start:min(start+pubChunk, len(refs))]
		err := s.retry(ctx, "delete documents", func() error {
			return s.commit(ctx, func(tx *firestore.Transaction) error {
				for _, r := range chunk {
					if err := tx.Delete(r); err != nil {
						return err
					}
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// deleteOlderSets deletes the date's sets of batches older than the one
// created at curAt with ID curID. A newer set may be half-written by a
// publish in progress, so only older ones go. Failing to delete leaves
// unreferenced documents that the next publish of the date removes: it is
// logged, not returned.
func (s *Store) deleteOlderSets(ctx context.Context, date string, curAt int64, curID string) {
	sets, err := s.queryAll(ctx, "list sets of "+date, s.publicationRef(date).Collection("sets").Query)
	if err != nil {
		s.log.Warn("publication clean-up: list sets", "run_date", date, "err", err)
		return
	}
	for _, sn := range sets {
		var d setDoc
		if err := sn.DataTo(&d); err != nil {
			s.log.Warn("publication clean-up: decode set", "run_date", date, "set", sn.Ref.ID, "err", err)
			continue
		}
		if sn.Ref.ID == curID || !newerThan(curAt, curID, d.BatchCreatedAt, sn.Ref.ID) {
			continue
		}
		var refs []*firestore.DocumentRef
		err := s.retry(ctx, "list players of "+sn.Ref.Path, func() error {
			var err error
			refs, err = sn.Ref.Collection("players").DocumentRefs(ctx).GetAll()
			return err
		})
		if err == nil {
			// The set document goes last, so a clean-up cut short is found
			// again by the next one.
			err = s.deleteDocs(ctx, append(refs, sn.Ref))
		}
		if err != nil {
			s.log.Warn("publication clean-up: delete set", "run_date", date, "set", sn.Ref.ID, "err", err)
		}
	}
}

// Published returns the date's publication, read at one snapshot; an error
// wrapping [batch.ErrNotFound] if there is none. Players come in player ID
// order, each with the predictions in the order they were published.
func (s *Store) Published(ctx context.Context, date predict.Date) (*predict.Publication, error) {
	ds := date.String()
	pubRef := s.publicationRef(ds)
	var pub *predict.Publication
	err := s.retry(ctx, "read publication "+ds, func() error {
		return s.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
			pub = nil
			sn, err := tx.Get(pubRef)
			if noDoc(err) {
				return nil
			}
			if err != nil {
				return err
			}
			var d publicationDoc
			if err := sn.DataTo(&d); err != nil {
				return fmt.Errorf("decode %s: %w", pubRef.Path, err)
			}
			docs, err := tx.Documents(s.setRef(ds, d.BatchID).Collection("players").Query).GetAll()
			if err != nil {
				return err
			}
			p := &predict.Publication{Date: date, BatchID: d.BatchID, Run: d.Run, Result: batch.Result(d.Result),
				DataVersion: d.DataVersion, BatchAt: fromNanos(d.BatchCreatedAt), PublishedAt: fromNanos(d.PublishedAt),
				Players: make([]predict.PublishedPlayer, 0, len(docs))}
			for _, doc := range docs {
				var pd playerDoc
				if err := doc.DataTo(&pd); err != nil {
					return fmt.Errorf("decode %s: %w", doc.Ref.Path, err)
				}
				p.Players = append(p.Players, pd.toPlayer(date))
			}
			if len(p.Players) != int(d.Players) {
				// The set is written before the switch and deleted only
				// once older than the current one: a short set is a bug or
				// a hand edit, never a race.
				return fmt.Errorf("publication of %s names set %s with %d players, but it holds %d", ds, d.BatchID, d.Players, len(p.Players))
			}
			slices.SortFunc(p.Players, func(a, b predict.PublishedPlayer) int { return cmp.Compare(a.PlayerID, b.PlayerID) })
			pub = p
			return nil
		}, firestore.ReadOnly, firestore.MaxAttempts(1))
	})
	if err != nil {
		return nil, fmt.Errorf("published %s: %w", ds, err)
	}
	if pub == nil {
		return nil, fmt.Errorf("published %s: %w", ds, batch.ErrNotFound)
	}
	return pub, nil
}

func toPlayerDoc(pl predict.PublishedPlayer) playerDoc {
	d := playerDoc{PlayerID: pl.PlayerID, Name: pl.Name, Team: pl.Team, Opponent: pl.Opponent, Home: pl.Home,
		Predictions: make([]predictionDoc, len(pl.Predictions))}
	for i, p := range pl.Predictions {
		d.Predictions[i] = predictionDoc{System: p.System, Line: p.Line, LineOffset: p.LineOffset, LineSource: p.LineSource,
			Estimated: p.Estimated, Points: p.Points, Confidence: p.Confidence, Edge: p.Edge, Pick: string(p.Pick),
			ModelPOver: p.ModelPOver, MarketPOver: p.MarketPOver, POver: p.POver, Side: string(p.Side), Price: p.Price,
			PriceBook: p.PriceBook, EV: p.EV}
	}
	return d
}

func (d playerDoc) toPlayer(date predict.Date) predict.PublishedPlayer {
	pl := predict.PublishedPlayer{PlayerID: d.PlayerID, Name: d.Name, Team: d.Team, Opponent: d.Opponent, Home: d.Home,
		Predictions: make([]predict.Prediction, len(d.Predictions))}
	for i, p := range d.Predictions {
		pl.Predictions[i] = predict.Prediction{Date: date, PlayerID: d.PlayerID, System: p.System, Line: p.Line,
			LineOffset: p.LineOffset, LineSource: p.LineSource, Estimated: p.Estimated, Points: p.Points,
			Confidence: p.Confidence, Edge: p.Edge, Pick: predict.Pick(p.Pick), ModelPOver: p.ModelPOver,
			MarketPOver: p.MarketPOver, POver: p.POver, Side: predict.Pick(p.Side), Price: p.Price, PriceBook: p.PriceBook, EV: p.EV}
	}
	return pl
}

// noDoc reports whether err is Firestore's "no such document".
func noDoc(err error) bool { return status.Code(err) == codes.NotFound }
