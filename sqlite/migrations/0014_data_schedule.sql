-- The whole schedule in one blob (see sqlite/schedule.go), written with
-- the rows of data_games by each import: a date's batch reads every game,
-- and reading 5,300 rows through database/sql took 30 to 45 ms of the
-- busiest day's run. Open fills it for a file imported before
-- (upgradeSchedule), in the migration's transaction.
CREATE TABLE data_schedule (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	games BLOB NOT NULL
);
