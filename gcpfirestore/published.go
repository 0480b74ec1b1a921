package gcpfirestore

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tipoff/batch"
	"tipoff/predict"
)

// The Store is also the cloud shape's [predict.Publisher]: a date's
// published predictions live next to the batches, in
//
//	<prefix>_publications/<date>                          which set is the date's publication, and of which batch
//	<prefix>_publications/<date>/sets/<set id>            one publish's set of a batch's predictions
//	<prefix>_publications/<date>/sets/<set id>/players/<player id>  a player's predictions
//
// A publication has a few hundred players, more than one Firestore commit
// may write. So a publish writes the batch's whole set first, where no reader
// looks, and then switches the date's publication document to it in one
// transaction that also applies the publication policy
// ([predict.Publication.Supersedes]): a reader, which reads the publication
// document and the set it names at one snapshot, sees the old set or the
// new, never a mix.
//
// Every publish writes a set of its own (<batch id>@<random>), so no two
// publishes ever write or delete the same set: a publish whose switch the
// policy refused deletes its own set, and one that switched deletes the set
// it replaced, which nobody can switch to any more. A set left by a publish
// that died before either is deleted by a later publish of the date once it
// is an hour old by Firestore's clock.
var _ predict.Publisher = (*Store)(nil)

// pubChunk is how many set documents one commit writes or deletes, under
// Firestore's 500 writes per commit.
const pubChunk = 400

// publicationDoc is <prefix>_publications/<date>: the current set.
type publicationDoc struct {
	BatchID string `firestore:"batch_id"`
	// Set names the set document; "" (written before sets had their own
	// IDs) means BatchID.
	Set            string `firestore:"set"`
	Run            string `firestore:"run"`
	Result         string `firestore:"result"`
	DataVersion    string `firestore:"data_version"`
	BatchCreatedAt int64  `firestore:"batch_created_at"`
	PublishedAt    int64  `firestore:"published_at"`
	Pinned         bool   `firestore:"pinned"`
	Players        int64  `firestore:"players"`
	Predictions    int64  `firestore:"predictions"`
}

// set returns the ID of the set d names.
func (d *publicationDoc) set() string {
	if d.Set == "" {
		return d.BatchID
	}
	return d.Set
}

// head returns what the publication policy needs of d.
func (d *publicationDoc) head(date predict.Date) *predict.Publication {
	return &predict.Publication{Date: date, BatchID: d.BatchID, Result: batch.Result(d.Result),
		BatchAt: fromNanos(d.BatchCreatedAt), Pinned: d.Pinned}
}

// setDoc is <prefix>_publications/<date>/sets/<set id>. It is written
// before the set's players, so every set can be found and cleaned up.
type setDoc struct {
	BatchID        string `firestore:"batch_id"`
	BatchCreatedAt int64  `firestore:"batch_created_at"`
	Players        int64  `firestore:"players"`
}

// staleSet is how old, by Firestore's clock, a set that is not the date's
// publication must be before any publish deletes it: far longer than a
// publish takes, so only a set whose publish died goes.
const staleSet = time.Hour

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

func (s *Store) setRef(date, setID string) *firestore.DocumentRef {
	return s.publicationRef(date).Collection("sets").Doc(setID)
}

// newSetID returns a set ID of batchID no other publish uses.
func newSetID(batchID string) string {
	return batchID + "@" + rand.Text()
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

// Publish is the automatic publish of a finalized batch: pub becomes the
// date's publication if it supersedes the current one
// ([predict.Publication.Supersedes], checked again in the switch
// transaction), and otherwise nothing of it stays written. See
// [predict.Publisher]. A fenced publication (pub.Fence set) is checked
// against the batch's finalize lease before the set is written and again
// inside the switching transaction; a stale fence returns
// [batch.ErrLeaseLost] and switches nothing (a fence lost between the two
// checks can leave the batch's set written where no reader looks; it is
// deleted as an abandoned set). It returns an error wrapping
// [batch.ErrInvalid] for a publication that cannot be stored (nothing is
// written then).
func (s *Store) Publish(ctx context.Context, pub *predict.Publication) error {
	return s.publish(ctx, pub, false)
}

// PublishExplicit is an operator's publish: pub becomes the date's
// publication whatever it is, pinned if pub.Pinned. See
// [predict.Publisher].
func (s *Store) PublishExplicit(ctx context.Context, pub *predict.Publication) error {
	return s.publish(ctx, pub, true)
}

func (s *Store) publish(ctx context.Context, pub *predict.Publication, explicit bool) error {
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
	if !explicit && cur != nil && !pub.Supersedes(cur.head(pub.Date)) {
		return nil // the current publication stays; nothing written
	}
	setID := newSetID(pub.BatchID)
	if !validDocID(setID) {
		return fmt.Errorf("%w: publish %s: batch id %q is too long to name a set", batch.ErrInvalid, date, pub.BatchID)
	}
	if err := s.writeSet(ctx, date, setID, pub); err != nil {
		return wrap(err)
	}
	doc := publicationDoc{BatchID: pub.BatchID, Set: setID, Run: pub.Run, Result: string(pub.Result), DataVersion: pub.DataVersion,
		BatchCreatedAt: nanos(pub.BatchAt), PublishedAt: nanos(pub.PublishedAt), Pinned: explicit && pub.Pinned,
		Players: int64(len(pub.Players)), Predictions: int64(pub.Count())}
	replaced := ""
	switched := false
	err = s.runTx(ctx, "switch publication "+date, func(ctx context.Context, tx *firestore.Transaction) error {
		switched, replaced = false, ""
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
			if !explicit && !pub.Supersedes(c.head(pub.Date)) {
				return nil // another publish switched meanwhile and stays
			}
			replaced = c.set()
		}
		switched = true
		return tx.Set(pubRef, doc)
	})
	if err != nil {
		// Whether the switch committed is unknown: leave the set to the
		// stale clean-up rather than delete what may be published.
		return wrap(err)
	}
	drop := replaced
	if !switched {
		drop = setID
	}
	s.deleteSets(ctx, date, drop)
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

// writeSet writes pub's set setID: its set document, then every player.
// Nothing reads the set before the switch, so it needs no atomicity.
func (s *Store) writeSet(ctx context.Context, date, setID string, pub *predict.Publication) error {
	setRef := s.setRef(date, setID)
	sd := setDoc{BatchID: pub.BatchID, BatchCreatedAt: nanos(pub.BatchAt), Players: int64(len(pub.Players))}
	err := s.retry(ctx, "write set "+setRef.Path, func() error {
		return s.commit(ctx, func(tx writer) error { return tx.Set(setRef, sd) })
	})
	if err != nil {
		return err
	}
	players := setRef.Collection("players")
	for start := 0; start < len(pub.Players); start += pubChunk {
		chunk := pub.Players[start:min(start+pubChunk, len(pub.Players))]
		err := s.retry(ctx, "write players of "+setRef.Path, func() error {
			return s.commit(ctx, func(tx writer) error {
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
	}
	return nil
}

// deleteDocs deletes refs, a chunk per commit.
func (s *Store) deleteDocs(ctx context.Context, refs []*firestore.DocumentRef) error {
	for start := 0; start < len(refs); start += pubChunk {
		chunk := refs[start:min(start+pubChunk, len(refs))]
		err := s.retry(ctx, "delete documents", func() error {
			return s.commit(ctx, func(tx writer) error {
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

// deleteSets deletes the date's set drop ("" for none) and every set that
// is not the date's publication and is older than [staleSet] by Firestore's
// clock: sets of publishes that died. Failing to delete leaves
// unreferenced documents that a later publish of the date removes: it is
// logged, not returned.
func (s *Store) deleteSets(ctx context.Context, date, drop string) {
	pubRef := s.publicationRef(date)
	cur, err := s.currentPublication(ctx, pubRef)
	if err != nil {
		s.log.Warn("publication clean-up: read publication", "run_date", date, "err", err)
		return
	}
	sets, err := s.queryAll(ctx, "list sets of "+date, pubRef.Collection("sets").Query)
	if err != nil {
		s.log.Warn("publication clean-up: list sets", "run_date", date, "err", err)
		return
	}
	for _, sn := range sets {
		if cur != nil && sn.Ref.ID == cur.set() {
			continue
		}
		if sn.Ref.ID != drop && sn.ReadTime.Sub(sn.UpdateTime) < staleSet {
			continue // may be a publish in progress
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
			docs, err := tx.Documents(s.setRef(ds, d.set()).Collection("players").Query).GetAll()
			if err != nil {
				return err
			}
			p := &predict.Publication{Date: date, BatchID: d.BatchID, Run: d.Run, Result: batch.Result(d.Result),
				DataVersion: d.DataVersion, BatchAt: fromNanos(d.BatchCreatedAt), PublishedAt: fromNanos(d.PublishedAt),
				Pinned: d.Pinned, Players: make([]predict.PublishedPlayer, 0, len(docs))}
			for _, doc := range docs {
				var pd playerDoc
				if err := doc.DataTo(&pd); err != nil {
					return fmt.Errorf("decode %s: %w", doc.Ref.Path, err)
				}
				p.Players = append(p.Players, pd.toPlayer(date))
			}
			if len(p.Players) != int(d.Players) {
				// The set is written whole before the switch and deleted
				// only once it is not the publication: a short set is a bug
				// or a hand edit, never a race.
				return fmt.Errorf("publication of %s names set %s with %d players, but it holds %d", ds, d.set(), d.Players, len(p.Players))
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
