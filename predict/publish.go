package predict

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"tipoff/batch"
)

// Publication is a date's published predictions: the picks users consume,
// those of one finalized batch chosen by the publication policy (see
// [Publisher]). A publication is replaced whole.
type Publication struct {
	Date        Date         `json:"date"`
	BatchID     string       `json:"batch_id"`
	Run         string       `json:"run"`
	Result      batch.Result `json:"result"`
	DataVersion string       `json:"data_version,omitempty"`
	BatchAt     time.Time    `json:"batch_created_at"`
	PublishedAt time.Time    `json:"published_at"`
	// Pinned is true when an operator published the batch explicitly
	// ([Publisher.PublishExplicit]): a batch's own finalize never replaces a
	// pinned publication.
	Pinned  bool              `json:"pinned,omitempty"`
	Players []PublishedPlayer `json:"players"`
	// Fence, when set, is the finalize lease the publication is written
	// under: Publish writes it only while that lease is the batch's
	// current one. An export records the lease it was written under here.
	// A publication read back from a Publisher has none.
	Fence batch.LeaseToken `json:"fence,omitzero"`
}

// PublishedPlayer is one player's predictions in a publication.
type PublishedPlayer struct {
	PlayerID    string       `json:"player_id"`
	Name        string       `json:"player_name"`
	Team        string       `json:"team"`
	Opponent    string       `json:"opponent"`
	Home        bool         `json:"home"`
	Predictions []Prediction `json:"predictions"`
}

// Count returns how many predictions p holds.
func (p *Publication) Count() int {
	n := 0
	for _, pl := range p.Players {
		n += len(pl.Predictions)
	}
	return n
}

// ResultRank orders batch results for the publication policy: succeeded
// (3) > partial (2) > failed and cancelled (1); anything else is 0.
func ResultRank(r batch.Result) int {
	switch r {
	case batch.ResultSucceeded:
		return 3
	case batch.ResultPartial:
		return 2
	case batch.ResultFailed, batch.ResultCancelled:
		return 1
	}
	return 0
}

// Newer reports whether p's batch was created after q's: by creation time,
// then by batch ID, so two different batches are never equal.
func (p *Publication) Newer(q *Publication) bool {
	if !p.BatchAt.Equal(q.BatchAt) {
		return p.BatchAt.After(q.BatchAt)
	}
	return p.BatchID > q.BatchID
}

// Supersedes is the publication policy of an automatic publish (a batch's
// finalize): it reports whether p replaces cur, the date's current
// publication (nil when there is none). It does when there is none; never
// when cur is pinned; when cur is the same batch (publishing it again
// refreshes it); and otherwise only when p's result ranks at least as high
// as cur's ([ResultRank]) and, among equals, p's batch is the newer. So a
// worse run never hides a better one, and an older run finalizing late
// never hides a newer one of the same result.
func (p *Publication) Supersedes(cur *Publication) bool {
	switch {
	case cur == nil:
		return true
	case cur.Pinned:
		return false
	case cur.BatchID == p.BatchID:
		return true
	}
	if a, b := ResultRank(p.Result), ResultRank(cur.Result); a != b {
		return a > b
	}
	return p.Newer(cur)
}

// Publisher stores publications. Implementations replace a date's
// publication atomically: readers see the old set or the new, never a mix.
//
// The publication policy: a finalized batch replaces the date's publication
// only when its result is at least as good as the published one's
// (succeeded > partial > failed/cancelled; among equals the newer batch, by
// creation time), as [Publication.Supersedes] decides, inside the same
// transaction as the switch. A worse batch keeps its predictions as its own
// record (its items and results stay in the batch store); it is just not
// the live publication. An operator may publish any finalized batch
// explicitly; that publication is pinned and stays until the operator
// publishes again.
type Publisher interface {
	// Publish is the automatic publish of a finalized batch: it makes pub
	// the date's publication if pub supersedes the current one
	// ([Publication.Supersedes], pub.Pinned ignored), and otherwise leaves
	// the current one as it is and writes nothing. Publishing the current
	// batch again (not pinned) changes only the publication time. If
	// pub.Fence is set, Publish checks in its switching transaction that the
	// fence is still the batch's current finalize lease ([batch.CheckLease])
	// and, if not, writes nothing visible and returns an error wrapping
	// [batch.ErrLeaseLost]; a fence naming another batch than pub's is
	// [batch.ErrInvalid].
	Publish(ctx context.Context, pub *Publication) error
	// PublishExplicit is an operator's publish: pub becomes the date's
	// publication whatever the current one is, pinned if pub.Pinned. An
	// unpinned explicit publish (of the current batch, say) hands the date
	// back to the automatic policy.
	PublishExplicit(ctx context.Context, pub *Publication) error
	// Published returns the date's publication, or an error wrapping
	// [batch.ErrNotFound] if there is none. Its Players is never nil. The
	// publication may be shared with other callers: read it, never modify
	// it.
	Published(ctx context.Context, date Date) (*Publication, error)
}

// Consolidate builds a batch's publication from its items: each succeeded
// item's result (the predictions, and who they are for) and, when the item
// was read with it, its request. Items without predictions are left out.
// An item whose payloads do not decode, or disagree on the player, is an
// error naming it: a finalized batch must not silently drop a player.
//
// Who a player is comes from the request when the item holds one, else
// from the result ([Result.Player]), which must then be for the item's ID,
// the player's. A result from a worker that did not name the player, on an
// item read without its request, is an error wrapping [ErrNeedRequests]:
// consolidate again with the items' requests. Without the requests, a
// player's name, team, opponent and side are the worker's word, as his
// predictions always were: [Run] copies them from the request it ran.
func Consolidate(b batch.Batch, items []batch.Item, now time.Time) (*Publication, error) {
	date, err := ParseDate(b.Key.Date)
	if err != nil {
		return nil, fmt.Errorf("consolidate %s: %w", b.ID, err)
	}
	pub := &Publication{Date: date, BatchID: b.ID, Run: b.Key.Run, Result: b.Result,
		DataVersion: b.Meta["data_version"], BatchAt: b.CreatedAt, PublishedAt: now, Players: []PublishedPlayer{}}
	for _, it := range items {
		if it.Outcome != batch.OutcomeSucceeded || len(it.Result) == 0 {
			continue
		}
		res, err := DecodeResult(it.Result)
		if err != nil {
			return nil, fmt.Errorf("consolidate %s: item %s result: %w", b.ID, it.ID, err)
		}
		var who identity
		switch {
		case it.Request != nil:
			if who, err = requestIdentity(it.Request); err != nil {
				return nil, fmt.Errorf("consolidate %s: item %s request: %w: %v", b.ID, it.ID, batch.ErrInvalid, err)
			}
			if pl := res.Player; pl != nil && (*pl != Identity{Name: who.PlayerName, Team: who.Team, Opponent: who.Opponent, Home: who.Home}) {
				return nil, fmt.Errorf("consolidate %s: item %s: %w: the result's player %+v is not the request's %+v", b.ID, it.ID, batch.ErrInvalid, *pl, who)
			}
		case res.Player != nil:
			pl := res.Player
			who = identity{PlayerID: it.ID, PlayerName: pl.Name, Team: pl.Team, Opponent: pl.Opponent, Home: pl.Home}
		default:
			return nil, fmt.Errorf("consolidate %s: item %s: %w", b.ID, it.ID, ErrNeedRequests)
		}
		if res.PlayerID != who.PlayerID || res.Date != date {
			return nil, fmt.Errorf("consolidate %s: item %s: %w: result is for %s on %s, the item for %s on %s",
				b.ID, it.ID, batch.ErrInvalid, res.PlayerID, res.Date, who.PlayerID, date)
		}
		pub.Players = append(pub.Players, PublishedPlayer{PlayerID: who.PlayerID, Name: who.PlayerName,
			Team: who.Team, Opponent: who.Opponent, Home: who.Home, Predictions: res.Predictions})
	}
	slices.SortFunc(pub.Players, func(a, b PublishedPlayer) int { return cmp.Compare(a.PlayerID, b.PlayerID) })
	return pub, nil
}

// ErrNeedRequests is what [Consolidate] returns, wrapped, for an item read
// without its request whose result does not say who it is for.
var ErrNeedRequests = errors.New("the result names no player and the item was read without its request")

// identity is who a request is for.
type identity struct {
	PlayerID   string `json:"player_id"`
	PlayerName string `json:"player_name"`
	Team       string `json:"team"`
	Opponent   string `json:"opponent"`
	Home       bool   `json:"home"`
}

// requestIdentity reads who an encoded request is for. Only that matters
// to a publication, and a request names it before the player's history
// (a few hundred bytes of ~9 KB on a real day), so it stops reading once it
// has all five fields; other fields are skipped without being decoded.
func requestIdentity(b []byte) (identity, error) {
	var id identity
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil {
		return id, err
	} else if t != json.Delim('{') {
		return id, fmt.Errorf("not a JSON object")
	}
	fields := map[string]any{"player_id": &id.PlayerID, "player_name": &id.PlayerName, "team": &id.Team, "opponent": &id.Opponent, "home": &id.Home}
	for len(fields) > 0 && dec.More() {
		t, err := dec.Token()
		if err != nil {
			return id, err
		}
		key, _ := t.(string)
		dst, ok := fields[key]
		if !ok {
			var skip json.RawMessage
			dst = &skip
		}
		if err := dec.Decode(dst); err != nil {
			return id, fmt.Errorf("%s: %v", key, err)
		}
		delete(fields, key)
	}
	if len(fields) > 0 {
		// The object ended without some of them: they are empty, as a
		// whole decode would leave them; the closing brace must be there.
		if t, err := dec.Token(); err != nil {
			return id, err
		} else if t != json.Delim('}') {
			return id, fmt.Errorf("not a JSON object")
		}
	}
	return id, nil
}

// TopPick is one player's pick by one system at his base line.
type TopPick struct {
	Player     PublishedPlayer
	Prediction Prediction
}

// TopPicks returns up to n OVER/UNDER picks of the named system at each
// player's base line (offset 0), highest expected value at the offered
// price first. An empty result means no pick clears the price: say so
// rather than rank passes.
func (p *Publication) TopPicks(system string, n int) []TopPick {
	var out []TopPick
	for _, pl := range p.Players {
		for _, pr := range pl.Predictions {
			if pr.System == system && pr.LineOffset == 0 && pr.Pick != Pass {
				out = append(out, TopPick{pl, pr})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b TopPick) int {
		if c := cmp.Compare(b.Prediction.EV, a.Prediction.EV); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Prediction.Confidence, a.Prediction.Confidence); c != 0 {
			return c
		}
		return cmp.Compare(a.Player.PlayerID, b.Player.PlayerID)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// NoPickMessage is what a summary says when no prediction is picked.
const NoPickMessage = "no pick clears the price"
