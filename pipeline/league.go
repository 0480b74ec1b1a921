package pipeline

import (
	"time"
	_ "time/tzdata" // the league's time zone must resolve in a scratch image too
)

// LeagueTZ is the league's time zone: game dates are its calendar dates.
const LeagueTZ = "America/New_York"

var leagueLoc = func() *time.Location {
	loc, err := time.LoadLocation(LeagueTZ)
	if err != nil {
		panic(err) // embedded tzdata makes this unreachable
	}
	return loc
}()

// LeagueLocation returns the league's time zone.
func LeagueLocation() *time.Location { return leagueLoc }

// LeagueToday returns t's calendar date in the league's time zone.
func LeagueToday(t time.Time) string { return t.In(leagueLoc).Format(time.DateOnly) }
