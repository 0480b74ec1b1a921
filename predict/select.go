package predict

import (
	"slices"
	"strings"
)

// SelectOptions sets who is worth predicting. The zero value means the
// defaults.
type SelectOptions struct {
	// Window is how many of the team's most recent games (before the date)
	// are looked at (default 10).
	Window int
	// MinGames is how many of those games the player must have played
	// (default 3).
	MinGames int
	// MinMinutes is the average minutes he must have played in them
	// (default 12).
	MinMinutes float64
	// Books are the bookmakers whose main line counts as "has a line"
	// (default [DefaultBooks]).
	Books []string
	// IgnoreLines turns off the rule that a player with a sportsbook main
	// line for the date is selected as long as he has played for the team
	// in the window, whatever his games and minutes.
	IgnoreLines bool
}

func (o SelectOptions) withDefaults() SelectOptions {
	if o.Window <= 0 {
		o.Window = 10
	}
	if o.MinGames <= 0 {
		o.MinGames = 3
	}
	if o.MinMinutes <= 0 {
		o.MinMinutes = 12
	}
	if len(o.Books) == 0 {
		o.Books = DefaultBooks
	}
	return o
}

// Candidate is a selected player with his game on the date.
type Candidate struct {
	PlayerID string
	Name     string
	Team     string
	Opponent string
	GameID   string
	Home     bool
	Games    int     // games played in the window
	Minutes  float64 // average minutes in those games
	HasLine  bool    // a sportsbook main line exists for the date
}

// SelectPlayers returns the players of the teams playing on date who played
// enough recent games and minutes for their team (games strictly before
// date), excluding players reported OUT or DOUBTFUL for the date. A player
// whose latest game before date was for another team is left to that team.
// The result is ordered by team, then player id.
func SelectPlayers(ds *Dataset, date Date, opts SelectOptions) []Candidate {
	opts = opts.withDefaults()
	var out []Candidate
	for _, gi := range ds.gamesByDate[date] {
		g := ds.games[gi]
		for _, side := range [2]struct {
			team, opp string
			home      bool
		}{{g.Home, g.Away, true}, {g.Away, g.Home, false}} {
			out = append(out, ds.selectTeam(side.team, side.opp, side.home, g.ID, date, opts)...)
		}
	}
	slices.SortFunc(out, func(a, b Candidate) int {
		if c := strings.Compare(a.Team, b.Team); c != 0 {
			return c
		}
		return strings.Compare(a.PlayerID, b.PlayerID)
	})
	return out
}

func (ds *Dataset) selectTeam(team, opp string, home bool, gameID string, date Date, opts SelectOptions) []Candidate {
	idx := ds.teamGames[team]
	n, _ := slices.BinarySearchFunc(idx, date, func(j int, d Date) int { return int(ds.games[j].Date - d) })
	type tally struct {
		games   int
		minutes float64
	}
	seen := map[string]*tally{}
	var order []string
	for _, j := range idx[max(0, n-opts.Window):n] {
		for _, li := range ds.teamLogs[teamDate{team, ds.games[j].Date}] {
			l := &ds.logs[li]
			t := seen[l.PlayerID]
			if t == nil {
				t = &tally{}
				seen[l.PlayerID] = t
				order = append(order, l.PlayerID)
			}
			if l.Played {
				t.games++
				t.minutes += l.Minutes
			}
		}
	}
	var out []Candidate
	for _, id := range order {
		t := seen[id]
		if t.games == 0 {
			continue
		}
		past := ds.LogsBefore(id, date)
		if past[len(past)-1].Team != team {
			continue // traded away since
		}
		if st := ds.StatusOn(id, date); st == StatusOut || st == StatusDoubtful {
			continue
		}
		hasLine := false
		for _, li := range ds.linesByKey[playerDate{id, date}] {
			if ds.lines[li].Main && slices.Contains(opts.Books, ds.lines[li].Book) {
				hasLine = true
				break
			}
		}
		avg := t.minutes / float64(t.games)
		if !(hasLine && !opts.IgnoreLines) && (t.games < opts.MinGames || avg < opts.MinMinutes) {
			continue
		}
		out = append(out, Candidate{
			PlayerID: id, Name: past[len(past)-1].PlayerName, Team: team, Opponent: opp, GameID: gameID,
			Home: home, Games: t.games, Minutes: avg, HasLine: hasLine,
		})
	}
	return out
}
