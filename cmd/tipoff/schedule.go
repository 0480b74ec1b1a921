package main

import (
	"fmt"
	"time"
	"tipoff/pipeline"
)

// daily is a time of day in the league's time zone at which the day's run
// starts.
type daily struct {
	hour, min int
	loc       *time.Location
}

// parseDaily parses "HH:MM" (24-hour, league time).
func parseDaily(s string) (daily, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return daily{}, fmt.Errorf("daily %q: want HH:MM in 24-hour league time (%s)", s, pipeline.LeagueTZ)
	}
	loc, err := time.LoadLocation(pipeline.LeagueTZ)
	if err != nil {
		return daily{}, err
	}
	return daily{hour: t.Hour(), min: t.Minute(), loc: loc}, nil
}

// at returns the run time on the league date of now.
func (d daily) at(now time.Time) time.Time {
	y, m, dd := now.In(d.loc).Date()
	return time.Date(y, m, dd, d.hour, d.min, 0, 0, d.loc)
}

// due returns the league date whose run should exist by now: today if
// today's run time has passed, else "" (nothing due yet today). A run missed
// while the process was down is therefore caught up at start, and creating
// it is idempotent by date and label, so a catch-up never makes a second
// batch.
func (d daily) due(now time.Time) string {
	if now.Before(d.at(now)) {
		return ""
	}
	return now.In(d.loc).Format(time.DateOnly)
}

// next returns the first run time strictly after now.
func (d daily) next(now time.Time) time.Time {
	t := d.at(now)
	if !t.After(now) {
		y, m, dd := now.In(d.loc).Date()
		t = time.Date(y, m, dd+1, d.hour, d.min, 0, 0, d.loc)
	}
	return t
}
