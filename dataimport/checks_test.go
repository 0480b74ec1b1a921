package dataimport_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"tipoff/batch"
	"tipoff/dataimport"
)

// A game log must agree with its game in the schedule: same date, and its
// team and opponent are the game's two teams, on the side home_away says.
func TestReadDir_CrossTable(t *testing.T) {
	tests := []struct {
		name string
		logs string
		want []string
	}{
		{"date differs from the game's", strings.Replace(logsCSV, "g1,2025-01-01,p2", "g1,2025-01-02,p2", 1),
			[]string{"player_game_logs.csv:3", "column game_date", "2025-01-02", "2025-01-01", "schedule.csv:2"}},
		{"opponent not in the game", strings.Replace(logsCSV, "AAA,BBB,H,1,1", "AAA,CCC,H,1,1", 1),
			[]string{"player_game_logs.csv:2", "column opp_abbr", `"CCC"`, "g1", "schedule.csv:2"}},
		{"team not in the game", strings.Replace(logsCSV, "AAA,BBB,H,0,0", "DDD,BBB,H,0,0", 1),
			[]string{"player_game_logs.csv:3", "column team_abbr", `"DDD"`, "g1"}},
		{"home team marked away", strings.Replace(logsCSV, "AAA,BBB,H,1,1", "AAA,BBB,A,1,1", 1),
			[]string{"player_game_logs.csv:2", "column home_away", "AAA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dataimport.ReadDir(writeDir(t, map[string]string{"schedule.csv": scheduleCSV, "player_game_logs.csv": tt.logs}))
			if !errors.Is(err, batch.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// A prop line that names its game must agree with it: the game is in the
// schedule, on the line's date, and the line's team plays in it.
func TestReadDir_CrossTableProps(t *testing.T) {
	const header = "game_date,game_id,player_id,team_abbr,bookmaker,line\n"
	tests := []struct {
		name, row string
		want      []string
	}{
		{"unknown game", "2025-01-01,g7,p1,AAA,dk,18.5\n", []string{"props_x.csv:2", "column game_id", "g7", "schedule.csv"}},
		{"date differs", "2025-01-02,g1,p1,AAA,dk,18.5\n", []string{"props_x.csv:2", "column game_date", "2025-01-01", "schedule.csv:2"}},
		{"team not in the game", "2025-01-01,g1,p1,CCC,dk,18.5\n", []string{"props_x.csv:2", "column team_abbr", `"CCC"`, "g1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dataimport.ReadDir(writeDir(t, map[string]string{"schedule.csv": scheduleCSV, "player_game_logs.csv": logsCSV,
				"props_x.csv": header + tt.row}))
			if !errors.Is(err, batch.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// Without a game id, or with the game's own date and team, it is fine.
	if _, err := dataimport.ReadDir(writeDir(t, map[string]string{"schedule.csv": scheduleCSV, "player_game_logs.csv": logsCSV,
		"props_x.csv": header + "2025-01-01,g1,p1,AAA,dk,18.5\n2025-01-01,g1,p3,,dk,8.5\n2025-01-05,,p1,AAA,dk,18.5\n"})); err != nil {
		t.Fatal(err)
	}
}

// A duplicate row is reported at its own file and line, naming where the
// first one is.
func TestReadDir_Duplicates(t *testing.T) {
	logRow := strings.SplitAfter(logsCSV, "\n")[1]
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"game id", map[string]string{"player_game_logs.csv": logsCSV,
			"schedule.csv": scheduleCSV + "2024-25,Regular Season,2025-01-03,g1,CCC,BBB,90,95,185,1,x\n"},
			[]string{"schedule.csv:4", "g1", "schedule.csv:2"}},
		{"matchup", map[string]string{"player_game_logs.csv": logsCSV,
			"schedule.csv": scheduleCSV + "2024-25,Regular Season,2025-01-01,g2,BBB,AAA,100,110,210,1,x\n"},
			[]string{"schedule.csv:4", "BBB@AAA", "2025-01-01", "schedule.csv:2"}},
		{"game log", map[string]string{"schedule.csv": scheduleCSV, "player_game_logs.csv": logsCSV + logRow},
			[]string{"player_game_logs.csv:4", "p1", "2025-01-01", "player_game_logs.csv:2"}},
		{"status", map[string]string{"schedule.csv": scheduleCSV, "player_game_logs.csv": logsCSV,
			"player_status.csv": "game_date,player_id,status\n2025-01-05,p2,OUT\n2025-01-05,p1,OUT\n2025-01-05,p2,PROBABLE\n"},
			[]string{"player_status.csv:4", "p2", "2025-01-05", "player_status.csv:2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dataimport.ReadDir(writeDir(t, tt.files))
			if !errors.Is(err, batch.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// An unclosed quote is reported at the line where the quoted field starts,
// not where the reader ran out of file.
func TestReadDir_UnclosedQuoteLine(t *testing.T) {
	var logs strings.Builder
	logs.WriteString(strings.SplitAfter(logsCSV, "\n")[0])
	for i := range 40 {
		name := fmt.Sprintf("Player %d", i)
		if i == 5 { // line 7
			name = `"Player 5`
		}
		fmt.Fprintf(&logs, "2024-25,Regular Season,g1,2025-01-01,p%d,%s,1,AAA,BBB,H,0,1,,10,4,0,0,0,0,0,0,0,0,2,4,0,0,0,0,0\n", i, name)
	}
	_, err := dataimport.ReadDir(writeDir(t, map[string]string{"schedule.csv": scheduleCSV, "player_game_logs.csv": logs.String()}))
	if !errors.Is(err, batch.ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
	if !strings.Contains(err.Error(), "player_game_logs.csv:7:") {
		t.Fatalf("error %q does not point at player_game_logs.csv:7", err)
	}
}

// One bad schedule row is reported once: the game logs of its game are
// not each reported again as referring to an unknown game.
func TestReadDir_NoKnockOnErrors(t *testing.T) {
	var logs strings.Builder
	logs.WriteString(strings.SplitAfter(logsCSV, "\n")[0])
	for i := range 30 {
		fmt.Fprintf(&logs, "2024-25,Regular Season,g1,2025-01-01,p%d,Player %d,1,AAA,BBB,H,0,1,,10,4,0,0,0,0,0,0,0,0,2,4,0,0,0,0,0\n", i, i)
	}
	schedule := strings.Replace(scheduleCSV, "100,110,210,1", "100,110,210,7", 1) // has_box_scores 7
	logs.WriteString("2024-25,Regular Season,g9,2025-01-01,q1,Someone,1,AAA,BBB,H,0,1,,10,4,0,0,0,0,0,0,0,0,2,4,0,0,0,0,0\n")
	_, err := dataimport.ReadDir(writeDir(t, map[string]string{"schedule.csv": schedule, "player_game_logs.csv": logs.String()}))
	if err == nil {
		t.Fatal("no error")
	}
	msgs := strings.Split(err.Error(), "\n")
	if len(msgs) != 2 {
		t.Fatalf("got %d errors, want 2 (the schedule row, and the log of unknown game g9):\n%v", len(msgs), err)
	}
	if !strings.Contains(msgs[0], "schedule.csv:2") || !strings.Contains(msgs[0], "has_box_scores") {
		t.Errorf("first error %q does not name schedule.csv:2 and has_box_scores", msgs[0])
	}
	if !strings.Contains(msgs[1], "player_game_logs.csv:32") || !strings.Contains(msgs[1], "g9") {
		t.Errorf("second error %q does not name player_game_logs.csv:32 and g9", msgs[1])
	}
}
