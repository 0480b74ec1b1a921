package predict

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"tipoff/batch"
)

// Game is one scheduled game. Scores are known only when Final is true.
type Game struct {
	ID         string // league game id; may be empty for games not yet played
	Date       Date
	Season     string // e.g. "2025-26"
	SeasonType string // e.g. "Regular Season", "Playoffs"
	Home, Away string // team codes
	HomePts    int
	AwayPts    int
	Final      bool // the game was played and has box scores
}

// GameLog is one player's box score line in one game. Players listed in the
// box score who did not play have Played false and a DNPReason.
type GameLog struct {
	GameID     string
	Date       Date
	Season     string
	SeasonType string
	PlayerID   string
	PlayerName string
	Team       string
	Opponent   string
	Home       bool
	Starter    bool
	Played     bool
	DNPReason  string
	Minutes    float64
	Stats      Stats
}

// Stats are the counting stats of one box score line.
type Stats struct {
	Pts, Reb, OReb, DReb, Ast, Stl, Blk, Tov, PF int
	FGM, FGA, FG3M, FG3A, FTM, FTA               int
	PlusMinus                                    int
}

// PropLine is one sportsbook (or pick'em) player-points line.
type PropLine struct {
	Date      Date
	GameID    string // may be empty when the listing names no known game
	PlayerID  string
	Team      string
	Book      string // bookmaker key, lower case, e.g. "draftkings"
	Line      float64
	OverOdds  int  // American odds; 0 when unknown
	UnderOdds int  // American odds; 0 when unknown
	Main      bool // the book's main line for this player-game
	Source    string
}

// Status is a known availability report for a player on a date.
type Status struct {
	Date     Date
	PlayerID string
	Status   string // OUT, DOUBTFUL, QUESTIONABLE, PROBABLE or AVAILABLE
}

// Availability statuses; OUT and DOUBTFUL players are not selected.
const (
	StatusOut          = "OUT"
	StatusDoubtful     = "DOUBTFUL"
	StatusQuestionable = "QUESTIONABLE"
	StatusProbable     = "PROBABLE"
	StatusAvailable    = "AVAILABLE"
)

// ValidStatus reports whether s is one of the availability statuses.
func ValidStatus(s string) bool {
	switch s {
	case StatusOut, StatusDoubtful, StatusQuestionable, StatusProbable, StatusAvailable:
		return true
	}
	return false
}

// Player is a player as the game logs know him: his latest name and team.
type Player struct {
	ID   string
	Name string
	Team string // team of his latest game log
}

// Dataset is the whole data set in memory: schedule, player game logs, prop
// lines and availability reports, indexed for per-player and per-date
// look-ups. It is immutable after [NewDataset] and safe for concurrent use.
// The slices its methods return are shared: do not modify them.
type Dataset struct {
	games    []Game    // by date, then id
	logs     []GameLog // by player, then date
	lines    []PropLine
	statuses []Status
	version  string
	// partial is set on a data set holding only what one date's batch
	// reads ([NewPartialDataset]); books then lists the whole data set's
	// bookmakers.
	partial bool
	books   []string

	players     map[string]Player
	playerLogs  map[string][2]int // player -> [start, end) into logs
	gamesByDate map[Date][]int    // date -> indexes into games
	teamGames   map[string][]int  // team -> indexes into games, by date
	linesByKey  map[playerDate][]int
	statusByKey map[playerDate]string
	logByKey    map[playerDate]int
	teamLogs    map[teamDate][]int // team's game logs on a date
	defense     map[string]*teamSeasons
	league      map[string]*cumulative // season -> league points per team-game
	leagueHome  map[string]*cumulative // season -> home (scored) and away (allowed) points per game
	leagueB2B   map[string]*cumulative // season -> points of teams on a back-to-back
	gameSeason  []dateSeason           // first date of each season, by date
	// totals stand for a player's game logs of a season that a partial
	// data set does not hold whole (see [SeasonTotals]).
	totals map[playerSeason]Averages
}

type playerSeason struct {
	player, season string
}

type teamDate struct {
	team string
	date Date
}

type playerDate struct {
	player string
	date   Date
}

// NewDataset validates the rows, sorts and indexes them and computes the
// data set's version. It keeps the slices it is given (sorted in place).
// Errors wrap [batch.ErrInvalid] and name the offending row's key.
func NewDataset(games []Game, logs []GameLog, lines []PropLine, statuses []Status) (*Dataset, error) {
	ds, err := newDataset(games, logs, lines, statuses)
	if err != nil {
		return nil, err
	}
	ds.version = ds.checksum()
	return ds, nil
}

// NewPartialDataset is [NewDataset] for a part of a data set: the rows one
// date's batch reads (see [Dataset.DayScope]), taken from the whole data
// set of the given version, whose bookmakers are books. Its version is
// that whole data set's. Requests built from it for the date are the ones
// the whole data set gives; [Calibrate], which replays other dates, refuses
// it. totals stand for the game logs of a player's season that logs does
// not hold whole: a request then takes that season's averages from them
// (see [DayScope]); logs must hold none of that season's games it left
// out of the totals.
func NewPartialDataset(version string, books []string, games []Game, logs []GameLog, lines []PropLine, statuses []Status, totals []SeasonTotals) (*Dataset, error) {
	ds, err := newDataset(games, logs, lines, statuses)
	if err != nil {
		return nil, err
	}
	ds.version, ds.partial, ds.books = version, true, slices.Clone(books)
	if err := ds.setTotals(totals); err != nil {
		return nil, err
	}
	return ds, nil
}

// WithDayRows is [NewPartialDataset] of ds's version, bookmakers and games
// with these rows, for a partial data set ds of games alone: its games are
// not sorted, checked and indexed again. ds is unchanged.
func (ds *Dataset) WithDayRows(logs []GameLog, lines []PropLine, statuses []Status, totals []SeasonTotals) (*Dataset, error) {
	if !ds.partial || len(ds.logs)+len(ds.lines)+len(ds.statuses)+len(ds.totals) > 0 {
		return nil, fmt.Errorf("%w: rows added to a data set that is not a partial one of games alone", batch.ErrInvalid)
	}
	out := *ds // the games' indexes are only read: shared
	var errs dataErrors
	out.addRows(logs, lines, statuses, &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := out.setTotals(totals); err != nil {
		return nil, err
	}
	return &out, nil
}

func (ds *Dataset) setTotals(totals []SeasonTotals) error {
	ds.totals = nil
	if len(totals) == 0 {
		return nil
	}
	ds.totals = make(map[playerSeason]Averages, len(totals))
	for _, t := range totals {
		k := playerSeason{t.PlayerID, t.Season}
		if _, dup := ds.totals[k]; dup {
			return fmt.Errorf("%w: season %s totals of player %s given twice", batch.ErrInvalid, t.Season, t.PlayerID)
		}
		ds.totals[k] = t.sum
	}
	return nil
}

// Partial reports whether ds holds only a part of its data set
// ([NewPartialDataset]).
func (ds *Dataset) Partial() bool { return ds.partial }

func newDataset(games []Game, logs []GameLog, lines []PropLine, statuses []Status) (*Dataset, error) {
	var errs dataErrors
	ds := newSchedule(games, &errs)
	ds.addRows(logs, lines, statuses, &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	ds.buildDefense()
	return ds, nil
}

// dataErrors collects the first 20 problems of a data set's rows, each
// wrapping [batch.ErrInvalid].
type dataErrors []error

func (errs *dataErrors) fail(format string, args ...any) {
	if len(*errs) < 20 {
		*errs = append(*errs, fmt.Errorf("%w: "+format, append([]any{batch.ErrInvalid}, args...)...))
	}
}

// newSchedule returns a data set of games alone, sorted, checked and
// indexed, without defence tables (buildDefense).
func newSchedule(games []Game, errs *dataErrors) *Dataset {
	fail := errs.fail
	slices.SortStableFunc(games, func(a, b Game) int {
		if a.Date != b.Date {
			return int(a.Date - b.Date)
		}
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return strings.Compare(a.Home, b.Home)
	})
	ids := make(map[string]int, len(games))
	type matchup struct {
		date       Date
		home, away string
	}
	seenGame := make(map[matchup]bool, len(games))
	for i, g := range games {
		switch {
		case !g.Date.Valid():
			fail("game %s: date out of range", g.ID)
		case g.Home == "" || g.Away == "" || g.Home == g.Away:
			fail("game %s on %s: home %q and away %q must be two different teams", g.ID, g.Date, g.Home, g.Away)
		case g.Season == "":
			fail("game %s on %s: empty season", g.ID, g.Date)
		}
		if g.ID != "" {
			if _, dup := ids[g.ID]; dup {
				fail("game %s appears twice", g.ID)
			}
			ids[g.ID] = i
		}
		m := matchup{g.Date, g.Home, g.Away}
		if seenGame[m] {
			fail("game %s@%s on %s appears twice", g.Away, g.Home, g.Date)
		}
		seenGame[m] = true
	}
	ds := &Dataset{
		games:       games,
		gamesByDate: make(map[Date][]int),
		teamGames:   make(map[string][]int),
	}
	for i, g := range games {
		ds.gamesByDate[g.Date] = append(ds.gamesByDate[g.Date], i)
		ds.teamGames[g.Home] = append(ds.teamGames[g.Home], i)
		ds.teamGames[g.Away] = append(ds.teamGames[g.Away], i)
	}
	return ds
}

// addRows checks and indexes the rows, sorting logs by player then date.
func (ds *Dataset) addRows(logs []GameLog, lines []PropLine, statuses []Status, errs *dataErrors) {
	fail := errs.fail
	byPlayerDate := func(a, b GameLog) int {
		if c := strings.Compare(a.PlayerID, b.PlayerID); c != 0 {
			return c
		}
		return int(a.Date - b.Date)
	}
	if !slices.IsSortedFunc(logs, byPlayerDate) { // a store's rows often are
		slices.SortStableFunc(logs, byPlayerDate)
	}
	ds.logs, ds.lines, ds.statuses = logs, lines, statuses
	ds.players = make(map[string]Player)
	ds.playerLogs = make(map[string][2]int)
	ds.linesByKey = make(map[playerDate][]int, len(lines)/4)
	ds.statusByKey = make(map[playerDate]string, len(statuses))
	ds.logByKey = make(map[playerDate]int, len(logs))
	ds.teamLogs = make(map[teamDate][]int, len(ds.games)*2)
	for i, l := range logs {
		switch {
		case l.PlayerID == "":
			fail("game log of game %s on %s: empty player id", l.GameID, l.Date)
			continue
		case !l.Date.Valid():
			fail("game log of player %s in game %s: date out of range", l.PlayerID, l.GameID)
		case l.Team == "" || l.Opponent == "":
			fail("game log of player %s on %s: empty team or opponent", l.PlayerID, l.Date)
		case l.Minutes < 0 || math.IsNaN(l.Minutes) || l.Minutes > 96:
			fail("game log of player %s on %s: minutes %v out of range", l.PlayerID, l.Date, l.Minutes)
		case l.Stats.Pts < 0:
			fail("game log of player %s on %s: negative points %d", l.PlayerID, l.Date, l.Stats.Pts)
		}
		k := playerDate{l.PlayerID, l.Date}
		if _, dup := ds.logByKey[k]; dup {
			fail("player %s has two game logs on %s", l.PlayerID, l.Date)
		}
		ds.logByKey[k] = i
		td := teamDate{l.Team, l.Date}
		ds.teamLogs[td] = append(ds.teamLogs[td], i)
		r := ds.playerLogs[l.PlayerID]
		if r[1] == 0 {
			r[0] = i
		}
		r[1] = i + 1
		ds.playerLogs[l.PlayerID] = r
		ds.players[l.PlayerID] = Player{ID: l.PlayerID, Name: l.PlayerName, Team: l.Team}
	}
	for i, p := range lines {
		switch {
		case p.PlayerID == "":
			fail("prop line on %s (book %s): empty player id", p.Date, p.Book)
			continue
		case !p.Date.Valid():
			fail("prop line of player %s: date out of range", p.PlayerID)
		case p.Book == "":
			fail("prop line of player %s on %s: empty bookmaker", p.PlayerID, p.Date)
		case !(p.Line >= 0 && p.Line < 200):
			fail("prop line of player %s on %s (%s): line %v out of range", p.PlayerID, p.Date, p.Book, p.Line)
		}
		k := playerDate{p.PlayerID, p.Date}
		ds.linesByKey[k] = append(ds.linesByKey[k], i)
	}
	slices.SortStableFunc(statuses, func(a, b Status) int {
		if a.Date != b.Date {
			return int(a.Date - b.Date)
		}
		return strings.Compare(a.PlayerID, b.PlayerID)
	})
	for _, s := range statuses {
		if !ValidStatus(s.Status) {
			fail("status of player %s on %s: %q is not one of OUT, DOUBTFUL, QUESTIONABLE, PROBABLE, AVAILABLE", s.PlayerID, s.Date, s.Status)
		}
		k := playerDate{s.PlayerID, s.Date}
		if _, dup := ds.statusByKey[k]; dup {
			fail("player %s has two statuses on %s", s.PlayerID, s.Date)
		}
		ds.statusByKey[k] = s.Status
	}
}

// Version identifies the data set's content: a checksum of every row in a
// canonical order, so two data sets with the same rows have the same version
// however they were loaded.
func (ds *Dataset) Version() string { return ds.version }

// Games returns every game, by date.
func (ds *Dataset) Games() []Game { return ds.games }

// Logs returns every game log, by player then date.
func (ds *Dataset) Logs() []GameLog { return ds.logs }

// Lines returns every prop line.
func (ds *Dataset) Lines() []PropLine { return ds.lines }

// Statuses returns every availability report, by date then player.
func (ds *Dataset) Statuses() []Status { return ds.statuses }

// Player returns the player with the given id.
func (ds *Dataset) Player(id string) (Player, bool) {
	p, ok := ds.players[id]
	return p, ok
}

// GamesOn returns the games scheduled on date.
func (ds *Dataset) GamesOn(date Date) []Game {
	idx := ds.gamesByDate[date]
	out := make([]Game, len(idx))
	for i, j := range idx {
		out[i] = ds.games[j]
	}
	return out
}

// PlayerLogs returns the player's game logs (played or not), by date.
func (ds *Dataset) PlayerLogs(player string) []GameLog {
	r, ok := ds.playerLogs[player]
	if !ok {
		return nil
	}
	return ds.logs[r[0]:r[1]]
}

// LogsBefore returns the player's game logs dated strictly before date.
func (ds *Dataset) LogsBefore(player string, date Date) []GameLog {
	all := ds.PlayerLogs(player)
	n, _ := slices.BinarySearchFunc(all, date, func(l GameLog, d Date) int { return int(l.Date - d) })
	return all[:n]
}

// LogOn returns the player's game log on date, if he has one.
func (ds *Dataset) LogOn(player string, date Date) (GameLog, bool) {
	i, ok := ds.logByKey[playerDate{player, date}]
	if !ok {
		return GameLog{}, false
	}
	return ds.logs[i], true
}

// LinesOn returns the player's prop lines for date, in input order.
func (ds *Dataset) LinesOn(player string, date Date) []PropLine {
	idx := ds.linesByKey[playerDate{player, date}]
	out := make([]PropLine, len(idx))
	for i, j := range idx {
		out[i] = ds.lines[j]
	}
	return out
}

// StatusOn returns the player's availability report for date, or "".
func (ds *Dataset) StatusOn(player string, date Date) string {
	return ds.statusByKey[playerDate{player, date}]
}

// TeamGameOn returns the game team plays on date.
func (ds *Dataset) TeamGameOn(team string, date Date) (Game, bool) {
	for _, j := range ds.gamesByDate[date] {
		if g := ds.games[j]; g.Home == team || g.Away == team {
			return g, true
		}
	}
	return Game{}, false
}

// TeamGamesBefore returns team's games dated strictly before date, by date.
func (ds *Dataset) TeamGamesBefore(team string, date Date) []Game {
	idx := ds.teamGames[team]
	n, _ := slices.BinarySearchFunc(idx, date, func(j int, d Date) int { return int(ds.games[j].Date - d) })
	out := make([]Game, n)
	for i, j := range idx[:n] {
		out[i] = ds.games[j]
	}
	return out
}

// prevTeamGame returns the date of team's last game strictly before date.
func (ds *Dataset) prevTeamGame(team string, date Date) (Date, bool) {
	idx := ds.teamGames[team]
	n, _ := slices.BinarySearchFunc(idx, date, func(j int, d Date) int { return int(ds.games[j].Date - d) })
	if n == 0 {
		return 0, false
	}
	return ds.games[idx[n-1]].Date, true
}

// SeasonOf returns the season of the games on or most recently before date
// ("" if the schedule has none).
func (ds *Dataset) SeasonOf(date Date) string {
	n, found := slices.BinarySearchFunc(ds.gameSeason, date, func(s dateSeason, d Date) int { return int(s.first - d) })
	if found {
		return ds.gameSeason[n].season
	}
	if n == 0 {
		return ""
	}
	return ds.gameSeason[n-1].season
}

// SeasonStart returns the first date of the stretch of the schedule
// whose season [Dataset.SeasonOf] gives for date (0 before the schedule).
// Rows can be kept in chunks by it: a chunk holds the dates from its start
// to the next chunk's.
func (ds *Dataset) SeasonStart(date Date) Date {
	n, found := slices.BinarySearchFunc(ds.gameSeason, date, func(s dateSeason, d Date) int { return int(s.first - d) })
	if found {
		return ds.gameSeason[n].first
	}
	if n == 0 {
		return 0
	}
	return ds.gameSeason[n-1].first
}

type dateSeason struct {
	first  Date
	season string
}

// checksum hashes every row in canonical order.
func (ds *Dataset) checksum() string {
	h := sha256.New()
	var buf []byte
	str := func(s string) {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	num := func(n int64) { buf = binary.AppendVarint(buf, n) }
	flt := func(f float64) { buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(f)) }
	flag := func(b bool) {
		if b {
			buf = append(buf, 1)
		} else {
			buf = append(buf, 0)
		}
	}
	flush := func() {
		if len(buf) > 1<<16 {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	str("games")
	for _, g := range ds.games {
		str(g.ID)
		num(int64(g.Date))
		str(g.Season)
		str(g.SeasonType)
		str(g.Home)
		str(g.Away)
		num(int64(g.HomePts))
		num(int64(g.AwayPts))
		flag(g.Final)
		flush()
	}
	str("logs")
	for _, l := range ds.logs {
		str(l.GameID)
		num(int64(l.Date))
		str(l.Season)
		str(l.SeasonType)
		str(l.PlayerID)
		str(l.PlayerName)
		str(l.Team)
		str(l.Opponent)
		flag(l.Home)
		flag(l.Starter)
		flag(l.Played)
		str(l.DNPReason)
		flt(l.Minutes)
		s := l.Stats
		for _, v := range [...]int{s.Pts, s.Reb, s.OReb, s.DReb, s.Ast, s.Stl, s.Blk, s.Tov, s.PF, s.FGM, s.FGA, s.FG3M, s.FG3A, s.FTM, s.FTA, s.PlusMinus} {
			num(int64(v))
		}
		flush()
	}
	str("lines")
	lines := slices.Clone(ds.lines)
	slices.SortFunc(lines, comparePropLines)
	for _, p := range lines {
		num(int64(p.Date))
		str(p.GameID)
		str(p.PlayerID)
		str(p.Team)
		str(p.Book)
		flt(p.Line)
		num(int64(p.OverOdds))
		num(int64(p.UnderOdds))
		flag(p.Main)
		str(p.Source)
		flush()
	}
	str("statuses")
	for _, s := range ds.statuses {
		num(int64(s.Date))
		str(s.PlayerID)
		str(s.Status)
	}
	h.Write(buf)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

func comparePropLines(a, b PropLine) int {
	if a.Date != b.Date {
		return int(a.Date - b.Date)
	}
	for _, c := range [...]int{
		strings.Compare(a.PlayerID, b.PlayerID), strings.Compare(a.Book, b.Book), strings.Compare(a.Source, b.Source),
		strings.Compare(a.GameID, b.GameID), strings.Compare(a.Team, b.Team),
	} {
		if c != 0 {
			return c
		}
	}
	if a.Line != b.Line {
		if a.Line < b.Line {
			return -1
		}
		return 1
	}
	if a.Main != b.Main {
		if a.Main {
			return -1
		}
		return 1
	}
	if a.OverOdds != b.OverOdds {
		return a.OverOdds - b.OverOdds
	}
	return a.UnderOdds - b.UnderOdds
}

// BusiestDate returns the date from from on (through to, unless to is 0)
// with the most games already played, the earliest of equals; 0 if none.
// The demo and the benchmarks run on it: a full slate with history.
func (ds *Dataset) BusiestDate(from, to Date) Date {
	best, n := Date(0), 0
	for _, g := range ds.Games() {
		if g.Date < from || (to != 0 && g.Date > to) || !g.Final {
			continue
		}
		if k := len(ds.GamesOn(g.Date)); k > n {
			best, n = g.Date, k
		}
	}
	return best
}

// Books returns the bookmakers the data set has prop lines of, sorted.
func (ds *Dataset) Books() []string {
	if ds.partial {
		return ds.books
	}
	seen := map[string]bool{}
	for _, l := range ds.lines {
		seen[l.Book] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// CheckBooks returns an error wrapping [batch.ErrInvalid] when the data set
// has prop lines but none of books: a preference the data cannot meet
// would silently leave every player on an estimated line. The error names
// the books asked for and the books the data has. A data set without prop
// lines accepts any preference: every line is an estimate anyway.
func (ds *Dataset) CheckBooks(books []string) error {
	have := ds.Books()
	if len(have) == 0 {
		return nil
	}
	for _, b := range books {
		if slices.Contains(have, b) {
			return nil
		}
	}
	return fmt.Errorf("%w: bookmakers %s: none in the data (version %s), which has lines of %s", batch.ErrInvalid,
		strings.Join(books, ", "), ds.version, strings.Join(have, ", "))
}
