package dataimport_test

import (
	"testing"

	"tipoff/dataimport"
	"tipoff/predict"
)

// Each table is named by the files it is read from, or by the file that
// is missing when an optional table has none.
func TestFiles_Source(t *testing.T) {
	t.Parallel()
	full := dataimport.Files{Schedule: "schedule.csv", Logs: "player_game_logs.csv.gz", Props: []string{"props_a.csv", "props_b.csv"}, Status: "player_status.csv"}
	bare := dataimport.Files{Schedule: "schedule.csv", Logs: "player_game_logs.csv"}
	tests := []struct {
		f     dataimport.Files
		table string
		want  string
	}{
		{full, predict.TableGames, "schedule.csv"},
		{full, predict.TableLogs, "player_game_logs.csv.gz"},
		{full, predict.TableLines, "props_a.csv, props_b.csv"},
		{full, predict.TableStatuses, "player_status.csv"},
		{bare, predict.TableLines, "no props_*.csv file"},
		{bare, predict.TableStatuses, "no player_status.csv file"},
	}
	for _, tt := range tests {
		if got := tt.f.Source(tt.table); got != tt.want {
			t.Errorf("Source(%q) of %+v = %q, want %q", tt.table, tt.f, got, tt.want)
		}
	}
}
