package gcpfirestore

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tipoff/batch"
)

// claimDoc is <prefix>_claims/<name>: one named claim (see [batch.Claim]).
type claimDoc struct {
	Owner   string `firestore:"owner"`
	Epoch   int64  `firestore:"epoch"`
	Expires int64  `firestore:"expires"`
	// Writer identifies the call that wrote it last, so a call whose write
	// is retried after an ambiguous error recognises its own write.
	Writer string `firestore:"writer"`
}

// Claim implements [batch.Store.Claim] as a compare-and-set on the claim's
// document: it reads the document, decides by [batch.NextClaim], and
// writes on condition that the document has not changed since it was read
// (or creates it on condition that it does not exist). Racing claimers
// take no locks; the losers read again and find the claim held.
func (s *Store) Claim(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (batch.Claim, error) {
	if err := batch.ValidateClaim(name, owner, ttl); err != nil {
		return batch.Claim{}, err
	}
	if !validDocID(name) {
		return batch.Claim{}, fmt.Errorf("%w: claim %q: the name cannot name a Firestore document", batch.ErrInvalid, name)
	}
	ref := s.claims.Doc(name)
	token := newToken()
	var out batch.Claim
	err := s.retry(ctx, "claim "+name, func() error {
		snap, err := ref.Get(ctx)
		exists := err == nil
		if err != nil && !noDoc(err) {
			return err
		}
		var d claimDoc
		if exists {
			if err := snap.DataTo(&d); err != nil {
				return fmt.Errorf("decode %s: %w", ref.Path, err)
			}
		}
		cur := batch.Claim{Name: name, Owner: d.Owner, Epoch: int(d.Epoch), Expires: fromNanos(d.Expires)}
		if exists && d.Writer == token { // an earlier attempt's write landed
			out = cur
			return nil
		}
		next, err := batch.NextClaim(cur, name, owner, now, ttl)
		if err != nil {
			return err
		}
		nd := claimDoc{Owner: owner, Epoch: int64(next.Epoch), Expires: nanos(next.Expires), Writer: token}
		if exists {
			_, err = ref.Update(ctx, []firestore.Update{{Path: "owner", Value: nd.Owner}, {Path: "epoch", Value: nd.Epoch},
				{Path: "expires", Value: nd.Expires}, {Path: "writer", Value: nd.Writer}}, firestore.LastUpdateTime(snap.UpdateTime))
		} else {
			_, err = ref.Create(ctx, nd)
		}
		if err != nil {
			// A lost race (the document changed, or another created it):
			// read again and decide again.
			if status.Code(err) == codes.AlreadyExists {
				return fmt.Errorf("%w: %v", errStale, err)
			}
			return stale(err)
		}
		out = next
		return nil
	})
	if err != nil {
		return batch.Claim{}, fmt.Errorf("claim %s: %w", name, err)
	}
	return out, nil
}
