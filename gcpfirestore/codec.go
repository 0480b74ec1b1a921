package gcpfirestore

import (
	"encoding/json"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"

	"tipoff/batch"
)

// Times are stored as Unix nanoseconds (0 for the zero time): Firestore
// timestamps keep only microseconds, and a stored time must read back equal
// to the one written.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// keyDoc is <prefix>_keys/<date>~<run>: it claims a key for one batch. It is
// created in the same transaction as the batch document.
type keyDoc struct {
	BatchID   string `firestore:"batch_id"`
	CreatedAt int64  `firestore:"created_at"`
}

func keyDocID(k batch.Key) string { return k.Date + "~" + k.Run }

// policyDoc is a batch's policy; durations in nanoseconds.
type policyDoc struct {
	ItemTimeout     int64   `firestore:"item_timeout"`
	MaxAttempts     int64   `firestore:"max_attempts"`
	Deadline        int64   `firestore:"deadline"`
	MinSuccessRatio float64 `firestore:"min_success_ratio"`
}

// batchDoc is <prefix>_batches/<id>. Counts are not here: they are the sum
// of the batch's shard documents.
type batchDoc struct {
	Date   string    `firestore:"date"`
	Run    string    `firestore:"run"`
	State  string    `firestore:"state"`
	Result string    `firestore:"result"`
	Total  int64     `firestore:"total"`
	Policy policyDoc `firestore:"policy"`
	// Meta is the metadata as JSON: Firestore map keys may not be empty or
	// of the form __name__, metadata keys may.
	Meta             []byte `firestore:"meta"`
	CreatedAt        int64  `firestore:"created_at"`
	UpdatedAt        int64  `firestore:"updated_at"`
	Deadline         int64  `firestore:"deadline"`
	FinalizedAt      int64  `firestore:"finalized_at"`
	LeaseOwner       string `firestore:"lease_owner"`
	LeaseExpires     int64  `firestore:"lease_expires"`
	FinalizeAttempts int64  `firestore:"finalize_attempts"`
	CancelReason     string `firestore:"cancel_reason"`
	// Manifest names the manifests/<id> subcollection that holds the items.
	Manifest string `firestore:"manifest"`
	// Shards is how many shards/<nnn> counter documents the batch has.
	Shards int64 `firestore:"shards"`
	// Gates is how many gates/<nnn> documents the batch was created with:
	// as many as shards, or 0 for a batch created before gates existed,
	// whose outcomes read the batch document in their transaction instead.
	Gates int64 `firestore:"gates"`
	// Writer identifies the call that last changed the state, so a call
	// whose commit is retried after an ambiguous error recognises its own
	// write.
	Writer string `firestore:"writer"`
}

// stateUpdates lists the fields of d that a state change may set.
func (d batchDoc) stateUpdates() []firestore.Update {
	return []firestore.Update{
		{Path: "state", Value: d.State},
		{Path: "result", Value: d.Result},
		{Path: "updated_at", Value: d.UpdatedAt},
		{Path: "finalized_at", Value: d.FinalizedAt},
		{Path: "lease_owner", Value: d.LeaseOwner},
		{Path: "lease_expires", Value: d.LeaseExpires},
		{Path: "finalize_attempts", Value: d.FinalizeAttempts},
		{Path: "cancel_reason", Value: d.CancelReason},
		{Path: "writer", Value: d.Writer},
	}
}

func (d batchDoc) layout() layout {
	return layout{manifest: d.Manifest, shards: int(d.Shards), gates: int(d.Gates), total: int(d.Total)}
}

// toBatch returns the batch with counts c; shardUpdated is the latest
// outcome time, which moves UpdatedAt forward without writing the batch
// document on every outcome.
func (d batchDoc) toBatch(id string, c batch.Counts, shardUpdated int64) batch.Batch {
	return batch.Batch{
		ID:     id,
		Key:    batch.Key{Date: d.Date, Run: d.Run},
		State:  batch.State(d.State),
		Result: batch.Result(d.Result),
		Total:  int(d.Total),
		Counts: c,
		Policy: batch.Policy{
			ItemTimeout:     time.Duration(d.Policy.ItemTimeout),
			MaxAttempts:     int(d.Policy.MaxAttempts),
			Deadline:        time.Duration(d.Policy.Deadline),
			MinSuccessRatio: d.Policy.MinSuccessRatio,
		},
		Meta:             decodeMeta(d.Meta),
		CreatedAt:        fromNanos(d.CreatedAt),
		UpdatedAt:        fromNanos(max(d.UpdatedAt, shardUpdated)),
		Deadline:         fromNanos(d.Deadline),
		FinalizedAt:      fromNanos(d.FinalizedAt),
		Lease:            batch.Lease{Owner: d.LeaseOwner, Expires: fromNanos(d.LeaseExpires)},
		FinalizeAttempts: int(d.FinalizeAttempts),
		CancelReason:     d.CancelReason,
	}
}

func encodeMeta(m map[string]string) []byte {
	if len(m) == 0 {
		return nil
	}
	b, _ := json.Marshal(m) // a map of strings always encodes
	return b
}

// decodeMeta reads what encodeMeta wrote; decodeBatch has checked that it
// is JSON.
func decodeMeta(b []byte) map[string]string {
	if len(b) == 0 {
		return nil
	}
	var m map[string]string
	_ = json.Unmarshal(b, &m)
	return m
}

// shardDoc is <prefix>_batches/<id>/shards/<nnn>: one slice of the batch's
// counts. An outcome increments one shard, chosen at random, in the
// transaction that writes the item's outcome.
type shardDoc struct {
	Succeeded int64 `firestore:"succeeded"`
	Skipped   int64 `firestore:"skipped"`
	Failed    int64 `firestore:"failed"`
	TimedOut  int64 `firestore:"timed_out"`
	// UpdatedAt is the latest time of an outcome counted here.
	UpdatedAt int64 `firestore:"updated_at"`
}

// gateDoc is <prefix>_batches/<id>/gates/<nnn>: a document that exists
// while the batch is running. Every outcome commit updates one gate, which
// requires it to exist, and closing the batch deletes them all in its own
// commit, so no outcome commits after the batch has closed. Commits counts
// the commits that passed the gate; nothing reads it but people.
type gateDoc struct {
	Commits int64 `firestore:"commits"`
}

// shardField is the shard field that counts outcome o.
func shardField(o batch.Outcome) string {
	switch o {
	case batch.OutcomeSucceeded:
		return "succeeded"
	case batch.OutcomeSkipped:
		return "skipped"
	case batch.OutcomeFailed:
		return "failed"
	default:
		return "timed_out"
	}
}

// sumShards adds up shard snapshots and returns the counts and the latest
// outcome time. A missing shard counts as zero.
func sumShards(snaps []*firestore.DocumentSnapshot) (c batch.Counts, updated int64, err error) {
	for _, sn := range snaps {
		if !sn.Exists() {
			continue
		}
		var d shardDoc
		if err := sn.DataTo(&d); err != nil {
			return c, 0, fmt.Errorf("decode %s: %w", sn.Ref.Path, err)
		}
		c.Succeeded += int(d.Succeeded)
		c.Skipped += int(d.Skipped)
		c.Failed += int(d.Failed)
		c.TimedOut += int(d.TimedOut)
		updated = max(updated, d.UpdatedAt)
	}
	return c, updated, nil
}

// itemDoc is <prefix>_batches/<id>/manifests/<manifest>/items/<item id>:
// the manifest entry, its dispatch state, and its outcome and result once
// recorded, all in one document so they change atomically.
type itemDoc struct {
	Request     []byte `firestore:"request"`
	Published   bool   `firestore:"published"`
	Attempts    int64  `firestore:"attempts"`
	Outcome     string `firestore:"outcome"`
	Result      []byte `firestore:"result"`
	Error       string `firestore:"error"`
	CreatedAt   int64  `firestore:"created_at"`
	PublishedAt int64  `firestore:"published_at"`
	CompletedAt int64  `firestore:"completed_at"`
	// OutcomeToken identifies the RecordOutcome call that wrote the
	// outcome, so a call whose commit is retried after an ambiguous error
	// recognises its own write.
	OutcomeToken string `firestore:"outcome_token"`
}

// itemFieldsNoRequest are an item document's fields but its request, for
// reads with [batch.ItemsOptions.NoRequests].
var itemFieldsNoRequest = []string{"published", "attempts", "outcome", "result", "error", "created_at", "published_at", "completed_at", "outcome_token"}

func (d itemDoc) toItem(batchID, id string) batch.Item {
	return batch.Item{
		BatchID:     batchID,
		ID:          id,
		Request:     d.Request,
		Published:   d.Published,
		Attempts:    int(d.Attempts),
		Outcome:     batch.Outcome(d.Outcome),
		Result:      d.Result,
		Error:       d.Error,
		CreatedAt:   fromNanos(d.CreatedAt),
		PublishedAt: fromNanos(d.PublishedAt),
		CompletedAt: fromNanos(d.CompletedAt),
	}
}

func decodeItem(batchID string, sn *firestore.DocumentSnapshot) (batch.Item, error) {
	var d itemDoc
	if err := sn.DataTo(&d); err != nil {
		return batch.Item{}, fmt.Errorf("decode %s: %w", sn.Ref.Path, err)
	}
	return d.toItem(batchID, sn.Ref.ID), nil
}

// eventDoc is <prefix>_events/<base64url of the event ID>: an outbox entry.
type eventDoc struct {
	ID          string `firestore:"id"`
	Type        string `firestore:"type"`
	BatchID     string `firestore:"batch_id"`
	Payload     []byte `firestore:"payload"`
	CreatedAt   int64  `firestore:"created_at"`
	PublishedAt int64  `firestore:"published_at"`
}

func (d eventDoc) toEvent() batch.Event {
	return batch.Event{ID: d.ID, Type: d.Type, BatchID: d.BatchID, Payload: d.Payload,
		CreatedAt: fromNanos(d.CreatedAt), PublishedAt: fromNanos(d.PublishedAt)}
}
