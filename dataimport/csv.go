package dataimport

import (
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"tipoff/batch"
	"tipoff/predict"
)

// File names ReadDir looks for, each as .csv or .csv.gz.
const (
	ScheduleFile = "schedule"         // required
	LogsFile     = "player_game_logs" // required
	StatusFile   = "player_status"    // optional
	PropsPrefix  = "props_"           // any number of prop line files
)

// maxErrors caps how many row errors one ReadDir reports.
const maxErrors = 20

// ReadDir reads a data directory in the layout of README.md (schedule,
// player game logs, any props_*.csv files, and an optional player_status
// file; each .csv or .csv.gz) into a data set. It checks rows against each
// other: a game log must match its game in the schedule (date, teams, side),
// so must a prop line that names its game (date, team), and a second game,
// game log or status for the same key is a duplicate.
// Errors wrap [batch.ErrInvalid] (or the file system's error) and name the
// file, line and column (a duplicate also names the first row); up to 20 are
// reported at once, and a bad schedule row is reported once, not again for
// each game log of its game.
func ReadDir(dir string) (*predict.Dataset, error) {
	return ReadFS(os.DirFS(dir), dir)
}

// ReadFS is [ReadDir] on the files at the root of fsys, so the same parser
// reads a directory, an archive or a store's objects. name says where fsys
// is, for errors (a directory's path, a bucket's URL).
func ReadFS(fsys fs.FS, name string) (*predict.Dataset, error) {
	dir := name
	files, err := ListFS(fsys, name)
	if err != nil {
		return nil, err
	}
	props := files.Props
	var errs errorList
	schedule := files.Schedule
	var games []predict.Game
	byID := map[string]gameAt{}    // game id -> the game and where it is
	badIDs := map[string]bool{}    // ids of schedule rows with an error, already reported
	byMatchup := map[matchup]int{} // line of each date and pair of teams
	if err := readFile(fsys, dir, schedule, scheduleColumns, &errs, func(r *row) {
		g, err := decodeGame(r)
		if err != nil {
			errs.add(err)
			if id := r.get("game_id"); id != "" {
				badIDs[id] = true
			}
			return
		}
		if g.ID != "" {
			if prev, dup := byID[g.ID]; dup {
				errs.add(r.errorf("game_id", "game %s appears twice: the first is at %s:%d", g.ID, schedule, prev.line))
				return
			}
		}
		m := matchup{g.Date, g.Home, g.Away}
		if prev, dup := byMatchup[m]; dup {
			errs.add(r.errorf("home_abbr", "game %s@%s on %s appears twice: the first is at %s:%d", g.Away, g.Home, g.Date, schedule, prev))
			if g.ID != "" {
				badIDs[g.ID] = true
			}
			return
		}
		byMatchup[m] = r.Line
		if g.ID != "" {
			byID[g.ID] = gameAt{g, r.File, r.Line}
		}
		games = append(games, g)
	}); err != nil {
		return nil, err
	}
	logs := make([]predict.GameLog, 0, 120000)
	logAt := make(map[playerDate]int, 120000) // line of each player's log on a date
	if err := readFile(fsys, dir, files.Logs, logColumns, &errs, func(r *row) {
		l, err := decodeGameLog(r)
		if err != nil {
			errs.add(err)
			return
		}
		g, ok := byID[l.GameID]
		switch {
		case !ok && badIDs[l.GameID]:
			// The game's own row has an error, reported once where it is.
			return
		case !ok:
			errs.add(r.errorf("game_id", "game %q is not in %s", l.GameID, schedule))
			return
		}
		if err := checkLogAgainstGame(r, l, g); err != nil {
			errs.add(err)
			return
		}
		k := playerDate{l.PlayerID, l.Date}
		if prev, dup := logAt[k]; dup {
			errs.add(r.errorf("player_id", "player %s has a second game log on %s: the first is at %s:%d", l.PlayerID, l.Date, r.File, prev))
			return
		}
		logAt[k] = r.Line
		logs = append(logs, l)
	}); err != nil {
		return nil, err
	}
	var lines []predict.PropLine
	for _, name := range props {
		if err := readFile(fsys, dir, name, propColumns, &errs, func(r *row) {
			p, err := decodePropLine(r)
			if err != nil {
				errs.add(err)
				return
			}
			if p.GameID != "" {
				g, ok := byID[p.GameID]
				switch {
				case !ok && badIDs[p.GameID]:
					return // reported at the game's row
				case !ok:
					errs.add(r.errorf("game_id", "game %q is not in %s", p.GameID, schedule))
					return
				}
				if err := checkLineAgainstGame(r, p, g); err != nil {
					errs.add(err)
					return
				}
			}
			lines = append(lines, p)
		}); err != nil {
			return nil, err
		}
	}
	var statuses []predict.Status
	if name := files.Status; name != "" {
		statusAt := map[playerDate]int{}
		if err := readFile(fsys, dir, name, statusColumns, &errs, func(r *row) {
			s, err := decodeStatus(r)
			if err != nil {
				errs.add(err)
				return
			}
			k := playerDate{s.PlayerID, s.Date}
			if prev, dup := statusAt[k]; dup {
				errs.add(r.errorf("player_id", "player %s has a second status on %s: the first is at %s:%d", s.PlayerID, s.Date, r.File, prev))
				return
			}
			statusAt[k] = r.Line
			statuses = append(statuses, s)
		}); err != nil {
			return nil, err
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	ds, err := predict.NewDataset(games, logs, lines, statuses)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return ds, nil
}

// gameAt is a schedule row's game and where it is.
type gameAt struct {
	predict.Game
	file string
	line int
}

// desc names the game and its schedule row for an error message.
func (g gameAt) desc() string {
	return fmt.Sprintf("game %s (%s@%s, %s:%d)", g.ID, g.Away, g.Home, g.file, g.line)
}

type matchup struct {
	date       predict.Date
	home, away string
}

type playerDate struct {
	player string
	date   predict.Date
}

// checkLogAgainstGame checks that a game log agrees with its game in the
// schedule: the same date, the player's team and opponent are the game's
// two teams, and home_away names the team's side.
func checkLogAgainstGame(r *row, l predict.GameLog, g gameAt) error {
	switch {
	case l.Date != g.Date:
		return r.errorf("game_date", "%s, but %s is on %s", l.Date, g.desc(), g.Date)
	case l.Team != g.Home && l.Team != g.Away:
		return r.errorf("team_abbr", "%q is not a team of %s", l.Team, g.desc())
	case l.Opponent != g.Home && l.Opponent != g.Away:
		return r.errorf("opp_abbr", "%q is not a team of %s", l.Opponent, g.desc())
	case l.Home && l.Team != g.Home:
		return r.errorf("home_away", "H, but %s is the away team of %s", l.Team, g.desc())
	case !l.Home && l.Team != g.Away:
		return r.errorf("home_away", "A, but %s is the home team of %s", l.Team, g.desc())
	}
	return nil
}

// Files names the data files of a directory, as ReadDir reads them.
type Files struct {
	Schedule string   // schedule.csv or schedule.csv.gz
	Logs     string   // player_game_logs.csv or .csv.gz
	Props    []string // props_*.csv and props_*.csv.gz, sorted
	Status   string   // player_status.csv or .csv.gz; empty if there is none
}

// ListDir finds the data files of dir without reading them. It returns an
// error wrapping [batch.ErrInvalid] if the schedule or the game logs are
// missing or a table is there both as .csv and as .csv.gz.
func ListDir(dir string) (Files, error) {
	return ListFS(os.DirFS(dir), dir)
}

// ListFS is [ListDir] on the root of fsys; name says where fsys is, for
// errors.
func ListFS(fsys fs.FS, name string) (Files, error) {
	dir := name
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return Files{}, fmt.Errorf("read data directory %s: %w", dir, err)
	}
	files := map[string]string{} // base name without extension -> file name
	var props []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		base, ok := strings.CutSuffix(name, ".csv.gz")
		if !ok {
			base, ok = strings.CutSuffix(name, ".csv")
		}
		if !ok {
			continue
		}
		if prev, dup := files[base]; dup {
			return Files{}, fmt.Errorf("%w: %s and %s in %s hold the same table: keep one", batch.ErrInvalid, prev, name, dir)
		}
		files[base] = name
		if strings.HasPrefix(base, PropsPrefix) {
			props = append(props, name)
		}
	}
	slices.Sort(props)
	for _, need := range []string{ScheduleFile, LogsFile} {
		if files[need] == "" {
			return Files{}, fmt.Errorf("%w: %s has no %s.csv or %s.csv.gz", batch.ErrInvalid, dir, need, need)
		}
	}
	return Files{Schedule: files[ScheduleFile], Logs: files[LogsFile], Props: props, Status: files[StatusFile]}, nil
}

// checkLineAgainstGame checks that a prop line that names its game agrees
// with it: the same date, and the player's team, if given, plays in it.
func checkLineAgainstGame(r *row, p predict.PropLine, g gameAt) error {
	switch {
	case p.Date != g.Date:
		return r.errorf("game_date", "%s, but %s is on %s", p.Date, g.desc(), g.Date)
	case p.Team != "" && p.Team != g.Home && p.Team != g.Away:
		return r.errorf("team_abbr", "%q is not a team of %s", p.Team, g.desc())
	}
	return nil
}

type errorList struct {
	errs []error
	more int
}

func (e *errorList) add(err error) {
	if len(e.errs) < maxErrors {
		e.errs = append(e.errs, err)
	} else {
		e.more++
	}
}

func (e *errorList) full() bool { return len(e.errs) >= maxErrors }

func (e *errorList) err() error {
	if len(e.errs) == 0 {
		return nil
	}
	errs := e.errs
	if e.more > 0 {
		errs = append(slices.Clone(errs), fmt.Errorf("and %d more errors", e.more))
	}
	return errors.Join(errs...)
}

// readFile reads one CSV file of fsys (gunzipping .gz), checks its header has the
// required columns, and calls fn for each row. Row errors go to errs; the
// returned error is for the file as a whole.
func readFile(fsys fs.FS, dir, name string, cols columns, errs *errorList, fn func(*row)) error {
	f, err := fsys.Open(name)
	if err != nil {
		return fmt.Errorf("open data file %s in %s: %w", name, dir, err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%w: %s: not gzip data: %v", batch.ErrInvalid, name, err)
		}
		defer zr.Close()
		r = zr
	}
	return readCSV(r, name, cols, errs, fn)
}

func readCSV(r io.Reader, file string, cols columns, errs *errorList, fn func(*row)) error {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	h, err := cr.Read()
	header := slices.Clone(h)
	if err == io.EOF {
		return fmt.Errorf("%w: %s: empty file, want a header row", batch.ErrInvalid, file)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", batch.ErrInvalid, file, err)
	}
	rw, err := newRow(file, header, cols)
	if err != nil {
		return err
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return fmt.Errorf("read %s: %w", file, err)
			}
			if !errors.Is(pe.Err, csv.ErrFieldCount) {
				// A quoting error leaves the reader unsure where rows start,
				// so it ends the file. encoding/csv reports where the bad
				// field ends, which for an unclosed quote is the end of the
				// file: name the line its record starts on.
				if pe.StartLine != pe.Line {
					return fmt.Errorf("%w: %s:%d: %v: the quoted field opened on this line runs on to line %d", batch.ErrInvalid, file, pe.StartLine, pe.Err, pe.Line)
				}
				return fmt.Errorf("%w: %s:%d: column %d: %v", batch.ErrInvalid, file, pe.Line, pe.Column, pe.Err)
			}
			errs.add(fmt.Errorf("%w: %s:%d: %d fields, the header has %d", batch.ErrInvalid, file, pe.StartLine, len(rec), len(header)))
			if errs.full() {
				return nil
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		rw.Line, rw.rec = line, rec
		fn(rw)
		if errs.full() {
			return nil
		}
	}
}

// columns lists a file's required and optional columns.
type columns struct {
	required []string
	optional []string
}

var (
	scheduleColumns = columns{
		required: []string{"season", "season_type", "game_date", "game_id", "away_abbr", "home_abbr", "away_pts", "home_pts", "has_box_scores"},
	}
	logColumns = columns{
		required: []string{"season", "season_type", "game_id", "game_date", "player_id", "player_name", "team_abbr", "opp_abbr",
			"home_away", "starter", "played", "minutes", "pts"},
		optional: []string{"dnp_reason", "reb", "oreb", "dreb", "ast", "stl", "blk", "tov", "pf", "fgm", "fga", "fg3m", "fg3a", "ftm", "fta", "plus_minus"},
	}
	propColumns = columns{
		required: []string{"game_date", "player_id", "bookmaker", "line"},
		optional: []string{"game_id", "team_abbr", "over_odds", "under_odds", "is_main_line", "source"},
	}
	statusColumns = columns{
		required: []string{"game_date", "player_id", "status"},
	}
)

// row is one CSV record with its file, line number and column positions.
// Decoders read fields by column name.
type row struct {
	File string
	Line int
	pos  map[string]int
	rec  []string
}

// newRow prepares decoding of a file's rows from its header. It returns an
// error naming the file and the missing column if a required column is
// absent.
func newRow(file string, header []string, cols columns) (*row, error) {
	pos := make(map[string]int, len(header))
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := pos[h]; dup {
			return nil, fmt.Errorf("%w: %s:1: column %s appears twice in the header", batch.ErrInvalid, file, h)
		}
		pos[h] = i
	}
	var missing []string
	for _, c := range cols.required {
		if _, ok := pos[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s:1: header lacks required column(s) %s", batch.ErrInvalid, file, strings.Join(missing, ", "))
	}
	return &row{File: file, Line: 1, pos: pos}, nil
}

func (r *row) get(col string) string {
	i, ok := r.pos[col]
	if !ok || i >= len(r.rec) {
		return ""
	}
	return strings.TrimSpace(r.rec[i])
}

func (r *row) has(col string) bool { _, ok := r.pos[col]; return ok }

func (r *row) errorf(col, format string, args ...any) error {
	return fmt.Errorf("%w: %s:%d: column %s: %s", batch.ErrInvalid, r.File, r.Line, col, fmt.Sprintf(format, args...))
}

func (r *row) str(col string, required bool) (string, error) {
	v := r.get(col)
	if v == "" && required {
		return "", r.errorf(col, "empty")
	}
	if !validText(v) {
		return "", r.errorf(col, "%q is not printable UTF-8 text", v)
	}
	return v, nil
}

func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func (r *row) date(col string) (predict.Date, error) {
	v := r.get(col)
	d, err := predict.ParseDate(v)
	if err != nil {
		return 0, r.errorf(col, "%q is not a YYYY-MM-DD date", v)
	}
	return d, nil
}

// integer reads a whole number; empty is 0 unless required.
func (r *row) integer(col string, required bool, lo, hi int) (int, error) {
	v := r.get(col)
	if v == "" {
		if required {
			return 0, r.errorf(col, "empty, want a whole number")
		}
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		// Some exports write whole numbers as "12.0".
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || f != float64(int(f)) {
			return 0, r.errorf(col, "%q is not a whole number", v)
		}
		n = int(f)
	}
	if n < lo || n > hi {
		return 0, r.errorf(col, "%d outside %d..%d", n, lo, hi)
	}
	return n, nil
}

func (r *row) number(col string, lo, hi float64) (float64, error) {
	v := r.get(col)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, r.errorf(col, "%q is not a number", v)
	}
	if !(f >= lo && f <= hi) {
		return 0, r.errorf(col, "%v outside %v..%v", f, lo, hi)
	}
	return f, nil
}

func (r *row) flag(col string, required bool) (bool, error) {
	switch v := r.get(col); v {
	case "1", "true", "TRUE", "True":
		return true, nil
	case "0", "false", "FALSE", "False":
		return false, nil
	case "":
		if !required {
			return false, nil
		}
		return false, r.errorf(col, "empty, want 0 or 1")
	default:
		return false, r.errorf(col, "%q is not 0 or 1", v)
	}
}

// first returns the first non-nil error.
func first(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
