package batch

import (
	"fmt"
	"time"
)

// ClaimWork is the name of the claim under which a coordinator dispatches,
// sweeps (re-drives, times out, finalizes what the outcome path missed)
// and relays events: with several coordinators on one store, the holder
// does that work and the others stand by, taking over once the holder
// stops renewing it.
const ClaimWork = "coordinator-work"

// Claim is a named, time-limited right to do work that one process at a
// time should do. Its holder renews it before it expires; a holder that
// dies or freezes stops renewing, and after Expires anyone may take it
// over.
type Claim struct {
	Name  string
	Owner string
	// Epoch counts the changes of holder: a renewal keeps it, a takeover
	// (or a first take) adds one.
	Epoch   int
	Expires time.Time
}

// Held reports whether c is held at now: now is before its expiry.
func (c Claim) Held(now time.Time) bool { return now.Before(c.Expires) }

// ValidateClaim reports an empty name or owner, or a ttl below 1ns, as a
// store's Claim must, wrapping [ErrInvalid].
func ValidateClaim(name, owner string, ttl time.Duration) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: claim: empty name", ErrInvalid)
	case owner == "":
		return fmt.Errorf("%w: claim %s: empty owner", ErrInvalid, name)
	case ttl < time.Nanosecond:
		return fmt.Errorf("%w: claim %s: ttl %v is below 1ns", ErrInvalid, name, ttl)
	}
	return nil
}

// NextClaim decides a claim request on the stored state cur (the zero
// Claim when none is stored) and returns the claim to store: renewed when
// owner holds it (even expired, if no one took it over since), taken over
// with the next epoch when it is free or has expired, and [ErrConflict]
// when another owner holds it at now. Both stores decide by it.
func NextClaim(cur Claim, name, owner string, now time.Time, ttl time.Duration) (Claim, error) {
	next := Claim{Name: name, Owner: owner, Epoch: cur.Epoch, Expires: now.Add(ttl)}
	switch {
	case cur.Owner == owner && cur.Epoch > 0:
	case cur.Owner == "" || !cur.Held(now):
		next.Epoch++
	default:
		return Claim{}, fmt.Errorf("%w: claim %s: held by %s until %s", ErrConflict, name, cur.Owner, cur.Expires.Format(time.RFC3339Nano))
	}
	return next, nil
}
