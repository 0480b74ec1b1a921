package pipeline

import (
	"fmt"
	"time"
)

// Daily is a time of day in the league's time zone at which the day's run
// starts.
type Daily struct {
	Hour, Minute int
}

// ParseDaily parses "HH:MM" (24-hour, league time).
func ParseDaily(s string) (Daily, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return Daily{}, fmt.Errorf("daily %q: want HH:MM in 24-hour league time (%s)", s, LeagueTZ)
	}
	return Daily{Hour: t.Hour(), Minute: t.Minute()}, nil
}

// At returns the run time on the league date of now.
func (d Daily) At(now time.Time) time.Time {
	y, m, dd := now.In(leagueLoc).Date()
	return time.Date(y, m, dd, d.Hour, d.Minute, 0, 0, leagueLoc)
}

// Due returns the league date whose run should exist by now: today if
// today's run time has passed, else "" (nothing due yet today). A run missed
// while the process was down is therefore caught up at start, and creating
// it is idempotent by date and label, so a catch-up never makes a second
// batch.
func (d Daily) Due(now time.Time) string {
	if now.Before(d.At(now)) {
		return ""
	}
	return LeagueToday(now)
}

// Next returns the first run time strictly after now.
func (d Daily) Next(now time.Time) time.Time {
	t := d.At(now)
	if !t.After(now) {
		y, m, dd := now.In(leagueLoc).Date()
		t = time.Date(y, m, dd+1, d.Hour, d.Minute, 0, 0, leagueLoc)
	}
	return t
}
