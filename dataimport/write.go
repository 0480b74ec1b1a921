package dataimport

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"

	"tipoff/predict"
)

// WriteDir writes ds as a data directory that [ReadDir] reads back:
// schedule.csv, player_game_logs.csv, props_lines.csv (when ds has lines)
// and player_status.csv (when it has statuses), in dir, which must exist.
// A synthetic league becomes a directory to serve or push this way.
func WriteDir(dir string, ds *predict.Dataset) error {
	files := []struct {
		name   string
		header []string
		n      int
		row    func(i int) []string
	}{
		{"schedule.csv", scheduleHeader, len(ds.Games()), func(i int) []string { return encodeGame(ds.Games()[i]) }},
		{"player_game_logs.csv", logHeader, len(ds.Logs()), func(i int) []string { return encodeGameLog(ds.Logs()[i]) }},
		{"props_lines.csv", propHeader, len(ds.Lines()), func(i int) []string { return encodePropLine(ds.Lines()[i]) }},
		{"player_status.csv", statusHeader, len(ds.Statuses()), func(i int) []string { return encodeStatus(ds.Statuses()[i]) }},
	}
	for k, f := range files {
		if f.n == 0 && k >= 2 { // lines and statuses are optional
			continue
		}
		if err := writeCSV(filepath.Join(dir, f.name), f.header, f.n, f.row); err != nil {
			return err
		}
	}
	return nil
}

func writeCSV(path string, header []string, n int, row func(i int) []string) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(out)
	w.Write(header)
	for i := range n {
		w.Write(row(i))
	}
	w.Flush()
	if err := w.Error(); err != nil {
		out.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return out.Close()
}
