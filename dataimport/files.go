package dataimport

import (
	"strings"

	"tipoff/predict"
)

// Source names, for messages, the files of f that a table of the data set
// ([predict.TableGames], ...) is read from, or says that there is none.
func (f Files) Source(table string) string {
	switch table {
	case predict.TableGames:
		return f.Schedule
	case predict.TableLogs:
		return f.Logs
	case predict.TableLines:
		if len(f.Props) == 0 {
			return "no props_*.csv file"
		}
		return strings.Join(f.Props, ", ")
	case predict.TableStatuses:
		if f.Status == "" {
			return "no player_status.csv file"
		}
		return f.Status
	}
	return table
}
