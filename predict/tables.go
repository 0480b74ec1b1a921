package predict

// Names of the tables of a [Dataset], as messages about importing or
// storing them name them.
const (
	TableGames    = "games"
	TableLogs     = "game logs"
	TableLines    = "prop lines"
	TableStatuses = "statuses"
)
