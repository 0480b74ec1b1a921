package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tipoff/batch"
	"tipoff/predict"
)

// DefaultReliabilityDays is how many days before today a [Reliability]
// grades by default.
const DefaultReliabilityDays = 30

// Reliability grades what was published over the last days against the
// data's box scores, for the status pages: [predict.PublishedReliability]
// on the publications of the Days dates before today.
type Reliability struct {
	// Load reads the data (the box scores that grade the predictions).
	Load func(ctx context.Context) (*predict.Dataset, error)
	// Published reads a date's publication; errors wrapping
	// [batch.ErrNotFound] mean none.
	Published func(ctx context.Context, date predict.Date) (*predict.Publication, error)
	// Days is how many dates before today are graded (default
	// [DefaultReliabilityDays]).
	Days int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Reliability returns the reliability of system's published P(over) over
// the Days dates before today. Dates without a publication are skipped.
func (r Reliability) Reliability(ctx context.Context, system string) (*predict.Reliability, error) {
	days, now := r.Days, r.Now
	if days <= 0 {
		days = DefaultReliabilityDays
	}
	if now == nil {
		now = time.Now
	}
	today, err := predict.ParseDate(now().UTC().Format(time.DateOnly))
	if err != nil {
		return nil, err
	}
	var pubs []*predict.Publication
	for d := today - predict.Date(days); d < today; d++ {
		pub, err := r.Published(ctx, d)
		if errors.Is(err, batch.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reliability: publication of %s: %w", d, err)
		}
		pubs = append(pubs, pub)
	}
	ds, err := r.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("reliability: %w", err)
	}
	rel := predict.PublishedReliability(ds, pubs, system)
	return &rel, nil
}
